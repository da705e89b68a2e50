"""Layer analysis on temp dirs: provenance, re-reads, hidden bytes, the union view, and
every reader against a tree that loses paths while it reads (a container deleting files)."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from layerlab.layerfs import analysis, unionfs
from layerlab.layerfs.analysis import (
    changes_at,
    hidden_bytes,
    layer_changes,
    layer_stats,
    provenance_of,
    text_diff,
    tree_size,
    union_changes,
)
from layerlab.layerfs.unionfs import Change

pytestmark = pytest.mark.unit


def _layers(tmp_path: Path) -> tuple[Path, Path, Path]:
    upper, mid, base = (tmp_path / n for n in ("upper", "mid", "base"))
    for d in (upper, mid, base):
        d.mkdir()
    return upper, mid, base


def _whiteout(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mknod(path, stat.S_IFCHR | 0o000, os.makedev(0, 0))


def _write(path: Path, text: str = "x") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_the_top_copy_supplies_and_the_lower_copies_are_shadowed(tmp_path: Path) -> None:
    upper, mid, base = _layers(tmp_path)
    for layer in (upper, mid, base):
        _write(layer / "etc/passwd")
    _write(base / "etc/group")
    assert unionfs.provenance(upper, [mid, base], "/etc/passwd") == [
        (upper, "file"),
        (mid, "file"),
        (base, "file"),
    ]
    assert unionfs.provenance(upper, [mid, base], "/etc/group") == [(base, "file")]
    assert unionfs.provenance(upper, [mid, base], "/etc") == [
        (upper, "dir"),
        (mid, "dir"),
        (base, "dir"),
    ]
    assert unionfs.provenance(upper, [mid, base], "/nothing") == []


def test_a_whiteout_ends_the_search(tmp_path: Path) -> None:
    upper, mid, base = _layers(tmp_path)
    _whiteout(upper / "bin/ls")
    _write(mid / "bin/ls")
    _write(base / "bin/ls")
    assert unionfs.provenance(upper, [mid, base], "/bin/ls") == [(upper, "whiteout")]


def test_a_whited_out_or_replaced_directory_hides_everything_under_it(tmp_path: Path) -> None:
    upper, mid, base = _layers(tmp_path)
    _whiteout(upper / "opt")
    _write(base / "opt/tool")
    assert unionfs.provenance(upper, [mid, base], "/opt/tool") == []
    _write(mid / "srv")  # a file where the base has a directory
    _write(base / "srv/data")
    assert unionfs.provenance(upper, [mid, base], "/srv/data") == []


def test_an_opaque_directory_stops_the_search_below_it(tmp_path: Path) -> None:
    upper, mid, base = _layers(tmp_path)
    _write(upper / "var/new")
    os.setxattr(upper / "var", unionfs.OPAQUE_XATTR, b"y")
    _write(mid / "var/old")
    _write(base / "var/new")
    assert unionfs.provenance(upper, [mid, base], "/var") == [(upper, "opaque")]
    assert unionfs.provenance(upper, [mid, base], "/var/new") == [(upper, "file")]
    assert unionfs.provenance(upper, [mid, base], "/var/old") == []


def test_an_opaque_directory_lists_what_it_hides_as_deleted(tmp_path: Path) -> None:
    """As Docker's overlay2 diff: `rm -rf /app && mkdir /app && echo n > /app/new` is
    C /app, A /app/new, and a D for each entry the layers below had in /app."""
    upper, mid, base = _layers(tmp_path)
    _write(upper / "app/new")
    _write(upper / "app/kept")  # written again: changed, no D for it
    os.setxattr(upper / "app", unionfs.OPAQUE_XATTR, b"y")
    _write(mid / "app/hello.txt", "h" * 10)
    _whiteout(mid / "app/gone")  # already deleted below: nothing to hide
    _write(base / "app/gone")
    _write(base / "app/kept")
    _write(base / "app/sub/deep", "d" * 7)
    expected = ["C /app", "D /app/hello.txt", "C /app/kept", "A /app/new", "D /app/sub"]
    found_all = unionfs.changes(upper, [mid, base])
    assert [str(c) for c in found_all] == expected
    assert [c.path for c in found_all if c.masked] == ["/app/hello.txt", "/app/sub"]
    found = changes_at(upper, (mid, base), ["app/new"])  # what the live tree re-reads
    assert sorted(str(c) for c in found.values() if c) == [
        "A /app/new",
        "C /app",
        "D /app/hello.txt",
        "D /app/sub",
    ]
    assert hidden_bytes(upper, (mid, base)) == 10 + 1  # mid's /app, and the kept copy below


def test_changes_at_re_reads_just_the_paths_given(tmp_path: Path) -> None:
    upper, mid, base = _layers(tmp_path)
    _write(base / "etc/passwd")
    _write(base / "bin/ls")
    _write(upper / "etc/passwd", "changed")
    _whiteout(upper / "bin/ls")
    _write(upper / "new/deep/file")
    found = changes_at(upper, (mid, base), ["etc/passwd", "bin/ls", "new", "gone"])
    assert found == {
        "/etc": Change("C", "/etc"),
        "/etc/passwd": Change("C", "/etc/passwd"),
        "/bin": Change("C", "/bin"),
        "/bin/ls": Change("D", "/bin/ls"),
        "/new": Change("A", "/new"),
        "/new/deep": Change("A", "/new/deep"),  # a new directory is read whole
        "/new/deep/file": Change("A", "/new/deep/file"),
        "/gone": None,
    }
    whole = {c.path: c for c in unionfs.changes(upper, [mid, base])}
    assert {p: c for p, c in found.items() if c is not None} == whole


def test_hidden_bytes_count_the_copy_right_beneath_once(tmp_path: Path) -> None:
    upper, mid, base = _layers(tmp_path)
    _write(base / "etc/passwd", "a" * 100)
    _write(mid / "etc/passwd", "b" * 40)  # hides base's 100 bytes
    _write(upper / "etc/passwd", "c")  # hides mid's 40; base's copy was already hidden
    _write(base / "opt/big/blob", "x" * 500)
    _whiteout(upper / "opt/big")  # deletes a whole directory: its 500 bytes still ship
    _write(upper / "new.txt", "n" * 9)  # added: hides nothing
    assert hidden_bytes(mid, (base,)) == 100
    assert hidden_bytes(upper, (mid, base)) == 40 + 500
    assert hidden_bytes(base, ()) == 0


def test_the_union_view_merges_down_from_a_layer(tmp_path: Path) -> None:
    upper, mid, base = _layers(tmp_path)
    _write(base / "bin/ls")
    _write(base / "etc/passwd")
    _write(mid / "etc/passwd", "changed")
    _whiteout(mid / "bin/ls")
    _write(upper / "happiness.txt")
    assert [str(c) for c in union_changes(mid, (base,))] == [
        "C /bin",
        "D /bin/ls",  # the layer's own deletion stays in view
        "C /etc",
        "C /etc/passwd",
    ]
    assert [str(c) for c in union_changes(upper, (mid, base))] == [
        "  /bin",  # shows through from below; ls is gone
        "  /etc",
        "  /etc/passwd",
        "A /happiness.txt",
    ]


def test_layer_changes_and_stats(tmp_path: Path) -> None:
    _, mid, base = _layers(tmp_path)
    _write(base / "etc/passwd", "a" * 10)
    _write(mid / "etc/passwd", "bb")
    _write(mid / "new", "n")
    assert [str(c) for c in layer_changes(mid, (base,))] == ["C /etc", "C /etc/passwd", "A /new"]
    assert tree_size(mid) == (3, 3)  # bytes of files, entries (etc, etc/passwd, new)
    assert layer_stats(mid, (base,)) == (3, 10)
    assert layer_stats(mid, (base,)) == (3, 10)  # remembered


def test_tree_size_counts_a_hardlinked_file_once(tmp_path: Path) -> None:
    _write(tmp_path / "a", "x" * 7)
    os.link(tmp_path / "a", tmp_path / "b")
    os.symlink("a", tmp_path / "c")
    assert tree_size(tmp_path) == (7, 3)


def test_provenance_names_the_layers_and_diffs_a_shadowing_text_file(tmp_path: Path) -> None:
    upper, mid, base = _layers(tmp_path)
    _write(base / "etc/passwd", "root\n")
    _write(upper / "etc/passwd", "root\nx\n")
    _whiteout(upper / "bin/ls")
    _write(mid / "bin/ls", "elf")
    labels = {upper: "the writable layer", mid: "layer mid", base: "layer base"}
    found = provenance_of((upper, mid, base), labels, "/etc/passwd")
    assert found.entries == [("the writable layer", "file"), ("layer base", "file")]
    assert found.diff == ["@@ -1 +1,2 @@", " root", "+x"]
    deleted = provenance_of((upper, mid, base), labels, "/bin/ls")
    assert deleted.entries == [("the writable layer", "whiteout"), ("layer mid", "file")]


def test_text_diff_skips_binary_large_and_missing_files(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    old.write_text("a\n")
    new.write_text("b\n")
    assert text_diff(old, new) == ["@@ -1 +1 @@", "-a", "+b"]
    new.write_bytes(b"\xff\xfe")
    assert text_diff(old, new) == []
    new.write_text("x" * (analysis.MAX_DIFF_BYTES + 1))
    assert text_diff(old, new) == []
    new.unlink()
    assert text_diff(old, new) == []  # deleted meanwhile
    assert text_diff(old, tmp_path / "old" / "below") == []  # not a directory any more
    assert text_diff(old, tmp_path) == []  # a directory now


# --- paths that vanish mid-read ---------------------------------------------------------
def test_gone_paths_read_as_gone(tmp_path: Path) -> None:
    upper, mid, base = _layers(tmp_path)
    missing = tmp_path / "removed"
    assert tree_size(missing) == (0, 0)
    assert layer_changes(missing, (base,)) == []
    assert union_changes(missing, (missing / "x",)) == []
    assert hidden_bytes(missing, (base,)) == 0
    assert layer_stats(missing, (base,)) == (0, 0)
    _write(missing / "f", "xyz")  # the same folder back: nothing stale was remembered
    assert layer_stats(missing, (base,)) == (1, 0)
    assert changes_at(upper, (mid, base), ["a/b"]) == {"/a": None, "/a/b": None}
    _write(upper / "file")
    assert changes_at(upper, (mid, base), ["file/below"]) == {
        "/file": Change("A", "/file"),
        "/file/below": None,  # the parent became a file: NotADirectoryError means gone
    }
    assert provenance_of((upper, mid), {}, "/nothing/here").entries == []


@pytest.fixture
def churn(tmp_path: Path) -> Iterator[tuple[Path, Path, Path]]:
    """A writable layer whose files and directories come and go, as a container makes them."""
    upper, mid, base = _layers(tmp_path)
    for i in range(20):
        _write(base / f"d{i}/f", "base" * 10)
    stop = threading.Event()

    def writer() -> None:
        n = 0
        while not stop.is_set():
            d = upper / f"d{n % 20}"
            try:
                for j in range(20):
                    _write(d / f"sub{j}/f{j}", "x" * j)
                _whiteout(d / "f")
                for j in range(20):
                    (d / f"sub{j}/f{j}").unlink()
                    (d / f"sub{j}").rmdir()
                (d / "f").unlink()
                d.rmdir()
            except OSError:
                pass
            n += 1

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        yield upper, mid, base
    finally:
        stop.set()
        thread.join()


def test_every_reader_survives_a_layer_that_churns_under_it(
    churn: tuple[Path, Path, Path],
) -> None:
    upper, mid, base = churn
    labels = {upper: "rw", mid: "mid", base: "base"}
    for i in range(150):
        d = f"d{i % 20}"
        tree_size(upper)
        hidden_bytes(upper, (mid, base))
        layer_changes(upper, (mid, base))
        union_changes(upper, (mid, base))
        changes_at(upper, (mid, base), [d, f"{d}/sub3/f3", f"{d}/f"])
        provenance_of((upper, mid, base), labels, f"/{d}/f")
        text_diff(base / d / "f", upper / d / "sub1" / "f1")


def test_unionfs_walks_stay_the_reference(tmp_path: Path) -> None:
    """The tolerant walk counts as the store's own `dir_size` does."""
    from layerlab.layerfs import layers as layerlib

    _write(tmp_path / "a/b/c", "12345")
    _write(tmp_path / "d", "1")
    assert tree_size(tmp_path) == layerlib.dir_size(tmp_path)
    assert stat.S_ISDIR(os.lstat(tmp_path / "a").st_mode)
    assert unionfs.changes(tmp_path, []) == layer_changes(tmp_path, ())
