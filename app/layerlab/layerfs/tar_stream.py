"""The layer tar's stream, entry by entry, exactly as `layers.write_layer_tar` writes it.

Each walk entry is opened as the reference opens it (`layers.open_entry`); its header
is packed straight from its stat where plain ustar suffices (short ASCII names, small
numbers: nearly always), else by tarfile, so the bytes are the same either way.
`layer_writer` copies, hashes and exports a layer from these entries.
"""

from __future__ import annotations

import functools
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from layerlab.layerfs import layers

NUL = b"\0"
END = NUL * (2 * tarfile.BLOCKSIZE)
_MAGIC = b"ustar\x0000"
_TAIL = _MAGIC + NUL * (32 + 32 + 8 + 8 + 155 + 12)  # uname, gname, dev, prefix, pad
_CHKSUM_BASE = sum(b" " * 8) + sum(_MAGIC)
_MAX8, _MAX12 = 8**7, 8**11


def _pack(
    name: bytes, link: bytes, mode: int, uid: int, gid: int, size: int, mtime: int, kind: bytes,
    owner: tuple[str, str] = ("", ""),
) -> bytes:  # fmt: skip
    """A ustar header block as tarfile writes it (no device; user and group names only
    when given, ASCII of at most 32 characters)."""
    numbers = b"%07o\0%07o\0%07o\0%011o\0%011o\0" % (mode & 0o7777, uid, gid, size, mtime)
    uname, gname = (n.encode("ascii") for n in owner)
    tail = _TAIL
    if uname or gname:
        tail = _MAGIC + uname.ljust(32, NUL) + gname.ljust(32, NUL) + _TAIL[len(_MAGIC) + 64 :]
    chksum = _CHKSUM_BASE + sum(name) + sum(link) + sum(numbers) + kind[0] + sum(uname + gname)
    return b"".join(
        (name.ljust(100, NUL), numbers, b"%06o\0 " % chksum, kind, link.ljust(100, NUL), tail)
    )


def _plain_owner(owner: tuple[str, str]) -> bool:
    """Names ustar holds as they are: ASCII, at most 32 characters (tarfile adds no pax)."""
    return all(n.isascii() and len(n) <= 32 for n in owner)


def header_bytes(info: tarfile.TarInfo) -> bytes:
    """`info.tobuf(PAX_FORMAT, 'utf-8', 'surrogateescape')`, packed directly when ustar suffices.

    tarfile adds pax records only for non-ASCII or long names and out-of-range
    numbers, and leaves device fields empty except for devices: the fast path
    takes exactly the headers with none of these, so the bytes are the same.
    """
    name = info.name
    if info.type == tarfile.DIRTYPE and not name.endswith("/"):
        name += "/"
    link = info.linkname
    mtime = info.mtime
    if (
        info.type in (tarfile.CHRTYPE, tarfile.BLKTYPE)
        or info.pax_headers
        or not (name.isascii() and link.isascii())
        or len(name) > 100
        or len(link) > 100
        or type(mtime) is not int
        or not (0 <= info.uid < _MAX8 and 0 <= info.gid < _MAX8)
        or not (0 <= info.size < _MAX12 and 0 <= mtime < _MAX12)
        or not _plain_owner((info.uname, info.gname))
    ):
        return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    return _pack(
        name.encode("ascii"),
        link.encode("ascii"),
        info.mode,
        info.uid,
        info.gid,
        info.size,
        mtime,
        info.type,
        (info.uname, info.gname),
    )


def _file_header(rel: str, st: os.stat_result, owner: tuple[str, str]) -> bytes | None:
    """header_bytes of a regular file's `layers._header`, straight from its stat.

    Only for a plain one - a single link (a hardlinked file's header depends on
    the walk so far), an ASCII name that fits, numbers that fit - else None.
    """
    mtime = st.st_mtime_ns // 1_000_000_000
    if (
        st.st_nlink > 1
        or len(rel) > 100
        or not rel.isascii()
        or not (st.st_uid < _MAX8 and st.st_gid < _MAX8)
        or not (st.st_size < _MAX12 and 0 <= mtime < _MAX12)
        or not _plain_owner(owner)
    ):
        return None
    return _pack(
        rel.encode("ascii"), b"", st.st_mode, st.st_uid, st.st_gid, st.st_size, mtime, b"0", owner
    )


class Read(NamedTuple):
    """One walk entry, opened: what the stream says of it and where its data comes from."""

    head: bytes  # its tar header; an opaque directory's marker follows in it
    info: tarfile.TarInfo | None  # None: a plain regular file, all said by `st`
    st: os.stat_result
    fd: int  # open on a regular file's data (the reader closes it), else -1
    opaque: bool


def read_entry(
    entry: layers.WalkEntry, first_paths: dict[tuple[int, int], str], names: bool = False
) -> Read | None:
    """`entry` as the reference reads it (`layers.open_entry`), a plain file by the fast path;
    with `names`, its header names its owner (`_host_names`)."""
    opened = layers.open_entry(entry)
    if opened is None:
        return None
    st, fd = opened
    owner = _host_names(st.st_uid, st.st_gid) if names else ("", "")
    if fd >= 0:
        head = _file_header(entry.rel, st, owner)
        if head is not None:
            if not st.st_size:
                os.close(fd)
                fd = -1
            return Read(head, None, st, fd, False)
    info, fd = layers.entry_header(entry, st, fd, first_paths)
    if info is None:
        return None
    info.uname, info.gname = owner
    head = header_bytes(info)
    opaque = info.isdir() and entry.fd >= 0 and layers.is_opaque_fd(entry.fd)
    if opaque:
        head += header_bytes(layers.opaque_marker(info))
    return Read(head, info, st, fd, opaque)


def pad(size: int) -> bytes:
    return NUL * (-size % tarfile.BLOCKSIZE)


def read_exact(fd: int, size: int, rel: str) -> bytes:
    data = os.read(fd, size)
    if len(data) == size:
        return data
    parts = [data]
    got = len(data)
    while got < size:
        more = os.read(fd, size - got)
        if not more:
            raise OSError(f"{rel}: file shrank while it was being archived")
        parts.append(more)
        got += len(more)
    return b"".join(parts)


@functools.cache
def _host_names(uid: int, gid: int) -> tuple[str, str]:
    """The host's names for an owner, as Go's tar.FileInfoHeader looks them up for Docker
    20.10's export (`root/root` in `tar tv`); "" where the host has none."""
    import grp
    import pwd

    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = ""
    try:
        group = grp.getgrgid(gid).gr_name
    except KeyError:
        group = ""
    return user, group


def entries(src: Path, names: bool = False) -> Iterator[Read]:
    """write_layer_tar's entries in its order, each opened (the consumer closes `fd`)."""
    first_paths: dict[tuple[int, int], str] = {}
    for entry in layers.walk_at(src, stat_files=False):
        read = read_entry(entry, first_paths, names)
        if read is not None:
            yield read
