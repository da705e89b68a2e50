"""`start` (and `run`'s second half): mount the union, write runc's bundle, hand it to a shim.

The shim (runtime/shim.py) runs the container detached from us and records its exit;
`start` returns once the shim says the process runs, an attached start once it ends.
From the mount until the shim's answer the start holds the container's launch lock
(recovery.py), so a union a killed start left mounted is told from one being started.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from typing import Any

from layerlab import network
from layerlab.engine import recovery
from layerlab.engine.context import Context
from layerlab.engine.lifecycle import rm
from layerlab.errors import Conflict, LayerlabError, NotFound, StartFailed
from layerlab.layerfs.unionfs import WritableLayer
from layerlab.runtime import cgroups
from layerlab.runtime.launch import Shim, Stdio, spawn_shim
from layerlab.runtime.spec import apply_host_options, apply_limits, apply_security, build_spec
from layerlab.storage import events as journal
from layerlab.storage import images as imagelib
from layerlab.storage import volumes as volumelib
from layerlab.storage.containers import Container, runtime_env
from layerlab.storage.reference import short_id
from layerlab.storage.store import write_bytes_atomic


def start(ctx: Context, ref: str) -> Container:
    """Mount the union, hand the bundle to a detached shim, return once it runs.

    A container already running is left as it is (Docker's `start` says its name, 0).
    """
    cid = ctx.store.resolve_container(ref)
    container = ctx.settled(cid)
    if container.running and not container.paused:
        return container
    launch(ctx, cid, attach=None)
    return ctx.settled(cid)


def start_attached(
    ctx: Context,
    ref: str,
    stdio: Stdio = (None, None, None),
    cancel: threading.Event | None = None,
    detach_keys: bytes | None = None,
) -> int:
    """`start -a` / foreground `run`: stream output to `stdio` and return the exit code.

    `stdio` are the attach targets (file descriptors or files; None = ours).
    Once `cancel` is set the wait ends with `Cancelled` (exit code 130); the
    container keeps running, as when a docker client detaches. With a terminal
    attached, `detach_keys` typed there end the wait with `Detached`.
    """
    cid = ctx.store.resolve_container(ref)
    journal.container(ctx.store.root, ctx.settled(cid).data, "attach")
    shim = launch(ctx, cid, attach=stdio, detach_keys=detach_keys)
    code = shim.wait(cancel)
    return code if code >= 0 else _shim_killed(ctx, cid, shim.pid, -code)


def _shim_killed(ctx: Context, cid: str, pid: int, signum: int) -> int:
    """The exit code of a container whose shim we waited for was killed (by `signum`):
    the one it recorded, if it lived to; else its record is settled at once (processes
    stopped, exited 255, why in `State.Error`) and that is the error, in one line."""
    try:
        state = ctx.settled(cid).state  # settles a record the shim left `running`
    except FileNotFoundError:  # `run --rm`: removed as it was settled
        state = {"Error": recovery.lost_shim_error(pid)}
    if not state.get("Error"):
        return int(state.get("ExitCode") or 0)
    name = signal.Signals(signum).name if signum in signal.valid_signals() else signum
    raise LayerlabError(f"{state['Error']} (killed by {name})", exit_code=255)


def launch(ctx: Context, cid: str, attach: Stdio | None, detach_keys: bytes | None = None) -> Shim:
    """The container mounted and its shim started; the shim once it said the process runs."""
    with ctx.store.lock():
        container = ctx.settled(cid)  # a record a lost shim left `running` is settled on disk
        rw = _startable(ctx, container)
        launching = recovery.launch_lock(ctx.store, cid, blocking=True)
        assert launching is not None
        try:
            _prepare(ctx, container, rw)
        except BaseException:
            os.close(launching)
            raise
    try:
        ready_r, ready_w = os.pipe()
        ready = os.fdopen(ready_r, "rb")
        try:
            shim = spawn_shim(ctx.store.root, cid, ready_w, attach, detach_keys)
        except BaseException:
            ready.close()
            rw.unmount()
            raise
        finally:
            os.close(ready_w)
        answer = ready.readline().decode().strip()
    finally:
        os.close(launching)
    if answer.startswith("ok") and detach_keys:
        shim.told = ready  # it says more: whether the detach keys were typed
        return shim
    ready.close()
    if answer.startswith("ok"):
        return shim
    shim.wait()
    rw.unmount()
    if container.data.get("HostConfig", {}).get("AutoRemove"):  # Docker: a failed --rm goes
        with contextlib.suppress(NotFound):
            rm(ctx, cid, force=True)
    if answer.startswith("error "):
        _, code, message = answer.split(" ", 2)
        raise StartFailed(message, int(code))
    raise LayerlabError(f"the shim for {short_id(cid)} died before the container started")


def _startable(ctx: Context, container: Container) -> WritableLayer:
    """Under the store lock: its writable layer, once nothing stands in the way of a start."""
    if container.data.get("Damaged"):
        raise LayerlabError(container.state["Error"])
    if container.paused:
        raise Conflict("cannot start a paused container, try unpause instead")
    rw = ctx.writable(container)
    if not container.running and rw.is_mounted():
        recovery.release_stale_mount(ctx, container.id)  # left by a `start` killed mid-way
    if container.running or rw.is_mounted():
        raise Conflict(f"Container {container.id} is already running")
    _require_layers(ctx, container, rw)
    return rw


def _require_layers(ctx: Context, container: Container, rw: WritableLayer) -> None:
    """Its image's layers must be there (the image itself may be gone: `rmi -f`)."""
    try:
        imagelib.read_image(ctx.store, container.data["Image"])
    except NotFound:
        if not all(p.is_dir() for p in rw.lowers):
            raise


def _prepare(ctx: Context, container: Container, rw: WritableLayer) -> None:
    """runc's bundle written, the union mounted and its volumes filled."""
    cdir = ctx.store.container_dir(container.id)
    cfg = container.data["Config"]
    spec = build_spec(
        args=[container.data["Path"], *container.data["Args"]],
        env=runtime_env(cfg.get("Env") or [], cfg["Hostname"], bool(cfg.get("Tty"))),
        cwd=cfg.get("WorkingDir") or "/",
        user=user_ids(rw, cfg.get("User", "")),
        hostname=cfg["Hostname"],
        tty=bool(cfg.get("Tty")),
        rootfs=cdir / "merged",
        container_dir=cdir,
        cgroup=cgroups.container_group(container.id),
        mounts=volumelib.spec_mounts(ctx.store, container.data),
    )
    host = container.data["HostConfig"]
    apply_host_options(spec, read_only=bool(host.get("ReadonlyRootfs")), init=_init_path(host))
    apply_limits(spec, host)
    apply_security(spec, host)
    network.join(ctx.store.root, container.data, cdir, spec)  # undone by runtime.release
    # Compact, as containerd writes it: json's C encoder (indent= falls back to the
    # Python one, milliseconds for the seccomp profile), on every start: so not synced
    # either, a crash takes the process it describes with it.
    payload = json.dumps(spec).encode()
    write_bytes_atomic(cdir / "bundle" / "config.json", payload, durable=False)
    try:
        rw.mount()
        try:
            _populate_volumes(ctx, container, rw)
        except BaseException:
            rw.unmount()
            raise
    except BaseException:
        network.release(cdir)
        raise


def _populate_volumes(ctx: Context, container: Container, rw: WritableLayer) -> None:
    """Docker's first-use copy into each empty volume, from the mounted union: the walk never
    follows a symlink out of it."""
    for dest, data in volumelib.to_populate(ctx.store, container.data):
        from layerlab.layerfs import copy  # the tar walk shared with `cp`: loaded only to copy

        copy.copy_tree_contents(rw.merged, dest, data)


def _init_path(host: dict[str, Any]) -> str | None:
    if not host.get("Init"):
        return None
    from layerlab.engine.sysinfo import init_binary

    found = init_binary()
    if found is None:
        raise LayerlabError("--init: no docker-init or tini-static on this host any more")
    return found


def user_ids(rw: WritableLayer, user: str) -> tuple[int, int, list[int]]:
    """`-u name[:group]` (root when empty) as uid, gid and additional gids, read from
    the container's /etc/passwd and group."""
    from layerlab.runtime.users import resolve_user

    def read(rel: str) -> str | None:
        tops = [rw.merged] if rw.is_mounted() else [rw.upper, *rw.lowers]
        for top in tops:
            with contextlib.suppress(OSError):
                if (top / rel).is_file():
                    return (top / rel).read_text(errors="replace")
        return None

    return resolve_user(user, read)
