"""A downloaded layer blob becomes a staged layer folder, checked against its diff_id.

The blob (gzip, zstd or a plain tar, told by its magic) is decompressed in one streaming
pass that hashes the tar (its diff_id) and extracts it safely (`layers.extract_layer_tar`)
into `staged/diff`. The blob itself is kept beside it (`layer.blob`, a hard link: no
copy): the store's canonical writer would not reproduce a tar another tool made, so `save`
and `push` take the very bytes the config's diff_id names from it, as `load` keeps a tar.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

from layerlab.errors import LayerlabError
from layerlab.layerfs import layers
from layerlab.layerfs.archive import ORIGINAL_BLOB

CHUNK = 1 << 20


class _Counting:
    """The blob file as read, reporting how far (`Extracting` counts compressed bytes)."""

    def __init__(self, src: IO[bytes], seen: Callable[[int], None]) -> None:
        self._src, self._seen, self.count = src, seen, 0

    def read(self, n: int = -1) -> bytes:
        data = self._src.read(n)
        before, self.count = self.count, self.count + len(data)
        if not data or before // CHUNK != self.count // CHUNK:  # told once a MiB, and at the end
            self._seen(self.count)
        return data


class _Hashing:
    """The tar stream, hashed as it is read: the diff_id."""

    def __init__(self, src: Any) -> None:
        self._src = src
        self._sha = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data: bytes = self._src.read(n)
        self._sha.update(data)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass

    def digest(self) -> str:
        return "sha256:" + self._sha.hexdigest()


def unpack_blob(blob_path: Path, staged: Path, seen: Callable[[int], None]) -> str:
    """Extract the layer blob into `staged/diff` and keep the blob beside it; its diff_id.
    `seen(n)`: n compressed bytes read so far. A corrupt or unsafe blob raises
    LayerlabError (the folder is the caller's to discard)."""
    diff = staged / "diff"
    diff.mkdir(parents=True)
    with open(blob_path, "rb") as f:
        tar = _Hashing(layers.decompressed(cast(IO[bytes], _Counting(f, seen))))
        try:
            layers.extract_layer_tar(cast(BinaryIO, tar), diff)
            tar.drain()  # the end-of-archive padding is part of the diff_id
        except (EOFError, zlib.error, gzip.BadGzipFile, layers.UnsafeTarError) as exc:
            raise LayerlabError(f"failed to register layer: {exc}") from exc  # keeps a cause
    os.link(blob_path, staged / ORIGINAL_BLOB)
    return tar.digest()
