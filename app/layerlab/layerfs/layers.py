"""Layer tars: overlay directories in and out of the OCI image-layer format.

The store keeps every image layer as an overlay lower directory and every
container's writable layer as an upperdir. Sharing a layer (save, push, the
diff_id in an image config) needs it as a tar; loading one needs the reverse.
The two formats mark deletions differently, so the conversion happens here:

    overlay upperdir                      OCI layer tar
    char device 0/0 `name`         <->    empty file `.wh.name`
    dir with trusted.overlay.opaque=y <->  dir + empty file `dir/.wh..wh..opq`

Written tars are canonical - the same tree always gives the same bytes - so a
layer's diff_id is a pure function of its contents. Read tars are untrusted,
so extraction resolves every path one component at a time inside `dest` and
never follows a symlink that is already there.
"""

from __future__ import annotations

import bz2
import contextlib
import errno
import gzip
import hashlib
import io
import lzma
import os
import shutil
import stat
import tarfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

from layerlab.storage.reference import chain_id as chain_id  # an id, at home there; re-exported

OPAQUE_XATTR = "trusted.overlay.opaque"
WHITEOUT_PREFIX = ".wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"

_CHUNK = 1 << 20  # file data moves in 1 MiB pieces: flat memory, few syscalls
_END_OF_ARCHIVE = tarfile.NUL * (2 * tarfile.BLOCKSIZE)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafeTarError(ValueError):
    """A layer tar that is corrupt or would write outside its destination."""


def _unsafe(member: str, reason: str) -> UnsafeTarError:
    # repr() keeps the message on one line whatever bytes the name holds.
    return UnsafeTarError(f"layer tar member {member!r}: {reason}")


# --- writing ---------------------------------------------------------------


class _HashingWriter:
    """Hash bytes on their way to `out`: the diff_id without reading the tar twice."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._sha = hashlib.sha256()

    def write(self, data: bytes) -> None:
        self._sha.update(data)
        self._out.write(data)

    def digest(self) -> str:
        return "sha256:" + self._sha.hexdigest()


class WalkEntry:
    """One entry of `walk_at`: read it only relative to `dir_fd` (its directory, open).

    `fd` is a directory's own fd, opened with O_NOFOLLOW (-1 for anything else); both
    fds are the walk's, valid until the walk moves on, never to be closed by the reader.
    `st` is the entry's lstat - a directory's is the fstat of `fd` - taken by the walk,
    or for a regular file of a `stat_files=False` walk on first use.
    """

    __slots__ = ("_entry", "_st", "dir_fd", "fd", "rel")

    def __init__(
        self, rel: str, dir_fd: int, entry: os.DirEntry[str], st: os.stat_result | None, fd: int
    ) -> None:
        self.rel, self.dir_fd, self.fd = rel, dir_fd, fd
        self._entry, self._st = entry, st

    @property
    def name(self) -> str:
        return self._entry.name

    @property
    def st(self) -> os.stat_result:
        if self._st is None:
            self._st = self._entry.stat(follow_symlinks=False)
        return self._st

    def is_file(self) -> bool:
        """A regular file (as listed, if not stat'ed yet: no system call); never followed."""
        if self._st is not None:
            return stat.S_ISREG(self._st.st_mode)
        return self._entry.is_file(follow_symlinks=False)


def _raise_fd_limit() -> None:
    """A deep tree holds one fd per level: let the soft limit go up to the hard one."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _listing(fd: int) -> list[os.DirEntry[str]]:
    """A directory's entries, last name first (the walk pops from the end)."""
    with os.scandir(fd) as it:
        return sorted(it, key=lambda e: os.fsencode(e.name), reverse=True)


def walk_at(root: Path | int, *, stat_files: bool = True) -> Iterator[WalkEntry]:
    """Every entry below `root`, read relative to directory fds, never through a path.

    Each directory is opened from its parent's fd with O_NOFOLLOW, so a tree that
    changes while it is read - a running container swapping a directory or a file
    for a symlink to a host path - can never lead the walk (or a reader that opens
    entries with `open_file_at`) outside `root` (the CVE-2018-15664 class): what is
    no longer a directory when it is opened is taken as what it is now. Names are
    sorted bytewise within each directory and a directory comes just before its
    children: the order depends only on the tree. No recursion: any depth. A
    directory that cannot be listed is an error, never a silently missing subtree.

    `stat_files=False` leaves regular files (known from the listing) unstat'ed, for
    readers that open them anyway and fstat what they opened: one system call less each.
    """
    top = os.dup(root) if isinstance(root, int) else os.open(root, _DIR_FLAGS)
    _raise_fd_limit()
    frames: list[tuple[int, str, list[os.DirEntry[str]]]] = []
    try:
        frames.append((top, "", _listing(top)))
    except BaseException:
        os.close(top)
        raise
    try:
        while frames:
            fd, prefix, entries = frames[-1]
            if not entries:
                frames.pop()
                os.close(fd)
                continue
            entry = entries.pop()
            rel = prefix + entry.name
            st: os.stat_result | None = None
            try:
                if entry.is_dir(follow_symlinks=False):
                    try:
                        child = os.open(entry.name, _DIR_FLAGS, dir_fd=fd)
                    except OSError as exc:  # swapped meanwhile: take it as it is now
                        if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
                            raise
                        st = os.stat(entry.name, dir_fd=fd, follow_symlinks=False)
                        if stat.S_ISDIR(st.st_mode):
                            continue  # changing under us
                    else:
                        try:
                            st = os.fstat(child)
                            frames.append((child, rel + "/", _listing(child)))
                        except BaseException:
                            os.close(child)
                            raise
                        yield WalkEntry(rel, fd, entry, st, child)
                        continue
                elif stat_files or not entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # gone since the directory was listed
            yield WalkEntry(rel, fd, entry, st, -1)
    finally:
        for fd, _, _ in frames:
            with contextlib.suppress(OSError):
                os.close(fd)


_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


def open_file_at(dir_fd: int, name: str) -> tuple[int, os.stat_result] | None:
    """Open regular file `name` of directory `dir_fd` for reading, never through a symlink;
    (fd, its fstat) - or None if it is not (or no longer) a regular file there."""
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a symlink now: never followed
            return None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):  # a FIFO or device swapped in: never read
        os.close(fd)
        return None
    return fd, st  # O_NONBLOCK left on: Linux ignores it for a regular file's data


