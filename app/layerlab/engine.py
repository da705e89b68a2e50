"""The engine: one method per command, the only writer of the store.

The CLI and the TUI are two faces on this one interface. Methods return typed
records (`Container`, `Image`) or plain data, and raise `LayerlabError` with a
message worded as Docker words it.
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
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO

from layerlab import images as imagelib
from layerlab import layers, unionfs
from layerlab.containers import ZERO_TIME, Container, CreateOptions, merge_env, parse_signal
from layerlab.errors import Conflict, LayerlabError, NotFound
from layerlab.humanize import rfc3339_nano
from layerlab.instructions import apply_change
from layerlab.names import generate_name
from layerlab.reference import normalize_ref, short_id, validate_reference
from layerlab.report import ImageRemoval
from layerlab.runtime.runc import Runtime, exec_failure_code, runtime_message
from layerlab.runtime.spec import build_spec
from layerlab.store import Store, write_json_atomic

if TYPE_CHECKING:
    from layerlab.build.builder import BuildOptions

NAME_RE = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
DEFAULT_STOP_TIMEOUT = 10


Stream = int | IO[Any] | None
Stdio = tuple[Stream, Stream, Stream]


@dataclass
class HistoryRow:
    image_id: str
    created: str
    created_by: str
    size: int
    comment: str


def commit_config(
    parent: imagelib.Image, container: Container, changes: list[str]
) -> dict[str, Any]:
    """The new image's config: the parent's, overlaid with the container's, then `-c` changes."""
    config = json.loads(json.dumps(parent.config))
    run = dict(config.get("config") or {})
    cfg = container.data["Config"]
    for key in ("User", "Env", "Cmd", "WorkingDir", "Entrypoint", "Labels", "StopSignal"):
        if cfg.get(key):
            run[key] = cfg[key]
    for change in changes:
        apply_change(run, change)
    config["config"] = run
    config.setdefault("rootfs", {"type": "layers", "diff_ids": []})
    config.setdefault("history", [])
    config.pop("container", None)
    return config


@dataclass(frozen=True)
class LogEntry:
    stream: str
    text: str
    time: str


class Shim:
    """The detached per-container shim we started; `wait()` gives the container's exit code."""

    def __init__(self, pid: int, popen: subprocess.Popen[bytes] | None = None) -> None:
        self.pid = pid
        self.popen = popen

    def wait(self) -> int:
        if self.popen is not None:
            return self.popen.wait()
        return os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])


def _fileno(stream: Stream) -> int:
    if stream is None:
        return -1
    return stream if isinstance(stream, int) else stream.fileno()


def spawn_shim(root: Path, cid: str, ready_fd: int, attach: Stdio | None) -> Shim:
    """Start `layerlab.runtime.shim` in its own session.

    A single-threaded CLI forks it: the child already has every module loaded,
    which saves a whole interpreter start on each `run`. A threaded process
    (the TUI) must not fork, so it starts a fresh interpreter instead.
    """
    stdin, stdout, stderr = attach or (subprocess.DEVNULL,) * 3
    if threading.active_count() > 1:
        argv = [sys.executable, "-m", "layerlab.runtime.shim", str(root), cid, str(ready_fd)]
        argv += ["--attach"] if attach is not None else []
        popen = subprocess.Popen(
            argv,
            pass_fds=(ready_fd,),
            start_new_session=True,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            cwd=root,
        )
        return Shim(popen.pid, popen)
    from layerlab.runtime import shim

    targets = [
        subprocess.DEVNULL if s is None and attach is None else s for s in (stdin, stdout, stderr)
    ]
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    pid = os.fork()
    if pid:
        return Shim(pid)
    code = 1
    try:
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for target_fd, stream in enumerate(targets):
            fd = null if stream == subprocess.DEVNULL else _fileno(stream)
            if fd >= 0 and fd != target_fd:
                os.dup2(fd, target_fd)
        code = shim.serve(root, cid, ready_fd, attach is not None)
    finally:
        os._exit(code)


