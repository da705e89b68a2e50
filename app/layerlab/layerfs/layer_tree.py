"""A layer's entries as dive reads a layer's tar, and the union of a stack of them.

dive builds one tree per layer from its tar: a node per entry, whose size is the tar
header's (a regular file's length; 0 for folders, links, devices and a hard link after
the first), a whiteout as a node at the path it deletes. `entries` reads the same from a
layer folder (overlay's form: a whiteout is a 0/0 character device, an opaque folder an
xattr); `union` stacks them as overlay does. No UI: plain data in, facts out.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

from layerlab.layerfs.analysis import GONE
from layerlab.layerfs.unionfs import is_opaque, is_whiteout

FILE, DIR, SYMLINK, WHITEOUT, OTHER = "file", "dir", "symlink", "whiteout", "other"


class Entry(NamedTuple):
    """One entry of one layer, as dive's tree node has it, and what a comparison needs."""

    path: str  # absolute inside the image: `/etc/passwd`
    kind: str  # FILE, DIR, SYMLINK, WHITEOUT, OTHER
    size: int  # the tar header's size (dive's)
    leaf: bool  # no entry below it in this layer (dive counts only leaves)
    host: Path  # where it is on the host
    mode: int = 0
    uid: int = 0
    gid: int = 0
    target: str = ""  # a symlink's
    opaque: bool = False  # a folder hiding what the layers below have there


def entries(layer: Path) -> list[Entry]:
    """Every entry of the layer folder, sorted by path (a tar's order: a hard link's bytes
    go to its first name); whatever vanishes meanwhile is left out."""
    found: list[Entry] = []
    seen: set[tuple[int, int]] = set()
    _walk(layer, "", found, seen)
    return found


def _walk(folder: Path, prefix: str, found: list[Entry], seen: set[tuple[int, int]]) -> bool:
    """Append the entries below `folder`; whether there was any."""
    try:
        names = sorted(os.listdir(folder))
    except GONE:
        return False
    for name in names:
        host = folder / name
        try:
            st = os.lstat(host)
        except GONE:
            continue
        path = f"{prefix}/{name}"
        attrs = (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
        if stat.S_ISDIR(st.st_mode):
            at = len(found)
            found.append(Entry(path, DIR, 0, True, host, *attrs, opaque=is_opaque(host)))
            if _walk(host, path, found, seen):
                found[at] = found[at]._replace(leaf=False)
        elif is_whiteout(st):
            found.append(Entry(path, WHITEOUT, 0, True, host))
        elif stat.S_ISREG(st.st_mode):
            first = st.st_nlink == 1 or (st.st_dev, st.st_ino) not in seen
            seen.add((st.st_dev, st.st_ino))
            found.append(Entry(path, FILE, st.st_size if first else 0, True, host, *attrs))
        elif stat.S_ISLNK(st.st_mode):
            try:
                target = os.readlink(host)
            except GONE:
                continue
            found.append(Entry(path, SYMLINK, 0, True, host, *attrs, target=target))
        else:
            found.append(Entry(path, OTHER, 0, True, host, *attrs))
    return bool(names)


def under(paths: Iterable[str], path: str) -> list[str]:
    """`path` and every path below it, of `paths`."""
    inside = path + "/"
    return [p for p in paths if p == path or p.startswith(inside)]


class Provided(NamedTuple):
    """A path of the merged view: its entry and the layer (index, bottom first) it comes from."""

    entry: Entry
    layer: int


def union(stack: Sequence[list[Entry]]) -> tuple[dict[str, Provided], dict[str, int]]:
    """The merged view of layers' entries (bottom first), as overlay merges them: each path
    with its top copy; and each path a whiteout or opaque folder removed, with its layer."""
    view: dict[str, Provided] = {}
    removed: dict[str, int] = {}
    for index, layer in enumerate(stack):
        for entry in layer:
            if entry.kind == WHITEOUT or entry.opaque:
                for path in under(view, entry.path):
                    del view[path]
                    removed[path] = index
            if entry.kind != WHITEOUT:
                view[entry.path] = Provided(entry, index)
                removed.pop(entry.path, None)
    return view, removed
