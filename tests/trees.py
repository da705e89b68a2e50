"""Random directory trees for the layer properties: names, and one builder for each entry kind."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from hypothesis import strategies as st

from layerlab.layerfs import layers

NAME = st.text(alphabet="abz.-_ \u00e9", min_size=1, max_size=6).filter(
    lambda n: n not in (".", "..") and not n.startswith(".wh.")
)
# A file (bytes), a directory (None) or a symlink target (str); the layer writer's tests
# add overlay's kinds: a whiteout, a hardlink to the first file, an opaque directory.
NODE = st.one_of(
    st.binary(max_size=1500),
    st.none(),
    st.text(alphabet="ab./", min_size=1, max_size=12),
)
OVERLAY_NODE = st.one_of(NODE, st.sampled_from([b"whiteout", b"hardlink", b"opaque"]))


def build(root: Path, parts: list[str], node: bytes | str | None) -> None:
    """Add one entry unless something is in the way; never follow a symlink doing it."""
    path = root
    for part in parts[:-1]:
        path /= part
        if not os.path.lexists(path):
            path.mkdir()
        elif path.is_symlink() or not path.is_dir():
            return
    path /= parts[-1]
    if os.path.lexists(path):
        return
    if node == b"whiteout":
        os.mknod(path, stat.S_IFCHR, os.makedev(0, 0))
    elif node == b"hardlink":
        files = (p for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink())
        first = next(files, None)
        if first is not None:
            os.link(first, path)
    elif node == b"opaque":
        path.mkdir()
        os.setxattr(path, layers.OPAQUE_XATTR, b"y")
    elif isinstance(node, bytes):
        path.write_bytes(node)
    elif node is None:
        path.mkdir()
    else:
        path.symlink_to(node)
