"""A container's life after `start`: `stop`, `kill`, `pause`, `unpause`, `wait`, `rm`,
`rename`, `update`.

Each moves the record only through the state table of storage/containers.py
(`transition`, `apply`), the one the shim applies too. Whether a container still
runs is its shim's lock (recovery.py), never a pid.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
import time
from pathlib import Path
from typing import Any

from layerlab.engine import recovery
from layerlab.engine.context import Context
from layerlab.engine.create import check_name, name_conflict
from layerlab.errors import Cancelled, Conflict, LayerlabError, NotFound
from layerlab.runtime import restart
from layerlab.runtime.launch import POLL_SECONDS
from layerlab.runtime.runc import FROZEN_MARKER
from layerlab.storage import events as journal
from layerlab.storage import images as imagelib
from layerlab.storage import limits as limitlib
from layerlab.storage.containers import (
    BUILD_OWNER,
    Container,
    apply,
    can,
    parse_signal,
    run_began,
    run_over,
    transition,
)
from layerlab.storage.store import Corrupted

DEFAULT_STOP_TIMEOUT = 10
INIT_READY_SECONDS = 5.0  # how long `stop` waits for a just-started init to take signals


# --- waiting for the shim's end ----------------------------------------------------------
def wait_exit(
    ctx: Context, cid: str, timeout: float | None = None, cancel: threading.Event | None = None
) -> bool:
    """Block until the container's shim has ended (it records the exit first); False on timeout.

    The shim holds `shim.lock` for its whole life, so that lock - not a pid,
    which the kernel may have reused for an unrelated process - says whether
    it lives. Raises `Cancelled` once `cancel` is set.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while recovery.shim_alive(ctx.store, cid):
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            return False
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        _doze(ctx, cid, POLL_SECONDS if remaining is None else min(remaining, POLL_SECONDS))
    return True


def _doze(ctx: Context, cid: str, seconds: float) -> None:
    """Sleep up to `seconds`, waking as soon as the process `shim.pid` names ends.

    The pid is only a wake-up hint: the caller re-checks the shim's lock.
    """
    pid = recovery.shim_pid(ctx.store, cid)
    fd = -1
    if pid is not None:
        with contextlib.suppress(OSError):
            fd = os.pidfd_open(pid)
    if fd < 0:  # no pid yet (a shim just starting) or it is gone: the lock decides
        time.sleep(min(seconds, 0.005))
        return
    try:
        select.select([fd], [], [], seconds)
    finally:
        os.close(fd)


def wait(
    ctx: Context, ref: str, cancel: threading.Event | None = None, run: str | None = None
) -> int:
    """Block until the container's run ends, then its exit code - `docker wait`.

    A run ends at its process's exit even when the restart policy runs it again, as Docker's
    `wait` and `attach` end there: the shim journals each run's `die` before it records the
    restart, so the first `die` after the run began holds its code. `run`: the `StartedAt`
    of the run to wait for (`attach` names the one it followed); else the one under way.
    Once `cancel` is set the wait ends with `Cancelled` (exit code 130); the container is
    left as it is.
    """
    cid = ctx.store.resolve_container(ref)
    began = run_began(ctx.settled(cid).state, run)
    while not wait_exit(ctx, cid, POLL_SECONDS, cancel):
        with contextlib.suppress(NotFound):
            if run_over(ctx.settled(cid).state, began):
                break
    code = _first_exit(ctx, cid, began)
    return code if code is not None else int(ctx.settled(cid).state.get("ExitCode", 0))


def _first_exit(ctx: Context, cid: str, began: float) -> int | None:
    """The exit code the journal's first `die` of `cid` since `began` holds; None if none."""
    kept, _, _ = journal.past(ctx.store.root)
    for event in kept:
        if (
            event.get("Action") == "die"
            and (event.get("Actor") or {}).get("ID") == cid
            and int(event.get("timeNano") or 0) / 1e9 >= began
        ):
            with contextlib.suppress(KeyError, TypeError, ValueError):
                return int(event["Actor"]["Attributes"]["exitCode"])
    return None


# --- signals and the freezer -------------------------------------------------------------
def kill(ctx: Context, ref: str, sig: str | int = "KILL") -> Container:
    cid = ctx.store.resolve_container(ref)
    signum = parse_signal(sig)
    container = ctx.require_running(cid, "kill")
    restart.user_stopped(ctx.store.container_dir(cid), container.data, signum)
    journal.container(ctx.store.root, container.data, "kill", signal=str(signum))
    if not container.state.get("Restarting"):  # waiting to run again: no process yet
        ctx.runtime.kill(cid, signum)
    if container.paused:
        _thaw(ctx, cid)
    if signum == signal.SIGKILL:
        wait_exit(ctx, cid, 10)
    return ctx.settled(cid)


