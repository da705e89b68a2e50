"""`analyze` and `compare`: what an image's layers waste, and how two stacks differ.

The facts come from layerfs (`efficiency.py`, `layer_tree.py`); here the engine finds the
layer folders the names stand for.
"""

from __future__ import annotations

from dataclasses import dataclass

from layerlab.engine.context import Context
from layerlab.layerfs.efficiency import Efficiency, efficiency
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
