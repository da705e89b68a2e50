"""The engine: one method per command, the only writer of the store.

The CLI and the TUI are two faces on this one interface. Methods return typed
records (`Container`, `Image`) or plain data, and raise `LayerlabError` with a
message worded as Docker words it. The faces read through it too (`snapshot`,
`resolve`, `layer_meta`, `bundle_spec`, `writable_layer`, `watch_paths`),
never the disk. Long waits (`logs -f`, `wait`, an attached start) take a
`cancel` event: following logs just ends, the others raise `Cancelled` (130);
the container keeps running either way.

The pieces live where their data does: the state table and new records in
containers.py, commit configs and listings in images.py, the writable layer in
unionfs.py, the shim's start in runtime/launch.py.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from layerlab import network
from layerlab.errors import (
    Cancelled,
    Conflict,
    ExecFailed,
    InvalidReference,
    LayerlabError,
    NotFound,
    StartFailed,
    no_space,
)
from layerlab.layerfs import unionfs
from layerlab.layerfs.unionfs import WritableLayer
from layerlab.presentation.humanize import rfc3339_nano
from layerlab.report import ImageRemoval
from layerlab.runtime import cgroups
from layerlab.runtime import limits as limitlib
from layerlab.runtime.launch import POLL_SECONDS, Shim, Stdio, Stream, spawn_shim
from layerlab.runtime.runc import (
    ATTACH_SOCKET,
    FREEZE_SOCKET,
    FROZEN_MARKER,
    STDIN_FIFO,
    Runtime,
    pid_file,
    process_file,
    runtime_message,
)
from layerlab.runtime.spec import (
    DEFAULT_CAPS,
    INIT_PATH,
    apply_host_options,
    apply_limits,
    apply_security,
    build_spec,
    spec_user,
)
from layerlab.storage import images as imagelib
from layerlab.storage import volumes as volumelib
from layerlab.storage.containers import (
    BUILD_OWNER,
    PAUSED,
    Container,
    CreateOptions,
    apply,
    broken_record,
    can,
    merge_env,
    new_record,
    parse_signal,
    runtime_env,
    transition,
)
from layerlab.storage.images import commit_config
from layerlab.storage.names import generate_name
from layerlab.storage.reference import normalize_ref, reference_error, short_id, validate_reference
from layerlab.storage.store import (
    Corrupted,
    Store,
    read_json,
    record_durable,
    write_bytes_atomic,
    write_json_atomic,
)

if TYPE_CHECKING:
    import socket

    from layerlab.build.builder import BuildOptions
    from layerlab.network.view import NetworkView
    from layerlab.runtime.namespaces import Namespace
    from layerlab.runtime.pipes import Held
    from layerlab.storage.snapshot import Snapshot, Subject
    from layerlab.storage.watch import StoreWatch

# Re-exported: the faces and the tests import these from here.
__all__ = [
    "Cancelled",
    "CreateOptions",
    "Engine",
    "HistoryRow",
    "LogEntry",
    "Stdio",
    "Stream",
    "WritableLayer",
    "commit_config",
]

NAME_RE = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
DEFAULT_STOP_TIMEOUT = 10
# Held by a `start` from its mount until its shim answered: a container that is mounted,
# not running and whose launch lock is free was left by a killed `start`/`run`.
LAUNCH_LOCK = "launch.lock"


@dataclass
class HistoryRow:
    image_id: str
    created: str
    created_by: str
    size: int
    comment: str


@dataclass(frozen=True)
class LogEntry:
    stream: str
    text: str
    time: str


@dataclass(frozen=True)
class Mounted:
    """One thing mounted over a container's union: outside its layers, so its files are
    in no `diff`, no `commit` and no `export`."""

    type: str  # "volume" | "bind" | "tmpfs"
    destination: str  # where the container sees it
    source: str  # a volume's name, a bind's host folder; "" for a tmpfs
    read_only: bool = False


def mounts_of(record: dict[str, Any]) -> tuple[Mounted, ...]:
    """A container record's mounts by destination: `.Mounts`, and the `--tmpfs` ones that
    Docker lists only in `HostConfig.Tmpfs`."""
    found = [
        Mounted(
            type=m.get("Type", ""),
            destination=m.get("Destination", ""),
            source=m.get("Name", "") if m.get("Type") == "volume" else m.get("Source", ""),
            read_only=not m.get("RW", True),
        )
        for m in record.get("Mounts") or []
    ]
    tmpfs = (record.get("HostConfig") or {}).get("Tmpfs") or {}
    found += [
        Mounted("tmpfs", dest, "", "ro" in options.split(",")) for dest, options in tmpfs.items()
    ]
    return tuple(sorted(found, key=lambda m: m.destination))


def lost_shim_error(pid: int | None) -> str:
    """`State.Error` of a container whose shim died while it ran."""
    shim = f" (pid {pid})" if pid else ""
    return (
        f"the container's shim{shim} died while it ran: layerlab stopped its processes and"
        " took its union down"
    )


class Engine:
    def __init__(self, root: Path | None = None) -> None:
        self.store = Store(root)
        self.store.on_first_lock = self._heal

    def _heal(self) -> None:
        """What a killed command left, cleaned before this one mutates: scratch work whose
        owner is gone, a container mounted by a `start` that never finished."""
        from layerlab.engine import fsck

        fsck.heal(self)

    @cached_property
    def runtime(self) -> Runtime:
        return Runtime.for_store(self.store.root)

    # --- reading ----------------------------------------------------------
    def container(self, ref: str) -> Container:
        cid = self.store.resolve_container(ref)
        try:
            return self._load(cid)
        except FileNotFoundError:  # removed since it was resolved
            raise NotFound(f"No such container: {ref}") from None

    def containers(self, all: bool = False) -> list[Container]:
        """Newest first, as `ps` lists them; only running ones unless `all`."""
        found = []
        for cid in self.store.container_ids():
            with contextlib.suppress(FileNotFoundError):
                found.append(self._load(cid))
        found.sort(key=lambda c: c.data["Created"], reverse=True)
        return [c for c in found if all or c.running]

    def _load(self, cid: str) -> Container:
        try:
            data = self.store.read_container(cid)
        except Corrupted as exc:  # only this container is affected: listed as Dead
            if not self.store.container_dir(cid).is_dir():
                raise FileNotFoundError(cid) from None
            return Container(broken_record(cid, self.store.container_dir(cid), str(exc)))
        self._settle(data)
        return Container(data)

    def _settle(self, data: dict[str, Any]) -> None:
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
        if state.get("Running") and can(state, "lost") and not self._shim_alive(cid):
            self._reap_lost(data)
        if state.get("Running") and (self.store.container_dir(cid) / FROZEN_MARKER).exists():
            state.update(Paused=True, Status=PAUSED)

    def _reap_lost(self, data: dict[str, Any]) -> None:
        cid = data["Id"]
        cdir = self.store.container_dir(cid)
        with self.store.lock():
            try:
                fresh = self.store.read_container(cid)
            except (FileNotFoundError, Corrupted):
                raise FileNotFoundError(cid) from None
            state = fresh["State"]
            if state.get("Running") and can(state, "lost") and not self._shim_alive(cid):
                shim = self._shim_pid(cid)
                with contextlib.suppress(LayerlabError):
                    self.runtime.kill(cid, signal.SIGKILL)
                self.runtime.release(cid, cdir)
                transition(state, "lost")
                state["FinishedAt"] = rfc3339_nano(time.time())
                state["Error"] = lost_shim_error(shim)
                self.store.write_container(fresh)
                if fresh.get("HostConfig", {}).get("AutoRemove"):
                    self.store.discard(self._remove_container_dir(cid, fresh, volumes=True))
                    raise FileNotFoundError(cid)
        data.clear()
        data.update(fresh)

    def _shim_pid(self, cid: str) -> int | None:
        try:
            return int((self.store.container_dir(cid) / "shim.pid").read_text())
        except (FileNotFoundError, ValueError):
            return None

    def _shim_alive(self, cid: str) -> bool:
        """The shim holds `shim.lock` for its whole life; if we can take it, no shim lives."""
        try:
            fd = os.open(self.store.container_dir(cid) / "shim.lock", os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def image(self, ref: str) -> imagelib.Image:
        return imagelib.resolve_image(self.store, ref)

    def find_image_id(self, ref: str) -> str | None:
        """The id of the image `ref` names now, or None; never makes busybox (for listings)."""
        try:
            return self.store.find_image(ref)
        except LayerlabError:
            return None

    # --- the faces' read API: they ask here, never the disk ----------------------
    def snapshot(self) -> Snapshot:
        """Every container (`ps -a`) and image row (`images -a`), read at one moment.

        Whatever another process removes during the read is left out, never an error.
        """
        from layerlab.storage.snapshot import Snapshot  # the TUI's: not loaded for a CLI command

        return Snapshot(tuple(self.containers(all=True)), tuple(self.images(all=True)))

    def resolve(self, ref: str) -> Subject | None:
        """A container first, then an image, as `inspect` resolves; None when nothing matches.

        Never creates busybox (unlike `image`, which makes it on first use).
        """
        from layerlab.storage.snapshot import Subject  # the TUI's: not loaded for a CLI command

        try:
            return Subject("container", self.store.resolve_container(ref))
        except LayerlabError:
            pass
        try:
            image_id = self.store.find_image(ref)
        except LayerlabError:
            return None
        return Subject("image", image_id) if image_id else None

    def layer_meta(self, chain_id: str) -> dict[str, Any]:
        """A read-only layer's `json` (id, parent, diff_id, created, created_by, size).

        Raises NotFound if the layer is not (or no longer) in the store, `Corrupted` if its
        `json` is broken.
        """
        return imagelib.read_layer_meta(self.store, chain_id)

    def bundle_spec(self, ref: str) -> dict[str, Any] | None:
        """The OCI runtime config.json handed to runc, once the container was started; else None."""
        cid = self.store.resolve_container(ref)
        try:
            spec: dict[str, Any] = read_json(
                self.store.container_dir(cid) / "bundle" / "config.json"
            )
        except FileNotFoundError:
            return None
        return spec

    def namespaces(self, ref: str) -> tuple[Namespace, ...]:
        """A running container's namespaces beside the host's (its pid 1's `/proc/PID/ns/*`
        inodes); () when it does not run."""
        from layerlab.runtime.namespaces import of_process

        container = self.container(ref)
        pid = int(container.state.get("Pid") or 0)
        return of_process(pid) if container.running and pid else ()

    def network_view(self, ref: str) -> NetworkView | None:
        """A running container's network as the faces draw it (its links, veth pairs,
        bridges and the others on them, published ports); None when it does not run."""
        from layerlab.network.view import read

        container = self.container(ref)
        return read(self.store.root, container.data, self.store.container_dir(container.id))

    def watch_store(self, on_change: Callable[[], None]) -> StoreWatch:
        """A watcher (not started) calling `on_change` when this store's index changes:
        the faces refresh from it, without knowing the store's layout."""
        from layerlab.storage.watch import StoreWatch  # watchdog only for a face that watches

        return StoreWatch(self.store.root, on_change)

    def watch_paths(self) -> set[Path]:
        """The folders a watcher should watch (non-recursively) to see the store's index change.

        See `Store.watch_dirs`; `Store.indexes(path)` says which events there matter.
        """
        return self.store.watch_dirs()

    # --- create / start / run ----------------------------------------------
    def create(self, image_ref: str, opts: CreateOptions) -> Container:
        """A writable layer on top of the image, plus metadata: no mount, no process."""
        if opts.workdir and not opts.workdir.startswith("/"):
            raise LayerlabError(
                f"the working directory '{opts.workdir}' is invalid, it needs to be an "
                "absolute path"
            )
        if opts.name is not None and not NAME_RE.match(opts.name):
            raise LayerlabError(
                f"Invalid container name ({opts.name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )
        parse_error = None if image_ref.startswith("sha256:") else reference_error(image_ref)
        if parse_error is not None:  # `run` and `create` parse the name before looking for it
            raise LayerlabError(parse_error)
        image = self.image(image_ref)
        cfg = image.run_config
        if opts.entrypoint is not None:
            entrypoint = [opts.entrypoint] if opts.entrypoint else []
            cmd = list(opts.command)
        else:
            entrypoint = list(cfg.get("Entrypoint") or [])
            cmd = list(opts.command) or list(cfg.get("Cmd") or [])
        if not entrypoint + cmd:
            raise LayerlabError("No command specified")
        mount_request = volumelib.MountRequest(opts.volumes, opts.mounts, opts.tmpfs)
        mount_plan = volumelib.plan(mount_request, list(cfg.get("Volumes") or {}))
        env = merge_env(list(cfg.get("Env") or []), opts.env)
        self._check_run_flags(opts)
        limit_fields = self._limit_fields(opts)
        cid = os.urandom(32).hex()
        with self.store.lock():
            imagelib.read_image(self.store, image.id)  # still there: a racing rmi may be done
            self.store.ensure()
            names = {c.name for c in self.containers(all=True)}
            name = (opts.name or "").lstrip("/") or generate_name(names)
            if name in names:
                owner = self.container(name).id
                raise Conflict(
                    f'Conflict. The container name "/{name}" is already in use by container '
                    f'"{owner}". You have to remove (or rename) that container to be able to '
                    "reuse that name."
                )
            staged = self.store.make_tmp_dir("container-")
            final = self.store.container_dir(cid)
            mounts: dict[str, Any] = {"Mounts": []}
            try:
                volumelib.realize(self.store, mount_plan)
                mounts = volumelib.record_fields(self.store, mount_request, mount_plan)
                for sub in ("diff", "work", "merged", "bundle"):
                    (staged / sub).mkdir()
                unionfs.create_init_layer(staged / "init")
                if opts.init:  # the mount point of Docker's /sbin/docker-init
                    (staged / "init" / "sbin").mkdir(exist_ok=True)
                    (staged / "init" / INIT_PATH.lstrip("/")).touch()
                hostname = opts.hostname or short_id(cid)
                unionfs.write_etc_files(staged, hostname)
                lowers = [final / "init"] + [layer.diff_path for layer in reversed(image.layers)]
                data = new_record(
                    cid, final, name, image.id, cfg, image_ref, (entrypoint, cmd), env,
                    hostname, opts, self.runtime.name,
                )  # fmt: skip
                _set_mounts(data, mounts)
                network.configure(self.store.root, data, opts.network, self.store.resolve_container)
                data["HostConfig"].update(limit_fields)
                data["GraphDriver"] = {
                    "Name": "overlay2",
                    "Data": {
                        "LowerDir": ":".join(str(p) for p in lowers),
                        "UpperDir": str(final / "diff"),
                        "MergedDir": str(final / "merged"),
                        "WorkDir": str(final / "work"),
                    },
                }
                write_json_atomic(staged / "config.json", data, durable=record_durable(data))
                if opts.owner_pid is not None:
                    (staged / BUILD_OWNER).write_text(f"{opts.owner_pid}\n")
                os.rename(staged, final)
            except BaseException:
                self.store.discard(staged)
                volumelib.remove_anonymous(self.store, mounts)
                raise
        return Container(data)

    def start(self, ref: str) -> Container:
        """Mount the union, hand the bundle to a detached shim, return once it runs.

        A container already running is left as it is (Docker's `start` says its name, 0).
        """
        cid = self.store.resolve_container(ref)
        container = self._load(cid)
        if container.running and not container.paused:
            return container
        self._launch(cid, attach=None)
        return self._load(cid)

    def start_attached(
        self,
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
        cid = self.store.resolve_container(ref)
        shim = self._launch(cid, attach=stdio, detach_keys=detach_keys)
        code = shim.wait(cancel)
        return code if code >= 0 else self._shim_killed(cid, shim.pid, -code)

    def _shim_killed(self, cid: str, pid: int, signum: int) -> int:
        """The exit code of a container whose shim we waited for was killed (by `signum`):
        the one it recorded, if it lived to; else its record is settled at once (processes
        stopped, exited 255, why in `State.Error`) and that is the error, in one line."""
        try:
            state = self._load(cid).state  # settles a record the shim left `running`
        except FileNotFoundError:  # `run --rm`: removed as it was settled
            state = {"Error": lost_shim_error(pid)}
        if not state.get("Error"):
            return int(state.get("ExitCode") or 0)
        name = signal.Signals(signum).name if signum in signal.valid_signals() else signum
        raise LayerlabError(f"{state['Error']} (killed by {name})", exit_code=255)

    def attach_output(self, ref: str) -> socket.socket | None:
        """A running `-t` container's output as it comes (from its shim), to read; None
        when there is none to connect to (no terminal, or its shim is gone)."""
        return self._shim_socket(self.store.resolve_container(ref), ATTACH_SOCKET)

    def _shim_socket(self, cid: str, name: str) -> socket.socket | None:
        """A connection to the socket `name` a running container's shim serves; None when
        nothing answers there."""
        import socket

        folder = os.open(self.store.container_dir(cid), os.O_PATH | os.O_CLOEXEC)
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:  # through the folder's descriptor: a socket's path must fit in 108 bytes
            conn.connect(f"/proc/self/fd/{folder}/{name}")
        except OSError:
            conn.close()
            return None
        finally:
            os.close(folder)
        return conn

    def attach_input(self, ref: str) -> BinaryIO | None:
        """A running container's stdin, to write to (`attach`); None when it has none open
        (started without `-i`, or its shim is gone): Docker then attaches the output only.

        Closing it leaves the container's stdin open: another attach can go on."""
        cid = self.store.resolve_container(ref)
        path = self.store.container_dir(cid) / STDIN_FIFO
        try:  # non-blocking: with no shim reading, this fails (ENXIO) instead of hanging
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return None
        os.set_blocking(fd, True)
        return os.fdopen(fd, "wb", buffering=0)

    def run(
        self, image_ref: str, opts: CreateOptions, stdio: Stdio = (None, None, None)
    ) -> tuple[Container, int | None]:
        container = self.create(image_ref, opts)
        if opts.attach:
            return container, self.start_attached(container.id, stdio)
        return self.start(container.id), None

    def _launch(self, cid: str, attach: Stdio | None, detach_keys: bytes | None = None) -> Shim:
        with self.store.lock():
            container = self._load(cid)  # a record a lost shim left `running` is settled on disk
            if container.data.get("Damaged"):
                raise LayerlabError(container.state["Error"])
            if container.paused:
                raise Conflict("cannot start a paused container, try unpause instead")
            rw = self._writable(container)
            if not container.running and rw.is_mounted():
                self._release_stale_mount(cid)  # left by a `start` killed mid-way
            if container.running or rw.is_mounted():
                raise Conflict(f"Container {cid} is already running")
            self._require_layers(container, rw)
            launching = self._launch_lock(cid, blocking=True)
            assert launching is not None
            try:
                self._prepare(container, rw)
            except BaseException:
                os.close(launching)
                raise
        try:
            ready_r, ready_w = os.pipe()
            ready = os.fdopen(ready_r, "rb")
            try:
                shim = spawn_shim(self.store.root, cid, ready_w, attach, detach_keys)
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
                self.rm(cid, force=True)
        if answer.startswith("error "):
            _, code, message = answer.split(" ", 2)
            raise StartFailed(message, int(code))
        raise LayerlabError(f"the shim for {short_id(cid)} died before the container started")

    def _launch_lock(self, cid: str, blocking: bool) -> int | None:
        """Take `launch.lock` (held from a start's mount to its shim's answer); None if busy."""
        fd = os.open(
            self.store.container_dir(cid) / LAUNCH_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
            0o600,
        )  # fmt: skip
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    def _release_stale_mount(self, cid: str) -> bool:
        """Unmount a not-running container's union if no start is under way nor shim alive."""
        if self._shim_alive(cid):
            return False
        fd = self._launch_lock(cid, blocking=False)
        if fd is None:
            return False
        try:
            self.runtime.release(cid, self.store.container_dir(cid))
        finally:
            os.close(fd)
        return True

    def _require_layers(self, container: Container, rw: WritableLayer) -> None:
        """Its image's layers must be there (the image itself may be gone: `rmi -f`)."""
        try:
            imagelib.read_image(self.store, container.data["Image"])
        except NotFound:
            if not all(p.is_dir() for p in rw.lowers):
                raise

    def _prepare(self, container: Container, rw: WritableLayer) -> None:
        cdir = self.store.container_dir(container.id)
        cfg = container.data["Config"]
        spec = build_spec(
            args=[container.data["Path"], *container.data["Args"]],
            env=runtime_env(cfg.get("Env") or [], cfg["Hostname"], bool(cfg.get("Tty"))),
            cwd=cfg.get("WorkingDir") or "/",
            user=self._user_ids(rw, cfg.get("User", "")),
            hostname=cfg["Hostname"],
            tty=bool(cfg.get("Tty")),
            rootfs=cdir / "merged",
            container_dir=cdir,
            cgroup=cgroups.container_group(container.id),
            mounts=volumelib.spec_mounts(self.store, container.data),
        )
        host = container.data["HostConfig"]
        apply_host_options(
            spec, read_only=bool(host.get("ReadonlyRootfs")), init=self._init_path(host)
        )
        apply_limits(spec, host)
        apply_security(spec, host)
        network.join(self.store.root, container.data, cdir, spec)  # undone by runtime.release
        # Compact, as containerd writes it: json's C encoder (indent= falls back to the
        # Python one, milliseconds for the seccomp profile), on every start: so not synced
        # either, a crash takes the process it describes with it.
        payload = json.dumps(spec).encode()
        write_bytes_atomic(cdir / "bundle" / "config.json", payload, durable=False)
        try:
            rw.mount()
            try:
                volumelib.populate(self.store, container.data, rw.merged)
            except BaseException:
                rw.unmount()
                raise
        except BaseException:
            network.release(cdir)
            raise

    # --- signals and states ----------------------------------------------------
    def wait_exit(
        self, cid: str, timeout: float | None = None, cancel: threading.Event | None = None
    ) -> bool:
        """Block until the container's shim has ended (it records the exit first); False on timeout.

        The shim holds `shim.lock` for its whole life, so that lock - not a pid,
        which the kernel may have reused for an unrelated process - says whether
        it lives. Raises `Cancelled` once `cancel` is set.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._shim_alive(cid):
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            self._doze(cid, POLL_SECONDS if remaining is None else min(remaining, POLL_SECONDS))
        return True

    def _doze(self, cid: str, seconds: float) -> None:
        """Sleep up to `seconds`, waking as soon as the process `shim.pid` names ends.

        The pid is only a wake-up hint: the caller re-checks the shim's lock.
        """
        pid = self._shim_pid(cid)
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

    def _require_running(self, cid: str, action: str = "") -> Container:
        container = self._load(cid)
        if not container.running:
            prefix = f"Cannot {action} container: {container.name}: " if action else ""
            raise Conflict(f"{prefix}Container {cid} is not running")
        return container

    def kill(self, ref: str, sig: str | int = "KILL") -> Container:
        cid = self.store.resolve_container(ref)
        signum = parse_signal(sig)
        container = self._require_running(cid, "kill")
        self.runtime.kill(cid, signum)
        if container.paused:
            self._thaw(cid)
        if signum == signal.SIGKILL:
            self.wait_exit(cid, 10)
        return self._load(cid)

    def stop(self, ref: str, timeout: int | None = None, sig: str | None = None) -> Container:
        """The stop signal, `timeout` seconds' grace (10), then SIGKILL - as `docker stop`."""
        cid = self.store.resolve_container(ref)
        container = self._load(cid)
        if not container.running:
            return container
        grace = DEFAULT_STOP_TIMEOUT if timeout is None else timeout
        signum = parse_signal(sig or container.data["Config"].get("StopSignal") or "SIGTERM")
        with contextlib.suppress(LayerlabError):
            self.runtime.kill(cid, signum)
        if container.paused:
            self._thaw(cid)
        if not self.wait_exit(cid, max(grace, 0)):
            with contextlib.suppress(LayerlabError):
                self.runtime.kill(cid, signal.SIGKILL)
            self.wait_exit(cid, 30)
        return self._load(cid)

    def _thaw(self, cid: str) -> None:
        with contextlib.suppress(LayerlabError):
            self._resume(cid)
        with contextlib.suppress(NotFound):
            self.store.update_container(cid, _unpause_if_paused)

    def _resume(self, cid: str) -> None:
        """Thaw it; a commit's freeze, if that is what it was, is then no longer the
        commit's to end (its shim leaves what comes next alone)."""
        self.runtime.resume(cid)
        (self.store.container_dir(cid) / FROZEN_MARKER).unlink(missing_ok=True)

    def _record(self, cid: str, change: Callable[[dict[str, Any]], None]) -> Container:
        return Container(self.store.update_container(cid, change))

    def pause(self, ref: str) -> Container:
        """Freeze every process with the cgroup freezer: no signal is sent."""
        cid = self.store.resolve_container(ref)
        container = self._require_running(cid)
        if container.paused:
            raise Conflict(f"Container {cid} is already paused")
        self.runtime.pause(cid)
        return self._record(cid, apply("pause"))

    def unpause(self, ref: str) -> Container:
        cid = self.store.resolve_container(ref)
        container = self._load(cid)
        if not container.paused:
            raise Conflict(f"Container {cid} is not paused")
        self._resume(cid)  # a commit's freeze too, as Docker's unpause ends its commit's pause
        return self._record(cid, _unpause_if_paused)

    def wait(self, ref: str, cancel: threading.Event | None = None) -> int:
        """Block until the container stops, then its exit code - `docker wait`.

        Once `cancel` is set the wait ends with `Cancelled` (exit code 130); the
        container is left as it is.
        """
        cid = self.store.resolve_container(ref)
        self.wait_exit(cid, cancel=cancel)
        return int(self._load(cid).state.get("ExitCode", 0))

    def keep_build_container(self, cid: str) -> None:
        """A failed build step's container stays, as Docker leaves it: no longer the build's
        to clean up if the build is killed (`ps -a` shows it, Exited with the step's code)."""
        with self.store.lock():
            (self.store.container_dir(cid) / BUILD_OWNER).unlink(missing_ok=True)

    def rm(self, ref: str, force: bool = False, volumes: bool = False) -> str:
        """Delete the container and its writable layer (refused while running, unless forced);
        with `volumes` its anonymous volumes too (`rm -v`), never the named ones.

        Of two racing `rm`s one removes it, the other says `No such container`."""
        cid = self.store.resolve_container(ref)
        try:
            return self._rm(cid, ref, force, volumes)
        except (NotFound, FileNotFoundError):
            if self.store.container_dir(cid).is_dir():
                raise
            raise NotFound(f"No such container: {ref}") from None

    def _rm(self, cid: str, ref: str, force: bool, volumes: bool) -> str:
        try:
            container = self._load(cid)
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
                self.kill(cid, signal.SIGKILL)
        with self.store.lock():
            if not self.store.container_dir(cid).is_dir():  # a racing `rm` was first
                raise NotFound(f"No such container: {ref}")
            doomed = self._remove_container_dir(cid, container.data, volumes)
            if not container.data.get("Damaged"):
                self._release_orphan_layers(container)
        self.store.discard(doomed)
        return cid

    def _remove_container_dir(self, cid: str, data: dict[str, Any], volumes: bool) -> Path:
        """Under the store lock: release what a run left, then rename the folder away (so no
        reader ever sees half a container); the caller discards what it returns."""
        cdir = self.store.container_dir(cid)
        self.runtime.release(cid, cdir)
        doomed = self.store.make_tmp_dir("removing-")
        os.rename(cdir, doomed / cid)
        if volumes and not data.get("Damaged"):
            volumelib.remove_anonymous(self.store, data)
        return doomed

    def _release_orphan_layers(self, container: Container) -> None:
        """The layers of an image deleted under a container (`rmi -f`) go with its last user,
        as Docker releases them; those an image or another container uses stay."""
        if self.store.image_path(container.data["Image"]).exists():
            return
        layers_dir = os.path.realpath(self.store.layers_dir)
        own = [
            Path(p) for p in map(os.path.realpath, self._writable(container).lowers)
            if os.path.dirname(os.path.dirname(p)) == layers_dir
        ]  # fmt: skip
        if not own:
            return
        in_use = {
            os.path.realpath(p) for c in self.containers(all=True) for p in self._writable(c).lowers
        }
        for image_id in self.store.image_ids():
            with contextlib.suppress(NotFound, Corrupted):
                in_use.update(
                    os.path.realpath(layer.diff_path)
                    for layer in imagelib.read_image(self.store, image_id).layers
                )
        for diff in own:  # top first: a layer's parent is used by whatever uses the layer
            if str(diff) in in_use:
                break
            self.store.remove_layer(diff.parent)

    def rename(self, ref: str, new_name: str) -> Container:
        cid = self.store.resolve_container(ref)
        if not NAME_RE.match(new_name):
            raise LayerlabError(
                f"Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )
        new_name = new_name.lstrip("/")
        with self.store.lock():
            data = self.store.read_container(cid)
            if data["Name"] == "/" + new_name:
                raise Conflict("Renaming a container with the same name as its current name")
            for other in self.containers(all=True):
                if other.name == new_name:
                    raise Conflict(
                        f'Conflict. The container name "/{new_name}" is already in use by '
                        f'container "{other.id}". You have to remove (or rename) that container '
                        "to be able to reuse that name."
                    )
            data["Name"] = "/" + new_name
            self.store.write_container(data)
        return Container(data)

    # --- inside a running container ------------------------------------------------
    def exec(
        self,
        ref: str,
        command: list[str],
        *,
        detach: bool = False,
        interactive: bool = False,
        tty: bool = False,
        env: list[str] | None = None,
        workdir: str | None = None,
        stdio: Stdio = (None, None, None),
        user: str | None = None,
    ) -> int:
        """Run one more process in the container's namespaces and cgroup."""
        cid = self.store.resolve_container(ref)
        container = self._require_running(cid)
        if container.paused:
            # daemon/exec.go getActiveContainer: errExecPaused(name), the name as given
            raise Conflict(f"Container {ref} is paused, unpause the container before exec")
        if not command:
            raise LayerlabError("exec requires at least 1 argument")
        if detach and tty:
            raise LayerlabError("exec -d with -t is not supported: attach needs a terminal")
        try:  # Docker: exec's unknown user is the runtime's failure, 126
            ids = self._user_ids(self._writable(container), user) if user else None
        except LayerlabError as exc:
            raise LayerlabError(str(exc), 126) from None
        import tempfile  # on use: its import costs every `run` milliseconds

        fd, name = tempfile.mkstemp(
            prefix="exec-", suffix=".log", dir=self.store.container_dir(cid)
        )
        os.close(fd)  # runc writes it by name
        log = Path(name)
        env = merge_env(["TERM=xterm"] if tty else [], env or [])  # Docker's, for -t
        process = None if ids is None else self._exec_process(cid, command, env, workdir, tty, ids)
        if tty and not detach and not (stdio[0] is None and interactive and os.isatty(0)):
            # -t without our terminal: a pseudo-terminal of our own, as Docker allocates one
            code = self._exec_in_pty(cid, command, env, workdir, stdio[1], log, process)
        else:
            err = subprocess.DEVNULL if detach else stdio[2]
            with _runc_errors_held(err, log) as held:
                proc = self.runtime.exec(
                    cid,
                    command,
                    env=env,
                    cwd=workdir,
                    tty=tty,
                    detach=detach,
                    stdin=stdio[0] if interactive and not detach else subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL if detach else stdio[1],
                    stderr=err if held is None else held.fd,
                    process=process,
                    log=log,
                )
                code = proc.wait()
                if held is not None:  # runc's own line, once: ours below is Docker's
                    held.drop = code == 255 and bool(log.read_text(errors="replace").strip())
        failure = log.read_text(errors="replace") if code == 255 else ""
        for path in (log, process_file(log), pid_file(log)):
            path.unlink(missing_ok=True)
        if failure.strip():  # runc could not start the process: Docker's 126 and words
            raise ExecFailed(f"OCI runtime exec failed: {runtime_message(failure)}: unknown")
        return code

    def _exec_in_pty(
        self, cid: str, command: list[str], env: list[str], workdir: str | None,
        out: Stream, log: Path, process: dict[str, Any] | None,
    ) -> int:  # fmt: skip
        """`runc exec --tty` on a pseudo-terminal we own (its controlling terminal), its
        output copied to `out` (None: our stdout) - what Docker's `exec -t` shows."""
        master, slave = os.openpty()
        try:
            proc = self.runtime.exec(
                cid, command, env=env, cwd=workdir, tty=True, detach=False,
                stdin=slave, stdout=slave, stderr=slave, log=log, own_terminal=True,
                process=process,
            )  # fmt: skip
        finally:
            os.close(slave)
        out_fd = 1 if out is None else out if isinstance(out, int) else out.fileno()
        pending = b""
        try:
            while True:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every holder of the terminal has gone
                    break
                if not data:
                    break
                # runc clears the container terminal's ONLCR only once the process runs,
                # so an early line may reach ours as \r\r\n: one \r\n, as Docker shows.
                data = (pending + data).replace(b"\r\r\n", b"\r\n")
                cut = len(data.rstrip(b"\r"))  # a \r at the end waits for what follows
                data, pending = data[:cut], data[cut:]
                os.write(out_fd, data)
            os.write(out_fd, pending)
        finally:
            os.close(master)
        return proc.wait()

    def logs(
        self, ref: str, follow: bool = False, cancel: threading.Event | None = None
    ) -> Iterator[LogEntry]:
        """The json-file log as entries; with `follow`, until the container stops.

        Following also ends - quietly, the iteration just stops - when the
        container is removed meanwhile (`rm -f`) or once `cancel` is set.
        """
        from layerlab.runtime import logread

        cid = self.store.resolve_container(ref)
        path = Path(self._load(cid).data["LogPath"])

        def wait() -> bool:
            if cancel is None:
                time.sleep(POLL_SECONDS)
                return True
            return not cancel.wait(POLL_SECONDS)

        with contextlib.suppress(FileNotFoundError):  # the container went with its folder
            for record in logread.records(path, follow, lambda: self._still_running(cid), wait):
                with contextlib.suppress(KeyError, TypeError):
                    yield LogEntry(record["stream"], record["log"], record["time"])

    def _still_running(self, cid: str) -> bool:
        try:
            return self._load(cid).running
        except (NotFound, FileNotFoundError):  # removed while followed
            return False

    def top(self, ref: str, ps_args: list[str] | None = None) -> tuple[list[str], list[list[str]]]:
        """`ps` on the host, filtered to the container's cgroup - as `docker top` does."""
        cid = self.store.resolve_container(ref)
        self._require_running(cid)
        pids = {str(p) for p in self.runtime.pids(cid)}
        args = ps_args or ["-ef"]
        out = subprocess.run(["ps", *args], capture_output=True, text=True)
        if out.returncode != 0:
            raise LayerlabError(f"ps: {out.stderr.strip()}")
        lines = out.stdout.splitlines()
        headers = lines[0].split()
        if "PID" not in headers:
            raise LayerlabError("Couldn't find PID field in ps output")
        pid_col = headers.index("PID")
        rows = []
        for line in lines[1:]:
            cells = line.split(None, len(headers) - 1)
            if len(cells) > pid_col and cells[pid_col] in pids:
                rows.append(cells)
        return headers, rows

    # --- the union filesystem ------------------------------------------------------
    def lower_dirs(self, container: Container) -> list[Path]:
        """The container's read-only layers, top first (the init layer, then the image's)."""
        return list(self._writable(container).lowers)

    def diff(self, ref: str) -> list[unionfs.Change]:
        """What the writable layer added, changed and deleted - `docker diff`."""
        return self.writable_layer(ref).changes()

    def writable_layer(self, ref: str) -> WritableLayer:
        """The container's writable layer: its paths, whether its union is mounted, its
        changes and size. For reading; the engine alone mounts and unmounts it."""
        return self._writable(self.container(ref))

    @staticmethod
    def _writable(container: Container) -> WritableLayer:
        return WritableLayer.from_graph_driver(container.data["GraphDriver"]["Data"])

    # --- images -----------------------------------------------------------------------
    @contextlib.contextmanager
    def _whole_or_none(self) -> Iterator[None]:
        """Under the store lock: a disk that fills up meanwhile leaves nothing half-made (a
        new layer no image uses goes at once, as the next command would remove it), and is
        told in one line, as Docker's daemon tells it."""
        try:
            yield
        except OSError as exc:
            if (full := no_space(exc, self.store.root)) is None:
                raise
            from layerlab.engine import fsck

            with contextlib.suppress(OSError):
                fsck.heal(self)
            raise full from None

    def commit(
        self,
        ref: str,
        repo_tag: str | None = None,
        *,
        message: str = "",
        author: str = "",
        changes: list[str] | None = None,
        pause: bool = True,
        run_config: dict[str, Any] | None = None,
        created_by: str | None = None,
        empty_layer_if_unchanged: bool = False,
    ) -> str:
        """The writable layer becomes a read-only layer of a new image; the container keeps it.

        For `build`'s steps: `run_config` is the new image's config as is (not the
        container's), `created_by` its history line, and `empty_layer_if_unchanged`
        turns an untouched writable layer into an `empty_layer` history entry
        instead of an empty layer - as Docker's builder commits its steps.
        """
        cid = self.store.resolve_container(ref)
        container = self._load(cid)
        if repo_tag is not None:
            validate_reference(repo_tag)
        parent = imagelib.read_image(self.store, container.data["Image"])
        config = commit_config(parent, container, changes or [])
        if run_config is not None:
            config["config"] = json.loads(json.dumps(run_config))
        created_by = container.command if created_by is None else created_by
        created = rfc3339_nano(time.time())
        upper = self._writable(container).upper
        empty = empty_layer_if_unchanged and not os.listdir(upper)
        history: dict[str, Any] = {"created": created, "created_by": created_by}
        if message:
            history["comment"] = message
        if author:
            history["author"] = author
            config["author"] = author
        config["created"] = created
        config["container"] = cid
        # One lock from the new layer to the image that uses it: a layer no image uses is
        # then an orphan of a killed commit, which the next command removes (fsck.heal).
        with self._frozen_for_commit(cid, pause), self.store.lock(), self._whole_or_none():
            parent_chain = parent.layers[-1].chain_id if parent.layers else None
            if empty:
                history["empty_layer"] = True
            else:
                layer = imagelib.copy_into_layer(
                    self.store, upper, parent_chain, created_by, created
                )
                config["rootfs"]["diff_ids"].append(layer.diff_id)
            config["history"].append(history)
            image_id = imagelib.write_image(self.store, config)
            imagelib.set_image_parent(self.store, image_id, parent.id)
            if repo_tag:
                imagelib.tag_image(self.store, image_id, repo_tag)
        return image_id

    @contextlib.contextmanager
    def _frozen_for_commit(self, cid: str, pause: bool) -> Iterator[None]:
        """The container frozen (if `pause` and it runs) for the block, thawed after it.

        Its shim holds the freeze while our connection to it is open and thaws once that
        closes, however it closes: a commit killed by SIGKILL leaves nothing frozen. The
        shim ends only a freeze of its own (a paused container stays paused), and of
        commits of one container together, the last one out thaws it.
        """
        import socket

        hold = None
        if pause and self._load(cid).running:
            hold = self._shim_socket(cid, FREEZE_SOCKET)
            answer = _answer(hold) if hold else "error its shim does not answer"
            if answer != "frozen":
                if hold:
                    hold.close()
                hold = None
                if self._load(cid).running:  # else it stopped meanwhile: its layer is still
                    raise LayerlabError(
                        f"Cannot pause container {cid}: {answer.removeprefix('error ')}"
                    )
        try:
            yield
        finally:
            if hold:
                with hold, contextlib.suppress(OSError):
                    hold.shutdown(socket.SHUT_WR)
                    _answer(hold)  # "thawed": the commit ends on a running container

    def build(self, context: Path, options: BuildOptions) -> str:
        """`docker build` with the legacy builder: each step run, modified, committed (build/)."""
        from layerlab.build.builder import Builder  # on use: the builder loads for builds only

        return Builder(self, context, options).run()

    def build_from_stdin(self, data: bytes, options: BuildOptions) -> str:
        """`docker build -`: `data` is the context as a tar (plain or compressed), whose
        Dockerfile is `-f` (default Dockerfile) inside it; else it is the Dockerfile
        itself, with an empty context."""
        import dataclasses
        import io

        from layerlab.build.context import scoped_resolve
        from layerlab.errors import BuildError
        from layerlab.layerfs import layers

        context = self.store.make_tmp_dir("build-context-")
        try:
            if not layers.is_tar(data):
                options = dataclasses.replace(options, dockerfile=None, dockerfile_text=data)
                return self.build(context, options)
            try:
                layers.extract_layer_tar(io.BytesIO(data), context)
            except layers.UnsafeTarError as exc:
                raise BuildError(f"unable to prepare context: {exc}") from None
            name = options.dockerfile or "Dockerfile"
            try:
                text = (context / scoped_resolve(context, name)).read_bytes()
            except OSError:
                raise BuildError(f"Cannot locate specified Dockerfile: {name}") from None
            options = dataclasses.replace(options, dockerfile=None, dockerfile_text=text)
            return self.build(context, options)
        finally:
            self.store.discard(context)

    def image_ids(self) -> list[str]:
        """Every image's id, from the store's file names alone (no config is read)."""
        return self.store.image_ids()

    def images(self, all: bool = False) -> list[tuple[str, imagelib.Image]]:
        """(`name:tag` or `<none>:<none>`, image) newest first; intermediates only with `all`.

        An image removed by another process during the listing is left out.
        """
        return imagelib.list_images(self.store, all)

    def history(self, ref: str) -> list[HistoryRow]:
        """An image's layers newest first, with the local image that stands for each."""
        image = self.image(ref)
        rows: list[HistoryRow] = []
        layer_iter = iter(image.layers)
        for entry in image.config.get("history") or []:
            layer = None if entry.get("empty_layer") else next(layer_iter, None)
            size = layer.size if layer is not None else 0
            rows.insert(
                0,
                HistoryRow(
                    "<missing>",
                    entry.get("created", ""),
                    entry.get("created_by", ""),
                    size,
                    entry.get("comment", ""),
                ),
            )
        image_id: str | None = image.id
        for row in rows:
            if image_id is None:
                break
            row.image_id = image_id
            image_id = imagelib.image_parent(self.store, image_id)
        return rows

    def tag(self, source: str, target: str) -> None:
        validate_reference(target)
        image = self.image(source)
        with self.store.lock():
            imagelib.tag_image(self.store, image.id, target)

    def rmi(self, ref: str, force: bool = False) -> ImageRemoval:
        """Docker's rmi: untag while other tags remain, delete with the last reference.

        Returns what went: the references untagged, the images and layers deleted.
        """
        with self.store.lock():
            image = self.image(ref)
            short = short_id(image.id)
            tags = imagelib.tags_of(self.store, image.id)
            by_tag = normalize_ref(ref) in tags
            users = [c for c in self.containers(all=True) if c.data["Image"] == image.id]
            running = [c for c in users if c.running]
            if running and not by_tag:
                raise Conflict(
                    f"conflict: unable to delete {short} (cannot be forced) - image is being "
                    f"used by running container {running[0].short_id}"
                )
            removal = ImageRemoval(image.id)
            # Docker: `rmi -f TAG` of an image a running container uses only untags it.
            if by_tag and (len(tags) > 1 or (force and running)):
                self._untag(normalize_ref(ref))
                removal.untagged.append(normalize_ref(ref))
                return removal
            if not by_tag and len(tags) > 1 and not force:
                raise Conflict(
                    f"conflict: unable to delete {short} (must be forced) - image is "
                    "referenced in multiple repositories"
                )
            if users and not force:
                if by_tag:
                    raise Conflict(
                        f'conflict: unable to remove repository reference "{ref}" (must force) '
                        f"- container {users[0].short_id} is using its referenced image {short}"
                    )
                raise Conflict(
                    f"conflict: unable to delete {short} (must be forced) - image is being used "
                    f"by stopped container {users[0].short_id}"
                )
            if imagelib.image_children(self.store, image.id):
                raise Conflict(
                    f"conflict: unable to delete {short} (cannot be forced) - image has "
                    "dependent child images"
                )
            for t in tags:
                self._untag(t)
                removal.untagged.append(t)
            # Forced with stopped users, Docker deletes the image too; its containers keep
            # their layers (`_delete_with_parents` leaves what a container stacks).
            self._delete_with_parents(image.id, removal)
            return removal

    def _untag(self, tag: str) -> None:
        tags = self.store.read_repositories()
        tags.pop(tag, None)
        self.store.write_repositories(tags)

    def _delete_with_parents(self, image_id: str, removal: ImageRemoval) -> None:
        """Delete an image, then each parent left untagged, childless and unused - as Docker."""
        containers = self.containers(all=True)
        used = {c.data["Image"] for c in containers}
        stacked = {os.path.realpath(p) for c in containers for p in self._writable(c).lowers}
        current: str | None = image_id
        while current:
            parent = imagelib.image_parent(self.store, current)
            removal.deleted += imagelib.delete_image(self.store, current, keep=stacked)
            removal.deleted_images.append(current)
            current = parent
            if (
                current is None
                or imagelib.tags_of(self.store, current)
                or imagelib.image_children(self.store, current)
                or current in used
            ):
                break

    def save(self, refs: list[str], out: BinaryIO) -> None:
        """Images with their metadata, as one tar Docker and OCI tools both read."""
        from layerlab.layerfs import (
            archive,  # tar and gzip machinery only for the commands using it
        )

        archive.save(self.store, refs, out)

    def load(self, src: BinaryIO | Path) -> list[str]:
        """Images from a `docker save` tarball or an OCI layout; every digest verified."""
        from layerlab.layerfs import archive

        return archive.load(self.store, src)

    def import_image(
        self, src: BinaryIO, *, message: str = "", changes: list[str] | None = None,
        repo_tag: str | None = None,
    ) -> str:  # fmt: skip
        """One tar as a one-layer image (`docker import`)."""
        from layerlab.layerfs import archive

        return archive.import_tar(
            self.store, src, message=message, changes=changes or [], repo_tag=repo_tag
        )

    def export(self, ref: str, out: BinaryIO) -> None:
        """The merged view as one tar, no metadata: what the container sees as `/`.

        A running container's union is already mounted; otherwise the writable
        layer is stacked read-only on the others for the length of the export.
        """
        from layerlab.layerfs import (
            layer_writer,  # the tar writer: only the commands that write tars
        )

        rw = self.writable_layer(ref)
        if rw.is_mounted():
            layer_writer.write_tar(rw.merged, out, names=True)
            return
        view = self.store.make_tmp_dir("export-")
        try:
            with rw.readonly_view(view) as root:
                layer_writer.write_tar(root, out, names=True)
        finally:
            self.store.discard(view)

    # --- volumes: what bypasses the union (volumes.py) ---------------------------------
    def volume_create(
        self, name: str | None = None, labels: dict[str, str] | None = None
    ) -> volumelib.Volume:
        return volumelib.create(self.store, name, labels)

    def volumes(self) -> list[volumelib.Volume]:
        """Every volume, by name (`volume ls`); one removed meanwhile is left out."""
        return volumelib.listing(self.store)

    def volume(self, name: str) -> volumelib.Volume:
        return volumelib.read(self.store, name)

    def volumes_in_use(self) -> set[str]:
        """The names of the volumes a container mounts (`volume ls -f dangling=false`)."""
        return volumelib.in_use(self._records())

    def volume_rm(self, name: str, force: bool = False) -> int:
        """Remove a volume no container uses (Docker's `volume is in use` otherwise)."""
        return volumelib.remove(self.store, name, self._records(), force)

    def volume_prune(
        self, may_go: Callable[[volumelib.Volume], bool] | None = None
    ) -> tuple[list[str], int]:
        """Remove every volume no container uses (that `may_go` lets go): (names, bytes)."""
        return volumelib.prune(self.store, self._records(), may_go)

    def _records(self) -> list[dict[str, Any]]:
        return [c.data for c in self.containers(all=True)]

    # --- cp: into the writable layer, out of the merged view (copy.py) ------------------
    def copy_to(
        self,
        ref: str,
        src: str,
        dest: str,
        *,
        archive: bool = False,
        follow_link: bool = False,
        stdin: BinaryIO | None = None,
    ) -> Container:
        """`cp SRC|- CONTAINER:DEST`: the files land in the writable layer (or a volume).

        A container that is not running is written through a union mounted for the
        copy alone, so a directory only its image has receives the files as Docker's do.
        """
        from layerlab.layerfs import copy as copylib  # tarfile's users load only for `cp`

        container = self._cp_container(ref)
        with self._rootfs(container, write=True) as root:
            copylib.copy_in(
                root, copylib.mounts_of(container.data), src, dest, ref,
                archive=archive, follow_link=follow_link, stdin=stdin,
            )  # fmt: skip
        return container

    def copy_from(
        self,
        ref: str,
        src: str,
        dest: str,
        *,
        follow_link: bool = False,
        stdout: BinaryIO | None = None,
    ) -> Container:
        """`cp CONTAINER:SRC DEST|-`: read through the union (the merged view)."""
        from layerlab.layerfs import copy as copylib

        container = self._cp_container(ref)
        with self._rootfs(container, write=False) as root:
            copylib.copy_out(
                root, copylib.mounts_of(container.data), src, dest, ref,
                follow_link=follow_link, stdout=stdout,
            )  # fmt: skip
        return container

    def _cp_container(self, ref: str) -> Container:
        try:
            return self.container(ref)
        except NotFound as exc:  # `docker cp` exits 1 for it
            raise NotFound(str(exc), exit_code=1) from None

    @contextlib.contextmanager
    def _rootfs(self, container: Container, write: bool) -> Iterator[int]:
        """The container's merged view as an open directory, for the length of the block."""
        rw = self._writable(container)
        with contextlib.ExitStack() as stack:
            if write:
                stack.enter_context(self.store.lock())  # no `start` mounts it meanwhile
            if rw.is_mounted():
                root = rw.merged
            else:
                view = self.store.make_tmp_dir("cp-")
                stack.callback(_rmdir, view)  # never rmtree: it may still be a mount
                if write:
                    unionfs.mount_overlay(rw.lowers, rw.upper, rw.work, view)
                    stack.callback(unionfs.unmount, view)
                    root = view
                else:
                    root = stack.enter_context(rw.readonly_view(view))
            fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            stack.callback(os.close, fd)
            yield fd

    # --- run flags: -u, --init, --stop-signal (issue 10) ------------------------------
    def _limit_fields(self, opts: CreateOptions) -> dict[str, Any]:
        """HostConfig's limits (flags over the store's daemon.json) and security options,
        checked before anything is made."""
        from layerlab.runtime import seccomp

        fields = limitlib.host_config(opts.limits, limitlib.store_defaults(self.store.root))
        seccomp.capabilities(DEFAULT_CAPS, opts.cap_add, opts.cap_drop, opts.privileged)
        opts.security_opt = seccomp.security_options(opts.security_opt)
        return fields

    def update(self, ref: str, changes: limitlib.LimitOptions) -> Container:
        """`docker update`: new limits in the record and, while it runs, in its cgroup."""
        cid = self.store.resolve_container(ref)
        container = self._load(cid)
        host = container.data["HostConfig"]
        base = {k: host.get(k, v) for k, v in limitlib.empty_resources().items()}
        if changes.cpus is not None:
            limitlib.flag_cpus(changes.cpus)
        fields = limitlib.resources(
            memory=changes.memory, memory_swap=changes.memory_swap,
            pids_limit=changes.pids_limit, cpus=changes.cpus, cpu_shares=changes.cpu_shares,
            base=base,
        )  # fmt: skip
        if container.running:
            self.runtime.update(cid, limitlib.oci_resources(fields))

        def change(data: dict[str, Any]) -> None:
            data["HostConfig"].update(fields)

        return self._record(cid, change)

    def _check_run_flags(self, opts: CreateOptions) -> None:
        """Refuse at create what could never start (Docker: 125, nothing created)."""
        if opts.stop_signal is not None:
            parse_signal(opts.stop_signal)
        if opts.init:
            from layerlab.engine.sysinfo import init_binary

            if init_binary() is None:
                raise LayerlabError(
                    "--init needs an init binary on the host (docker-init or tini-static): "
                    "apt-get install tini"
                )

    @staticmethod
    def _init_path(host: dict[str, Any]) -> str | None:
        if not host.get("Init"):
            return None
        from layerlab.engine.sysinfo import init_binary

        found = init_binary()
        if found is None:
            raise LayerlabError("--init: no docker-init or tini-static on this host any more")
        return found

    def _exec_process(
        self, cid: str, command: list[str], env: list[str], workdir: str | None, tty: bool,
        ids: tuple[int, int, list[int]],
    ) -> dict[str, Any]:  # fmt: skip
        """`exec -u`'s process: the container's (capabilities, limits, env), run as the
        user with only that user's groups, as Docker's exec (moby daemon/exec_linux.go)."""
        base = dict((self.bundle_spec(cid) or {}).get("process") or {})
        return {
            **base,
            "args": command,
            "env": merge_env(base.get("env") or [], env),
            "cwd": workdir or base.get("cwd") or "/",
            "terminal": tty,
            "user": spec_user(ids),
        }

    @staticmethod
    def _user_ids(rw: WritableLayer, user: str) -> tuple[int, int, list[int]]:
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

    # --- listings and disk usage (issue 10) ----------------------------------------
    def container_sizes(self, container: Container) -> tuple[int, int]:
        """(SizeRw, SizeRootFs): the writable layer's bytes, and those plus the image's
        (`ps -s`, `inspect -s`)."""
        rw, _ = self._writable(container).size()
        try:
            image_size = imagelib.read_image(self.store, container.data["Image"]).size
        except (NotFound, FileNotFoundError):
            image_size = 0
        return rw, rw + image_size

    def image_children(self, image_id: str) -> list[str]:
        return imagelib.image_children(self.store, image_id)

    def image_family(self, ref: str) -> set[str]:
        """The image `ref` names and every image built on it (`ps -f ancestor=`)."""
        root = self.image(ref).id
        family = {root}
        for image_id in self.store.image_ids():
            chain: list[str] = []
            current: str | None = image_id
            while current and current not in family:
                chain.append(current)
                current = imagelib.image_parent(self.store, current)
            if current in family:
                family.update(chain)
        return family

    # --- inspect ----------------------------------------------------------------
    def inspect(self, ref: str, size: bool = False, kind: str | None = None) -> dict[str, Any]:
        """A container's or an image's top-level metadata, container first as Docker does;
        `kind` ("container" or "image", `--type`) looks for that one only.

        With `size`, a container's also has `SizeRw` and `SizeRootFs` (`inspect -s`).
        """
        if kind == "image":
            return self.image_inspect(self.image(ref))
        try:
            data = self.container(ref).data
        except NotFound:
            if kind == "container":
                raise
        else:
            if size:
                data["SizeRw"], data["SizeRootFs"] = self.container_sizes(Container(data))
            data["NetworkSettings"] = network.settings(data, self.store.container_dir(data["Id"]))
            return data
        try:
            image = self.image(ref)
        except (NotFound, InvalidReference):
            raise NotFound(f"No such object: {ref}", exit_code=1) from None
        return self.image_inspect(image)

    def image_inspect(self, image: imagelib.Image) -> dict[str, Any]:
        tags = imagelib.tags_of(self.store, image.id)
        cfg = image.config
        return {
            "Id": image.id,
            "RepoTags": tags,
            "RepoDigests": [],
            "Parent": imagelib.image_parent(self.store, image.id) or "",
            "Comment": (cfg.get("history") or [{}])[-1].get("comment", ""),
            "Created": cfg.get("created", ""),
            "Container": "",
            "DockerVersion": "",
            "Author": cfg.get("author", ""),
            "Config": cfg.get("config", {}),
            "Architecture": cfg.get("architecture", ""),
            "Os": cfg.get("os", ""),
            "Size": image.size,
            "GraphDriver": {
                "Name": "overlay2",
                "Data": {
                    "LowerDir": ":".join(
                        str(layer.diff_path) for layer in reversed(image.layers[:-1])
                    ),
                    "UpperDir": str(image.layers[-1].diff_path) if image.layers else "",
                },
            },
            "RootFS": {"Type": "layers", "Layers": [layer.diff_id for layer in image.layers]},
            "Metadata": {"LastTagTime": ""},
        }


@contextlib.contextmanager
def _runc_errors_held(err: Any, log: Path) -> Iterator[Held | None]:
    """`exec`'s stderr through a pipe that holds what comes before the process started:
    runc writes its failure there as well as to its log, and Docker prints it once."""
    if err == subprocess.DEVNULL:
        yield None
        return
    from layerlab.runtime.pipes import held_until  # a thread and a pipe: only for exec

    dest = 2 if err is None else err if isinstance(err, int) else err.fileno()
    with held_until(dest, pid_file(log).exists) as held:
        yield held


def _set_mounts(data: dict[str, Any], fields: dict[str, Any]) -> None:
    """A new record's mounts, where `docker inspect` shows them."""
    data["Mounts"] = fields["Mounts"]
    host = data["HostConfig"]
    host["Binds"], host["Mounts"], host["Tmpfs"] = (
        fields["Binds"],
        fields["HostMounts"],
        fields["Tmpfs"],
    )
    data["Config"]["Volumes"] = fields["Volumes"]


def _unpause_if_paused(data: dict[str, Any]) -> None:
    if can(data["State"], "unpause"):  # the shim may have recorded the exit already
        transition(data["State"], "unpause")


def _answer(conn: socket.socket) -> str:
    """One line a shim says on `conn` ("" when it hung up)."""
    with conn.makefile("rb") as lines:
        return lines.readline().decode(errors="replace").strip()


def _rmdir(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.rmdir(path)
