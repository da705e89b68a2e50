"""The journal of what the engine did: Docker's events (`docker events`), kept in the store.

Docker's daemon keeps its last events in memory; here every process that acts (a
command, a container's shim) appends one JSON line per event to `events/journal`, shaped
like Docker's `events.Message`. One `os.write` of one line to a file opened `O_APPEND`
lands whole after the others, so concurrent writers need no lock. The journal is bounded:
past MAX_BYTES it is rotated (a lock serializes rotations) to `journal.1`, whose older
events go. Journaling never fails the action it records.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

JOURNAL = "journal"
MAX_BYTES = 1 << 20  # two files of this: Docker's daemon keeps its last 256 events
FOLLOW_SECONDS = 0.1  # how often a follower looks for new events


def folder(root: Path) -> Path:
    return root / "events"


def log(root: Path, kind: str, action: str, actor: str, attributes: dict[str, str]) -> None:
    """Append one event (Docker's `events.Message`, its deprecated fields included)."""
    now = time.time_ns()
    message: dict[str, Any] = {}
    if kind in ("container", "image"):
        message |= {"status": action, "id": actor}
        if kind == "container" and attributes.get("image"):
            message["from"] = attributes["image"]
    message |= {
        "Type": kind, "Action": action, "Actor": {"ID": actor, "Attributes": attributes},
        "scope": "local", "time": now // 1_000_000_000, "timeNano": now,
    }  # fmt: skip
    line = json.dumps(message, separators=(",", ":")).encode() + b"\n"
    with contextlib.suppress(OSError):
        _append(folder(root), line)


def _append(where: Path, line: bytes) -> None:
    where.mkdir(exist_ok=True)
    fd = os.open(where / JOURNAL, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, line)
        size = os.fstat(fd).st_size
    finally:
        os.close(fd)
    if size > MAX_BYTES:
        _rotate(where)


def _rotate(where: Path) -> None:
    """journal -> journal.1, once: of writers past the bound together, the first rotates."""
    lock = os.open(where / "rotate.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with contextlib.suppress(FileNotFoundError):
            if os.stat(where / JOURNAL).st_size > MAX_BYTES:
                os.replace(where / JOURNAL, where / f"{JOURNAL}.1")
    finally:
        os.close(lock)


# --- what the engine journals, in Docker's attributes ------------------------------------
def container(root: Path, record: dict[str, Any], action: str, **extra: str) -> None:
    """A container event: its labels, `image` (as it was named) and `name`, and `extra`."""
    config = record.get("Config") or {}
    attributes = dict(config.get("Labels") or {})
    attributes |= {"image": str(config.get("Image") or record.get("Image", ""))}
    attributes |= {"name": str(record.get("Name", "")).lstrip("/"), **extra}
    log(root, "container", action, str(record.get("Id", "")), attributes)


def image(root: Path, image_id: str, action: str, name: str = "") -> None:
    """An image event: Docker names the image by its reference, or by its id (`delete`)."""
    log(root, "image", action, image_id, {"name": name or image_id})


def volume(root: Path, name: str, action: str, **extra: str) -> None:
    log(root, "volume", action, name, {"driver": "local", **extra})


def mounts(root: Path, record: dict[str, Any], action: str) -> None:
    """`mount` (as a run starts) or `unmount` (as it ends) of each volume of a container."""
    for m in record.get("Mounts") or []:
        if m.get("Type") != "volume":
            continue
        extra = {"container": str(record.get("Id", ""))}
        if action == "mount":
            extra["destination"] = m.get("Destination", "")
            extra["propagation"] = m.get("Propagation", "")
            extra["read/write"] = "true" if m.get("RW", True) else "false"
        volume(root, str(m.get("Name", "")), action, **extra)


# --- reading -------------------------------------------------------------------------------
def _lines(path: Path, start: int = 0) -> tuple[list[dict[str, Any]], int]:
    """The whole events of `path` from byte `start`, and where the next read starts."""
    try:
        with open(path, "rb") as f:
            f.seek(start)
            data = f.read()
    except FileNotFoundError:
        return [], 0
    whole = data[: data.rfind(b"\n") + 1]
    found = []
    for line in whole.splitlines():
        with contextlib.suppress(ValueError):
            found.append(json.loads(line))
    return found, start + len(whole)


def past(root: Path) -> tuple[list[dict[str, Any]], int, int]:
    """Every event kept, oldest first; and where the journal (its inode) was read up to."""
    where = folder(root)
    older, _ = _lines(where / f"{JOURNAL}.1")
    try:
        inode = os.stat(where / JOURNAL).st_ino
    except FileNotFoundError:
        inode = 0
    newer, offset = _lines(where / JOURNAL)
    return older + newer, inode, offset


def follow(
    root: Path, inode: int, offset: int, wait: Callable[[], bool]
) -> Iterator[dict[str, Any]]:
    """The events appended after `past` read up to (`inode`, `offset`), as they come,
    while `wait()` (a pause) says to go on. A rotation meanwhile is read across."""
    path = folder(root) / JOURNAL
    while wait():
        try:
            now = os.stat(path).st_ino
        except FileNotFoundError:
            now = 0
        if now != inode:  # rotated: the rest of the old file is journal.1 now
            if inode:
                rest, _ = _lines(path.with_name(f"{JOURNAL}.1"), offset)
                yield from rest
            inode, offset = now, 0
        found, offset = _lines(path, offset)
        yield from found


def window(
    root: Path, since: float | None, until: float | None, cancel: threading.Event | None
) -> Iterator[dict[str, Any]]:
    """`docker events`: with `since` or `until`, the kept events between them; then, unless
    `until` has passed, those that come until `until` (or `cancel`: Ctrl-C)."""
    start = time.time()
    kept, inode, offset = past(root)

    def inside(event: dict[str, Any]) -> bool:
        stamp = int(event.get("timeNano") or 0) / 1e9
        return (since is None or stamp >= since) and (until is None or stamp <= until)

    if since is not None or until is not None:
        yield from filter(inside, kept)
    if until is not None and until <= start:
        return

    def wait() -> bool:
        if until is not None and time.time() > until:
            return False
        return not (cancel or threading.Event()).wait(FOLLOW_SECONDS)

    yield from filter(inside, follow(root, inode, offset, wait))
