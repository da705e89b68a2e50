"""The build cache, probed as Docker's legacy builder probes it: a step is reused when a
child of the current image was made by this very step (the same `created_by`, which for
COPY/ADD carries a hash of the copied content, and the same resulting config) and all
of that child's layers are still there.

The store's parent links are read once per build; each candidate's config is read
once, and its layers are checked by a stat each.
"""

from __future__ import annotations

import json
import os
from typing import Any

from layerlab.storage import images as imagelib
from layerlab.storage.reference import chain_id
from layerlab.storage.store import Store


class BuildCache:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._children: dict[str, list[str]] | None = None

    def find_child(
        self, parent: str, history_len: int, created_by: str, config: dict[str, Any]
    ) -> str | None:
        """The newest child of `parent` (which has `history_len` history entries) made by
        this step, whose layers are all there."""
        if self._children is None:
            self._children = {}
            for image_id in self.store.image_ids():
                image_parent = imagelib.image_parent(self.store, image_id)
                if image_parent:
                    self._children.setdefault(image_parent, []).append(image_id)
        found: list[tuple[str, str, list[str]]] = []
        for child in self._children.get(parent, []):
            try:
                with open(self.store.image_path(child), "rb") as f:
                    cfg = json.loads(f.read())
                history = cfg.get("history") or []
                if (
                    len(history) == history_len + 1
                    and history[-1].get("created_by") == created_by
                    and (cfg.get("config") or {}) == config
                ):
                    found.append((cfg.get("created", ""), child, cfg["rootfs"]["diff_ids"]))
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                continue
        for _, child, diff_ids in sorted(found, reverse=True):
            if self._layers_present(diff_ids):
                return child
        return None

    def _layers_present(self, diff_ids: list[str]) -> bool:
        chain: str | None = None
        for diff_id in diff_ids:
            chain = chain_id(chain, diff_id)
            if not os.path.isfile(self.store.layer_dir(chain) / "json"):
                return False
        return True

    def add(self, parent: str, child: str) -> None:
        """A step this build committed: a later probe (a rebuild's) finds it."""
        if self._children is not None:
            self._children.setdefault(parent, []).append(child)

    def forget(self) -> None:
        """Read the store's images again: the ones removed meanwhile are misses then."""
        self._children = None