def stop(ctx: Context, ref: str, timeout: int | None = None, sig: str | None = None) -> Container:
    """The stop signal, `timeout` seconds' grace (10), then SIGKILL - as `docker stop`."""
    cid = ctx.store.resolve_container(ref)
    container = ctx.settled(cid)
    if not container.running:
        return container
    grace = DEFAULT_STOP_TIMEOUT if timeout is None else timeout
    signum = parse_signal(sig or container.data["Config"].get("StopSignal") or "SIGTERM")
    restart.user_stopped(ctx.store.container_dir(cid), container.data)
    if container.data["HostConfig"].get("Init"):
        _await_init(int(container.state.get("Pid") or 0))
    journal.container(ctx.store.root, container.data, "kill", signal=str(signum))
    with contextlib.suppress(LayerlabError):
        ctx.runtime.kill(cid, signum)
    if container.paused:
        _thaw(ctx, cid)
    if not wait_exit(ctx, cid, max(grace, 0)):
        journal.container(ctx.store.root, container.data, "kill", signal="9")
        with contextlib.suppress(LayerlabError):
            ctx.runtime.kill(cid, signal.SIGKILL)
        wait_exit(ctx, cid, 30)
    journal.container(ctx.store.root, container.data, "stop")
    return ctx.settled(cid)


def _await_init(pid: int) -> None:
    """Wait (briefly) until a `--init` container's init has started its child.

    The kernel drops a signal to a namespace's pid 1 that has no handler for it, so a
    `stop` right after `run --init` could reach tini before it set its signal mask: lost,
    and the grace time would end in SIGKILL (137) instead of tini's forwarding (143).
    tini sets its mask before it forks the command, so a child means it is listening."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    deadline = time.monotonic() + INIT_READY_SECONDS
    while time.monotonic() < deadline:
        try:
            if children.read_text().strip():
                return
        except OSError:  # gone already, or a kernel without the children file
            return
        time.sleep(POLL_SECONDS)


def pause(ctx: Context, ref: str) -> Container:
    """Freeze every process with the cgroup freezer: no signal is sent."""
    cid = ctx.store.resolve_container(ref)
    container = ctx.require_running(cid)
    if container.paused:
        raise Conflict(f"Container {cid} is already paused")
    restart.refuse_restarting(container.data)
    ctx.runtime.pause(cid)
    journal.container(ctx.store.root, container.data, "pause")
    return ctx.update_record(cid, apply("pause"))


def unpause(ctx: Context, ref: str) -> Container:
    cid = ctx.store.resolve_container(ref)
    container = ctx.settled(cid)
    if not container.paused:
        raise Conflict(f"Container {cid} is not paused")
    _resume(ctx, cid)  # a commit's freeze too, as Docker's unpause ends its commit's pause
    journal.container(ctx.store.root, container.data, "unpause")
    return ctx.update_record(cid, _unpause_if_paused)


def _thaw(ctx: Context, cid: str) -> None:
    with contextlib.suppress(LayerlabError):
        _resume(ctx, cid)
    with contextlib.suppress(NotFound):
        ctx.store.update_container(cid, _unpause_if_paused)


def _resume(ctx: Context, cid: str) -> None:
    """Thaw it; a commit's freeze, if that is what it was, is then no longer the
    commit's to end (its shim leaves what comes next alone)."""
    ctx.runtime.resume(cid)
    (ctx.store.container_dir(cid) / FROZEN_MARKER).unlink(missing_ok=True)


def _unpause_if_paused(data: dict[str, Any]) -> None:
    if can(data["State"], "unpause"):  # the shim may have recorded the exit already
        transition(data["State"], "unpause")


# --- rm ----------------------------------------------------------------------------------
def rm(ctx: Context, ref: str, force: bool = False, volumes: bool = False) -> str:
    """Delete the container and its writable layer (refused while running, unless forced);
    with `volumes` its anonymous volumes too (`rm -v`), never the named ones.

    Of two racing `rm`s one removes it, the other says `No such container`."""
    cid = ctx.store.resolve_container(ref)
    try:
        return _rm(ctx, cid, ref, force, volumes)
    except (NotFound, FileNotFoundError):
        if ctx.store.container_dir(cid).is_dir():
            raise
        raise NotFound(f"No such container: {ref}") from None


