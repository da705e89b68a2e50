"""What a killed command or a dead shim leaves, told and cured: the engine's and `system check`'s.

A container's shim holds `shim.lock` for its whole life, and a `start` holds `launch.lock`
from its mount until its shim answered; these two locks, not pids (which the kernel
reuses), say what still lives. The engine settles a record by them as it reads it
(`settle`) and frees a union a killed `start` left mounted before it starts again
(`release_stale_mount`); `system check` (fsck.py) tells and repairs the same leftovers
with the same functions.

The functions take the store, or a `Host` (the store and a runtime, reached only when
something must be undone): the engine's `Context` is one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from layerlab.errors import LayerlabError
from layerlab.presentation.humanize import rfc3339_nano
from layerlab.runtime.runc import FROZEN_MARKER
from layerlab.storage import volumes as volumelib
from layerlab.storage.containers import PAUSED, can, transition
from layerlab.storage.store import Corrupted, Store

if TYPE_CHECKING:
    from layerlab.runtime.runc import Runtime

# Held by a `start` from its mount until its shim answered: a container that is mounted,
# not running and whose launch lock is free was left by a killed `start`/`run`.
LAUNCH_LOCK = "launch.lock"


class Host(Protocol):
    """The store, and the runtime that undoes what a run left (made on first use)."""

    store: Store

    @property
    def runtime(self) -> Runtime: ...


def shim_pid(store: Store, cid: str) -> int | None:
    """The pid the shim recorded: a wake-up hint only, never proof that it lives."""
    try:
        return int((store.container_dir(cid) / "shim.pid").read_text())
    except (FileNotFoundError, ValueError):
        return None


def shim_alive(store: Store, cid: str) -> bool:
    """The shim holds `shim.lock` for its whole life; if we can take it, no shim lives."""
    try:
        fd = os.open(store.container_dir(cid) / "shim.lock", os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def launch_lock(store: Store, cid: str, blocking: bool) -> int | None:
    """Take `launch.lock` (held from a start's mount to its shim's answer); None if busy.

    The caller closes the descriptor it gets, which lets the lock go."""
    fd = os.open(
        store.container_dir(cid) / LAUNCH_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
    )
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def starting(store: Store, cid: str) -> bool:
    """A shim lives, or a `start` is under way (it holds the launch lock)."""
    launching = launch_lock(store, cid, blocking=False)
    if launching is not None:
        os.close(launching)
    return shim_alive(store, cid) or launching is None


def release_stale_mount(host: Host, cid: str) -> bool:
    """Unmount a not-running container's union if no start is under way nor shim alive."""
    if shim_alive(host.store, cid):
        return False
    fd = launch_lock(host.store, cid, blocking=False)
    if fd is None:
        return False
    try:
        host.runtime.release(cid, host.store.container_dir(cid))
    finally:
        os.close(fd)
    return True


def lost_shim_error(pid: int | None) -> str:
    """`State.Error` of a container whose shim died while it ran."""
    shim = f" (pid {pid})" if pid else ""
    return (
        f"the container's shim{shim} died while it ran: layerlab stopped its processes and"
        " took its union down"
    )


def settle(host: Host, data: dict[str, Any]) -> None:
    """Make the record tell the truth about what a killed process left, and what it is.

    A record that says running while no shim lives: its shim was killed (or crashed,
    or the host rebooted), so its processes are stopped, its union taken down and it
    is marked exited (255) with the reason in `State.Error`; a `--rm` one is removed
    (FileNotFoundError then, as for any container removed while read). A container a
    commit holds frozen is paused (as Docker's commit pauses it) - in this view only:
    its shim ends the freeze, and no record keeps it.
    """
    state = data["State"]
    cid = data["Id"]
    if state.get("Running") and can(state, "lost") and not shim_alive(host.store, cid):
        _reap_lost(host, data)
    if state.get("Running") and (host.store.container_dir(cid) / FROZEN_MARKER).exists():
        state.update(Paused=True, Status=PAUSED)


def _reap_lost(host: Host, data: dict[str, Any]) -> None:
    store, cid = host.store, data["Id"]
    with store.lock():
        try:
            fresh = store.read_container(cid)
        except (FileNotFoundError, Corrupted):
            raise FileNotFoundError(cid) from None
        state = fresh["State"]
        if state.get("Running") and can(state, "lost") and not shim_alive(store, cid):
            shim = shim_pid(store, cid)
            with contextlib.suppress(LayerlabError):
                host.runtime.kill(cid, signal.SIGKILL)
            host.runtime.release(cid, store.container_dir(cid))
            transition(state, "lost")
            state["FinishedAt"] = rfc3339_nano(time.time())
            state["Error"] = lost_shim_error(shim)
            store.write_container(fresh)
            if fresh.get("HostConfig", {}).get("AutoRemove"):
                store.discard(remove_container_dir(host, cid, fresh, volumes=True))
                raise FileNotFoundError(cid)
    data.clear()
    data.update(fresh)


def remove_container_dir(host: Host, cid: str, data: dict[str, Any], volumes: bool) -> Path:
    """Under the store lock: release what a run left, then rename the folder away (so no
    reader ever sees half a container); the caller discards what it returns. With
    `volumes`, the container's anonymous volumes go too."""
    store = host.store
    cdir = store.container_dir(cid)
    host.runtime.release(cid, cdir)
    doomed = store.make_tmp_dir("removing-")
    os.rename(cdir, doomed / cid)
    if volumes and not data.get("Damaged"):
        volumelib.remove_anonymous(store, data)
    return doomed
