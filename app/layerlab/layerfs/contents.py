"""A file's contents as a layer holds it, and the copy below it: plain data for a face to draw.

The files are untrusted (a container or an imported tar wrote them). Each is opened
from its layer's folder one component at a time with O_NOFOLLOW, so a symlink a
container planted (or swaps in while we read) never leads the read outside the layer;
a FIFO or device is never read; only the first `LIMIT` bytes are read.
"""

from __future__ import annotations

import codecs
import difflib
import os
from dataclasses import dataclass
from pathlib import Path

from layerlab.layerfs import unionfs

LIMIT = 64 * 1024  # bytes of a file read and shown; more is said to be cut
HEX_BYTES = 256  # bytes of a binary file shown in hex
HEX_WIDTH = 16
DIFF_CONTEXT = 3
# (offset, magic bytes, what `file` would say), the first match wins.
MAGIC = (
    (0, b"\x7fELF", "ELF executable or library"),
    (0, b"\x1f\x8b", "gzip compressed data"),
    (257, b"ustar", "tar archive"),
    (0, b"PK\x03\x04", "zip archive"),
    (0, b"BZh", "bzip2 compressed data"),
    (0, b"\xfd7zXZ\x00", "xz compressed data"),
    (0, b"\x28\xb5\x2f\xfd", "zstandard compressed data"),
    (0, b"\x89PNG\r\n\x1a\n", "PNG image"),
    (0, b"\xff\xd8\xff", "JPEG image"),
    (0, b"GIF8", "GIF image"),
    (0, b"%PDF-", "PDF document"),
    (0, b"SQLite format 3\x00", "SQLite database"),
    (0, b"\x00asm", "WebAssembly module"),
    (0, b"\xca\xfe\xba\xbe", "Java class or Mach-O universal binary"),
    (0, b"#!", "script"),
)


@dataclass(frozen=True)
class Copy:
    """One layer's copy of a path: its kind (as `unionfs.provenance` names them) and content.

    `head` is a regular file's first `LIMIT` bytes; `target` a symlink's target.
    """

    layer: Path
    kind: str  # file, symlink, whiteout, dir, opaque, other
    size: int = 0
    head: bytes = b""
    target: str = ""

    @property
    def cut(self) -> bool:
        """Only the first `LIMIT` bytes were read."""
        return len(self.head) < self.size

    @property
    def text(self) -> str | None:
        """The content as text when it is UTF-8 without NUL bytes; None for binary data."""
        if self.kind != "file" or b"\x00" in self.head:
            return None
        try:  # a cut may split a character: only the whole file must end on one
            return codecs.getincrementaldecoder("utf-8")().decode(self.head, final=not self.cut)
        except UnicodeDecodeError:
            return None

    @property
    def guess(self) -> str:
        """What the data is, from its first bytes, as `file` guesses it."""
        if not self.size:
            return "empty"
        for offset, magic, name in MAGIC:
            if self.head[offset : offset + len(magic)] == magic:
                return name
        return "UTF-8 text" if self.text is not None else "data"


@dataclass(frozen=True)
class Contents:
    """A path as a layer shows it (`top`), the copy below it that it changes or deletes
    (`below`), and for two text copies the unified diff from `below` to `top`."""

    path: str
    top: Copy | None  # None: not in this layer's view
    below: Copy | None
    diff: list[str]


def contents_of(union: tuple[Path, ...], path: str) -> Contents:
    """`path` in the view from `union[0]` down (layers top first): the copy that supplies it
    (or the whiteout that deletes it) and the one it shadows (for a whiteout: what it hides)."""
    entries = unionfs.provenance(union[0], union[1:], path)
    if entries and entries[-1][1] == "whiteout":
        beneath = union[union.index(entries[-1][0]) + 1 :]
        if beneath:
            entries += unionfs.provenance(beneath[0], beneath[1:], path)
    rel = path.strip("/")
    copies = [read_copy(layer, rel, kind) for layer, kind in entries[:2]]
    top = copies[0] if copies else None
    below = copies[1] if len(copies) > 1 else None
    diff: list[str] = []
    if top is not None and below is not None and top.kind == below.kind == "file":
        old, new = below.text, top.text
        if old is not None and new is not None:
            lines = difflib.unified_diff(
                old.splitlines(), new.splitlines(), n=DIFF_CONTEXT, lineterm=""
            )
            diff = list(lines)[2:]  # no ---/+++ lines: the panes name both copies
    return Contents(path, top, below, diff)


def read_copy(layer: Path, rel: str, kind: str) -> Copy:
    """The copy of `rel` in `layer` (of `kind`), read without following any symlink."""
    from layerlab.layerfs import layers  # tarfile's module: loaded when a file is viewed

    parent, _, name = rel.rpartition("/")
    try:
        root = os.open(layer, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            folder = layers.open_dir(root, [p for p in parent.split("/") if p], create=False)
        finally:
            os.close(root)
    except OSError:  # gone, or a symlink now: nothing of it is read
        return Copy(layer, "gone")
    try:
        if kind == "symlink":
            target = layers.read_link_at(folder, name)
            return Copy(layer, kind, target=target or "") if target else Copy(layer, "gone")
        if kind != "file":
            return Copy(layer, kind)
        opened = layers.open_file_at(folder, name)
        if opened is None:  # no longer a regular file
            return Copy(layer, "gone")
        fd, st = opened
        try:
            return Copy(layer, kind, st.st_size, _read(fd, min(st.st_size, LIMIT)))
        finally:
            os.close(fd)
    finally:
        os.close(folder)


def _read(fd: int, size: int) -> bytes:
    chunks: list[bytes] = []
    while size > 0 and (chunk := os.read(fd, size)):
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def hex_lines(data: bytes) -> list[str]:
    """`hexdump -C`'s lines of `data`: offset, the bytes in hex, the printable ones as text."""
    lines = []
    for offset in range(0, len(data), HEX_WIDTH):
        row = data[offset : offset + HEX_WIDTH]
        hexes = " ".join(f"{b:02x}" for b in row)
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in row)
        lines.append(f"{offset:08x}  {hexes:<{HEX_WIDTH * 3 - 1}}  |{text}|")
    return lines