def _rm(ctx: Context, cid: str, ref: str, force: bool, volumes: bool) -> str:
    try:
        container = ctx.settled(cid)
    except FileNotFoundError:  # removed since it was resolved (a racing `rm`)
        raise NotFound(f"No such container: {ref}") from None
    if container.running and not force:
        if container.paused:
            raise Conflict(
                f"You cannot remove a paused container {cid}. Unpause and then stop the "
                "container before attempting removal or force remove"
            )
        raise Conflict(
            f"You cannot remove a running container {cid}. Stop the container before "
            "attempting removal or force remove"
        )
    if container.running:
        # It may stop meanwhile, or a racing `rm` take it.
        with contextlib.suppress(LayerlabError, FileNotFoundError):
            kill(ctx, cid, signal.SIGKILL)
    with ctx.store.lock():
        if not ctx.store.container_dir(cid).is_dir():  # a racing `rm` was first
            raise NotFound(f"No such container: {ref}")
        doomed = recovery.remove_container_dir(ctx, cid, container.data, volumes)
        if not container.data.get("Damaged"):
            _release_orphan_layers(ctx, container)
    ctx.store.discard(doomed)
    journal.container(ctx.store.root, container.data, "destroy")
    return cid


def _release_orphan_layers(ctx: Context, container: Container) -> None:
    """The layers of an image deleted under a container (`rmi -f`) go with its last user,
    as Docker releases them; those an image or another container uses stay."""
    store = ctx.store
    if store.image_path(container.data["Image"]).exists():
        return
    layers_dir = os.path.realpath(store.layers_dir)
    own = [
        Path(p) for p in map(os.path.realpath, ctx.writable(container).lowers)
        if os.path.dirname(os.path.dirname(p)) == layers_dir
    ]  # fmt: skip
    if not own:
        return
    in_use = {os.path.realpath(p) for c in ctx.containers(all=True) for p in ctx.writable(c).lowers}
    for image_id in store.image_ids():
        with contextlib.suppress(NotFound, Corrupted):
            in_use.update(
                os.path.realpath(layer.diff_path)
                for layer in imagelib.read_image(store, image_id).layers
            )
    for diff in own:  # top first: a layer's parent is used by whatever uses the layer
        if str(diff) in in_use:
            break
        store.remove_layer(diff.parent)


def keep_build_container(ctx: Context, cid: str) -> None:
    """A failed build step's container stays, as Docker leaves it: no longer the build's
    to clean up if the build is killed (`ps -a` shows it, Exited with the step's code)."""
    with ctx.store.lock():
        (ctx.store.container_dir(cid) / BUILD_OWNER).unlink(missing_ok=True)


# --- rename, update ----------------------------------------------------------------------
def rename(ctx: Context, ref: str, new_name: str) -> Container:
    cid = ctx.store.resolve_container(ref)
    check_name(new_name)
    new_name = new_name.lstrip("/")
    with ctx.store.lock():
        data = ctx.store.read_container(cid)
        if data["Name"] == "/" + new_name:
            raise Conflict("Renaming a container with the same name as its current name")
        for other in ctx.containers(all=True):
            if other.name == new_name:
                raise name_conflict(new_name, other.id)
        old_name, data["Name"] = data["Name"], "/" + new_name
        ctx.store.write_container(data)
    journal.container(ctx.store.root, data, "rename", oldName=old_name)
    return Container(data)


def update(
    ctx: Context, ref: str, changes: limitlib.LimitOptions, policy: dict[str, Any] | None = None
) -> Container:
    """`docker update`: new limits in the record and, while it runs, in its cgroup; a
    new restart `policy`, which the shim reads at the process's next exit."""
    cid = ctx.store.resolve_container(ref)
    container = ctx.settled(cid)
    host = container.data["HostConfig"]
    if policy is not None:
        restart.check_policy(policy)
    if policy is not None and host.get("AutoRemove") and policy["Name"] != "no":
        raise LayerlabError(
            f"Cannot update container {cid}: Restart policy cannot be updated because "
            "AutoRemove is enabled for the container"
        )
    base = {k: host.get(k, v) for k, v in limitlib.empty_resources().items()}
    if changes.cpus is not None:
        limitlib.flag_cpus(changes.cpus)
    swap = changes.memory_swap
    if changes.memory is not None and swap is None:  # moby's UpdateContainer keeps the swap
        old_swap = int(base.get("MemorySwap") or 0)
        if old_swap > 0 and limitlib.parse_bytes(changes.memory) > old_swap:
            raise Conflict(
                f"Cannot update container {cid}: Memory limit should be smaller than already"
                " set memoryswap limit, update the memoryswap at the same time",
                exit_code=1,
            )
        swap = str(old_swap)
    fields = limitlib.resources(
        memory=changes.memory, memory_swap=swap,
        pids_limit=changes.pids_limit, cpus=changes.cpus, cpu_shares=changes.cpu_shares,
        base=base,
    )  # fmt: skip
    if container.running and fields != base:
        ctx.runtime.update(cid, limitlib.oci_resources(fields))

    def change(data: dict[str, Any]) -> None:
        data["HostConfig"].update(fields, **({"RestartPolicy": policy} if policy else {}))

    return ctx.update_record(cid, change)
