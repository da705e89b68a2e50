"""A downloaded layer blob becomes a staged layer folder, checked against its diff_id.

The blob (gzip, zstd or a plain tar) is decompressed in one streaming pass that hashes the
tar (its diff_id), keeps a copy of it, and extracts it safely (`layers.extract_layer_tar`)
into `staged/diff`. The copy is kept as `layer.tar` only when the store's canonical writer
would not give the same diff_id from the files (a tar made by another tool): `save` and
`push` must send the very bytes the config names, as `load` keeps them.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

import zstandard

from layerlab.errors import LayerlabError
from layerlab.layerfs import layer_writer, layers
from layerlab.layerfs.archive import ORIGINAL_TAR

CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


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


class _Tee:
    """The tar stream: hashed (the diff_id) and copied to `out` as it is read."""

    def __init__(self, src: Any, out: IO[bytes]) -> None:
        self._src, self._out = src, out
        self._sha = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data: bytes = self._src.read(n)
        self._sha.update(data)
        self._out.write(data)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass

    def digest(self) -> str:
        return "sha256:" + self._sha.hexdigest()


def _tar_stream(blob: _Counting, head: bytes) -> Any:
    """The blob decompressed (by its magic), within the store's expansion limit."""
    if head.startswith(GZIP_MAGIC):
        inflate = gzip.GzipFile(fileobj=cast(BinaryIO, blob), mode="rb")
        return layers.limit_expansion(inflate, lambda: blob.count)
    if head.startswith(ZSTD_MAGIC):
        source = cast(IO[bytes], blob)
        reader = zstandard.ZstdDecompressor().stream_reader(source, read_across_frames=True)
        return layers.limit_expansion(reader, lambda: blob.count)
    return blob


def unpack_blob(blob_path: Path, staged: Path, seen: Callable[[int], None]) -> str:
    """Extract the layer blob into `staged/diff`; its diff_id. `seen(n)`: n compressed bytes
    read so far. A corrupt or unsafe blob raises LayerlabError (the folder is the caller's
    to discard)."""
    diff = staged / "diff"
    diff.mkdir(parents=True)
    original = staged / ORIGINAL_TAR
    with open(blob_path, "rb") as f, open(original, "wb") as out:
        head = f.read(4)
        f.seek(0)
        tar = _Tee(_tar_stream(_Counting(f, seen), head), out)
        try:
            layers.extract_layer_tar(cast(BinaryIO, tar), diff)
            tar.drain()  # the end-of-archive padding is part of the diff_id
        except (EOFError, gzip.BadGzipFile, zlib.error, zstandard.ZstdError) as exc:
            raise LayerlabError(f"failed to register layer: {exc}") from exc
        except layers.UnsafeTarError as exc:  # its cause may be a full disk: kept
            raise LayerlabError(f"failed to register layer: {exc}") from exc
    diff_id = tar.digest()
    if layer_writer.diff_id(diff) == diff_id:
        os.unlink(original)
    return diff_id
