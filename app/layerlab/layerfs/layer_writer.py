"""The canonical layer tar, fast: commit's one-pass layer copy, diff_ids, export.

`layers.write_layer_tar` defines a layer's bytes: one thread, one entry at a
time, every header from tarfile. It stays the reference (and save's writer).
This module produces exactly the same byte stream - or only its sha256, or
its effect on disk - on the paths where the time goes:

- `copy_layer(src, dest)` (commit, build): makes `dest` what extracting
  `write_layer_tar(src)` would make, and returns the sha256 of that tar
  without ever writing it. One walk reads each small file once, into the
  stream it hashes and into the job that writes the copy; big files cross by
  the kernel's copy and are hashed from the copy. A small thread pool creates
  the files, a hasher thread eats the stream in order.
- `diff_id(src)` (import, load): the sha256 of `write_layer_tar(src)`.
- `write_tar(src, out)` (export): the same bytes into `out`, big files moved
  by `sendfile` when `out` is a file.

The walk is `layers.walk_at`'s: a directory fd per level, every name opened
relative to its parent with O_NOFOLLOW, so a container that swaps a directory
for a symlink mid-commit never gets a host file into its image. The entries and
their headers come from `tar_stream`, which packs them as the reference does.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
import tarfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple, TypeVar

from layerlab.layerfs import layers
from layerlab.layerfs.tar_stream import END, entries, pad, read_entry, read_exact

if TYPE_CHECKING:  # the pool and queue load on first commit, not at every CLI start
    import queue
    from concurrent.futures import Future

SMALL = 256 << 10  # up to this a file is read into memory once: hashed and written from there
_CHUNK = 4 << 20  # big files are hashed in 4 MiB reads (hashlib drops the GIL for them)
# A pool job is the small files of one directory, up to 128 or 4 MiB: one future and one
# wake-up for many files, and workers in different directories never queue on one
# directory's lock (creating a file holds it).
_BATCH, _BATCH_BYTES = 128, 4 << 20
_PIECE = 1 << 20  # the hasher gets the stream of small files in pieces of this size
_WINDOW = 8  # pool jobs (and stream pieces) in flight: bounds memory (~40 MiB) and open fds
_WORKERS = 2  # more only trade the GIL back and forth: a file costs four system calls here
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# The hasher re-reads a fresh copy; O_NOATIME leaves its atime as the copy set it.
_REREAD_FLAGS = os.O_RDONLY | os.O_NOATIME | os.O_CLOEXEC
_ACL_DEFAULT = "system.posix_acl_default"
_UNSUPPORTED = {errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL, errno.EBADF}


class NeedsReference(Exception):
    """The tree holds what only the reference tar round trip handles as it does.

    A device node (extraction refuses it) or a name starting with `.wh.` (it
    becomes a whiteout on extraction). Overlay never writes these; a container
    can. The caller then goes the old way, so the outcome stays identical.
    """


def _write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _hash_fd(sha: hashlib._Hash, fd: int, size: int, buf: bytearray) -> None:
    view = memoryview(buf)
    done = 0
    while done < size:
        n = os.readv(fd, [view[: min(len(buf), size - done)]])
        if not n:
            raise OSError("a copied file shrank while it was being hashed")
        sha.update(view[:n])
        done += n


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


class _Creation(NamedTuple):
    """How new files get their owner and mode, as extraction's chown + chmod leave them.

    A new file is owned by us, with the mode it was opened with less the umask (a
    default ACL would change that: then every file is chowned and chmodded).
    """

    owner: tuple[int, int] | None  # (euid, egid) when a new file is ours with no chown
    umask: int

    @staticmethod
    def of(dest: str) -> _Creation:
        try:
            os.getxattr(dest, _ACL_DEFAULT)
        except OSError:  # none (ENODATA), or no ACLs at all
            return _Creation((os.geteuid(), os.getegid()), _umask())
        return _Creation(None, 0o7777)

    def create(self, dir_fd: int, name: str, st: os.stat_result, owned: bool) -> int:
        """A new file `name` for a copy of `st`; chowned and chmodded only where needed.

        `owned`: the directory's group is ours, so a new file's group is too (setgid
        directory or not). Chown comes first, as it clears setuid and setgid.
        """
        mode = stat.S_IMODE(st.st_mode)
        chmod = self.owner is None or bool(mode & (0o7000 | self.umask))
        fd = os.open(name, _NEW_FILE_FLAGS, 0o600 if chmod else mode, dir_fd=dir_fd)
        try:
            if not owned or (st.st_uid, st.st_gid) != self.owner:
                os.fchown(fd, st.st_uid, st.st_gid)
            if chmod:
                os.fchmod(fd, mode)
        except BaseException:
            os.close(fd)
            raise
        return fd


def _umask() -> int:
    """The process's umask, read without setting it (other threads may create files)."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o7777  # unknown: chmod every file


