"""Layer analysis, as dive's filetree does it: no UI here, only paths in and facts out.

What a layer adds, changes and deletes, the merged view from a layer down,
the bytes a layer hides (dive's wasted space), where a merged path comes
from and how it differs from the copy it shadows.

Every reader here expects the tree to change under it: a running container
deletes files while we read its writable layer, and another terminal removes
images. A path that vanishes (`FileNotFoundError`, `NotADirectoryError`)
means "gone", never a crash: a walk skips it, a listing is read again.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import stat
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from layerlab.layerfs import unionfs
from layerlab.layerfs.unionfs import Change

T = TypeVar("T")
GONE = (FileNotFoundError, NotADirectoryError)  # what a path that vanished mid-read raises
REREADS = 3  # a listing that lost a path mid-read is read again, at most this often
MAX_DIFF_BYTES = 64 * 1024


def reread(read: Callable[[], T], gone: T) -> T:
    """`read()` over a tree that may change under it: again if a path vanished, else `gone`."""
    for _ in range(REREADS):
        try:
            return read()
        except GONE:
            continue
    return gone


def _entries(path: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as it:
            return list(it)
    except GONE:
        return []


def tree_size(path: Path) -> tuple[int, int]:
    """(bytes of regular files, entries) below `path`, skipping whatever vanishes meanwhile.

    As `layers.dir_size` counts: symlinks not followed, a hardlinked file's
    bytes once; a missing `path` is (0, 0).
    """
    seen: set[tuple[int, int]] = set()
    size = count = 0
    stack = [str(path)]
    while stack:
        for entry in _entries(stack.pop()):
            try:
                st = entry.stat(follow_symlinks=False)
            except GONE:
                continue
            count += 1
            if stat.S_ISDIR(st.st_mode):
                stack.append(entry.path)
            elif stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                size += st.st_size
    return size, count


def hidden_bytes(layer: Path, beneath: tuple[Path, ...]) -> int:
    """Bytes of the copies right beneath that this layer's C and D entries hide (dive's waste).

    Each hidden copy counts once, against the layer that first hides it: a file
    changed in three layers wastes two copies, one per layer above the first.
    """
    if not beneath:
        return 0
    return reread(lambda: sum(_hidden(unionfs.iter_changes(layer, beneath), beneath)), 0)


def _hidden(changes: Iterable[Change], beneath: tuple[Path, ...]) -> Iterator[int]:
    for change in changes:
        if change.kind == "A" or change.masked:  # the opaque directory counts its whole tree
            continue
        rel = change.path.lstrip("/")
        below = unionfs.provenance(beneath[0], beneath[1:], rel)
        if not below:
            continue
        lower, kind = below[0]
        if kind == "file":
            try:
                yield os.lstat(lower / rel).st_size
            except GONE:
                continue
        elif kind in ("dir", "opaque") and (change.kind == "D" or change.opaque):
            yield tree_size(lower / rel)[0]  # a whole directory deleted or masked


_stats: dict[tuple[Path, tuple[Path, ...]], tuple[int, int]] = {}
_stats_lock = threading.Lock()
STATS_KEPT = 512


def known_stats(diff: Path, beneath: tuple[Path, ...]) -> tuple[int, int] | None:
    """`layer_stats` if they were counted already, else None (counting waits for a worker)."""
    with _stats_lock:
        return _stats.get((diff, beneath))


def layer_stats(diff: Path, beneath: tuple[Path, ...]) -> tuple[int, int]:
    """(entries, hidden bytes) of a read-only layer; remembered, as its content never changes.

    One walk of the layer gives both. A layer that vanished while being read (rmi in
    another terminal) is not remembered: the same folder may come back with the same
    content later.
    """
    known = known_stats(diff, beneath)
    if known is not None:
        return known
    changes = layer_changes(diff, beneath)
    hidden = reread(lambda: sum(_hidden(changes, beneath)), 0) if beneath else 0
    found = sum(1 for change in changes if not change.masked), hidden
    if diff.is_dir() and all(lower.is_dir() for lower in beneath):
        with _stats_lock:
            if len(_stats) >= STATS_KEPT:
                _stats.pop(next(iter(_stats)))
            _stats[(diff, beneath)] = found
    return found


def layer_changes(layer: Path, beneath: tuple[Path, ...]) -> list[Change]:
    """A layer's entries as A/C/D against the layers beneath it (dive's view of a layer)."""
    return reread(lambda: unionfs.changes(layer, beneath), [])


def union_changes(layer: Path, beneath: tuple[Path, ...]) -> list[Change]:
    """The merged tree from this layer down (dive's aggregated view).

    The layer's own entries keep their A/C/D (its deletions stay in view, in
    red); what shows through from the layers beneath has kind " ".
    """
    return reread(lambda: _union(layer, beneath), [])


def _union(layer: Path, beneath: tuple[Path, ...]) -> list[Change]:
    stack = (layer, *beneath)
    merged: dict[str, Change] = {}
    for depth in range(len(stack) - 1, -1, -1):  # bottom layer first, as overlay stacks them
        for change in unionfs.iter_changes(stack[depth], stack[depth + 1 :]):
            if change.kind == "D" or change.opaque:  # hides what is below, from here up
                inside = change.path + "/"
                for path in [p for p in merged if p == change.path or p.startswith(inside)]:
                    del merged[path]
            if change.kind != "D" or depth == 0:
                merged[change.path] = (
                    change if depth == 0 else dataclasses.replace(change, kind=" ")
                )
    return sorted(merged.values(), key=lambda c: c.path)


def _change(upper: Path, lowers: tuple[Path, ...], rel: str) -> Change | None:
    """One path of the writable layer as A/C/D; None once it is gone."""
    try:
        st = os.lstat(upper / rel)
    except GONE:
        return None
    if unionfs.is_whiteout(st):
        return Change("D", "/" + rel)
    opaque = stat.S_ISDIR(st.st_mode) and unionfs.is_opaque(upper / rel)
    below = unionfs.provenance(lowers[0], lowers[1:], rel) if lowers else []
    kind = "C" if below and below[0][1] != "whiteout" else "A"
    size = st.st_size if stat.S_ISREG(st.st_mode) else 0
    return Change(kind, "/" + rel, opaque, size=size)


def _masked(upper: Path, lowers: tuple[Path, ...], rel: str) -> list[Change]:
    """What the opaque directory `rel` of the writable layer hides, as deletions."""
    names: set[str] = set(reread(lambda: os.listdir(upper / rel), list[str]()))
    return list(unionfs.masked(rel, names, lowers))


def changes_at(
    upper: Path, lowers: tuple[Path, ...], rels: Iterable[str]
) -> dict[str, Change | None]:
    """Re-read only the paths that changed (and their parents): path -> change, None if gone.

    A directory that appeared is read whole: its files may predate the watch on it.
    """
    found: dict[str, Change | None] = {}
    for rel in sorted(rels):
        parts = rel.split("/")
        for depth in range(1, len(parts) + 1):
            sub = "/".join(parts[:depth])
            if "/" + sub not in found:
                found["/" + sub] = change = _change(upper, lowers, sub)
                if change is not None and change.opaque:
                    found.update((c.path, c) for c in _masked(upper, lowers, sub))
        entry = found["/" + rel]
        if entry is not None and (upper / rel).is_dir() and not (upper / rel).is_symlink():
            below = tuple(lower / rel for lower in lowers)
            for change in layer_changes(upper / rel, below):
                path = "/" + rel + change.path
                found[path] = dataclasses.replace(change, path=path)
    return found


@dataclass(frozen=True)
class Provenance:
    """Where a merged-view path comes from, and how the top copy differs from the one below."""

    path: str
    entries: list[tuple[str, str]]  # (layer label, kind), top-down
    diff: list[str]  # unified diff lines, lower copy -> top copy, for a changed text file
    host: str = ""  # where the top copy (or its whiteout) is on the host: `.../diff/<path>`


def provenance_of(union: tuple[Path, ...], labels: dict[Path, str], path: str) -> Provenance:
    """Which of the `union`'s layers (top first) supply `path`, named by `labels`.

    A whiteout also shows what it hides; a shadowing text file shows its content diff.
    """
    entries = unionfs.provenance(union[0], union[1:], path)
    if entries and entries[-1][1] == "whiteout":
        below = union[union.index(entries[-1][0]) + 1 :]
        if below:
            entries += unionfs.provenance(below[0], below[1:], path)
    diff: list[str] = []
    if len(entries) > 1 and entries[0][1] == entries[1][1] == "file":
        rel = path.lstrip("/")
        diff = text_diff(entries[1][0] / rel, entries[0][0] / rel)
    named = [(labels.get(layer, str(layer)), kind) for layer, kind in entries]
    host = str(entries[0][0] / path.lstrip("/")) if entries else ""
    return Provenance(path, named, diff, host)


def text_diff(old: Path, new: Path) -> list[str]:
    """The hunks of `diff -u` of two small text files; empty for binary, large or gone ones."""
    texts: list[list[str]] = []
    for f in (old, new):
        try:
            if f.stat().st_size > MAX_DIFF_BYTES:
                return []
            texts.append(f.read_text().splitlines())
        except (*GONE, IsADirectoryError, UnicodeDecodeError, ValueError):
            return []
    below, on_top = texts
    return list(difflib.unified_diff(below, on_top, n=1, lineterm=""))[2:]  # no ---/+++ lines
