"""Reading a json-file log across the shim's rotations (`log` -> `log.1` -> ... `log.N`).

A file keeps its inode through renames, and a rotated file is complete (the shim
closes it before renaming it), so the reader follows the chain of inodes from the
oldest file to the live one: a rotation between two reads loses no line and repeats
none. Only a reader so slow that its file rotates out of `max-file` altogether misses
lines (it goes on with the oldest file left), as Docker's follower does.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

RETRIES = 200  # a rename is microseconds; a reader retries that long at most


def _named(path: Path, index: int) -> Path:
    return path if index == 0 else Path(f"{path}.{index}")


def _indexes(path: Path) -> list[int]:
    """The rotation indexes present now: 0 for the live file, N for `log.N`."""
    found = [0] if path.exists() else []
    for p in path.parent.glob(path.name + ".*"):
        if p.suffix[1:].isdigit():
            found.append(int(p.suffix[1:]))
    return sorted(found)


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None


def _open_oldest(path: Path) -> IO[bytes] | None:
    for _ in range(RETRIES):
        indexes = _indexes(path)
        if not indexes:
            return None
        try:
            return open(_named(path, indexes[-1]), "rb")
        except FileNotFoundError:  # rotated away meanwhile: look again
            continue
    return None


def _newer(path: Path, current: IO[bytes]) -> IO[bytes] | None:
    """The file written after `current`, or None while `current` is the live one.

    `current` is found at index k, k-1 opened, then k checked again: names only move
    up, so `current` stayed at k the whole time and what was opened is its successor.
    """
    inode = os.fstat(current.fileno()).st_ino
    unseen = 0
    for _ in range(RETRIES):
        indexes = _indexes(path)
        k = next((i for i in indexes if _inode(_named(path, i)) == inode), None)
        if k == 0:
            return None
        if k is None:
            # Renamed up between the listing and the stats (then it is found on the next
            # look), or rotated out entirely (or the log removed): only then the oldest
            # file left, which taken too early would be `current` again, read twice.
            unseen += 1
            if unseen < 3:
                continue
            return _open_oldest(path)
        try:
            newer = open(_named(path, k - 1), "rb")  # noqa: SIM115 - the caller closes it
        except FileNotFoundError:  # the shim is between its rename and its new file
            time.sleep(0.001)
            continue
        if _inode(_named(path, k)) == inode:
            return newer
        newer.close()
    return None


def _parse(line: bytes) -> Any:
    try:
        return json.loads(line)
    except (ValueError, RecursionError):
        return None


def records(
    path: Path, follow: bool, running: Callable[[], bool], wait: Callable[[], bool]
) -> Iterator[dict[str, Any]]:
    """Every record of the log, oldest first; with `follow`, on until `running()` is false
    (then what is left) or `wait()` (a poll interval's pause) says to stop."""
    f = _open_oldest(path)
    if f is None and follow:
        path.touch()
        f = _open_oldest(path)
    if f is None:
        return
    buffer = b""
    last_pass = False
    try:
        while True:
            chunk = f.readline()
            if chunk:
                buffer += chunk
                if buffer.endswith(b"\n"):
                    record, buffer = _parse(buffer), b""
                    if record is not None:  # a damaged line: the rest of the log still reads
                        yield record
                continue
            newer = _newer(path, f)
            if newer is not None:
                f.close()
                f, buffer = newer, b""
                continue
            if os.fstat(f.fileno()).st_size < f.tell():  # max-file 1: truncated in place
                f.seek(0)
                continue
            if not follow or last_pass:
                break
            if not running():
                last_pass = True  # what it printed before it stopped, then the end
                continue
            if not wait():
                break
    finally:
        f.close()