def read_link_at(dir_fd: int, name: str) -> str | None:
    """The target of symlink `name` of directory `dir_fd`, or None if it is not one now."""
    try:
        return os.readlink(name, dir_fd=dir_fd)
    except OSError:
        return None


def is_opaque_fd(fd: int) -> bool:
    """Whether the open directory `fd` carries overlay's opaque marker."""
    try:
        return os.getxattr(fd, OPAQUE_XATTR) == b"y"
    except OSError:
        return False


def _header(
    name: str, link: str | None, st: os.stat_result, first_paths: dict[tuple[int, int], str]
) -> tarfile.TarInfo | None:
    """The tar header for one entry, or None for what a tar can't hold (sockets).

    `link` is a symlink's target, read by the caller (None: it changed meanwhile).

    Only what defines the layer goes in: no atime/ctime, no sub-second mtime,
    no user/group names, no xattrs - so equal trees give equal bytes.
    """
    mode = st.st_mode
    info = tarfile.TarInfo(name)
    info.mode = stat.S_IMODE(mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.mtime = st.st_mtime_ns // 1_000_000_000
    if stat.S_ISREG(mode):
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in first_paths:
            info.type, info.linkname = tarfile.LNKTYPE, first_paths[key]
        else:
            if st.st_nlink > 1:
                first_paths[key] = name
            info.size = st.st_size
    elif stat.S_ISDIR(mode):
        info.type = tarfile.DIRTYPE  # tarfile writes the name with a trailing '/'
    elif stat.S_ISLNK(mode):
        if link is None:
            return None
        info.type, info.linkname = tarfile.SYMTYPE, link
    elif stat.S_ISCHR(mode) and st.st_rdev == 0:  # overlay whiteout -> OCI whiteout file
        head, slash, base = name.rpartition("/")
        info.name = head + slash + WHITEOUT_PREFIX + base
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif stat.S_ISFIFO(mode):
        info.type = tarfile.FIFOTYPE
    else:
        return None
    return info


def _write_header(sink: _HashingWriter, info: tarfile.TarInfo) -> None:
    # tobuf adds pax records only when a value doesn't fit ustar (long or
    # non-ASCII names, huge ids or sizes); undecodable names keep their bytes.
    sink.write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))


