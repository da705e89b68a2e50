"""`docker cp`: files into a container's writable layer and out of its merged view.

Docker's path rules, with its words for the errors: a destination that is a
directory receives the source by its name (`SRC/.` copies the contents
instead); one that does not exist is created under that name (its parent must
exist; `NAME/` must name a directory for a file source); a file is
overwritten by a file, never by a directory.

Everything moves as a tar: the source is walked into one, the destination
unpacks it with the safe extractor of `layers` (names as they are, no
whiteouts, no relative symlink above where it lands). Paths inside a container
are resolved one component at a time in its root: a symlink is followed as
the container would follow it - `/` and `..` stop at the container's root - so
a link planted inside can never lead a copy onto the host. On the host, a device is
refused in Docker's words and never replaced, and a FIFO receives a file's bytes in place.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

from layerlab.errors import LayerlabError
from layerlab.layerfs import layers

MAX_LINKS = 255  # the kernel's own limit on symlinks in one lookup (MAXSYMLINKS is 40; Go's 255)
_SPOOL = 64 << 20
_CHUNK = 1 << 20
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC


class CopyError(LayerlabError):
    """A `cp` refused: Docker exits 1."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=1)


def _split(path: str) -> list[str]:
    return [p for p in path.split("/") if p not in ("", ".")]


def resolve(root: int, path: str, follow_last: bool) -> list[str]:
    """`path`'s components inside directory `root`, every symlink followed inside it.

    An absolute link target restarts at `root`, `..` never climbs above it - how the
    container itself sees the path. The last component is followed only when asked;
    a missing component ends the walk (the rest is appended as written, `..` applied).
    """
    todo = [p for p in path.split("/") if p not in ("", ".")]
    done: list[str] = []
    links = 0
    while todo:
        part = todo.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        if not todo and not follow_last:
            done.append(part)
            break
        try:
            parent = layers.open_dir(root, done, create=False)
        except (FileNotFoundError, NotADirectoryError):
            done.append(part)
            continue
        try:
            st = os.stat(part, dir_fd=parent, follow_symlinks=False)
            target = os.readlink(part, dir_fd=parent) if stat.S_ISLNK(st.st_mode) else None
        except (FileNotFoundError, NotADirectoryError):
            target = None
        finally:
            os.close(parent)
        if target is None:
            done.append(part)
            continue
        links += 1
        if links > MAX_LINKS:
            raise CopyError(f"too many links in {path}")
        if target.startswith("/"):
            done = []
        todo = [p for p in target.split("/") if p not in ("", ".")] + todo
    return done


def lstat_at(root: int, parts: Sequence[str]) -> os.stat_result | None:
    """The entry at `parts` below `root` (not following it), or None if it is not there."""
    try:
        parent = layers.open_dir(root, parts[:-1], create=False)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        return os.stat(parts[-1] if parts else ".", dir_fd=parent, follow_symlinks=False)
    except (FileNotFoundError, NotADirectoryError):
        return None
    finally:
        os.close(parent)


def _info(arcname: str, st: os.stat_result) -> tarfile.TarInfo:
    info = tarfile.TarInfo(arcname)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.mtime = st.st_mtime_ns // 1_000_000_000
    return info


def _add(tar: tarfile.TarFile, parent: int, name: str, arcname: str) -> None:
    """One entry (a directory with everything below it) into `tar`, never through a symlink."""
    try:
        st = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return  # gone meanwhile: the container keeps running while we read it
    info = _info(arcname, st)
    if stat.S_ISREG(st.st_mode):
        fd = os.open(name, _FILE_FLAGS, dir_fd=parent)
        with os.fdopen(fd, "rb") as f:
            info.size = os.fstat(fd).st_size
            tar.addfile(info, f)
    elif stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
        sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                      dir_fd=parent)  # fmt: skip
        try:
            for child in sorted(os.listdir(sub)):
                _add(tar, sub, child, f"{arcname}/{child}")
        finally:
            os.close(sub)
    elif stat.S_ISLNK(st.st_mode):
        info.type, info.linkname = tarfile.SYMTYPE, os.readlink(name, dir_fd=parent)
        tar.addfile(info)
    elif stat.S_ISFIFO(st.st_mode):
        info.type = tarfile.FIFOTYPE
        tar.addfile(info)
    # devices and sockets are not copied


def write_tar(root: int, parts: Sequence[str], arcname: str, out: IO[bytes]) -> None:
    """A tar of the entry at `parts` below `root`, its top named `arcname`."""
    parent = layers.open_dir(root, parts[:-1], create=False)
    try:
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            _add(tar, parent, parts[-1] if parts else ".", arcname)
    finally:
        os.close(parent)


def extract(src: IO[bytes], root: int, parts: Sequence[str], how: layers.Extraction) -> None:
    """Unpack a tar into the directory at `parts` below `root`, safely."""
    try:
        target = layers.open_dir(root, parts, create=False)
    except (FileNotFoundError, NotADirectoryError):
        raise CopyError("no such directory") from None
    try:
        layers.extract_tar_at(src, target, how)
    except layers.SymlinkBreakout as exc:
        raise CopyError(str(exc)) from None
    except layers.UnsafeTarError as exc:
        raise CopyError(f"Error processing tar file: {exc}") from None
    finally:
        os.close(target)