def _mtime(st: os.stat_result) -> tuple[int, int]:
    mtime = st.st_mtime_ns // 1_000_000_000
    return mtime, mtime


def _write_small(
    how: _Creation, dir_path: str, owned: bool, files: list[tuple[str, bytes, os.stat_result]]
) -> None:
    """A pool job: the small files of one directory, from the bytes the walk read."""
    dir_fd = os.open(dir_path, _DIR_FLAGS)
    try:
        for name, data, st in files:
            fd = how.create(dir_fd, name, st, owned)
            try:
                if data:
                    _write_all(fd, data)
                os.utime(fd, _mtime(st))
            finally:
                os.close(fd)
    finally:
        os.close(dir_fd)


def _copy_big(how: _Creation, path: str, owned: bool, src: int, st: os.stat_result) -> int:
    """A pool job: one big file by the kernel's copy; an fd on the finished copy to hash."""
    try:
        head, _, name = path.rpartition("/")
        dir_fd = os.open(head, _DIR_FLAGS)
        try:
            dst = how.create(dir_fd, name, st, owned)
        finally:
            os.close(dir_fd)
        try:
            _kernel_copy(src, dst, st.st_size, path)
            os.utime(dst, _mtime(st))
        finally:
            os.close(dst)
    finally:
        os.close(src)
    try:
        return os.open(path, _REREAD_FLAGS)
    except PermissionError:  # O_NOATIME needs ownership or CAP_FOWNER
        return os.open(path, _REREAD_FLAGS & ~os.O_NOATIME)


def _set_metadata(path: str, info: tarfile.TarInfo) -> None:
    """layers._set_metadata by path: owner, then mode, then mtime, never through a symlink."""
    os.chown(path, info.uid, info.gid, follow_symlinks=False)
    if not info.issym():
        os.chmod(path, info.mode & 0o7777)
    os.utime(path, (info.mtime, info.mtime), follow_symlinks=False)


_T = TypeVar("_T")
_Piece = tuple[bytes, "Future[int] | None", int]  # stream bytes, then a big file's copy


