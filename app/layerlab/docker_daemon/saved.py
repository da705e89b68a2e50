"""An image's layers from `docker save`, for a daemon whose own layer folders cannot be read:
each layer unpacked once into a folder of ours (`<root>/<chain id>/diff`), shared by every
image that has it. The daemon's folders are never written.
"""

from __future__ import annotations

import json
import os
import tarfile
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

from layerlab.errors import LayerlabError
from layerlab.layerfs.layers import extract_layer_tar
from layerlab.storage.reference import chain_id, strip_digest

if TYPE_CHECKING:
    import docker


class SavedLayers:
    """Layers unpacked from `docker save` into `root`, one folder per chain id."""

    def __init__(self, api: docker.APIClient, root: Path) -> None:
        self.api = api
        self.root = root
        self._lock = threading.Lock()  # one image saved at a time: its layers are shared

    def folders(self, image_id: str, diff_ids: list[str], *, unpack: bool) -> list[Path]:
        """The image's layer folders, bottom first; `unpack`: their files are there once this
        returns (the image is saved if a layer is missing)."""
        folders, parent = [], None
        for diff_id in diff_ids:
            parent = chain_id(parent, diff_id)
            folders.append(self.root / strip_digest(parent))
        if unpack:
            with self._lock:
                if not all((f / "diff").is_dir() for f in folders):
                    self._unpack(image_id, folders)
        return folders

    def _unpack(self, image_id: str, folders: list[Path]) -> None:
        """Save the image into a temporary tar, then unpack each layer it lacks."""
        self.root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=self.root) as archive:
            for chunk in self.api.get_image(image_id):
                archive.write(chunk)
            archive.seek(0)
            with tarfile.open(fileobj=archive) as tar:
                manifest = json.load(_member(tar, "manifest.json"))
                blobs = manifest[0]["Layers"]
                if len(blobs) != len(folders):
                    raise LayerlabError(f"docker save of {image_id}: {len(blobs)} layers, "
                                        f"its inspect says {len(folders)}")  # fmt: skip
                for blob, folder in zip(blobs, folders, strict=True):
                    if not (folder / "diff").is_dir():
                        _unpack_layer(_member(tar, blob), folder)


def _member(tar: tarfile.TarFile, name: str) -> BinaryIO:
    found = tar.extractfile(name)
    if found is None:
        raise LayerlabError(f"docker save: no {name} in the archive")
    return cast(BinaryIO, found)  # a tar member's reader: read-only bytes


def _unpack_layer(blob: BinaryIO, folder: Path) -> None:
    """Unpack into a folder beside, then rename: a layer is there whole or not at all."""
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".unpack-"))
    (staging / "diff").mkdir()
    extract_layer_tar(blob, staging / "diff")
    os.rename(staging, folder)