class Engine:
    def __init__(self, root: Path | None = None) -> None:
        self.store = Store(root)

    @cached_property
    def runtime(self) -> Runtime:
        return Runtime.for_store(self.store.root)

    # --- reading ----------------------------------------------------------
    def container(self, ref: str) -> Container:
        return self._load(self.store.resolve_container(ref))

    def containers(self, all: bool = False) -> list[Container]:
        """Newest first, as `ps` lists them; only running ones unless `all`."""
        found = []
        for cid in self.store.container_ids():
            with contextlib.suppress(FileNotFoundError):
                found.append(self._load(cid))
        found.sort(key=lambda c: c.data["Created"], reverse=True)
        return [c for c in found if all or c.running]

    def _load(self, cid: str) -> Container:
        data = self.store.read_container(cid)
        if data["State"].get("Running") and not self._shim_alive(cid):
            # The shim was killed (or the host rebooted): Docker reports such a container as 255.
            data["State"].update(Status="exited", Running=False, Paused=False, Pid=0)
            data["State"].update(ExitCode=255, FinishedAt=data["State"]["StartedAt"])
        return Container(data)

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

    # --- create / start / run ----------------------------------------------
    def create(self, image_ref: str, opts: CreateOptions) -> Container:
        """A writable layer on top of the image, plus metadata: no mount, no process."""
        if opts.name is not None and not NAME_RE.match(opts.name):
            raise LayerlabError(
                f"Invalid container name ({opts.name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )
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
        env = merge_env(list(cfg.get("Env") or []), opts.env)
        cid = os.urandom(32).hex()
        with self.store.lock():
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
            try:
                for sub in ("diff", "work", "merged", "bundle"):
                    (staged / sub).mkdir()
                unionfs.create_init_layer(staged / "init")
                hostname = opts.hostname or short_id(cid)
                unionfs.write_etc_files(staged, hostname)
                lowers = [final / "init"] + [layer.diff_path for layer in reversed(image.layers)]
                data = self._new_record(
                    cid, name, image, image_ref, (entrypoint, cmd), env, hostname, opts
                )
                data["GraphDriver"] = {
                    "Name": "overlay2",
                    "Data": {
                        "LowerDir": ":".join(str(p) for p in lowers),
                        "UpperDir": str(final / "diff"),
                        "MergedDir": str(final / "merged"),
                        "WorkDir": str(final / "work"),
                    },
                }
                write_json_atomic(staged / "config.json", data)
                os.rename(staged, final)
            except BaseException:
                self.store.discard(staged)
                raise
        return Container(data)

    def _new_record(
        self,
        cid: str,
        name: str,
        image: imagelib.Image,
        image_ref: str,
        entry_cmd: tuple[list[str], list[str]],
        env: list[str],
        hostname: str,
        opts: CreateOptions,
    ) -> dict[str, Any]:
        cfg = image.run_config
        cdir = self.store.container_dir(cid)
        entrypoint, cmd = entry_cmd
        argv = entrypoint + cmd
        return {
            "Id": cid,
            "Created": rfc3339_nano(time.time()),
            "Path": argv[0],
            "Args": argv[1:],
            "State": {
                "Status": "created",
                "Running": False,
                "Paused": False,
                "Restarting": False,
                "OOMKilled": False,
                "Dead": False,
                "Pid": 0,
                "ExitCode": 0,
                "Error": "",
                "StartedAt": ZERO_TIME,
                "FinishedAt": ZERO_TIME,
            },
            "Image": image.id,
            "ResolvConfPath": str(cdir / "resolv.conf"),
            "HostnamePath": str(cdir / "hostname"),
            "HostsPath": str(cdir / "hosts"),
            "LogPath": str(cdir / f"{cid}-json.log"),
            "Name": "/" + name,
            "RestartCount": 0,
            "Driver": "overlay2",
            "Platform": "linux",
            "HostConfig": {
                "AutoRemove": opts.auto_remove,
                "NetworkMode": "none",
                "Runtime": self.runtime.name,
                "LogConfig": {"Type": "json-file", "Config": {}},
            },
            "Config": {
                "Hostname": hostname,
                "Domainname": "",
                "User": cfg.get("User", ""),
                "AttachStdin": opts.attach and opts.interactive,
                "AttachStdout": opts.attach,
                "AttachStderr": opts.attach,
                "Tty": opts.tty,
                "OpenStdin": opts.interactive,
                "StdinOnce": opts.attach and opts.interactive,
                "Env": env,
                "Cmd": cmd,
                "Image": image_ref,
                "WorkingDir": opts.workdir
                if opts.workdir is not None
                else cfg.get("WorkingDir", ""),
                "Entrypoint": entrypoint or None,
                "Labels": dict(cfg.get("Labels") or {}),
                "StopSignal": cfg.get("StopSignal", "SIGTERM"),
            },
            "NetworkSettings": {"Networks": {"none": {}}},
        }

    def start(self, ref: str) -> Container:
        """Mount the union, hand the bundle to a detached shim, return once it runs."""
        cid = self.store.resolve_container(ref)
        self._launch(cid, attach=None)
        return self._load(cid)

    def start_attached(self, ref: str, stdio: Stdio = (None, None, None)) -> int:
        """`start -a` / foreground `run`: stream output to `stdio` and return the exit code.

        `stdio` are the attach targets (file descriptors or files; None = ours).
        """
        cid = self.store.resolve_container(ref)
        shim = self._launch(cid, attach=stdio)
        return shim.wait()

    def run(
        self, image_ref: str, opts: CreateOptions, stdio: Stdio = (None, None, None)
    ) -> tuple[Container, int | None]:
        container = self.create(image_ref, opts)
        if opts.attach:
            return container, self.start_attached(container.id, stdio)
        return self.start(container.id), None

    def _launch(self, cid: str, attach: Stdio | None) -> Shim:
        with self.store.lock():
            container = self._load(cid)
            if container.paused:
                raise Conflict("cannot start a paused container, try unpause instead")
            merged = self.store.container_dir(cid) / "merged"
            if container.running or os.path.ismount(merged):
                raise Conflict(f"Container {cid} is already running")
            image = imagelib.read_image(self.store, container.data["Image"])
            self._prepare(container, image)
        ready_r, ready_w = os.pipe()
        try:
            shim = spawn_shim(self.store.root, cid, ready_w, attach)
        except BaseException:
            unionfs.unmount(merged)
            raise
        finally:
            os.close(ready_w)
        with os.fdopen(ready_r, "rb") as ready:
            answer = ready.readline().decode().strip()
        if answer.startswith("ok"):
            return shim
        shim.wait()
        unionfs.unmount(merged)
        if answer.startswith("error "):
            _, code, message = answer.split(" ", 2)
            raise LayerlabError(f"failed to start container {short_id(cid)}: {message}", int(code))
        raise LayerlabError(f"the shim for {short_id(cid)} died before the container started")

    def _prepare(self, container: Container, image: imagelib.Image) -> None:
        cdir = self.store.container_dir(container.id)
        cfg = container.data["Config"]
        spec = build_spec(
            args=[container.data["Path"], *container.data["Args"]],
            env=cfg["Env"],
            cwd=cfg.get("WorkingDir") or "/",
            user=cfg.get("User", ""),
            hostname=cfg["Hostname"],
            tty=bool(cfg.get("Tty")),
            rootfs=cdir / "merged",
            container_dir=cdir,
            netns=cdir / "netns",
            cgroup=f"/layerlab/{container.id}",
        )
        write_json_atomic(cdir / "bundle" / "config.json", spec)
        lowers = [cdir / "init"] + [layer.diff_path for layer in reversed(image.layers)]
        unionfs.mount_overlay(lowers, cdir / "diff", cdir / "work", cdir / "merged")

    # --- signals and states ----------------------------------------------------
    def wait_exit(self, cid: str, timeout: float | None = None) -> bool:
        """Block until the container's shim has recorded the exit; False on timeout."""
        pid = self._shim_pid(cid)
        if pid is None:
            return True
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            return True
        try:
            readable, _, _ = select.select([fd], [], [], timeout)
            return bool(readable)
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
            self.runtime.resume(cid)
        self._set_state(cid, Paused=False, Status="running")

    def _set_state(self, cid: str, **state: Any) -> Container:
        with self.store.lock():
            data = self.store.read_container(cid)
            data["State"].update(state)
            self.store.write_container(data)
        return Container(data)

    def pause(self, ref: str) -> Container:
        """Freeze every process with the cgroup freezer: no signal is sent."""
        cid = self.store.resolve_container(ref)
        container = self._require_running(cid)
        if container.paused:
            raise Conflict(f"Container {cid} is already paused")
        self.runtime.pause(cid)
        return self._set_state(cid, Paused=True, Status="paused")

    def unpause(self, ref: str) -> Container:
        cid = self.store.resolve_container(ref)
        container = self._load(cid)
        if not container.paused:
            raise Conflict(f"Container {cid} is not paused")
        self.runtime.resume(cid)
        return self._set_state(cid, Paused=False, Status="running")

    def wait(self, ref: str) -> int:
        cid = self.store.resolve_container(ref)
        self.wait_exit(cid)
        return int(self._load(cid).state.get("ExitCode", 0))

    def rm(self, ref: str, force: bool = False) -> str:
        """Delete the container and its writable layer (refused while running, unless forced)."""
        cid = self.store.resolve_container(ref)
        container = self._load(cid)
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
            self.kill(cid, signal.SIGKILL)
        with self.store.lock():
            cdir = self.store.container_dir(cid)
            self.runtime.release(cid, cdir)
            # Rename first so no reader ever sees half a container.
            doomed = self.store.make_tmp_dir("removing-")
            os.rename(cdir, doomed / cid)
        self.store.discard(doomed)
        return cid

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
    ) -> int:
        """Run one more process in the container's namespaces and cgroup."""
        cid = self.store.resolve_container(ref)
        container = self._require_running(cid)
        if container.paused:
            raise Conflict(f"Container {cid} is paused, unpause the container before exec")
        if not command:
            raise LayerlabError("exec requires at least 1 argument")
        if detach and tty:
            raise LayerlabError("exec -d with -t is not supported: attach needs a terminal")
        log = Path(
            tempfile.mkstemp(prefix="exec-", suffix=".log", dir=self.store.container_dir(cid))[1]
        )
        proc = self.runtime.exec(
            cid,
            command,
            env=merge_env([], env or []),
            cwd=workdir,
            tty=tty,
            detach=detach,
            stdin=stdio[0] if interactive and not detach else subprocess.DEVNULL,
            stdout=subprocess.DEVNULL if detach else stdio[1],
            stderr=subprocess.DEVNULL if detach else stdio[2],
            log=log,
        )
        code = proc.wait()
        failure = log.read_text(errors="replace") if code == 255 else ""
        log.unlink(missing_ok=True)
        if failure.strip():  # runc could not start the process: Docker's 126/127
            return exec_failure_code(runtime_message(failure))
        return code

    def logs(self, ref: str, follow: bool = False) -> Iterator[LogEntry]:
        """The json-file log as entries; with `follow`, until the container stops."""
        cid = self.store.resolve_container(ref)
        path = Path(self._load(cid).data["LogPath"])
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed below, generator lifetime
        except FileNotFoundError:
            if not follow:
                return
            path.touch()
            f = open(path, "rb")  # noqa: SIM115
        with f:
            buffer = b""
            while True:
                chunk = f.readline()
                if chunk:
                    buffer += chunk
                    if buffer.endswith(b"\n"):
                        record = json.loads(buffer)
                        buffer = b""
                        yield LogEntry(record["stream"], record["log"], record["time"])
                    continue
                if not follow or not self._load(cid).running:
                    break
                time.sleep(0.05)

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
        return [Path(p) for p in container.data["GraphDriver"]["Data"]["LowerDir"].split(":")]

    def diff(self, ref: str) -> list[unionfs.Change]:
        """What the writable layer added, changed and deleted - `docker diff`."""
        container = self.container(ref)
        return unionfs.changes(Path(container.upper_dir), self.lower_dirs(container))

    # --- images -----------------------------------------------------------------------
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
        upper = Path(container.upper_dir)
        empty = empty_layer_if_unchanged and not os.listdir(upper)
        freeze = pause and container.running and not container.paused
        if freeze:
            self.runtime.pause(cid)
        try:
            with self.store.lock():
                parent_chain = parent.layers[-1].chain_id if parent.layers else None
                layer: imagelib.Layer | None = None
                if not empty:
                    layer = imagelib.copy_into_layer(
                        self.store, upper, parent_chain, created_by, created
                    )
        finally:
            if freeze:
                self.runtime.resume(cid)
        history: dict[str, Any] = {"created": created, "created_by": created_by}
        if layer is None:
            history["empty_layer"] = True
        if message:
            history["comment"] = message
        if author:
            history["author"] = author
            config["author"] = author
        config["created"] = created
        config["container"] = cid
        if layer is not None:
            config["rootfs"]["diff_ids"].append(layer.diff_id)
        config["history"].append(history)
        with self.store.lock():
            image_id = imagelib.write_image(self.store, config)
            imagelib.set_image_parent(self.store, image_id, parent.id)
            if repo_tag:
                imagelib.tag_image(self.store, image_id, repo_tag)
        return image_id

    def build(self, context: Path, options: BuildOptions) -> str:
        """`docker build` with the legacy builder: each step run, modified, committed (build/)."""
        from layerlab.build.builder import Builder  # on use: the builder loads for builds only

        return Builder(self, context, options).run()

    def images(self, all: bool = False) -> list[tuple[str, imagelib.Image]]:
        """(`name:tag` or `<none>:<none>`, image) newest first; intermediates only with `all`."""
        tags = self.store.read_repositories()
        parents = {imagelib.image_parent(self.store, i) for i in self.store.image_ids()}
        rows: list[tuple[str, imagelib.Image]] = []
        for image_id in self.store.image_ids():
            image = imagelib.read_image(self.store, image_id)
            names = sorted(t for t, i in tags.items() if i == image_id)
            if names:
                rows.extend((name, image) for name in names)
            elif all or image_id not in parents:  # dangling images show; intermediates hide
                rows.append(("<none>:<none>", image))
        rows.sort(key=lambda row: (row[1].created, row[0]), reverse=True)
        return rows

    def history(self, ref: str) -> list[HistoryRow]:
        """An image's layers newest first, with the local image that stands for each."""
        image = self.image(ref)
        rows: list[HistoryRow] = []
        layer_iter = iter(image.layers)
        for entry in image.config.get("history") or []:
            size = 0 if entry.get("empty_layer") else next(layer_iter).size
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
            if running and (force or not by_tag or len(tags) == 1):
                raise Conflict(
                    f"conflict: unable to delete {short} (cannot be forced) - image is being "
                    f"used by running container {running[0].short_id}"
                )
            removal = ImageRemoval(image.id)
            if by_tag and len(tags) > 1:
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
            if users:  # forced: the containers keep the layers; only the name goes
                return removal
            self._delete_with_parents(image.id, removal)
            return removal

    def _untag(self, tag: str) -> None:
        tags = self.store.read_repositories()
        tags.pop(tag, None)
        self.store.write_repositories(tags)

    def _delete_with_parents(self, image_id: str, removal: ImageRemoval) -> None:
        """Delete an image, then each parent left untagged, childless and unused - as Docker."""
        used = {c.data["Image"] for c in self.containers(all=True)}
        current: str | None = image_id
        while current:
            parent = imagelib.image_parent(self.store, current)
            removal.deleted += imagelib.delete_image(self.store, current)
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
        from layerlab import archive  # tar and gzip machinery only for the commands using it

        archive.save(self.store, refs, out)

    def load(self, src: BinaryIO | Path) -> list[str]:
        """Images from a `docker save` tarball or an OCI layout; every digest verified."""
        from layerlab import archive

        return archive.load(self.store, src)

    def import_image(
        self, src: BinaryIO, *, message: str = "", changes: list[str] | None = None,
        repo_tag: str | None = None,
    ) -> str:  # fmt: skip
        """One tar as a one-layer image (`docker import`)."""
        from layerlab import archive

        return archive.import_tar(
            self.store, src, message=message, changes=changes or [], repo_tag=repo_tag
        )

    def export(self, ref: str, out: BinaryIO) -> None:
        """The merged view as one tar, no metadata: what the container sees as `/`.

        A running container's union is already mounted; otherwise the writable
        layer is stacked read-only on the others for the length of the export.
        """
        container = self.container(ref)
        merged = Path(container.data["GraphDriver"]["Data"]["MergedDir"])
        if os.path.ismount(merged):
            layers.write_layer_tar(merged, out)
            return
        view = self.store.make_tmp_dir("export-")
        lowers = [Path(container.upper_dir), *self.lower_dirs(container)]
        try:
            unionfs.mount_readonly(lowers, view)
            try:
                layers.write_layer_tar(view, out)
            finally:
                unionfs.unmount(view)
        finally:
            self.store.discard(view)

    # --- inspect ----------------------------------------------------------------
    def inspect(self, ref: str) -> dict[str, Any]:
        """A container's or an image's top-level metadata, container first as Docker does."""
        with contextlib.suppress(NotFound):
            return self.container(ref).data
        try:
            image = self.image(ref)
        except NotFound:
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
