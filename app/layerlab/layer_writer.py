"""The canonical layer tar, fast: commit's one-pass layer copy, diff_ids, export.

`layers.write_layer_tar` defines a layer's bytes: one thread, one entry at a
time, every header from tarfile. It stays the reference (and save's writer).
This module produces exactly the same byte stream - or only its sha256, or
its effect on disk - on the paths where the time goes:

- `copy_layer(src, dest)` (commit, build): makes `dest` what extracting
  `write_layer_tar(src)` would make, and returns the sha256 of that tar
  without ever writing it. One walk; file data crosses once, by the kernel;
  a small thread pool creates the files while one hasher thread eats the
  stream in order.
- `diff_id(src)` (import, load): the sha256 of `write_layer_tar(src)`.
- `write_tar(src, out)` (export): the same bytes into `out`, big files moved
  by `sendfile` when `out` is a file.

The walk holds a directory fd per level and opens every name relative to its
parent with O_NOFOLLOW, so a container that swaps a directory for a symlink
mid-commit gets an error, never a host file in its image. Headers that fit
plain ustar (short ASCII names, small numbers: nearly all) are packed here;
the rest go through tarfile, exactly as the reference does.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import tarfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NamedTuple

from layerlab import layers

if TYPE_CHECKING:  # the pool and queue load on first commit, not at every CLI start
    import queue
    from concurrent.futures import Future

SMALL = 256 << 10  # up to this a file is read into memory once: hashed and written from there
_CHUNK = 4 << 20  # big files are hashed in 4 MiB reads (hashlib drops the GIL for them)
# A pool job is the small files of one directory, up to 128 or 4 MiB: one future and one
# wake-up for many files, and workers in different directories never queue on one
# directory's lock (creating a file holds it; ext4 can hold it long after mass deletions).
_BATCH, _BATCH_BYTES = 128, 4 << 20
_WINDOW = 8  # batches queued ahead of the hasher: bounds memory (~40 MiB) and open fds
_WORKERS = min(4, (os.cpu_count() or 1) + 1)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a FIFO swapped in for a file between stat and open must not hang us.
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# The hasher re-reads a fresh copy; O_NOATIME leaves its atime as the copy set it.
_REREAD_FLAGS = os.O_RDONLY | os.O_NOATIME | os.O_CLOEXEC
_NUL = b"\0"
_END = _NUL * (2 * tarfile.BLOCKSIZE)
_UNSUPPORTED = {errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL, errno.EBADF}


class NeedsReference(Exception):
    """The tree holds what only the reference tar round trip handles as it does.

    A device node (extraction refuses it) or a name starting with `.wh.` (it
    becomes a whiteout on extraction). Overlay never writes these; a container
    can. The caller then goes the old way, so the outcome stays identical.
    """


# --- headers -----------------------------------------------------------------

_MAGIC = b"ustar\x0000"
_TAIL = _MAGIC + _NUL * (32 + 32 + 8 + 8 + 155 + 12)  # uname, gname, dev, prefix, pad
_CHKSUM_BASE = sum(b" " * 8) + sum(_MAGIC)
_MAX8, _MAX12 = 8**7, 8**11


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
        or info.uname
        or info.gname
    ):
        return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    raw_name, raw_link = name.encode("ascii"), link.encode("ascii")
    numbers = b"%07o\0%07o\0%07o\0%011o\0%011o\0" % (
        info.mode & 0o7777,
        info.uid,
        info.gid,
        info.size,
        mtime,
    )
    chksum = _CHKSUM_BASE + sum(raw_name) + sum(raw_link) + sum(numbers) + info.type[0]
    return b"".join(
        (
            raw_name.ljust(100, _NUL),
            numbers,
            b"%06o\0 " % chksum,
            info.type,
            raw_link.ljust(100, _NUL),
            _TAIL,
        )
    )


def _opaque_marker(name: str, info: tarfile.TarInfo) -> tarfile.TarInfo:
    marker = tarfile.TarInfo(f"{name}/{layers.WHITEOUT_OPAQUE}")
    marker.mode = info.mode & 0o777
    marker.uid, marker.gid, marker.mtime = info.uid, info.gid, info.mtime
    return marker


# --- the walk ------------------------------------------------------------------


class _Entry(NamedTuple):
    rel: str  # the path in the tar (before the whiteout rename)
    name: str  # the last component, relative to parent_fd
    parent_fd: int  # open while the caller handles the entry
    st: os.stat_result
    dir_fd: int  # the entry's own fd if it is a directory, else -1


def _children(fd: int) -> list[os.DirEntry[str]]:
    with os.scandir(fd) as it:
        return sorted(it, key=lambda e: os.fsencode(e.name), reverse=True)


def _walk(root: Path) -> Iterator[_Entry]:
    """layers._walk's order (bytewise names, a directory before its children), by fds.

    Every directory is opened relative to its parent with O_NOFOLLOW; fds are
    held for the current path only.
    """
    root_fd = os.open(root, _DIR_FLAGS)
    stack: list[tuple[str, int, list[os.DirEntry[str]]]] = [("", root_fd, _children(root_fd))]
    try:
        while stack:
            prefix, fd, children = stack[-1]
            if not children:
                stack.pop()
                os.close(fd)
                continue
            entry = children.pop()
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:  # gone meanwhile (a running container): not in the layer
                continue
            rel = prefix + entry.name
            if stat.S_ISDIR(st.st_mode):
                try:
                    child = os.open(entry.name, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:  # gone, or swapped for a symlink: never followed
                    if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                        continue
                    raise
                stack.append((rel + "/", child, _children(child)))
                yield _Entry(rel, entry.name, fd, st, child)
            else:
                yield _Entry(rel, entry.name, fd, st, -1)
    finally:
        for _, fd, _ in stack:
            os.close(fd)


def _is_opaque(dir_fd: int) -> bool:
    try:
        return os.getxattr(dir_fd, layers.OPAQUE_XATTR) == b"y"
    except OSError:
        return False


def _read_exact(fd: int, size: int, rel: str) -> bytes:
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


def _write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


# --- commit: copy + diff_id in one pass -------------------------------------------


def _kernel_copy(src: int, dst: int, size: int, rel: str) -> None:
    """`size` bytes from src to dst (both at offset 0), in the kernel where it can.

    copy_file_range moves page-cache pages without a trip through user space
    (and reflinks on file systems that share extents); sendfile is the older
    kernel's route; read/write the last resort. Never a hardlink: the
    container keeps its file and may write on.
    """
    done = 0
    for move in (os.copy_file_range, lambda s, d, n: os.sendfile(d, s, None, n)):
        try:
            while done < size:
                moved = move(src, dst, size - done)
                if not moved:
                    raise OSError(f"{rel}: file shrank while it was being archived")
                done += moved
            return
        except OSError as e:
            if e.errno not in _UNSUPPORTED:
                raise
    while done < size:
        data = os.read(src, min(_CHUNK, size - done))
        if not data:
            raise OSError(f"{rel}: file shrank while it was being archived")
        _write_all(dst, data)
        done += len(data)


def _copy_file(src: int, dest: str, info: tarfile.TarInfo, rel: str) -> bytes | int:
    """One regular file, as extraction makes it: data, then owner, mode, mtime.

    Returns the bytes (small files) or an fd on the finished copy (big ones):
    either way what the hasher sees is exactly what the layer holds.
    """
    size = info.size
    data = b""
    try:
        dst = os.open(dest, _NEW_FILE_FLAGS, 0o600)
        try:
            if size <= SMALL:
                if size:
                    data = _read_exact(src, size, rel)
                    _write_all(dst, data)
            else:
                _kernel_copy(src, dst, size, rel)
            os.fchown(dst, info.uid, info.gid)
            os.fchmod(dst, info.mode & 0o7777)
            os.utime(dst, (info.mtime, info.mtime))
        finally:
            os.close(dst)
    finally:
        if src >= 0:
            os.close(src)
    if size <= SMALL:
        return data
    try:
        return os.open(dest, _REREAD_FLAGS)
    except PermissionError:  # O_NOATIME needs ownership or CAP_FOWNER
        return os.open(dest, _REREAD_FLAGS & ~os.O_NOATIME)


def _set_metadata(path: str, info: tarfile.TarInfo) -> None:
    """layers._set_metadata by path: owner, then mode, then mtime, never through a symlink."""
    os.chown(path, info.uid, info.gid, follow_symlinks=False)
    if not info.issym():
        os.chmod(path, info.mode & 0o7777)
    os.utime(path, (info.mtime, info.mtime), follow_symlinks=False)


_Item = tuple[bytes, "Future[list[bytes | int]] | None", int, int]  # head, job, index, size


class _Hasher:
    """Eats the tar stream in order on its own thread; file data may still be on its way.

    An item is a header (plus, for a file, its job's future, its place in that
    job's results and its size); items come in lists, one queue trip per list.
    """

    def __init__(self) -> None:
        import queue

        self.sha = hashlib.sha256()
        self.error: BaseException | None = None
        self.items: queue.Queue[list[_Item] | None] = queue.Queue(maxsize=_WINDOW)
        self._thread = threading.Thread(target=self._run, name="layer-hasher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        buf = bytearray(_CHUNK)
        while (items := self.items.get()) is not None:
            for head, job, index, size in items:
                result = None
                try:
                    result = job.result()[index] if job is not None else None
                    if self.error is None:
                        self.sha.update(head)
                        if isinstance(result, bytes):
                            self.sha.update(result)
                        elif result is not None:
                            _hash_fd(self.sha, result, size, buf)
                        if size % tarfile.BLOCKSIZE:
                            self.sha.update(_NUL * (-size % tarfile.BLOCKSIZE))
                except BaseException as exc:  # keep draining so the walker never blocks
                    self.error = self.error or exc
                finally:
                    if isinstance(result, int):
                        os.close(result)

    def finish(self) -> str:
        self.items.put(None)
        self._thread.join()
        if self.error is not None:
            raise self.error
        self.sha.update(_END)
        return "sha256:" + self.sha.hexdigest()


def _copy_batch(files: list[tuple[int, str, tarfile.TarInfo, str]]) -> list[bytes | int]:
    """_copy_file for each; on an error the sources not reached yet are closed too."""
    results: list[bytes | int] = []
    try:
        for source, dest, info, rel in files:
            results.append(_copy_file(source, dest, info, rel))
    except BaseException:
        for source, *_ in files[len(results) + 1 :]:
            if source >= 0:
                os.close(source)
        raise
    return results


def _hash_fd(sha: hashlib._Hash, fd: int, size: int, buf: bytearray) -> None:
    view = memoryview(buf)
    done = 0
    while done < size:
        n = os.readv(fd, [view[: min(len(buf), size - done)]])
        if not n:
            raise OSError("a copied file shrank while it was being hashed")
        sha.update(view[:n])
        done += n


def copy_layer(src: Path, dest: Path) -> tuple[str, int]:
    """Make empty directory `dest` a copy of layer dir `src`; return (diff_id, size).

    `dest` ends up as extracting `layers.write_layer_tar(src)` into it would
    leave it: whiteouts and opaque markers cross, other xattrs don't, mtimes
    are whole seconds, hardlinks within the layer stay hardlinks. The diff_id
    is the sha256 of that tar, the size what `layers.dir_size(dest)` counts.
    Raises NeedsReference before anything is known to differ from that.
    """
    from concurrent.futures import ThreadPoolExecutor

    root = os.fspath(dest)
    first_paths: dict[tuple[int, int], str] = {}
    links: list[tuple[str, str]] = []
    dir_mtimes: list[tuple[str, float]] = []
    size = 0
    hasher = _Hasher()
    files: list[tuple[int, str, tarfile.TarInfo, str]] = []  # the next pool job
    waiting: list[tuple[bytes, int, int]] = []  # head, index in `files` (-1: none), size
    batch_dir, batch_bytes = "", 0
    try:
        with ThreadPoolExecutor(_WORKERS, thread_name_prefix="layer-copy") as pool:

            def flush() -> None:
                nonlocal batch_bytes
                batch_bytes = 0
                batch, items = files.copy(), waiting.copy()
                files.clear()  # the job owns (and closes) the sources from here on
                waiting.clear()
                job = pool.submit(_copy_batch, batch) if batch else None
                hasher.items.put([(h, job if i >= 0 else None, i, n) for h, i, n in items])

            for entry in _walk(src):
                if hasher.error is not None:
                    break
                if entry.name.startswith(layers.WHITEOUT_PREFIX):
                    raise NeedsReference(entry.rel)
                info, source = _entry_header(entry, first_paths)
                if info is None:
                    continue  # a socket (or a file gone meanwhile): no tar or layer holds it
                if info.ischr() or info.isblk():
                    raise NeedsReference(entry.rel)
                path = f"{root}/{entry.rel}"
                head = header_bytes(info)
                if info.isdir():
                    os.mkdir(path, 0o700)
                    os.chown(path, info.uid, info.gid, follow_symlinks=False)
                    os.chmod(path, info.mode & 0o7777)
                    dir_mtimes.append((path, info.mtime))
                    if _is_opaque(entry.dir_fd):
                        os.setxattr(path, layers.OPAQUE_XATTR, b"y")
                        head += header_bytes(_opaque_marker(entry.rel, info))
                elif info.isreg() and stat.S_ISCHR(entry.st.st_mode):  # overlay whiteout
                    os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(0, 0))
                    _set_metadata(path, info)
                elif info.isreg():
                    parent = entry.rel[: len(entry.rel) - len(entry.name)]
                    if files and (info.size > SMALL or parent != batch_dir):
                        flush()  # a big file is a job of its own; a directory is one
                    batch_dir = parent
                    waiting.append((head, len(files), info.size))
                    files.append((source, path, info, entry.rel))
                    size += info.size
                    batch_bytes += info.size
                    if info.size > SMALL or len(files) >= _BATCH or batch_bytes >= _BATCH_BYTES:
                        flush()
                    continue
                elif info.islnk():
                    links.append((f"{root}/{info.linkname}", path))
                elif info.issym():
                    os.symlink(info.linkname, path)
                    _set_metadata(path, info)
                    size += entry.st.st_size  # its target's length, as dir_size counts it
                else:  # FIFO
                    os.mkfifo(path, 0o600)
                    _set_metadata(path, info)
                waiting.append((head, -1, 0))
                if len(waiting) >= 2 * _BATCH:
                    flush()
            flush()
    finally:
        for source, *_ in files:  # opened, never handed to a job
            if source >= 0:
                os.close(source)
        digest = hasher.finish()
    for target, path in links:  # every file exists now; a link shares its target's metadata
        os.link(target, path, follow_symlinks=False)
    for path, mtime in dir_mtimes:  # last: creating each child bumped its directory's mtime
        os.utime(path, (mtime, mtime), follow_symlinks=False)
    return digest, size


# --- diff_id and export: the stream itself, in this thread ---------------------------


def _entry_header(
    entry: _Entry, first_paths: dict[tuple[int, int], str]
) -> tuple[tarfile.TarInfo | None, int]:
    """An entry's tar header and, for a regular file with data, its open fd (else -1).

    A regular file is opened first, beside its directory and never through a
    symlink, and its header comes from that open file: a running container that
    swaps it for a symlink meanwhile gets it left out (None), never followed.
    """
    if not stat.S_ISREG(entry.st.st_mode):
        return layers._header(entry.rel, _link(entry), entry.st, first_paths), -1
    opened = layers.open_file_at(entry.parent_fd, entry.name)
    if opened is None:
        return None, -1
    fd, st = opened
    info = layers._header(entry.rel, None, st, first_paths)
    if info is None or not info.size:
        os.close(fd)
        return info, -1
    return info, fd


def _link(entry: _Entry) -> str | None:
    """A symlink's target, read beside it (None: not a symlink, or no longer one)."""
    if not stat.S_ISLNK(entry.st.st_mode):
        return None
    return layers.read_link_at(entry.parent_fd, entry.name)


def _stream(
    src: Path, emit: Callable[[bytes], None], emit_file: Callable[[int, int], None]
) -> None:
    """write_layer_tar's byte stream to `emit`; file data (fd, size) to `emit_file`."""
    first_paths: dict[tuple[int, int], str] = {}
    for entry in _walk(src):
        info, fd = _entry_header(entry, first_paths)
        if info is None:
            continue
        emit(header_bytes(info))
        if fd >= 0:
            try:
                emit_file(fd, info.size)
            finally:
                os.close(fd)
            if info.size % tarfile.BLOCKSIZE:
                emit(_NUL * (-info.size % tarfile.BLOCKSIZE))
        if info.isdir() and _is_opaque(entry.dir_fd):
            emit(header_bytes(_opaque_marker(entry.rel, info)))
    emit(_END)


def diff_id(src: Path) -> str:
    """sha256 of `layers.write_layer_tar(src)`, without writing it anywhere."""
    sha = hashlib.sha256()
    buf = bytearray(_CHUNK)

    def emit_file(fd: int, size: int) -> None:
        if size <= SMALL:
            sha.update(_read_exact(fd, size, "a layer file"))
        else:
            _hash_fd(sha, fd, size, buf)

    _stream(src, sha.update, emit_file)
    return "sha256:" + sha.hexdigest()


def write_tar(src: Path, out: BinaryIO) -> None:
    """`layers.write_layer_tar(src, out)`'s bytes, unhashed (export needs no digest).

    Headers and small files gather in a 1 MiB buffer; a big file goes from its
    fd to `out`'s by sendfile when `out` has one, so its bytes stay in the kernel.
    """
    try:
        out_fd: int | None = out.fileno()
        out.flush()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        out_fd = None
    pending = bytearray()

    def flush() -> None:
        if pending:
            if out_fd is None:
                out.write(pending)
            else:
                _write_all(out_fd, pending)
            pending.clear()

    def emit(data: bytes) -> None:
        pending.extend(data)
        if len(pending) >= 1 << 20:
            flush()

    def copy_through(fd: int, size: int) -> None:
        done = 0
        while done < size:
            data = _read_exact(fd, min(_CHUNK, size - done), "an exported file")
            emit(data)
            done += len(data)

    def emit_file(fd: int, size: int) -> None:
        if size <= SMALL or out_fd is None:
            copy_through(fd, size)
            return
        flush()
        done = 0
        try:
            while done < size:
                moved = os.sendfile(out_fd, fd, None, size - done)
                if not moved:
                    raise OSError("an exported file shrank while it was being archived")
                done += moved
        except OSError as e:
            if e.errno not in _UNSUPPORTED or done:
                raise
            copy_through(fd, size)

    _stream(src, emit, emit_file)
    flush()
