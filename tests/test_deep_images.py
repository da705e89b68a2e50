"""Images 125 layers deep build, run and commit (each layer mounted by its short link, the
mount's options within one page); the 126th layer is refused in Docker's words."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from tests.conftest import CLI

pytestmark = pytest.mark.system


def _tar(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _deepen(saved: Path, out: Path, extra: int, tag: str) -> None:
    """`saved` (a one-image `save`) with `extra` one-file layers on top (`/n<i>` holds i)."""
    with tarfile.open(saved) as tar:

        def member(name: str) -> bytes:
            f = tar.extractfile(name)
            assert f is not None
            return f.read()

        (entry,) = json.loads(member("manifest.json"))
        config = json.loads(member(entry["Config"]))
        files = {name: member(name) for name in entry["Layers"]}
    for i in range(extra):
        layer = _tar({f"n{i}": f"{i}\n".encode()})
        name = f"extra{i}/layer.tar"
        files[name] = layer
        config["rootfs"]["diff_ids"].append("sha256:" + hashlib.sha256(layer).hexdigest())
        config["history"].append({"created_by": f"layer {i}"})
    blob = json.dumps(config).encode()
    config_name = hashlib.sha256(blob).hexdigest() + ".json"
    manifest = [{"Config": config_name, "RepoTags": [tag], "Layers": list(files)}]
    out.write_bytes(
        _tar({"manifest.json": json.dumps(manifest).encode(), config_name: blob} | files)
    )


def test_125_layers_build_run_and_commit_and_the_126th_is_refused(
    cli: CLI, root: Path, tmp_path: Path
) -> None:
    saved = tmp_path / "busybox.tar"
    assert cli("save", "-o", str(saved), "busybox").code == 0
    deep = tmp_path / "deep.tar"
    _deepen(saved, deep, 123, "deep:124")
    assert cli("load", "-i", str(deep)).code == 0
    assert cli("history", "-q", "deep:124").out.count("\n") == 125  # the CMD row too
    # Run: a union of 124 layers and the init layer, files from the top and the bottom.
    ran = cli("run", "--name", "c124", "deep:124", "sh", "-c", "cat /n122 /n0; touch /top")
    assert ran.code == 0 and ran.out == "122\n0\n", ran
    assert cli("commit", "c124", "deep:125").code == 0  # the 125th layer
    ran = cli("run", "--name", "c125", "deep:125", "sh", "-c", "ls /top && touch /more")
    assert ran.code == 0 and ran.out == "/top\n", ran
    links = root / "l"
    assert len(os.listdir(links)) == 125 and all(len(n) == 26 for n in os.listdir(links))
    # A 126th: refused as Docker refuses it, and nothing is left behind.
    refused = cli("commit", "c125", "deep:126")
    assert (refused.code, refused.err) == (1, "Error: max depth exceeded\n")
    (tmp_path / "Dockerfile").write_text("FROM deep:124\nRUN touch /built\n")
    built = cli("build", "-t", "built:125", str(tmp_path))
    assert built.code == 0, built
    assert cli("run", "--rm", "built:125", "ls", "/built", "/n50").out == "/built\n/n50\n"
    (tmp_path / "Dockerfile").write_text("FROM deep:125\nRUN touch /deeper\n")
    built = cli("build", "-t", "built:126", str(tmp_path))
    assert (built.code, built.err) == (1, "max depth exceeded\n"), built
    assert cli("images", "-q", "deep:126").out == cli("images", "-q", "built:126").out == ""
    _deepen(saved, deep, 125, "deep:126")
    loaded = cli("load", "-i", str(deep))
    assert (loaded.code, loaded.err) == (1, "Error: max depth exceeded\n")
    assert cli("system", "check").out == "the store is consistent\n"
    assert cli("rm", "c124", "c125").code == 0
    assert cli("rmi", "deep:125", "built:125").code == 0
    assert len(os.listdir(links)) == 124  # a removed layer's link goes with it


def test_short_links_are_made_on_use_and_strays_go(cli: CLI, root: Path) -> None:
    assert cli("run", "--rm", "busybox", "true").code == 0
    links = root / "l"
    (link,) = links.iterdir()
    layer = os.path.realpath(link)
    link.unlink()
    (links / "stray").symlink_to("../layers/gone/diff")
    (links / "junk").mkdir()
    check = cli("system", "check")
    assert check.code == 1 and check.out == (
        f"{links}/junk: short link to no layer\n{links}/stray: short link to no layer\n"
    ), check
    repair = cli("system", "check", "--repair")
    assert (
        repair.code == 0
        and f"{links}/junk: short link to no layer (repaired: moved to" in repair.out
    )
    assert cli("run", "--rm", "busybox", "true").code == 0  # the missing link is made again
    assert os.listdir(links) == [link.name] and os.path.realpath(link) == layer
    assert cli("system", "check").out == "the store is consistent\n"
