"""A pipe with a thread at the far end: bytes between a file descriptor and a Python stream.

A container's process needs real file descriptors for its output, and a
producer of a tar stream needs somewhere to write while the extractor reads;
either way one end of an `os.pipe()` is served by a thread. Closing the right
end at the right moment, joining the thread and carrying its failure back are
easy to get subtly wrong, so both shapes live here once:

`pump_into(stream)` gives a write fd whose bytes land, decoded, in a text
stream (the TUI's output log, a StringIO); `produced_by(produce)` gives a
readable binary stream of what `produce` writes in its own thread;
`held_until(dest, started)` gives a write fd copied to `dest` once a process started.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import select
import threading
from collections.abc import Callable, Iterator
from typing import BinaryIO, TextIO

CHUNK = 1 << 20


@contextlib.contextmanager
def pump_into(stream: TextIO) -> Iterator[int]:
    """A write file descriptor whose bytes are decoded (UTF-8, errors replaced) into `stream`.

    Hand the fd to a child process (its stdout or stderr). On a normal exit the
    fd is closed and the pump thread joined, so everything written is in
    `stream`. When the block raises, the fd is closed but the thread is not
    waited for: a process that still holds the pipe's write end (a container
    being torn down) must not hang the caller; the daemon thread ends once the
    last writer has gone.
    """
    read_fd, write_fd = os.pipe()

    def pump() -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        with os.fdopen(read_fd, "rb") as source:
            for chunk in iter(lambda: source.read1(CHUNK), b""):
                stream.write(decoder.decode(chunk))
            stream.write(decoder.decode(b"", final=True))

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    try:
        yield write_fd
    except BaseException:
        os.close(write_fd)
        raise
    os.close(write_fd)
    thread.join()


class Held:
    """What `held_until` yields: the fd to hand over, and `drop`, set to discard what came
    before the start."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.drop = False


@contextlib.contextmanager
def held_until(dest: int, started: Callable[[], bool]) -> Iterator[Held]:
    """A write fd copied to fd `dest`, but what is written before `started()` holds is held
    back: on exit it follows, unless `drop` was set (a runtime's own error, written where
    the process it could not start would have written). The thread is joined on exit."""
    read_fd, write_fd = os.pipe()
    held, live = Held(write_fd), [False]
    pending = bytearray()

    def copy() -> None:
        with os.fdopen(read_fd, "rb") as source:
            while True:
                if not live[0] and not select.select([source], [], [], 0.05)[0]:
                    live[0] = started()
                    continue
                chunk = source.read1(CHUNK)
                if not chunk:
                    break
                live[0] = live[0] or started()
                if not live[0]:
                    pending.extend(chunk)
                    continue
                if pending:
                    _write_all(dest, bytes(pending))
                    pending.clear()
                _write_all(dest, chunk)

    thread = threading.Thread(target=copy, daemon=True)
    thread.start()
    try:
        yield held
    finally:
        os.close(write_fd)
        thread.join()
        if pending and not held.drop:
            _write_all(dest, bytes(pending))


def _write_all(fd: int, data: bytes) -> None:
    with contextlib.suppress(BrokenPipeError):
        while data:
            data = data[os.write(fd, data) :]


@contextlib.contextmanager
def produced_by(produce: Callable[[BinaryIO], None]) -> Iterator[BinaryIO]:
    """A readable stream of what `produce` writes to its argument, run in a thread.

    Read it inside the block. On exit the rest is read and dropped (so the
    writer can always finish) and the thread is joined. If `produce` raised,
    its exception is raised here - in place of the reader's own, which is only
    a consequence of it (a truncated stream after a file vanished).
    """
    read_fd, write_fd = os.pipe()
    failure: list[BaseException] = []

    def writer() -> None:
        try:
            with os.fdopen(write_fd, "wb") as out:
                produce(out)
        except BaseException as exc:  # reported in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        with os.fdopen(read_fd, "rb") as source:
            try:
                yield source
            finally:
                while source.read(CHUNK):  # let the writer finish whatever happened
                    pass
    except BaseException:
        thread.join()
        if failure:
            raise failure[0] from None
        raise
    thread.join()
    if failure:
        raise failure[0]