class _Hasher:
    """Eats the tar stream in order on its own thread.

    A piece is stream bytes, optionally followed by a big file's data: the
    future of its copy (an fd on the finished copy) and its size.
    """

    def __init__(self) -> None:
        import queue

        self.sha = hashlib.sha256()
        self.error: BaseException | None = None
        self.pieces: queue.Queue[_Piece | None] = queue.Queue(maxsize=_WINDOW)
        self._thread = threading.Thread(target=self._run, name="layer-hasher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        buf = bytearray(_CHUNK)
        while (piece := self.pieces.get()) is not None:
            data, job, size = piece
            fd = -1
            try:
                fd = job.result() if job is not None else -1
                if self.error is None:
                    self.sha.update(data)
                    if fd >= 0:
                        _hash_fd(self.sha, fd, size, buf)
                        self.sha.update(pad(size))
            except BaseException as exc:  # keep draining so the walker never blocks
                self.error = self.error or exc
            finally:
                if fd >= 0:
                    os.close(fd)

    def finish(self) -> str:
        self.pieces.put(None)
        self._thread.join()
        if self.error is not None:
            raise self.error
        self.sha.update(END)
        return "sha256:" + self.sha.hexdigest()


class _Copier:
    """copy_layer's state: the pool, its window, the stream so far, the files to write."""

    def __init__(self, dest: str) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.dest = dest
        self.how = _Creation.of(dest)
        self.pool = ThreadPoolExecutor(_WORKERS, thread_name_prefix="layer-copy")
        self.window = threading.BoundedSemaphore(_WINDOW)
        self.jobs: list[Future[Any]] = []
        self.failed = False
        self.hasher = _Hasher()
        self.stream = bytearray()
        self.batch: list[tuple[str, bytes, os.stat_result]] = []
        self.batch_dir, self.batch_bytes = "", 0
        # a directory (by its path with '/', the top as '') -> whether new files in it are ours
        self.owned = {"": self._ours(os.stat(dest).st_gid)}

    def _submit(self, fn: Callable[..., _T], *args: object) -> Future[_T]:
        self.window.acquire()
        job = self.pool.submit(fn, *args)
        job.add_done_callback(self._done)
        self.jobs.append(job)
        return job

    def _done(self, job: Future[Any]) -> None:
        self.window.release()
        if job.cancelled() or job.exception() is not None:
            self.failed = True

    def mkdir(self, rel: str, info: tarfile.TarInfo) -> None:
        path = f"{self.dest}/{rel}"
        os.mkdir(path, 0o700)
        os.chown(path, info.uid, info.gid, follow_symlinks=False)
        os.chmod(path, info.mode & 0o7777)
        self.owned[rel + "/"] = self._ours(info.gid)

    def _ours(self, dir_gid: int) -> bool:
        return self.how.owner is not None and dir_gid == self.how.owner[1]

    def add_small(self, parent: str, name: str, data: bytes, st: os.stat_result) -> None:
        """A small file's data into the stream (whose header is there) and into a batch."""
        self.stream += data
        self.stream += pad(len(data))
        if len(self.stream) >= _PIECE:
            self.put()
        if self.batch and parent != self.batch_dir:
            self.flush_batch()
        self.batch_dir = parent
        self.batch.append((name, data, st))
        self.batch_bytes += len(data)
        if len(self.batch) >= _BATCH or self.batch_bytes >= _BATCH_BYTES:
            self.flush_batch()

    def flush_batch(self) -> None:
        if self.batch:
            batch, self.batch = self.batch, []
            owned = self.owned[self.batch_dir]
            self._submit(_write_small, self.how, f"{self.dest}/{self.batch_dir}", owned, batch)
        self.batch_bytes = 0

    def add_big(self, parent: str, rel: str, src: int, st: os.stat_result) -> None:
        """The stream so far to the hasher, then the copy's data; `src` is the job's to close."""
        owned = self.owned[parent]
        try:
            job = self._submit(_copy_big, self.how, f"{self.dest}/{rel}", owned, src, st)
        except BaseException:
            os.close(src)
            raise
        self.put(job, st.st_size)

    def put(self, job: Future[int] | None = None, size: int = 0) -> None:
        self.hasher.pieces.put((bytes(self.stream), job, size))
        self.stream.clear()

    def finish(self) -> str:
        """Wait for every job; the first failure is raised, else the diff_id."""
        try:
            self.flush_batch()
        finally:
            self.pool.shutdown(wait=True)
            if self.stream:
                self.put()
            digest = self.hasher.finish()
        for job in self.jobs:
            job.result()
        return digest


def copy_layer(src: Path, dest: Path) -> tuple[str, int]:
    """Make empty directory `dest` a copy of layer dir `src`; return (diff_id, size).

    `dest` ends up as extracting `layers.write_layer_tar(src)` into it would
    leave it: whiteouts and opaque markers cross, other xattrs don't, mtimes
    are whole seconds, hardlinks within the layer stay hardlinks. The diff_id
    is the sha256 of that tar, the size what `layers.dir_size(dest)` counts.
    Raises NeedsReference before anything is known to differ from that.
    """
    root = os.fspath(dest)
    copier = _Copier(root)
    first_paths: dict[tuple[int, int], str] = {}
    links: list[tuple[str, str]] = []
    dir_mtimes: list[tuple[str, float]] = []
    size = 0
    try:
        for entry in layers.walk_at(src, stat_files=False):
            if copier.failed:
                break
            if entry.name.startswith(layers.WHITEOUT_PREFIX):
                raise NeedsReference(entry.rel)
            read = read_entry(entry, first_paths)
            if read is None:
                continue  # a socket (or a file gone meanwhile): no tar or layer holds it
            head, info, st, fd, opaque = read
            copier.stream += head
            if info is None or (info.isreg() and stat.S_ISREG(st.st_mode)):  # data follows
                size += st.st_size
                parent = entry.rel[: len(entry.rel) - len(entry.name)]
                if st.st_size > SMALL:
                    copier.add_big(parent, entry.rel, fd, st)
                    continue
                data = b""
                if fd >= 0:
                    try:
                        data = read_exact(fd, st.st_size, entry.rel)
                    finally:
                        os.close(fd)
                copier.add_small(parent, entry.name, data, st)
                continue
            path = f"{root}/{entry.rel}"
            if info.islnk():
                links.append((f"{root}/{info.linkname}", path))
            elif info.isdir():
                copier.mkdir(entry.rel, info)
                dir_mtimes.append((path, info.mtime))
                if opaque:
                    os.setxattr(path, layers.OPAQUE_XATTR, b"y")
            elif info.isreg():  # an overlay whiteout
                os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(0, 0))
                _set_metadata(path, info)
            elif info.ischr() or info.isblk():
                raise NeedsReference(entry.rel)
            elif info.issym():
                os.symlink(info.linkname, path)
                _set_metadata(path, info)
                size += st.st_size  # its target's length, as dir_size counts it
            else:  # FIFO
                os.mkfifo(path, 0o600)
                _set_metadata(path, info)
    finally:
        digest = copier.finish()
    for target, path in links:  # every file exists now; a link shares its target's metadata
        os.link(target, path, follow_symlinks=False)
    for path, mtime in dir_mtimes:  # last: creating each child bumped its directory's mtime
        os.utime(path, (mtime, mtime), follow_symlinks=False)
    return digest, size