@contextlib.contextmanager
def _spool() -> Iterator[IO[bytes]]:
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL) as f:
        yield f


# --- Docker's rules -----------------------------------------------------------------
@dataclass(frozen=True)
class Placement:
    """Where a copy lands: in the destination itself or its parent, under `arcname`."""

    into_parent: bool
    arcname: str


def place(
    src: str, src_is_dir: bool, dest: str, dest_st: os.stat_result | None, name: str = ""
) -> Placement:
    """Docker's rules for SRC -> DEST (archive.CopyInfoDestinationPath); `name` is DEST's
    last component once its symlinks are followed (default: as written)."""
    contents = src_is_dir and (src.endswith("/.") or src in (".", "/"))
    if dest_st is not None and stat.S_ISDIR(dest_st.st_mode):
        return Placement(False, "." if contents else _base(src))
    if dest_st is None:
        if dest.endswith("/") and not src_is_dir:
            raise CopyError("no such directory")
        return Placement(True, name or _base(dest))
    if src_is_dir:
        raise CopyError("cannot copy directory")
    if dest.endswith("/"):
        raise CopyError("no such directory")
    return Placement(True, name or _base(dest))


def _base(path: str) -> str:
    parts = _split(path)
    return parts[-1] if parts else "."


def follows_last(path: str, follow_link: bool) -> bool:
    """A source's last symlink is followed with `-L`, or when it ends in `/` or `/.`."""
    return follow_link or path.endswith("/") or path.endswith("/.")


# --- the two directions ----------------------------------------------------------------
@dataclass(frozen=True)
class Mount:
    """A volume or bind mount of the container: paths below `destination` live at `source`."""

    destination: list[str]
    source: Path


def _locate(parts: list[str], mounts: Sequence[Mount]) -> tuple[Path | None, list[str]]:
    """The mount holding `parts` (the longest destination prefix), and the rest below it."""
    best: Mount | None = None
    for m in mounts:
        if parts[: len(m.destination)] == m.destination and (
            best is None or len(m.destination) > len(best.destination)
        ):
            best = m
    if best is None:
        return None, parts
    return best.source, parts[len(best.destination) :]


