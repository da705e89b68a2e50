"""The TUI's read-only helpers: provenance, single-path re-reads, JSON lines with paths."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from layerlab import unionfs
from layerlab.tui.json_view import json_lines, leaves
from layerlab.tui.model import LayerRow, changes_at, hidden_bytes, union_changes
from layerlab.unionfs import Change


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


def test_json_lines_are_json_dumps_lines_with_their_paths() -> None:
    doc = {"Id": "abc", "State": {"Status": "running", "Pid": 7}, "Args": ["60"], "Empty": {}}
    lines = list(json_lines(doc))
    assert [text for text, _, _ in lines] == json.dumps(doc, indent=2).splitlines()
    assert ('    "Status": "running",', ("State", "Status"), True) in lines
    assert leaves(doc) == {
        ("Id",): "abc",
        ("State", "Status"): "running",
        ("State", "Pid"): 7,
        ("Args", 0): "60",
        ("Empty",): {},
    }


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
    row = LayerRow("mid", "mid", "", 0, 0, mid, (base,), {}, 0)
    assert [str(c) for c in union_changes(row)] == [
        "C /bin",
        "D /bin/ls",  # the layer's own deletion stays in view
        "C /etc",
        "C /etc/passwd",
    ]
    top = LayerRow("rw", "rw", "", 0, 0, upper, (mid, base), {}, 0, writable=True)
    assert [str(c) for c in union_changes(top)] == [
        "  /bin",  # shows through from below; ls is gone
        "  /etc",
        "  /etc/passwd",
        "A /happiness.txt",
    ]
