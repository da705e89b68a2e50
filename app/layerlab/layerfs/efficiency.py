"""An image's wasted space and efficiency score, counted as dive counts them.

dive (filetree/efficiency.go) visits the leaves of every layer's tree, bottom first.
Each path sums the sizes of its copies (`CumulativeSize`) and keeps the smallest; a
whiteout's size is that of the folder it deletes (0 for a file). A path met in two layers
or more is inefficient, and all of its copies are wasted bytes, the last one included.
The score is the sum of the smallest copies over the sum of all copies (1 when both are 0).
No UI: plain data in, facts out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from layerlab.layerfs import layer_tree
from layerlab.layerfs.layer_tree import DIR, WHITEOUT, Entry


@dataclass
class PathCopies:
    """One path over the layers (dive's EfficiencyData)."""

    path: str
    count: int = 0  # layers that hold a leaf at this path
    cumulative: int = 0  # the bytes of all its copies
    smallest: int = -1


@dataclass(frozen=True)
class Efficiency:
    """dive's image analysis: sizes, wasted bytes, score and the inefficient paths."""

    layer_sizes: list[int]  # bottom first, as dive sizes a layer: its entries' bytes
    score: float
    inefficient: list[PathCopies] = field(default_factory=list)  # most wasted first

    @property
    def size(self) -> int:
        return sum(self.layer_sizes)

    @property
    def user_size(self) -> int:
        """The bytes above the first layer: what the image's own steps added."""
        return sum(self.layer_sizes[1:])

    @property
    def wasted(self) -> int:
        return sum(p.cumulative for p in self.inefficient)

    @property
    def user_wasted_ratio(self) -> float:
        return self.wasted / self.user_size if self.user_size else 0.0


def efficiency(layers: Sequence[Path]) -> Efficiency:
    """dive's efficiency of the image whose layer folders are `layers`, bottom first."""
    stacked: dict[str, Entry] = {}
    paths: dict[str, PathCopies] = {}
    sizes = []
    for layer in layers:
        found = layer_tree.entries(layer)
        sizes.append(sum(e.size for e in found))
        for entry in found:
            if entry.leaf:
                size = _deleted_bytes(stacked, entry.path) if entry.kind == WHITEOUT else entry.size
                copies = paths.setdefault(entry.path, PathCopies(entry.path))
                copies.count += 1
                copies.cumulative += size
                copies.smallest = size if copies.smallest < 0 else min(copies.smallest, size)
        _stack(stacked, found)
    smallest = sum(p.smallest for p in paths.values())
    cumulative = sum(p.cumulative for p in paths.values())
    inefficient = sorted(
        (p for p in paths.values() if p.count > 1), key=lambda p: (-p.cumulative, p.path)
    )
    return Efficiency(sizes, smallest / cumulative if cumulative else 1.0, inefficient)


def _deleted_bytes(stacked: dict[str, Entry], path: str) -> int:
    """A whiteout's size for dive: the bytes of the folder it deletes; 0 for anything else."""
    below = stacked.get(path)
    if below is None or below.kind != DIR:
        return 0
    return sum(stacked[p].size for p in layer_tree.under(stacked, path))


def _stack(stacked: dict[str, Entry], found: list[Entry]) -> None:
    """One more layer on dive's stacked tree: a whiteout removes a path and all below it
    (dive ignores opaque markers)."""
    for entry in found:
        if entry.kind == WHITEOUT:
            for path in layer_tree.under(stacked, entry.path):
                del stacked[path]
        else:
            stacked[entry.path] = entry