# --- diff_id and export: the stream itself ------------------------------------------


def diff_id(src: Path) -> str:
    """sha256 of `layers.write_layer_tar(src)`, without writing it anywhere."""
    sha = hashlib.sha256()
    buf = bytearray(_CHUNK)
    for read in entries(src):
        sha.update(read.head)
        if read.fd >= 0:
            size = read.st.st_size
            try:
                if size <= SMALL:
                    sha.update(read_exact(read.fd, size, "a layer file"))
                else:
                    _hash_fd(sha, read.fd, size, buf)
            finally:
                os.close(read.fd)
            sha.update(pad(size))
    sha.update(END)
    return "sha256:" + sha.hexdigest()


def write_tar(src: Path, out: BinaryIO, names: bool = False) -> None:
    """`layers.write_layer_tar(src, out)`'s bytes, unhashed (export needs no digest); with
    `names`, each header names its owner as the host does (export's, as Docker's).

    Headers and small files gather in 1 MiB writes. A big file's data stays in the
    kernel when `out` has an fd: into a regular file it is copied to its offset on a
    thread while the walk goes on past it (the rest is written by offset too); into
    a pipe or a socket, sendfile moves it in order.
    """
    try:
        out.flush()
        fd = out.fileno()
        st = os.fstat(fd)
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        _write_in_order(src, out.write, None, names)
        return
    import fcntl

    if stat.S_ISREG(st.st_mode) and not fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND:
        _write_at(src, fd, names)
    else:
        _write_in_order(src, lambda data: _write_all(fd, data), fd, names)


def _write_in_order(
    src: Path, write: Callable[[bytearray], object], out: int | None, names: bool
) -> None:
    pending = bytearray()
    for read in entries(src, names):
        pending += read.head
        if read.fd >= 0:
            size = read.st.st_size
            try:
                if size > SMALL and out is not None:
                    write(pending)
                    pending.clear()
                if not (size > SMALL and out is not None and _sendfile(out, read.fd, size)):
                    pending += read_exact(read.fd, size, "an exported file")
            finally:
                os.close(read.fd)
            pending += pad(size)
        if len(pending) >= _PIECE:
            write(pending)
            pending.clear()
    pending += END
    write(pending)