def _write_data(sink: _HashingWriter, fd: int, name: str, size: int) -> None:
    remaining = size
    while remaining:
        chunk = os.read(fd, min(remaining, _CHUNK))
        if not chunk:
            raise OSError(f"{name}: file shrank while it was being archived")
        sink.write(chunk)
        remaining -= len(chunk)
    sink.write(tarfile.NUL * (-size % tarfile.BLOCKSIZE))


def open_entry(entry: WalkEntry) -> tuple[os.stat_result, int] | None:
    """An entry's stat and, for a regular file, an fd open on it (else -1; the caller
    closes it) - or None when it is left out.

    A regular file is opened beside its directory, never through a symlink, and its
    stat comes from the open file, so a header and the data it announces are the same
    file's. One swapped for something else meanwhile is taken as what it is now; one
    that is a regular file again (changing under us), or gone, is left out.
    """
    if not entry.is_file():
        return entry.st, -1
    opened = open_file_at(entry.dir_fd, entry.name)
    if opened is not None:
        return opened[1], opened[0]
    try:
        st = os.stat(entry.name, dir_fd=entry.dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    return None if stat.S_ISREG(st.st_mode) else (st, -1)


def entry_header(
    entry: WalkEntry, st: os.stat_result, fd: int, first_paths: dict[tuple[int, int], str]
) -> tuple[tarfile.TarInfo | None, int]:
    """The tar header of an entry `open_entry` gave (None: nothing a tar holds) and `fd`
    if its data follows, else -1 (`fd` closed): a hardlink or an empty file has none."""
    link = read_link_at(entry.dir_fd, entry.name) if stat.S_ISLNK(st.st_mode) else None
    info = _header(entry.rel, link, st, first_paths)
    if fd >= 0 and (info is None or not info.size):
        os.close(fd)
        fd = -1
    return info, fd


def opaque_marker(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """The `.wh..wh..opq` entry that follows an opaque directory's own header."""
    marker = tarfile.TarInfo(f"{info.name.rstrip('/')}/{WHITEOUT_OPAQUE}")
    marker.mode = info.mode & 0o777
    marker.uid, marker.gid, marker.mtime = info.uid, info.gid, info.mtime
    return marker


def write_layer_tar(src: Path | int, out: BinaryIO) -> str:
    """Stream a canonical, uncompressed layer tar of directory `src` into `out`.

    Returns 'sha256:<hex>' of the bytes written: the layer's diff_id. Nothing
    but one file chunk is ever held in memory, so layer size doesn't matter.
    Every entry is read relative to its directory's fd (`walk_at`, `open_entry`):
    a container changing its files meanwhile never gets a host file into the tar.
    """
    sink = _HashingWriter(out)
    first_paths: dict[tuple[int, int], str] = {}  # hardlinked inode -> its first path
    for entry in walk_at(src, stat_files=False):
        opened = open_entry(entry)
        if opened is None:
            continue
        info, fd = entry_header(entry, *opened, first_paths)
        if info is None:
            continue
        try:
            _write_header(sink, info)
            if fd >= 0:
                _write_data(sink, fd, entry.rel, info.size)
        finally:
            if fd >= 0:
                os.close(fd)
        if info.isdir() and entry.fd >= 0 and is_opaque_fd(entry.fd):
            _write_header(sink, opaque_marker(info))
    # Two zero blocks end the archive; unlike tarfile we don't pad to 10 KiB (nor does Go).
    sink.write(_END_OF_ARCHIVE)
    return sink.digest()


def layer_diff_id(src: Path) -> str:
    """diff_id of `src` without keeping the tar: stream write_layer_tar into a hashing sink."""
    with open(os.devnull, "wb") as null:
        return write_layer_tar(src, null)


def dir_size(path: Path) -> tuple[int, int]:
    """(total bytes of all but directories, number of entries) of a directory tree.

    As Docker's directory.Size: a symlink counts its own size (its target's
    length), not followed; a hardlinked file's bytes count once; every name
    below `path` counts as an entry.
    """
    seen: set[tuple[int, int]] = set()
    size = entries = 0
    for entry in walk_at(path):
        entries += 1
        st = entry.st
        if not stat.S_ISDIR(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if key not in seen:
                seen.add(key)
                size += st.st_size
    return size, entries


def dir_bytes(path: Path) -> int:
    """The bytes `dir_size` counts below `path`; 0 for a folder removed meanwhile (what a
    volume holds: `system df`, `volume prune`)."""
    try:
        return dir_size(path)[0]
    except FileNotFoundError:
        return 0


# --- extracting ------------------------------------------------------------


def _safe_parts(path: str, member: str) -> list[str]:
    """Docker's normalisation: drop '/', '.' and empty components; refuse '..' outright."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        where = "name" if path == member else f"link target {path!r}"
        raise _unsafe(member, f"'..' in its {where}; layers may not reach outside")
    return parts


def open_dir(
    root: int, parts: Sequence[str], *, create: bool, owner: tuple[int, int] | None = None
) -> int:
    """Open root/<parts> one component at a time; O_NOFOLLOW refuses every symlink.

    Missing directories are made (0o755, like Docker) when `create` is set -
    owned by `owner` (uid, gid) and exactly 0o755 whatever the umask, if given -
    and raise FileNotFoundError otherwise. A symlink or non-directory on the way
    raises NotADirectoryError whose filename is the path up to it: nothing may
    write through what an untrusted tar or a container planted.
    """
    fd = os.dup(root)
    try:
        for i, part in enumerate(parts):
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                os.mkdir(part, 0o755, dir_fd=fd)
                if owner is not None:
                    os.chown(part, *owner, dir_fd=fd, follow_symlinks=False)
                    os.chmod(part, 0o755, dir_fd=fd)
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except NotADirectoryError as e:
                where = "/".join(parts[: i + 1])
                raise NotADirectoryError(
                    e.errno, f"{where!r} is a symlink or not a directory; not following it", where
                ) from e
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _remove(parent: int, name: str, *, keep_dir: bool = False, keep_nodes: bool = False) -> None:
    """Clear `name` for a new entry; a directory becoming a directory is kept (and merged).

    With `keep_nodes` (a `cp` onto the host) a device, FIFO or socket there is refused, never
    removed: a node of the host's is not ours to replace.
    """
    try:
        st = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return
    if keep_nodes and _is_node(st.st_mode):
        raise _unsafe(name, "cannot replace a device, named pipe or socket on the host")
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(name, dir_fd=parent)
    elif not keep_dir:
        shutil.rmtree(name, dir_fd=parent)  # fd-based: safe against symlinks inside


def _is_node(mode: int) -> bool:
    return stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def _set_metadata(parent: int, name: str, m: tarfile.TarInfo, *, mtime: bool = True) -> None:
    """Owner, then mode (chown clears setuid/setgid), then mtime - never through a symlink."""
    os.chown(name, m.uid, m.gid, dir_fd=parent, follow_symlinks=False)
    if not m.issym():  # Linux can't chmod a symlink; entries we just made aren't symlinks
        os.chmod(name, m.mode & 0o7777, dir_fd=parent)
    if mtime:
        os.utime(name, (m.mtime, m.mtime), dir_fd=parent, follow_symlinks=False)


def _hardlink(root: int, parent: int, name: str, m: tarfile.TarInfo) -> None:
    """Link to a regular file this layer already holds, found as carefully as any other path."""
    parts = _safe_parts(m.linkname, m.name)
    if parts:
        *dirs, target = parts
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            target_dir = open_dir(root, dirs, create=False)
            try:
                st = os.stat(target, dir_fd=target_dir, follow_symlinks=False)
                if stat.S_ISREG(st.st_mode):
                    os.link(
                        target,
                        name,
                        src_dir_fd=target_dir,
                        dst_dir_fd=parent,
                        follow_symlinks=False,
                    )
                    return
            finally:
                os.close(target_dir)
    raise _unsafe(m.name, f"hardlink target {m.linkname!r} is not a regular file in the layer")


@dataclass(frozen=True)
class Extraction:
    """How a tar lands: as a layer (OCI whiteouts become overlay ones, owners kept), or as
    `docker cp` unpacks one (names as they are, owned by `owner` when given, and a relative
    symlink may not point above the extraction root - Docker's "invalid symlink")."""

    whiteouts: bool = True
    owner: tuple[int, int] | None = None
    confine_symlinks: bool = False
    where: str = ""  # the destination as the user named it, for the symlink error
    keep_nodes: bool = False  # onto the host: an existing device/FIFO/socket is refused


LAYER = Extraction()


def _check_symlink(m: tarfile.TarInfo, parts: list[str], how: Extraction) -> None:
    if m.linkname.startswith("/"):
        return  # resolved inside the container's root when followed: never out of it
    depth = len(parts) - 1
    for part in m.linkname.split("/"):
        depth += -1 if part == ".." else 0 if part in ("", ".") else 1
        if depth < 0:
            where = os.path.join(how.where, *parts)
            raise SymlinkBreakout(f'invalid symlink "{where}" -> "{m.linkname}"')


class SymlinkBreakout(UnsafeTarError):
    """A relative symlink in a `cp` tar that would point above where it is unpacked."""


def _extract_member(
    tar: tarfile.TarFile,
    m: tarfile.TarInfo,
    root: int,
    dir_mtimes: dict[tuple[str, ...], float],
    how: Extraction = LAYER,
) -> None:
    if "\0" in m.name or "\0" in m.linkname:
        raise _unsafe(m.name, "contains a NUL byte")
    if how.owner is not None:
        m.uid, m.gid = how.owner
    parts = _safe_parts(m.name, m.name)
    if not parts:
        if m.isdir():
            return  # './' is dest itself, which belongs to the caller
        raise _unsafe(m.name, "names the extraction root")
    if m.ischr() or m.isblk():
        raise _unsafe(m.name, "device nodes are not allowed in a layer")
    if not (m.isreg() or m.isdir() or m.issym() or m.islnk() or m.isfifo()):
        raise _unsafe(m.name, f"unsupported member type {m.type!r}")

    if how.confine_symlinks and m.issym():
        _check_symlink(m, parts, how)
    *dirs, name = parts
    parent = open_dir(root, dirs, create=True)
    try:
        if how.whiteouts and name == WHITEOUT_OPAQUE:
            os.setxattr(parent, OPAQUE_XATTR, b"y")
            return
        if how.whiteouts and name.startswith(WHITEOUT_PREFIX):
            hidden = name.removeprefix(WHITEOUT_PREFIX)
            if hidden in ("", ".", ".."):
                raise _unsafe(m.name, "whiteout of an invalid name")
            _remove(parent, hidden)
            os.mknod(hidden, stat.S_IFCHR | 0o600, os.makedev(0, 0), dir_fd=parent)
            _set_metadata(parent, hidden, m)
            return
        if m.isdir():
            _remove(parent, name, keep_dir=True, keep_nodes=how.keep_nodes)
            with contextlib.suppress(FileExistsError):  # an existing directory is kept
                os.mkdir(name, 0o700, dir_fd=parent)
            _set_metadata(parent, name, m, mtime=False)
            dir_mtimes[tuple(parts)] = m.mtime
        else:
            _remove(parent, name, keep_nodes=how.keep_nodes)
            if m.isreg():
                data = tar.extractfile(m)
                assert data is not None  # a regular member always has a data stream
                with open(os.open(name, _NEW_FILE_FLAGS, 0o600, dir_fd=parent), "wb") as f:
                    shutil.copyfileobj(data, f, _CHUNK)
                _set_metadata(parent, name, m)
            elif m.issym():
                os.symlink(m.linkname, name, dir_fd=parent)  # the target may point anywhere
                _set_metadata(parent, name, m)
            elif m.islnk():
                _hardlink(root, parent, name, m)
            else:
                os.mkfifo(name, 0o600, dir_fd=parent)
                _set_metadata(parent, name, m)
    finally:
        os.close(parent)


def _restore_dir_mtimes(root: int, dir_mtimes: dict[tuple[str, ...], float]) -> None:
    """Last and deepest first: creating each child bumped its directory's mtime."""
    for parts in sorted(dir_mtimes, key=len, reverse=True):
        try:
            fd = open_dir(root, parts, create=False)
        except (FileNotFoundError, NotADirectoryError):
            continue  # a later member replaced this directory
        try:
            os.utime(fd, (dir_mtimes[parts], dir_mtimes[parts]))
        finally:
            os.close(fd)


# --- compressed input: a limit on what it may expand to -------------------------
# A compressed tar may expand to at most this many times the compressed bytes read so far
# (once past EXPANSION_FREE): a 1 MB gzip of zeros never becomes a 1 GiB layer. Both are
# configurable: LAYERLAB_MAX_EXPANSION_RATIO (0: no limit), LAYERLAB_MAX_EXPANDED_BYTES.
MAX_EXPANSION_RATIO = 100
EXPANSION_FREE = 64 << 20
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_GZIP_WBITS = 31  # zlib reads the gzip header and checks its trailer
_GZIP_READ = 128 << 10  # compressed bytes a read: what zlib leaves is copied at each call
_DECOMPRESS_ERRORS = (EOFError, zlib.error, lzma.LZMAError, gzip.BadGzipFile)


class ExpansionLimit(UnsafeTarError):
    """Compressed input that expands beyond the configured limit."""


class _Counted:
    """`src` read with some bytes already peeked (`head`), counting what was consumed."""

    def __init__(self, src: IO[bytes], head: bytes) -> None:
        self._src, self._head, self.count = src, head, 0

    def read(self, n: int = -1) -> bytes:
        if self._head:
            data, self._head = (
                (self._head, b"")
                if n < 0 or n >= len(self._head)
                else (self._head[:n], self._head[n:])
            )
        else:
            data = self._src.read(n)
        self.count += len(data)
        return data


class _Limited:
    """A decompressing stream that raises `ExpansionLimit` once it expands too far."""

    def __init__(self, inner: Any, consumed: Callable[[], int]) -> None:
        self._inner, self._consumed, self.expanded = inner, consumed, 0
        self._ratio = int(os.environ.get("LAYERLAB_MAX_EXPANSION_RATIO") or MAX_EXPANSION_RATIO)
        self._max = int(os.environ.get("LAYERLAB_MAX_EXPANDED_BYTES") or 0)

    def read(self, n: int = -1) -> bytes:
        data = self._inner.read(n)
        self.expanded += len(data)
        compressed = max(self._consumed(), 1)
        if self._max and self.expanded > self._max:
            raise ExpansionLimit(
                f"compressed input expands beyond {self._max} bytes "
                "(LAYERLAB_MAX_EXPANDED_BYTES sets the limit)"
            )
        if (
            self._ratio
            and self.expanded > EXPANSION_FREE
            and self.expanded > self._ratio * compressed
        ):
            raise ExpansionLimit(
                f"compressed input expands more than {self._ratio} times ({self.expanded} "
                f"bytes from {compressed}); LAYERLAB_MAX_EXPANSION_RATIO raises the limit"
            )
        return data


def limit_expansion(inner: Any, consumed: Callable[[], int]) -> IO[bytes]:
    """`inner` (a decompressor) limited by how many compressed bytes it has `consumed()`."""
    return _Limited(inner, consumed)  # type: ignore[return-value]


class _Gzip:
    """A gzip stream (one member or several, zero padding between them as gzip allows)
    inflated by zlib, which checks each member's CRC and length itself (`gzip.GzipFile`
    reads 8 KiB at a time and sums the CRC again in its own pass). Truncated: EOFError;
    corrupt: zlib.error."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw, self._input = raw, b""
        self._zlib = zlib.decompressobj(_GZIP_WBITS)

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            return b"".join(iter(lambda: self.read(_CHUNK), b""))
        while n:
            if self._zlib.eof:  # a member ended: the end, or zeros, or another member
                self._input = self._input.lstrip(b"\0")
                if not self._input:
                    self._input = self._raw.read(_GZIP_READ)
                    if not self._input:
                        return b""
                    continue
                self._zlib = zlib.decompressobj(_GZIP_WBITS)
            if not self._input:
                self._input = self._raw.read(_GZIP_READ)
                if not self._input:
                    raise EOFError(
                        "Compressed file ended before the end-of-stream marker was reached"
                    )
            data = self._zlib.decompress(self._input, n)
            self._input = self._zlib.unused_data if self._zlib.eof else self._zlib.unconsumed_tail
            if data:
                return data
        return b""

    @property
    def pending(self) -> int:
        """Compressed bytes read but not yet inflated (not counted against the limit)."""
        return len(self._input)


class _Zstd:
    """A zstd stream decompressed as read; a corrupt one is an EOFError, as gzip's is."""

    def __init__(self, raw: IO[bytes]) -> None:
        import zstandard  # pulled layers only

        self._error = zstandard.ZstdError
        self._reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)

    def read(self, n: int = -1) -> bytes:
        try:
            return bytes(self._reader.read(n))
        except self._error as exc:
            raise EOFError(f"zstd: {exc}") from None


def decompressed(src: IO[bytes]) -> IO[bytes]:
    """`src` as a plain stream: gzip, bzip2, xz and zstd are told by magic and decompressed
    (within the expansion limit); anything else is passed as it is."""
    head = b""
    while len(head) < 6 and (more := src.read(6 - len(head))):
        head += more
    counted = _Counted(src, head)
    raw: IO[bytes] = counted  # type: ignore[assignment]
    inner: Any
    if head.startswith(b"\x1f\x8b"):
        gz = _Gzip(raw)
        return limit_expansion(gz, lambda: counted.count - gz.pending)
    if head.startswith(b"BZh"):
        inner = bz2.BZ2File(raw)
    elif head.startswith(b"\xfd7zXZ\x00"):
        inner = lzma.LZMAFile(raw)  # noqa: SIM115
    elif head.startswith(ZSTD_MAGIC):  # pulled layers (OCI's +zstd)
        inner = _Zstd(raw)
    else:
        return raw
    return limit_expansion(inner, lambda: counted.count)


def is_tar(data: bytes) -> bool:
    """Whether `data` is a tar archive (plain, gzip, bzip2 or xz), as Docker tells a build
    context on stdin from a Dockerfile."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            return tar.next() is not None
    except (tarfile.TarError, EOFError, OSError, ValueError):
        return False


def extract_layer_tar(src: BinaryIO, dest: Path) -> None:
    """Safely extract an untrusted layer tar (plain or gzip, told apart by magic) into `dest`.

    `dest` becomes an overlay lower/upper dir: OCI whiteouts turn into overlay
    ones, ownership, setuid/setgid and mtimes are kept, symlinks are stored
    as-is. Nothing is ever created outside `dest`; anything that would be, or
    any corrupt input, raises UnsafeTarError. A partial extraction is left
    behind on error - callers extract into a temporary directory.
    """
    root = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        extract_tar_at(src, root)
    finally:
        os.close(root)


def extract_tar_at(src: IO[bytes], root: int, how: Extraction = LAYER) -> None:
    """`extract_layer_tar` into an open directory `root` (the caller keeps it open)."""
    dir_mtimes: dict[tuple[str, ...], float] = {}
    try:
        with tarfile.open(fileobj=decompressed(src), mode="r|") as tar:
            while (member := tar.next()) is not None:
                try:
                    _extract_member(tar, member, root, dir_mtimes, how)
                except OSError as e:
                    raise _unsafe(member.name, e.strerror or str(e)) from e
                # tarfile keeps every member it has read; an untrusted stream
                # of millions of tiny members must not grow memory with it.
                tar.members.clear()  # type: ignore[attr-defined]
        _restore_dir_mtimes(root, dir_mtimes)
    except (tarfile.TarError, *_DECOMPRESS_ERRORS) as e:
        raise UnsafeTarError(f"not a valid tar archive: {e}") from e
