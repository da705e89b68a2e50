"""A file's contents read from a layer's folder: text, binary, cut, and never through a symlink."""

from __future__ import annotations

from pathlib import Path

import pytest

from layerlab.layerfs import contents

pytestmark = pytest.mark.unit


def layers(tmp_path: Path) -> tuple[Path, Path]:
    top, below = tmp_path / "top", tmp_path / "below"
    for layer in (top, below):
        (layer / "etc").mkdir(parents=True)
    return top, below


def test_a_changed_text_file_and_its_diff(tmp_path: Path) -> None:
    top, below = layers(tmp_path)
    (below / "etc/motd").write_text("hello\nworld\n")
    (top / "etc/motd").write_text("hello\nthere\n")
    found = contents.contents_of((top, below), "/etc/motd")
    assert found.top is not None and found.top.text == "hello\nthere\n"
    assert found.below is not None and found.below.layer == below
    assert found.diff == ["@@ -1,2 +1,2 @@", " hello", "-world", "+there"]


def test_binary_is_guessed_from_its_magic_and_summarised_in_hex(tmp_path: Path) -> None:
    top, below = layers(tmp_path)
    (top / "etc/z").write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(20)))
    copy = contents.contents_of((top, below), "/etc/z").top
    assert copy is not None and copy.text is None and copy.guess == "gzip compressed data"
    lines = contents.hex_lines(copy.head)
    assert lines[0] == (
        "00000000  1f 8b 08 00 00 01 02 03 04 05 06 07 08 09 0a 0b  |................|"
    )
    assert lines[1].startswith("00000010  0c 0d 0e 0f 10 11 12 13")
    assert lines[1].endswith("|........|")


def test_a_long_file_is_cut_even_inside_a_character(tmp_path: Path) -> None:
    top, below = layers(tmp_path)
    (top / "etc/long").write_bytes(b"a" * (contents.LIMIT - 1) + "é".encode() * 10)
    copy = contents.contents_of((top, below), "/etc/long").top
    assert copy is not None and copy.cut and len(copy.head) == contents.LIMIT
    assert copy.text is not None and copy.guess == "UTF-8 text"  # the split character waits


def test_a_symlinked_folder_is_never_followed(tmp_path: Path) -> None:
    """A layer whose /etc is a symlink to a host folder: its files are not read through it."""
    top, below = tmp_path / "top", tmp_path / "below"
    host = tmp_path / "host"
    host.mkdir()
    (host / "secret").write_text("host's")
    top.mkdir()
    below.mkdir()
    (top / "etc").symlink_to(host)
    copy = contents.read_copy(top, "etc/secret", "file")
    assert copy.kind == "gone" and copy.head == b""
    link = contents.contents_of((top, below), "/etc").top
    assert link is not None and link.kind == "symlink" and link.target == str(host)
