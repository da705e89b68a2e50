"""Where the store lives: `/var/lib/layerlab`, or `LAYERLAB_ROOT`.

A module of its own so a face can name the store without importing the
store's machinery: the TUI paints its first frame before any of that loads.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_ROOT = "/var/lib/layerlab"


def default_root() -> Path:
    return Path(os.environ.get("LAYERLAB_ROOT") or DEFAULT_ROOT)
