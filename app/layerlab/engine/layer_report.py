"""`analyze` and `compare`: what an image's layers waste, and how two stacks differ.

The facts come from layerfs (`efficiency.py`, `layer_tree.py`); here the engine finds the
layer folders the names stand for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from layerlab.engine.context import Context
from layerlab.errors import InvalidReference, NotFound
from layerlab.layerfs.analysis import tree_size
from layerlab.layerfs.compare import FileChange, changes
from layerlab.layerfs.efficiency import Efficiency, efficiency
from layerlab.storage import images as imagelib
from layerlab.storage.images import Image


@dataclass(frozen=True)
class Analysis:
    """dive's analysis of one image."""

    name: str  # as the user named it
    image: Image
    efficiency: Efficiency


def analyze(ctx: Context, ref: str) -> Analysis:
    image = ctx.image(ref)
    return Analysis(ref, image, efficiency([layer.diff_path for layer in image.layers]))


@dataclass(frozen=True)
class StackLayer:
    """One layer of an image or a container, as `compare` shows it."""

    id: str  # its chain id; a container's writable layer: the container's id
    created_by: str
    size: int
    path: Path


@dataclass(frozen=True)
class Stack:
    """An image's or a container's layers, bottom first."""

    name: str  # as the user named it
    kind: str  # "image" | "container"
    id: str
    layers: list[StackLayer]


@dataclass(frozen=True)
class Comparison:
    a: Stack
    b: Stack
    shared: int  # the bottom layers both stacks have (the same chain ids)
    changes: list[FileChange]


def compare(ctx: Context, first: str, second: str) -> Comparison:
    """Two images or containers (a container first, as `inspect` looks), layer by layer."""
    a, b = stack(ctx, first), stack(ctx, second)
    shared = 0
    for x, y in zip(a.layers, b.layers, strict=False):
        if x.id != y.id:
            break
        shared += 1
    found = changes([x.path for x in a.layers], [y.path for y in b.layers])
    return Comparison(a, b, shared, found)


def stack(ctx: Context, ref: str) -> Stack:
    try:
        container = ctx.container(ref)
    except NotFound:
        try:
            image = ctx.image(ref)
        except (NotFound, InvalidReference):
            raise NotFound(f"No such object: {ref}", exit_code=1) from None
        return Stack(ref, "image", image.id, _image_layers(image))
    # Its init layer (mount points) is left out, as `diff` leaves it out: the same in all.
    upper = ctx.writable(container).upper
    own = StackLayer(container.id, "", tree_size(upper)[0], upper)
    image = imagelib.read_image(ctx.store, container.data["Image"])
    return Stack(ref, "container", container.id, [*_image_layers(image), own])


def _image_layers(image: Image) -> list[StackLayer]:
    return [StackLayer(x.chain_id, x.created_by, x.size, x.diff_path) for x in image.layers]
