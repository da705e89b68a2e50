"""The files panel's entries indexed by folder: sorted and filtered without Textual.

A layer of 60,000 files comes from the analysis as one flat list; the panel adds a
folder's children only when it is unfolded. So this index answers "the children of
folder P, in this order, with this filter" in the time of that folder's size, and keeps
each directory's total for the sort by size (dive's users asked for both). Built in the
worker that read the layer, kept up to date by the writable layer's live updates.
"""

from __future__ import annotations

from collections.abc import Iterable

from layerlab.layerfs.unionfs import Change

SORTS = ("name", "size")
# What the filter keeps, in the order `f` steps through them (None: everything).
FILTERS: tuple[str | None, ...] = (None, "A", "C", "D", " ")
FILTER_NAMES = {None: "all", "A": "added", "C": "modified", "D": "removed", " ": "unchanged"}


def parent_of(path: str) -> str:
    """`/etc/passwd` -> `/etc`; a top-level entry's parent is the root, ``."""
    return path.rpartition("/")[0]


class Listing:
    """Entries by path, and each folder's children (the root's under ``)."""

    def __init__(self, changes: Iterable[Change] = ()) -> None:
        self.entries: dict[str, Change] = {}
        self._kids: dict[str, dict[str, None]] = {}  # folder -> its children's paths, a set
        self._totals: dict[str, int] | None = None  # path -> bytes, its subtree's for a folder
        self._shown: dict[str, set[str]] = {}  # a filter -> what it keeps, with their folders
        for change in changes:
            self._put(change)

    def __len__(self) -> int:
        return len(self.entries)

    def _put(self, change: Change) -> None:
        self.entries[change.path] = change
        self._kids.setdefault(parent_of(change.path), {})[change.path] = None

    def update(self, path: str, change: Change | None) -> None:
        """A path re-read: its entry now, or None when it is gone (with what was under it)."""
        if change is not None:
            self._put(change)
        elif path in self.entries:
            stack = [path]
            while stack:
                gone = stack.pop()
                self.entries.pop(gone, None)
                stack += self._kids.pop(gone, {})
            self._kids.get(parent_of(path), {}).pop(path, None)
        self._totals = None
        self._shown = {}

    def has_children(self, path: str, only: str | None = None) -> bool:
        kids = self._kids.get(path, {})
        if only is None:
            return bool(kids)
        shown = self._kept(only)
        return any(kid in shown for kid in kids)

    def size(self, path: str) -> int:
        """A file's bytes; a folder's: its whole subtree's, in this view."""
        if self._totals is None:
            self._totals = self._sum()
        return self._totals.get(path, 0)

    def _sum(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for path, change in self.entries.items():
            if not change.size:
                continue
            totals[path] = totals.get(path, 0) + change.size
            folder = parent_of(path)
            while folder:
                totals[folder] = totals.get(folder, 0) + change.size
                folder = parent_of(folder)
        return totals

    def children(self, folder: str, sort: str = "name", only: str | None = None) -> list[Change]:
        """The entries right under `folder` (`` for the top), by name or largest first."""
        kids = list(self._kids.get(folder, {}))
        if only is not None:
            shown = self._kept(only)
            kids = [kid for kid in kids if kid in shown]
        if sort == "size":
            kids.sort(key=lambda kid: (-self.size(kid), kid))
        else:
            kids.sort()
        return [self.entries[kid] for kid in kids]

    def count(self, only: str | None) -> int:
        """How many entries the filter keeps (their folders not counted)."""
        if only is None:
            return len(self.entries)
        return sum(1 for change in self.entries.values() if change.kind == only)

    def _kept(self, only: str) -> set[str]:
        """The entries of kind `only`, and the folders on the way to them."""
        if only not in self._shown:
            kept: set[str] = set()
            for path, change in self.entries.items():
                if change.kind != only:
                    continue
                while path and path not in kept:
                    kept.add(path)
                    path = parent_of(path)
            self._shown[only] = kept
        return self._shown[only]
