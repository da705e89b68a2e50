"""`compare A B`: two images (or two containers) built here from a shared base; the shared
layers' chain ids worked out from their diff_ids, and every difference from the files the
test wrote, each tied to the layer that makes it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from .conftest import CLI

pytestmark = pytest.mark.system

SAME = b"s" * 500


def files(folder: Path, content: dict[str, bytes]) -> None:
    folder.mkdir(parents=True)
    for name, data in content.items():
        (folder / name).write_bytes(data)


def build(cli: CLI, context: Path, tag: str, dockerfile: str) -> None:
    (context / f"{tag}.Dockerfile").write_text(dockerfile)
    built = cli("build", "-q", "-f", str(context / f"{tag}.Dockerfile"), "-t", tag, str(context))
    assert built.code == 0, built.err


@pytest.fixture
def images(cli: CLI, tmp_path: Path) -> Path:
    """cmp-base: busybox + /s.txt; cmp-a and cmp-b on it, each with a layer of files (one the
    same in both, one changed, one of its own); cmp-b then deletes /s.txt."""
    files(tmp_path / "shared", {"s.txt": b"1" * 1000})
    files(tmp_path / "a", {"same.bin": SAME, "changed.bin": b"a" * 700, "only-a.bin": b"o" * 4000})
    files(tmp_path / "b", {"same.bin": SAME, "changed.bin": b"b" * 900, "only-b.bin": b"p" * 1200})
    build(cli, tmp_path, "cmp-base", "FROM busybox\nCOPY shared/ /\n")
    build(cli, tmp_path, "cmp-a", "FROM cmp-base\nCOPY a/ /\n")
    build(cli, tmp_path, "cmp-b", "FROM cmp-base\nCOPY b/ /\nRUN rm /s.txt\n")
    return tmp_path


def chain_ids(cli: CLI, ref: str) -> list[str]:
    """The layers' chain ids, from the image's diff_ids (the OCI image spec's ChainID)."""
    shown = cli("inspect", "-f", "{{json .RootFS.Layers}}", ref)
    chain: list[str] = []
    for diff_id in json.loads(shown.out):
        joined = f"{chain[-1]} {diff_id}" if chain else diff_id
        chain.append("sha256:" + hashlib.sha256(joined.encode()).hexdigest() if chain else joined)
    return chain


def test_two_images_share_their_base_and_differ_layer_by_layer(cli: CLI, images: Path) -> None:
    shown = cli("compare", "--json", "cmp-a", "cmp-b")
    assert shown.code == 0, shown.err
    report = json.loads(shown.out)
    a, b = chain_ids(cli, "cmp-a"), chain_ids(cli, "cmp-b")
    assert a[:2] == b[:2] and len(a) == 3 and len(b) == 4
    assert report["sharedLayers"] == a[:2]
    assert [x["id"] for x in report["a"]["layers"]] == a
    assert [x["id"] for x in report["b"]["layers"]] == b

    def at(layer: int, ids: list[str], size: int | None) -> dict[str, object]:
        return {"layer": layer, "id": ids[layer], "size": size}

    assert report["changes"] == [
        {"kind": "C", "path": "/changed.bin", "a": at(2, a, 700), "b": at(2, b, 900)},
        {"kind": "D", "path": "/only-a.bin", "a": at(2, a, 4000), "b": None},
        {"kind": "A", "path": "/only-b.bin", "a": None, "b": at(2, b, 1200)},
        {"kind": "D", "path": "/s.txt", "a": at(1, a, 1000), "b": at(3, b, None)},
    ]  # /same.bin: the same bytes in two layers is no difference


def test_the_report_draws_the_shared_trunk_then_each_layer_s_differences(
    cli: CLI, images: Path
) -> None:
    shown = cli("compare", "cmp-a", "cmp-b")
    assert shown.code == 0, shown.err
    lines = shown.out.splitlines()
    assert lines[0] == "2 shared layers"
    assert [line.split()[-3:] for line in lines if " image " in line] == [
        ["A", "image", "cmp-a"], ["B", "image", "cmp-b"],
    ]  # fmt: skip
    titles = [line.split("  ")[0] for line in lines if "'s layer" in line]
    assert titles == ["A's layer 2", "B's layer 2", "B's layer 3"]
    rows = [line.split() for line in lines if line[:3] in ("  A", "  C", "  D")]
    assert [row[:2] for row in rows] == [
        ["D", "/only-a.bin"],  # A's layer 2: B has no copy
        ["C", "/changed.bin"], ["A", "/only-b.bin"],  # B's layer 2: B's copies
        ["D", "/s.txt"],  # B's layer 3 deleted it
    ]  # fmt: skip


def test_two_containers_compare_by_their_writable_layers(cli: CLI, images: Path) -> None:
    for name, script in (
        ("cmp-one", "echo one > /x && rm /s.txt"),
        ("cmp-two", "echo two! > /x && echo y > /y"),
    ):
        ran = cli("run", "--name", name, "cmp-base", "sh", "-c", script)
        assert ran.code == 0, ran.err
    report = json.loads(cli("compare", "--json", "cmp-one", "cmp-two").out)
    base = chain_ids(cli, "cmp-base")
    assert report["sharedLayers"] == base
    assert (report["a"]["kind"], report["b"]["kind"]) == ("container", "container")
    one, two = report["a"]["id"], report["b"]["id"]
    changes = [
        (c["kind"], c["path"], c["a"] and (c["a"]["id"], c["a"]["size"]),
         c["b"] and (c["b"]["id"], c["b"]["size"]))
        for c in report["changes"]
    ]  # fmt: skip
    assert changes == [
        ("A", "/s.txt", (one, None), (base[1], 1000)),
        ("C", "/x", (one, 4), (two, 5)),
        ("A", "/y", None, (two, 2)),
    ]


def test_a_name_that_is_neither_is_docker_s_error(cli: CLI) -> None:
    missing = cli("compare", "busybox", "no-such-thing")
    assert (missing.code, missing.out) == (1, "")
    assert missing.err == "Error: No such object: no-such-thing\n"
