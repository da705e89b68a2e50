"""A cached build racing an `rmi` of its image's last tag (issue 18): the build succeeds, an
image it found in its cache and lost meanwhile is a cache miss, and no tag names a missing
image (real builds and rmis, in processes of their own)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from layerlab.storage.store import Store
from tests.conftest import CLI

pytestmark = pytest.mark.system

DOCKERFILE = """\
FROM busybox
RUN echo a > /a
ENV X=1
RUN echo b > /b
COPY Dockerfile /df
LABEL step=last
"""


def _start(root: Path, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, LAYERLAB_ROOT=str(root))
    return subprocess.Popen(
        [sys.executable, "-m", "layerlab", *args], env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def _dangling_tags(root: Path) -> list[str]:
    store = Store(root)
    return [
        f"{tag} -> {image_id}"
        for tag, image_id in store.read_repositories().items()
        if not store.image_path(image_id).is_file()
    ]


def test_cached_builds_racing_rmi_of_the_last_tag(cli: CLI, root: Path, tmp_path: Path) -> None:
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(DOCKERFILE)
    failed, rebuilt = [], 0
    for _ in range(20):
        if "race:1" not in Store(root).read_repositories():  # the last round's rmi went last
            again = cli("build", "-t", "race:1", str(context))
            assert again.code == 0, again
        build = _start(root, "build", "-t", "race:1", str(context))
        rmi = _start(root, "rmi", "race:1")
        out, _ = build.communicate(timeout=120)
        rmi.communicate(timeout=120)
        if build.returncode != 0:
            failed.append(f"exit {build.returncode}: {out[-500:]}")
        rebuilt += "removed meanwhile: building again" in out
        assert _dangling_tags(root) == []
    print(f"20 races: {len(failed)} builds failed, {rebuilt} lost their cache and built again")
    assert failed == []
    assert cli("build", "-t", "race:1", str(context)).code == 0
    assert cli("system", "check").out.strip() == "the store is consistent"
