"""A layer blob becomes a staged layer folder, checked against its diff_id.

The blob (gzip, zstd or a plain tar, told by its magic) is decompressed in one streaming
pass that hashes the tar (its diff_id) and extracts it safely (`layers.extract_layer_tar`)
into `staged/diff`: as it arrives from the registry (`unpack_layer`), or from a file
(`unpack_blob`). The blob itself is kept beside it (`layer.blob`, no copy): the store's
canonical writer would not reproduce a tar another tool made, so `save` and `push` take the
very bytes the config's diff_id names from it, as `load` keeps a tar.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, BinaryIO, cast

from layerlab.errors import LayerlabError
from layerlab.layerfs import layers
from layerlab.layerfs.archive import ORIGINAL_BLOB

CHUNK = 1 << 20
_TAR_BUFFER = 128 << 10  # what tarfile's small reads come from: kept in the CPU's cache


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


class _Hashing(io.RawIOBase):
    """The tar stream, hashed as it is read: the diff_id. Read through a buffer (tarfile
    asks for 10 KiB at a time): what is below sees few, big reads."""

    def __init__(self, src: IO[bytes]) -> None:
        self._src = src
        self._sha = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._src.read(len(buffer))
        self._sha.update(data)
        buffer[: len(data)] = data
        return len(data)

    def digest(self) -> str:
        return "sha256:" + self._sha.hexdigest()


def unpack_layer(blob: IO[bytes], staged: Path) -> str:
    """Extract the layer blob read from `blob` (to its end) into `staged/diff`; its
    diff_id. A corrupt or unsafe blob raises LayerlabError (the folder is the caller's to
    discard)."""
    diff = staged / "diff"
    diff.mkdir(parents=True)
    hashing = _Hashing(layers.decompressed(blob))
    tar = io.BufferedReader(hashing, _TAR_BUFFER)
    try:
        layers.extract_layer_tar(cast(BinaryIO, tar), diff)
        while tar.read(CHUNK):  # the end-of-archive padding is part of the diff_id
            pass
    except (EOFError, zlib.error, gzip.BadGzipFile, layers.UnsafeTarError) as exc:
        raise LayerlabError(f"failed to register layer: {exc}") from exc  # keeps a cause
    return hashing.digest()


def unpack_blob(blob_path: Path, staged: Path, seen: Callable[[int], None]) -> str:
    """`unpack_layer` from a blob file, kept beside the layer; its diff_id. `seen(n)`: n
    compressed bytes read so far."""
    with open(blob_path, "rb") as f:
        diff_id = unpack_layer(cast(IO[bytes], _Counting(f, seen)), staged)
    os.link(blob_path, staged / ORIGINAL_BLOB)
    return diff_id
