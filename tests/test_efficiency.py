"""dive's efficiency rules on layer folders made here (overlay's whiteouts: 0/0 character
devices made with mknod in the test's folder), and go-humanize's sizes for the gate."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from layerlab.commands.dive_report import parse_size
from layerlab.errors import LayerlabError
from layerlab.layerfs.efficiency import efficiency
from layerlab.layerfs.unionfs import OPAQUE_XATTR

pytestmark = pytest.mark.unit


def layer(root: Path, name: str, files: dict[str, int | None]) -> Path:
    """A layer folder: path -> size of a file of that many bytes, or None for a whiteout."""
    folder = root / name
    folder.mkdir()
    for path, size in files.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if size is None:
            os.mknod(target, 0o600 | 0o020000, os.makedev(0, 0))
        else:
            target.write_bytes(b"x" * size)
    return folder


def test_a_file_written_twice_wastes_both_copies(tmp_path: Path) -> None:
    eff = efficiency([
        layer(tmp_path, "0", {"keep": 10, "f": 100}),
        layer(tmp_path, "1", {"f": 300}),
    ])  # fmt: skip
    assert [(p.path, p.count, p.cumulative) for p in eff.inefficient] == [("/f", 2, 400)]
    assert (eff.wasted, eff.size, eff.user_size) == (400, 410, 300)
    assert eff.score == pytest.approx((10 + 100) / (10 + 400))
    assert eff.user_wasted_ratio == pytest.approx(400 / 300)


def test_a_deleted_folder_weighs_its_files_but_wastes_nothing(tmp_path: Path) -> None:
    """dive visits leaves only: the folder with files is no leaf below; its whiteout is met
    once, weighing the folder's bytes; a deleted file is two nodes, its whiteout weighing 0."""
    eff = efficiency([
        layer(tmp_path, "0", {"d/a": 5, "d/b": 7, "gone": 11}),
        layer(tmp_path, "1", {"d": None, "gone": None}),
    ])  # fmt: skip
    assert [(p.path, p.count, p.cumulative) for p in eff.inefficient] == [("/gone", 2, 11)]
    assert eff.score == pytest.approx((12 + 0 + 12) / (12 + 11 + 12))


def test_hard_links_symlinks_and_opaque_folders_count_as_in_a_tar(tmp_path: Path) -> None:
    """A hard link's bytes once (a tar's later names are links), a symlink none, and an
    opaque marker ignored (dive skips `.wh..wh..opq`)."""
    base = layer(tmp_path, "0", {"o/old": 50, "f": 20})
    os.link(base / "f", base / "g")
    os.symlink("f", base / "s")
    top = layer(tmp_path, "1", {"o/new": 3})
    os.setxattr(top / "o", OPAQUE_XATTR, b"y")
    eff = efficiency([base, top])
    assert eff.layer_sizes == [70, 3]
    assert eff.inefficient == []
    assert eff.score == 1.0


def test_an_empty_image_is_fully_efficient(tmp_path: Path) -> None:
    eff = efficiency([layer(tmp_path, "0", {})])
    assert (eff.score, eff.wasted, eff.user_wasted_ratio) == (1.0, 0, 0.0)


@pytest.mark.parametrize(
    ("text", "size"),
    [("20MB", 20_000_000), ("20MiB", 20 << 20), ("1000", 1000), ("1.5 GB", 1_500_000_000),
     ("2k", 2000), ("3kib", 3072)],
)  # fmt: skip
def test_sizes_read_as_go_humanize_reads_them(text: str, size: int) -> None:
    assert parse_size(text, "highest-wasted-bytes") == size


@pytest.mark.parametrize("text", ["", "MB", "20XB", "-1MB", "1e3"])
def test_a_size_that_does_not_parse_is_bad_usage(text: str) -> None:
    with pytest.raises(LayerlabError) as refused:
        parse_size(text, "highest-wasted-bytes")
    assert refused.value.exit_code == 2
