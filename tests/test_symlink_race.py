"""Issue 12: a container swapping a file (and a directory) for a symlink to a host path
never gets host bytes into an `export` tar or a `commit`ted layer (CVE-2018-15664 class).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from layerlab.engine import CreateOptions, Engine
from tests.conftest import eventually

pytestmark = pytest.mark.system

EXPORTS = 200
COMMITS = 10


def _swapper(secret_file: Path, secret_dir: Path) -> str:
    return (
        "touch /ready; while true; do "
        "echo safe > /x.f; mv -f /x.f /x; "
        f"ln -s {secret_file} /x.l; mv -f /x.l /x; "
        "mkdir -p /d.d; echo safe > /d.d/s; rm -rf /d; mv /d.d /d; "
        f"ln -s {secret_dir} /d.l; rm -rf /d; mv -f /d.l /d; "
        "done"
    )


def _layer_leaks(diff: Path, marker: bytes) -> bool:
    for dirpath, _, files in os.walk(diff):
        for name in files:
            path = Path(dirpath) / name
            if path.is_file() and not path.is_symlink() and marker in path.read_bytes():
                return True
    return False


def test_symlink_swaps_never_leak_host_files(engine: Engine, tmp_path: Path) -> None:
    marker = b"HOST-SECRET-" + os.urandom(8).hex().encode()
    secret_file = tmp_path / "secret.txt"
    secret_file.write_bytes(marker + b"\n")
    secret_dir = tmp_path / "secret-dir"
    secret_dir.mkdir()
    (secret_dir / "s").write_bytes(marker + b"\n")
    opts = CreateOptions(command=["sh", "-c", _swapper(secret_file, secret_dir)])
    container, _ = engine.run("busybox", opts)
    upper = engine.writable_layer(container.id).upper
    eventually(lambda: (upper / "ready").exists(), True)
    export_leaks = 0
    for _ in range(EXPORTS):
        out = io.BytesIO()
        try:
            engine.export(container.id, out)
        except OSError:  # a file that shrank mid-read: the export fails, nothing leaks
            continue
        export_leaks += marker in out.getvalue()
    commit_leaks = 0
    for _ in range(COMMITS):
        image = engine.image(engine.commit(container.id, pause=False))
        commit_leaks += _layer_leaks(image.layers[-1].diff_path, marker)
    print(f"symlink race leaks: {export_leaks}/{EXPORTS} exports, {commit_leaks}/{COMMITS} commits")
    assert (export_leaks, commit_leaks) == (0, 0)