@contextlib.contextmanager
def _at(root: int, parts: list[str], mounts: Sequence[Mount]) -> Iterator[tuple[int, list[str]]]:
    """`parts` as (directory fd, rest): in the container's root, or in the volume over it."""
    source, rest = _locate(parts, mounts)
    if source is None:
        yield root, parts
        return
    fd = os.open(source, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield fd, resolve(fd, "/".join(rest), follow_last=True) if rest else []
    finally:
        os.close(fd)


def copy_in(
    root: int,
    mounts: Sequence[Mount],
    src: str,
    dest: str,
    container_ref: str,
    *,
    archive: bool = False,
    follow_link: bool = False,
    stdin: BinaryIO | None = None,
) -> None:
    """`docker cp SRC|- CONTAINER:DEST` into the container whose root is open at `root`.

    Owners are kept with or without `archive` (-a): Docker 20.10 was measured keeping a
    source file's 1234:1234 either way.
    """
    owner = None
    dest_parts = resolve(root, dest, follow_last=True)
    with _at(root, dest_parts, mounts) as (droot, dparts):
        dest_st = lstat_at(droot, dparts)
        how = layers.Extraction(whiteouts=False, owner=owner, confine_symlinks=True,
                                where=dest)  # fmt: skip
        if stdin is not None:
            if dest_st is None or not stat.S_ISDIR(dest_st.st_mode):
                raise CopyError(f'destination "{container_ref}:{dest}" must be a directory')
            extract(stdin, droot, dparts, how)
            return
        local = os.path.abspath(src)
        try:
            src_st = (
                os.stat(local if not src.endswith("/") else local + "/")
                if follow_link
                else os.lstat(local if not src.endswith("/") else local + "/")
            )
        except FileNotFoundError:
            raise CopyError(f"lstat {local}: no such file or directory") from None
        except NotADirectoryError:
            raise CopyError(f"lstat {local}: not a directory") from None
        parent_st = lstat_at(droot, dparts[:-1]) if dparts else None
        no_parent = parent_st is None or not stat.S_ISDIR(parent_st.st_mode)
        if dest_st is None and dparts and no_parent:
            raise CopyError(
                f"Could not find the file /{'/'.join(dest_parts[:-1])} in container {container_ref}"
            )
        where = place(src, stat.S_ISDIR(src_st.st_mode), dest, dest_st, _base("/".join(dparts)))
        target = dparts[:-1] if where.into_parent else dparts
        if follow_link:
            local = os.path.realpath(local)
        host_root = os.open(os.path.dirname(local) or "/", os.O_RDONLY | os.O_DIRECTORY)
        try:
            with _spool() as spool:
                write_tar(host_root, [os.path.basename(local)] if local != "/" else [],
                          where.arcname, spool)  # fmt: skip
                spool.seek(0)
                extract(spool, droot, target, _where(how, dest, where))
        finally:
            os.close(host_root)


def _where(how: layers.Extraction, dest: str, where: Placement) -> layers.Extraction:
    base = dest.rstrip("/") or "/"
    shown = os.path.dirname(base) if where.into_parent else base
    return layers.Extraction(how.whiteouts, how.owner, how.confine_symlinks, shown)


def copy_out(
    root: int,
    mounts: Sequence[Mount],
    src: str,
    dest: str,
    container_ref: str,
    *,
    follow_link: bool = False,
    stdout: BinaryIO | None = None,
) -> None:
    """`docker cp CONTAINER:SRC DEST|-` from the container whose root is open at `root`."""
    parts = resolve(root, src, follow_last=follows_last(src, follow_link))
    with _at(root, parts, mounts) as (sroot, sparts):
        st = lstat_at(sroot, sparts)
        if st is None:
            raise CopyError(
                f"Could not find the file /{'/'.join(parts)} in container {container_ref}"
            )
        if stdout is not None:
            write_tar(sroot, sparts, _base(src) if sparts else ".", stdout)
            return
        local = os.path.abspath(dest)
        try:
            dest_st: os.stat_result | None = os.stat(local)
        except FileNotFoundError:
            dest_st = None
            parent = os.path.dirname(local)
            if not os.path.isdir(parent):
                raise CopyError(f"lstat {parent}: no such file or directory") from None
        if dest_st is not None and not stat.S_ISDIR(dest_st.st_mode):
            _check_host_file(local, dest_st.st_mode)
            if stat.S_ISFIFO(dest_st.st_mode):
                _into_fifo(sroot, sparts, st, local)
                return
        src_name = src if sparts or src.endswith("/.") else src.rstrip("/") + "/."
        where = place(src_name, stat.S_ISDIR(st.st_mode), dest, dest_st)
        target_dir = os.path.dirname(local) if where.into_parent else local
        how = layers.Extraction(whiteouts=False, owner=(os.getuid(), os.getgid()),
                                confine_symlinks=True, where=target_dir,
                                keep_nodes=True)  # fmt: skip
        host = os.open(target_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            with _spool() as spool:
                write_tar(sroot, sparts, where.arcname, spool)
                spool.seek(0)
                extract(spool, host, [], how)
        finally:
            os.close(host)


def _check_host_file(local: str, mode: int) -> None:
    """Docker's refusal (ValidateOutputPath) of a destination that is no regular file."""
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        got = "a device"
    elif stat.S_ISSOCK(mode):
        got = "an irregular file"
    else:
        return
    raise CopyError(
        f'invalid output path: "{local}" must be a directory or a regular file: got {got}'
    )


def _into_fifo(root: int, parts: Sequence[str], st: os.stat_result, local: str) -> None:
    """A file's bytes written into the named pipe at `local`, which stays a pipe."""
    from layerlab.hostfile import open_output

    if stat.S_ISDIR(st.st_mode):
        raise CopyError("cannot copy directory")
    if not stat.S_ISREG(st.st_mode):
        raise CopyError(f"cannot copy a symbolic link into the named pipe {local}")
    parent = layers.open_dir(root, parts[:-1], create=False)
    try:
        opened = layers.open_file_at(parent, parts[-1])
    finally:
        os.close(parent)
    if opened is None:
        raise CopyError(f"Could not find the file /{'/'.join(parts)} in the container")
    with os.fdopen(opened[0], "rb") as src, open_output(Path(local), "cannot copy") as out:
        while chunk := src.read(_CHUNK):
            out.write(chunk)


def copy_tree_contents(rootfs: Path, path: str, dest: Path) -> None:
    """What is at `path` in a mounted root (a directory's contents) into directory `dest`:
    a volume's first-use copy. Nothing there, or not a directory: nothing to copy."""
    root = os.open(rootfs, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        parts = resolve(root, path, follow_last=True)
        st = lstat_at(root, parts)
        if st is None or not stat.S_ISDIR(st.st_mode):
            return
        target = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            with _spool() as spool:
                write_tar(root, parts, ".", spool)
                spool.seek(0)
                layers.extract_tar_at(spool, target, layers.Extraction(whiteouts=False))
                st_dir = os.stat(".", dir_fd=root) if not parts else st
                os.chmod(target, stat.S_IMODE(st_dir.st_mode))
                os.chown(target, st_dir.st_uid, st_dir.st_gid)
        finally:
            os.close(target)
    finally:
        os.close(root)


def mounts_of(record: dict[str, Any]) -> list[Mount]:
    """A container record's volume and bind mounts, as `cp` redirects into them."""
    found = []
    for m in record.get("Mounts") or []:
        if m.get("Type") in ("bind", "volume") and m.get("Source"):
            found.append(Mount(_split(m["Destination"]), Path(m["Source"])))
    return found
