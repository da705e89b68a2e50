"""Layer tars unpacked while an archive streams in.

`load` of a stream (`docker save`'s, a daemon's for `pull docker-daemon:`) writes each
member of the archive to its work folder; a member that is itself a plain tar (a layer,
before the manifest at the archive's end says so) is unpacked in the same pass, and
hashed, so no layer is read back from the disk. Nothing is trusted for this: the
archive's checks run later as for any archive, against the digest taken here, and a
member that does not unpack is read again the ordinary way.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, cast

from layerlab.layerfs import layers

_CHUNK = 1 << 20
_MAGIC = slice(257, 262)  # ustar's, in a tar's first header


@dataclass(frozen=True)
class Unpacked:
    """A member unpacked as it arrived: its folder (with `diff/`), and its bytes' digest."""

    folder: Path
    digest: str
    size: int


class Hashing:
    """Hash and count the bytes read through it: digests in the same pass as the extraction."""

    def __init__(self, src: IO[bytes]) -> None:
        self._src = src
        self._sha = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        return self._seen(self._src.read(n))

    def _seen(self, data: bytes) -> bytes:
        self._sha.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass

    def digest(self) -> str:
        return "sha256:" + self._sha.hexdigest()


class _Tee(Hashing):
    """The member's bytes, written to its file and hashed as the unpacking reads them."""

    def __init__(self, src: IO[bytes], head: bytes, out: BinaryIO) -> None:
        super().__init__(src)
        self._head, self._out = head, out

    def read(self, n: int = -1) -> bytes:
        if self._head:
            cut = len(self._head) if n < 0 else n
            data, self._head = self._head[:cut], self._head[cut:]
        else:
            data = self._src.read(n)
        self._out.write(data)
        return self._seen(data)


def spool_member(data: IO[bytes], path: Path, work: Path) -> Unpacked | None:
    """Write the member `data` to `path`; a plain tar is also unpacked into a folder of
    `work` in the same pass. None when it is no tar, or does not unpack."""
    head = data.read(tarfile.BLOCKSIZE)
    with open(path, "wb") as out:
        tee = _Tee(data, head, out)
        if head[_MAGIC] != b"ustar":
            tee.drain()
            return None
        folder = Path(tempfile.mkdtemp(prefix="early-", dir=work))
        (folder / "diff").mkdir()
        try:
            layers.extract_layer_tar(cast(BinaryIO, tee), folder / "diff")
        except layers.UnsafeTarError:  # maybe no layer at all: checked later, as any member
            shutil.rmtree(folder)
            tee.drain()
            return None
        tee.drain()  # the end-of-archive padding is part of the digest
    return Unpacked(folder, tee.digest(), tee.size)