def _sendfile(out: int, src: int, size: int) -> bool:
    """`size` bytes from `src` to `out` in the kernel; False if `out` takes none that way."""
    done = 0
    try:
        while done < size:
            moved = os.sendfile(out, src, None, size - done)
            if not moved:
                raise OSError("an exported file shrank while it was being archived")
            done += moved
    except OSError as e:
        if e.errno not in _UNSUPPORTED or done:
            raise
        return False
    return True


def _copy_at(src: int, out: int, size: int, offset: int) -> None:
    """A big file's data into `out` at `offset`, in the kernel where it can.

    copy_file_range within one file system; splice through a pipe across them
    (overlay's files to the output's); pread and pwrite the last resort.
    """
    done = 0
    try:
        for move in (_copy_file_range_at, _splice_at):
            try:
                done = move(src, out, size, offset, done)
                return
            except OSError as e:
                if e.errno not in _UNSUPPORTED:
                    raise
        while done < size:
            data = os.pread(src, min(_CHUNK, size - done), done)
            if not data:
                raise OSError("an exported file shrank while it was being archived")
            _pwrite_all(out, data, offset + done)
            done += len(data)
    finally:
        os.close(src)


def _copy_file_range_at(src: int, out: int, size: int, offset: int, done: int) -> int:
    while done < size:
        moved = os.copy_file_range(src, out, size - done, done, offset + done)
        if not moved:
            raise OSError("an exported file shrank while it was being archived")
        done += moved
    return done


def _splice_at(src: int, out: int, size: int, offset: int, done: int) -> int:
    import fcntl

    read_end, write_end = os.pipe()
    try:
        with contextlib.suppress(OSError):  # a bigger pipe: fewer round trips
            fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 1 << 20)
        while done < size:
            moved = os.splice(src, write_end, min(1 << 20, size - done), offset_src=done)
            if not moved:
                raise OSError("an exported file shrank while it was being archived")
            while moved:
                n = os.splice(read_end, out, moved, offset_dst=offset + done)
                moved, done = moved - n, done + n
    finally:
        os.close(read_end)
        os.close(write_end)
    return done


def _pwrite_all(fd: int, data: bytes | bytearray, offset: int) -> int:
    """Write all of `data` at `offset`; the offset just past it."""
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n
    return offset


class _Behind:
    """Calls run one after another on one thread, behind the caller; the first error kept.

    Export's big-file copies: a plain thread and a queue, not concurrent.futures
    (with logging, ~20 ms of import for a command that takes a few hundred).
    """

    def __init__(self) -> None:
        import queue

        self.calls: queue.SimpleQueue[tuple[Callable[..., None], tuple[object, ...]] | None]
        self.calls = queue.SimpleQueue()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="export-copy", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (call := self.calls.get()) is not None:
            fn, args = call
            try:
                fn(*args)
            except BaseException as exc:
                self.error = self.error or exc

    def finish(self) -> None:
        """Wait for every call; raise the first error."""
        self.calls.put(None)
        self._thread.join()
        if self.error is not None:
            raise self.error


def _write_at(src: Path, out: int, names: bool) -> None:
    """The stream into regular file `out` from its position on, by offset (see write_tar)."""
    at = os.lseek(out, 0, os.SEEK_CUR)  # where `pending` goes
    pending = bytearray()
    copies = _Behind()
    try:
        for read in entries(src, names):
            pending += read.head
            if read.fd >= 0:
                size = read.st.st_size
                if size > SMALL:
                    at = _pwrite_all(out, pending, at)
                    pending.clear()
                    copies.calls.put((_copy_at, (read.fd, out, size, at)))
                    at += size
                else:
                    try:
                        pending += read_exact(read.fd, size, "an exported file")
                    finally:
                        os.close(read.fd)
                pending += pad(size)
            if len(pending) >= _PIECE:
                at = _pwrite_all(out, pending, at)
                pending.clear()
        pending += END
        at = _pwrite_all(out, pending, at)
    finally:
        copies.finish()  # every copy done (each closes its source); the first failure raised
    os.lseek(out, at, os.SEEK_SET)  # where writing in order would have left it
