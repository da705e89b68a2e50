"""Writing a file the user names on the host: `save -o`, `export -o`, `cp`, `lesson record -o`.

The path is theirs, and on a shared machine it may be anything: a device node
(`/dev/null`, a disk), a FIFO, the terminal, `/dev/stdout`. So, whatever the path
names (a symlink counts as what it points to):

- a regular file, or nothing yet: written beside it and renamed over it once the
  command succeeded, so a failed command leaves it as it was (Docker's atomic writer);
- a regular file that is our own standard output or error (`-o /dev/stdout > f`):
  appended to in place, as the shell's redirection asked;
- a FIFO: written in place, never replaced;
- a character or block device, a socket, a directory: refused in Docker's words,
  untouched.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from layerlab.errors import LayerlabError, go_strerror


def refusal(mode: int) -> str | None:
    """Docker's words (its atomic writer's) for what is never written, None for what is."""
    if stat.S_ISCHR(mode):
        return "cannot write to a character device file"
    if stat.S_ISBLK(mode):
        return "cannot write to a block device file"
    if stat.S_ISSOCK(mode):
        return "cannot write to a socket"
    if stat.S_ISDIR(mode):
        return "cannot write to a directory"
    return None


def target_stat(path: Path, failed: str) -> os.stat_result | None:
    """What `path` names, symlinks followed (None: nothing yet), or Docker's refusal."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LayerlabError(f"{failed}: failed to stat output path: {go_strerror(exc)}") from None
    if reason := refusal(st.st_mode):
        raise LayerlabError(f"{failed}: {reason}")
    return st


@contextlib.contextmanager
def open_output(path: Path, failed: str) -> Iterator[BinaryIO]:
    """`path` opened for writing as the module says; `failed` starts every refusal
    ("failed to save image: cannot write to a character device file")."""
    st = target_stat(path, failed)
    if st is not None and (stat.S_ISFIFO(st.st_mode) or _is_our_output(st)):
        with _in_place(path, st, failed) as f:
            yield f
        return
    parent = path.parent
    if st is not None:  # a regular file: the real one, so a symlink to it stays a symlink
        path = Path(os.path.realpath(path))
        parent = path.parent
    elif os.path.islink(path):  # dangling: what it would point to is not ours to guess
        raise LayerlabError(f"{failed}: cannot write to a symbolic link directly")
    elif not parent.is_dir():
        raise LayerlabError(f"{failed}: invalid output path: stat {parent}: {_go_reason(parent)}")
    with _beside(path, failed) as f:
        yield f


def _is_our_output(st: os.stat_result) -> bool:
    """Whether a regular file is the one our stdout or stderr writes to."""
    for fd in (1, 2):
        with contextlib.suppress(OSError):
            ours = os.fstat(fd)
            if stat.S_ISREG(ours.st_mode) and (ours.st_dev, ours.st_ino) == (st.st_dev, st.st_ino):
                return True
    return False


@contextlib.contextmanager
def _in_place(path: Path, st: os.stat_result, failed: str) -> Iterator[BinaryIO]:
    """A FIFO, or our own output file, opened as it is: no truncation, no replacement."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise LayerlabError(f"{failed}: open {path}: {go_strerror(exc)}") from None
    opened = os.fstat(fd)
    if (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino):  # swapped meanwhile
        os.close(fd)
        raise LayerlabError(f"{failed}: {path} changed while it was opened")
    with os.fdopen(fd, "wb") as f:
        yield f


@contextlib.contextmanager
def _beside(path: Path, failed: str) -> Iterator[BinaryIO]:
    """A temporary file beside `path`, renamed over it once the block succeeded."""
    import tempfile  # on use: its import (shutil, bz2, lzma) would cost every `run`

    try:  # named as Docker names its own: .tmp-<name><random>
        fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.name}", dir=path.parent)
    except OSError as exc:
        raise LayerlabError(f"{failed}: open {exc.filename}: {go_strerror(exc)}") from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # as Go's os.Create makes it
        with os.fdopen(fd, "wb") as f:
            yield f
        _still_replaceable(path, failed)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _still_replaceable(path: Path, failed: str) -> None:
    """Refuse the rename when something other than a regular file took `path` meanwhile."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        raise LayerlabError(
            f"{failed}: {refusal(mode) or 'cannot write to a symbolic link directly'}"
        )


def _go_reason(path: Path) -> str:
    """Go's lower-case words for why `path` is no directory ("no such file or directory")."""
    try:
        os.stat(path)
    except OSError as exc:
        return go_strerror(exc)
    return "not a directory"


def regular_or_absent(path: Path) -> bool:
    """Whether `path` (symlinks followed) is a regular file or nothing yet: what a state
    file of ours may be (a FIFO there would block us, a device is not ours)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        return not os.path.islink(path)
    except OSError:
        return False


def write_text(path: Path, text: str, failed: str) -> None:
    """A whole text file, through `open_output`."""
    with open_output(path, failed) as f:
        f.write(text.encode())
