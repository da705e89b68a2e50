"""What differs between two layer stacks (two images, two containers): their merged views
compared path by path, each difference tied to the layer that makes it. No UI: plain
data in, facts out.
"""

from __future__ import annotations

import filecmp
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from layerlab.layerfs import layer_tree
from layerlab.layerfs.layer_tree import FILE, Entry, Provided


@dataclass(frozen=True)
class FileChange:
    """One path that differs: `A` only B has it, `D` only A has it, `C` both, differently."""

    kind: str
    path: str
    a_layer: int | None  # the layer of A its copy comes from, or that deleted it (bottom first)
    b_layer: int | None  # the same in B
    a_size: int | None = None
    b_size: int | None = None

    def layer(self, shared: int) -> tuple[str, int]:
        """The side and layer above the `shared` ones that makes the difference: B's when its
        copy (or deletion) is B's own, else A's (two copies from shared layers are one)."""
        if self.b_layer is not None and self.b_layer >= shared:
            return "B", self.b_layer
        return "A", self.a_layer if self.a_layer is not None else shared


def changes(a: Sequence[Path], b: Sequence[Path]) -> list[FileChange]:
    """The paths whose merged views differ, A's stack to B's (layer folders, bottom first)."""
    a_view, a_removed = layer_tree.union([layer_tree.entries(folder) for folder in a])
    b_view, b_removed = layer_tree.union([layer_tree.entries(folder) for folder in b])
    found = []
    for path in sorted(a_view.keys() | b_view.keys()):
        old, new = a_view.get(path), b_view.get(path)
        if old is None and new is not None:
            found.append(
                FileChange("A", path, a_removed.get(path), new.layer, None, new.entry.size)
            )
        elif new is None and old is not None:
            found.append(FileChange("D", path, old.layer, b_removed.get(path), old.entry.size))
        elif old is not None and new is not None and not _same(old, new):
            found.append(
                FileChange("C", path, old.layer, new.layer, old.entry.size, new.entry.size)
            )
    return found


def _same(old: Provided, new: Provided) -> bool:
    """The same copy, or equal in kind, mode, owner, link target and bytes (a folder's
    content is compared path by path)."""
    a, b = old.entry, new.entry
    if a.host == b.host:
        return True
    if _meta(a) != _meta(b):
        return False
    if a.kind != FILE:
        return True
    try:
        return filecmp.cmp(a.host, b.host, shallow=False)
    except OSError:  # gone meanwhile (a container's layer): not the same any more
        return False


def _meta(entry: Entry) -> tuple[str, int, int, int, str]:
    return entry.kind, entry.mode, entry.uid, entry.gid, entry.target
