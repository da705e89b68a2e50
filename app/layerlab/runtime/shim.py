"""The per-container shim: `python -m layerlab.runtime.shim ROOT ID READY_FD [--attach] [--keys=X]`.

One detached shim per running container. It outlives the CLI that started it
(like containerd-shim): it creates the container with the runtime, becomes the
parent of the container's first process (a child subreaper), writes what the
container prints to Docker's json-file log, records the exit code and times
when the process ends, and takes the union mount down again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import selectors
import signal
import stat
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from layerlab import libc
from layerlab.errors import IllegalTransition, LayerlabError, NotFound, no_space
from layerlab.network import wait_ready as wait_network
from layerlab.network.ports import address
from layerlab.network.proxy import Proxies, PublishFailed
from layerlab.presentation.humanize import rfc3339_nano
from layerlab.runtime import cgroups, restart
from layerlab.runtime.detachkeys import DetachKeys, Scanner
from layerlab.runtime.runc import (
    ATTACH_SOCKET,
    FREEZE_SOCKET,
    FROZEN_MARKER,
    STDIN_FIFO,
    Runtime,
    exec_failure_code,
    runtime_message,
    start_failure,
)
from layerlab.storage import events, limits, volumes
from layerlab.storage.containers import apply, transition
from layerlab.storage.store import Store

if TYPE_CHECKING:
    import socket

CHUNK = 65536
NAME = "layerlab-shim"  # what `ps -e` and `top` call us; the command line names the container
# How long runc has to hand over a `-t` container's pty master; LAYERLAB_CONSOLE_TIMEOUT overrides.
CONSOLE_TIMEOUT = 10.0


class StartFailed(Exception):
    """The container could not be started as asked: reported to the starter, then undone."""


class JsonLog:
    """Docker's json-file log driver: one `{"log","stream","time"}` object per line."""

    def __init__(self, path: Path, max_size: int = 0, max_file: int = 1) -> None:
        self.path = path
        self.max_size = max_size  # 0: unlimited; else rotate to path.1 .. path.<max_file-1>
        self.max_file = max_file
        self.file = open(path, "ab", buffering=0)  # noqa: SIM115 - lives as long as the shim
        self.size = self.file.tell()
        self.partial: dict[str, bytes] = {"stdout": b"", "stderr": b""}

    def _append(self, out: bytes) -> None:
        if self.max_size and self.size and self.size + len(out) > self.max_size:
            self._rotate()
        try:
            written = self.file.write(out)
        except OSError:
            written = None
        if written != len(out):  # a full disk: the record is dropped whole, as json-file
            with contextlib.suppress(OSError):  # drops it; the container goes on
                self.file.truncate(self.size)
            return
        self.size += len(out)

    def _rotate(self) -> None:
        """json-file's rotation: log -> log.1 -> ... -> log.<max-file - 1>, the oldest dropped."""
        self.file.close()
        if self.max_file <= 1:
            self.file = open(self.path, "wb", buffering=0)  # noqa: SIM115
        else:
            for n in range(self.max_file - 1, 0, -1):
                older = Path(f"{self.path}.{n - 1}") if n > 1 else self.path
                with contextlib.suppress(FileNotFoundError):
                    os.replace(older, f"{self.path}.{n}")
            self.file = open(self.path, "ab", buffering=0)  # noqa: SIM115
        self.size = 0

    def write(self, stream: str, data: bytes) -> None:
        buf = self.partial[stream] + data
        *lines, rest = buf.split(b"\n")
        self.partial[stream] = rest
        records = [self._record(stream, line + b"\n") for line in lines]
        if len(rest) > 16384:  # Docker flushes long partial lines too
            records.append(self._record(stream, rest))
            self.partial[stream] = b""
        if self.max_size:  # a rotation may fall between any two records
            for record in records:
                self._append(record)
        elif records:
            self._append(b"".join(records))

    def close(self) -> None:
        for stream, rest in self.partial.items():
            if rest:
                self._append(self._record(stream, rest))
        self.file.close()

    @staticmethod
    def _record(stream: str, data: bytes) -> bytes:
        log = data.decode("utf-8", "replace")
        return (
            json.dumps({"log": log, "stream": stream, "time": rfc3339_nano(time.time())}).encode()
            + b"\n"
        )


class Shim:
    def __init__(
        self,
        store: Store,
        container_id: str,
        ready_fd: int,
        attach: bool,
        detach_keys: bytes | None = None,
    ) -> None:
        self.store = store
        self.id = container_id
        self.dir = store.container_dir(container_id)
        self.ready_fd = ready_fd
        self.attach = attach
        # With a terminal attached: the keys that let it go (the starter then hears it).
        self.detach_keys = DetachKeys(detach_keys) if detach_keys else None
        self.config = store.read_container(container_id)
        self.runtime = Runtime.for_store(store.root)
        self.bundle = self.dir / "bundle"
        self.master = -1  # the pty's master end, for a container with a terminal
        self.fifo = -1  # our end of STDIN_FIFO (`attach` writes there), for a `-i` container
        self.freezer: Freezer | None = None
        self.proxies = Proxies([])

    # --- state ------------------------------------------------------------
    def record(self, event: str, **facts: Any) -> dict[str, Any] | None:
        """Move the container's State by `event` (containers.TRANSITIONS); None if it is gone."""
        try:
            return self.store.update_container(self.id, apply(event, **facts))
        except NotFound:  # removed meanwhile (`rm -f`): nothing left to record
            return None

    def report(self, message: str, more: bool = False) -> None:
        """Tell the waiting `start` how it went; after this the shim is on its own, unless
        `more` is to come (a terminal attached with detach keys: whether they were typed)."""
        if self.ready_fd >= 0:
            with contextlib.suppress(OSError):
                os.write(self.ready_fd, message.encode() + b"\n")
            if not more:
                os.close(self.ready_fd)
                self.ready_fd = -1

    # --- life -------------------------------------------------------------
    def run(self) -> int:
        libc.become_subreaper()
        os.chdir(self.bundle)
        # Held until this process ends, however it ends: readers test it to know we live.
        self._alive = os.open(self.dir / "shim.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC)
        fcntl.flock(self._alive, fcntl.LOCK_EX)
        (self.dir / "shim.pid").write_text(f"{os.getpid()}\n")
        restart.clear(self.dir)
        tty = bool(self.config["Config"].get("Tty"))
        if self.config["Config"].get("OpenStdin"):
            self.fifo = self.open_fifo()
        try:
            wait_network(self.dir)  # its links, made by the start meanwhile
            self.proxies = Proxies.bind(self.config, self.dir)  # a port taken: this start's error
            pid, ours = self.launch(tty, restart_count=0)
            self.publish()
        except Exception as exc:  # the start failed: tell the CLI, undo the mount
            message = str(exc) if not isinstance(exc, OSError) else f"{exc.strerror}"
            code = exec_failure_code(message)
            full = no_space(exc, self.dir)  # ours, not the runtime's: said as the daemon says it
            message = str(full) if full else start_failure(message)
            if isinstance(exc, PublishFailed):  # the network's refusal, not the runtime's
                code, message = exc.exit_code, str(exc)
            self.proxies.stop()
            self.cleanup()
            with contextlib.suppress(IllegalTransition):
                self.record("start_failed", error=message, exit_code=code)
            self.report(f"error {code} {message}")
            return 1
        self.report(f"ok {pid}", more=self.detach_keys is not None)
        code, oom = self.supervise(pid, ours, tty)
        self.proxies.stop()
        if self.config.get("HostConfig", {}).get("AutoRemove"):  # `run --rm`: gone as runc deletes
            self.runtime.release(self.id, self.dir, meanwhile=lambda: self.finish(code, oom))
        else:  # recorded as exited only once runc forgot it: a `start` may follow at once
            self.cleanup()
            self.finish(code, oom)
        return code

    def launch(self, tty: bool, restart_count: int | None = None) -> tuple[int, dict[str, int]]:
        """Run the container's process (`restart_count`: None keeps the record's), and
        record it running: its pid, and our ends of its output."""
        # Before the record says running: a commit may ask for its freeze at once.
        self.freezer = Freezer(self.id, self.dir, self.runtime)
        stdio, ours, console = self.make_stdio(tty, bool(self.config["Config"].get("OpenStdin")))
        pid = self.create(stdio, console)
        for fd in set(stdio):  # the container holds its ends now
            if fd > 2:
                os.close(fd)
        at = rfc3339_nano(time.time())

        def started(data: dict[str, Any]) -> None:
            transition(data["State"], "start", pid=pid, at=at)
            if restart_count is not None:  # a start by the user counts from 0 (Docker's)
                data["RestartCount"] = restart_count

        data = self.store.update_container(self.id, started)
        events.mounts(self.store.root, data, "mount")
        events.container(self.store.root, data, "start")
        return pid, ours

    def supervise(self, pid: int, ours: dict[str, int], tty: bool) -> tuple[int, bool]:
        """Wait for the process to end, and run it again as the restart policy says
        (runtime/restart.py); the exit code and OOM kill of the last run."""
        supervisor = restart.Supervisor()
        while True:
            began = time.monotonic()
            code = self.watch(pid, ours, tty)
            oom = self.oom_killed()  # before runc deletes the cgroup that counted it
            record = self.died(code)
            ran, stopped = time.monotonic() - began, restart.stopped_by_user(self.dir)
            delay = supervisor.delay(restart.policy_of(record), code, ran, stopped)
            if delay is None or not self.restarting(code, oom):
                return code, oom
            self.runtime.delete(self.id)  # runc forgets the run; the union stays mounted
            if self.attach:
                self.hand_back(code)
            if not self.back_off(delay):
                return code, oom
            try:
                pid, ours = self.launch(tty)
            except Exception:  # it cannot run again: it stays exited, as it ended
                return code, oom

    def restarting(self, code: int, oom: bool) -> bool:
        """Record the wait before a restart (Docker's `Restarting`); False if it is gone."""

        def wait(data: dict[str, Any]) -> None:
            transition(data["State"], "restart", exit_code=code, oom_killed=oom)
            data["RestartCount"] = int(data.get("RestartCount") or 0) + 1

        try:
            self.store.update_container(self.id, wait)
        except (NotFound, IllegalTransition):
            return False
        return True

    def watch(self, pid: int, ours: dict[str, int], tty: bool) -> int:
        """`pump`'s exit code; a failure of ours stops the container (255)."""
        try:
            return self.pump(pid, ours, tty)
        except Exception:  # never die silently: stop the container, record why
            with contextlib.suppress(Exception):
                self.runtime.kill(self.id, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            return 255
        finally:
            if self.master >= 0:
                os.close(self.master)
                self.master = -1

    def died(self, code: int) -> dict[str, Any]:
        """Journal the end of a run (`die`, the volumes unmounted); the record as it is."""
        try:
            record = self.store.read_container(self.id)
        except (LayerlabError, OSError):  # removed meanwhile, or unreadable
            record = self.config
        events.container(self.store.root, record, "die", exitCode=str(code))
        events.mounts(self.store.root, record, "unmount")
        return record

    def hand_back(self, code: int) -> None:
        """An attached starter waits for our end and takes our exit code: it has the
        first run's, as Docker's attached `run` ends at the first exit; a child of ours
        supervises on, detached from the starter's terminal."""
        if os.fork():
            os._exit(code)
        libc.become_subreaper()  # not inherited across fork
        (self.dir / "shim.pid").write_text(f"{os.getpid()}\n")  # shim.lock came with us
        self.attach = False
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.close(null)
        if self.ready_fd >= 0:
            os.close(self.ready_fd)
            self.ready_fd = -1
        self.proxies.respawn()  # those of the starter's end with it

    def back_off(self, delay: float) -> bool:
        """Wait `delay` seconds before a restart; False when the user stopped it meanwhile."""
        deadline = time.monotonic() + delay
        while (left := deadline - time.monotonic()) > 0:
            if restart.stopped_by_user(self.dir):
                return False
            time.sleep(min(left, 0.05))
        return not restart.stopped_by_user(self.dir)

    def publish(self) -> None:
        """The published ports forwarded to the container, and recorded as Docker's
        `NetworkSettings.Ports` (cleared again by `finish`)."""
        ports = self.proxies.start(self.config, address(self.dir))
        if ports:
            self.store.update_container(self.id, _set_ports(ports))

    def finish(self, code: int, oom: bool) -> None:
        """Record the exit; a `--rm` container is then removed, with its anonymous volumes."""
        data = None
        with contextlib.suppress(IllegalTransition):  # the record was changed under us
            data = self.record("exit", exit_code=code, at=rfc3339_nano(time.time()), oom_killed=oom)
        if data is not None and (data.get("NetworkSettings") or {}).get("Ports"):
            with contextlib.suppress(NotFound):  # removed meanwhile (`rm -f`)
                data = self.store.update_container(self.id, _set_ports({}))
        if data is not None and data.get("HostConfig", {}).get("AutoRemove"):
            with self.store.lock():
                self.store.discard(self.dir)
                volumes.remove_anonymous(self.store, data)  # `run --rm`: Docker's `rm -v`
            events.container(self.store.root, data, "destroy")

    def oom_killed(self) -> bool:
        """Docker's `State.OOMKilled`: the kernel's OOM killer ended a process of the cgroup."""
        try:
            return cgroups.oom_kills(cgroups.container_group(self.id)) > 0
        except (OSError, ValueError):
            return False

    def make_stdio(
        self, tty: bool, open_stdin: bool
    ) -> tuple[tuple[int, int, int], dict[str, int], Path | None]:
        """The container's stdin/stdout/stderr, and our ends of them."""
        null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        if tty:
            # Relative to our cwd (the bundle): a unix socket path must fit in 108 bytes.
            return (null, null, null), {}, Path("console.sock")
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        ours = {"stdout": out_r, "stderr": err_r}
        stdin = null
        if open_stdin:
            stdin, ours["stdin"] = os.pipe()
        return (stdin, out_w, err_w), ours, None

    def open_fifo(self) -> int:
        """The FIFO `attach` writes a `-i` container's input to. Opened for reading and
        writing, it never ends: an attach that closes its end leaves the container's stdin
        open, as Docker's does for a container it did not start attached (StdinOnce)."""
        path = self.dir / STDIN_FIFO
        path.unlink(missing_ok=True)
        os.mkfifo(path, 0o600)
        return os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)

    def create(self, stdio: tuple[int, int, int], console: Path | None) -> int:
        """`runc run --detach`: the process starts, runc exits, and we inherit the process."""
        pid_file = self.bundle / "pid"
        server = None
        if console is not None:
            import socket  # only a `-t` container's console needs one

            with contextlib.suppress(FileNotFoundError):
                console.unlink()
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            server.bind(str(console))
            server.listen(1)
        log = self.bundle / "runtime.log"
        log.unlink(missing_ok=True)
        proc = self.runtime.run_detached(self.id, self.bundle, pid_file, stdio, log, console)
        timeout = float(os.environ.get("LAYERLAB_CONSOLE_TIMEOUT") or CONSOLE_TIMEOUT)
        try:
            if server is not None:
                self.master = self._receive_console(server, timeout)
        finally:
            code = proc.wait()
            if server is not None:
                server.close()
        if code != 0:
            text = log.read_text(errors="replace") if log.exists() else ""
            raise RuntimeError(runtime_message(text) or f"exit status {code}")  # as Go's exec
        if server is not None and self.master < 0:
            # runc made the container but we have no terminal for it: it cannot be run as
            # asked. `cleanup` deletes it; the starter hears why.
            raise StartFailed(
                f"the runtime did not hand over the container's console in {timeout:g}s"
            )
        return int(pid_file.read_text())

    @staticmethod
    def _receive_console(server: socket.socket, timeout: float) -> int:
        """The pty master runc sends over the console socket, or -1 if none came in time."""
        import socket  # as in `create`: only for a console

        server.settimeout(timeout)
        try:
            conn, _ = server.accept()
        except OSError:  # timed out (or the socket broke)
            return -1
        with conn:
            conn.settimeout(timeout)
            try:
                _, fds, _, _ = socket.recv_fds(conn, 1024, 1)
            except OSError:
                return -1
        return fds[0] if fds else -1

    def pump(self, pid: int, ours: dict[str, int], tty: bool) -> int:
        """Copy output to the log (and the attached terminal) until the process ends."""
        log_config = self.config.get("HostConfig", {}).get("LogConfig", {}).get("Config") or {}
        log = JsonLog(Path(self.config["LogPath"]), *limits.log_rotation(log_config))
        sel = selectors.DefaultSelector()
        sinks = {"stdout": 1, "stderr": 2}
        attached = self.attach
        if tty:
            ours = {"stdout": self.master}
            if attached:
                self.size_pty(self.master)
                if self.config["Config"].get("OpenStdin"):
                    ours["stdin"] = self.master
        for stream in ("stdout", "stderr"):
            if stream in ours:
                sel.register(ours[stream], selectors.EVENT_READ, stream)
        stdin_target = ours.get("stdin")
        # Where what `attach` writes goes: the pty, else the stdin pipe - unless an attached
        # starter (`run -i`) owns that pipe: its input's end closes it (Docker's StdinOnce).
        fifo_target = self.master if tty else (None if attached else stdin_target)
        if self.fifo >= 0:
            sel.register(self.fifo, selectors.EVENT_READ, "fifo")
        watchers = Watchers.serve(sel) if tty else None
        scanner = Scanner(self.detach_keys) if self.detach_keys and tty else None
        if attached and stdin_target is not None:
            if _pollable(0):
                sel.register(0, selectors.EVENT_READ, "attach-stdin")
            else:  # a regular file (`< file`): epoll refuses it, plain reads copy it
                threading.Thread(target=self._copy_stdin, args=(stdin_target,), daemon=True).start()
        freezer = self.freezer
        assert freezer is not None  # made by `run` before the container was
        sel.register(freezer.server, selectors.EVENT_READ, "freezer")
        pidfd = os.pidfd_open(pid)
        sel.register(pidfd, selectors.EVENT_READ, "exit")
        code: int | None = None
        open_streams = sum(1 for s in ("stdout", "stderr") if s in ours)
        while open_streams or code is None:
            for key, _ in sel.select():
                what = key.data
                if what == "exit":
                    code = _reap(pid, sel, pidfd)
                    continue
                if what == "attach-stdin":
                    if self._forward_typed(sel, scanner, stdin_target):  # type: ignore[arg-type]
                        attached = False
                    continue
                if what == "fifo":
                    data = self._read(self.fifo)
                    if data and fifo_target is not None:
                        self._write_all(fifo_target, data)
                    continue
                if what == "watcher" and watchers is not None:
                    watchers.accept()
                    continue
                if what == "freezer":
                    freezer.accept(sel)
                    continue
                if what == "hold":
                    freezer.release(key.fileobj, sel)  # type: ignore[arg-type]
                    continue
                data = self._read(key.fd)
                if not data:
                    sel.unregister(key.fd)
                    open_streams -= 1
                    continue
                log.write(what, data)
                if watchers is not None:
                    watchers.send(data)
                if attached and not self._write_all(sinks[what], data):
                    attached = False
        if watchers is not None:
            watchers.close()
        freezer.close()
        log.close()
        self._reap_orphans()
        return code

    def _forward_typed(
        self, sel: selectors.BaseSelector, scanner: Scanner | None, target: int
    ) -> bool:
        """What the attached terminal typed, into the container's stdin; True when it was
        the detach keys (the terminal is let go). At its end, the stdin pipe is closed."""
        typed = self._read(0)
        data, detached = scanner.feed(typed) if scanner else (typed, False)
        if data:
            self._write_all(target, data)
        if detached:
            sel.unregister(0)
            self.let_go()
        elif not typed:
            sel.unregister(0)
            if target != self.master:
                os.close(target)
        return detached

    def let_go(self) -> None:
        """The detach keys were typed: the terminal is given back, the container runs on."""
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.close(null)
        self.report("detached")

    def _copy_stdin(self, target: int) -> None:
        """Stdin that cannot be polled, copied with blocking reads until its end."""
        while data := self._read(0):
            if not self._write_all(target, data):
                break
        if target != self.master:
            with contextlib.suppress(OSError):
                os.close(target)

    @staticmethod
    def _read(fd: int) -> bytes:
        try:
            return os.read(fd, CHUNK)
        except OSError:  # EIO: the pty's last user is gone
            return b""

    @staticmethod
    def _write_all(fd: int, data: bytes) -> bool:
        try:
            while data:
                data = data[os.write(fd, data) :]
            return True
        except OSError:  # the attached CLI went away; the container goes on
            return False

    @staticmethod
    def size_pty(master: int) -> None:
        import termios  # only an attached `-t` container's terminal is sized

        with contextlib.suppress(OSError):
            size = fcntl.ioctl(1, termios.TIOCGWINSZ, b"\0" * 8)
            fcntl.ioctl(master, termios.TIOCSWINSZ, size)

    @staticmethod
    def _reap_orphans() -> None:
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass

    def cleanup(self) -> None:
        self.runtime.release(self.id, self.dir)


class Watchers:
    """A `-t` container's output as it comes, to each `attach` connected to ATTACH_SOCKET.

    The log holds a line until it ends (as Docker's json-file does), so a shell's prompt
    and the echo of what is typed would reach a log-following `attach` only with Enter;
    Docker's attach streams instead, and so does this. A watcher that cannot keep up is
    dropped (the container never waits for one), and one gone is forgotten."""

    def __init__(self, sel: selectors.BaseSelector) -> None:
        self.sockets: list[socket.socket] = []
        self.server = _listen(ATTACH_SOCKET)
        sel.register(self.server, selectors.EVENT_READ, "watcher")

    @classmethod
    def serve(cls, sel: selectors.BaseSelector) -> Watchers | None:
        """Watchers, or None when the socket cannot be made (`attach` then reads the log)."""
        try:
            return cls(sel)
        except OSError:
            return None

    def accept(self) -> None:
        with contextlib.suppress(OSError):
            conn, _ = self.server.accept()
            conn.setblocking(False)
            self.sockets.append(conn)

    def send(self, data: bytes) -> None:
        for conn in list(self.sockets):
            try:
                if conn.send(data) == len(data):
                    continue
            except OSError:
                pass
            conn.close()
            self.sockets.remove(conn)

    def close(self) -> None:
        for conn in self.sockets:
            conn.close()
        self.server.close()
        with contextlib.suppress(OSError):
            os.unlink(f"../{ATTACH_SOCKET}")


class Freezer:
    """A commit's freeze (FREEZE_SOCKET): a commit connects, and the container stays frozen
    while any commit's connection is open; it is thawed the moment the last one closes,
    however it closes. The kernel hangs up a killed commit's socket at once, so a `kill -9`
    of a commit leaves nothing frozen (Docker's daemon, likewise, unpauses whatever happens
    to its client).

    Only a freeze of our own is ended, and FROZEN_MARKER is kept while it lasts: a pause the
    user made first stays, and so does what `unpause` (which drops the marker) and a later
    `pause` made of ours meanwhile."""

    def __init__(self, container_id: str, folder: Path, runtime: Runtime) -> None:
        self.id = container_id
        self.marker = folder / FROZEN_MARKER
        self.runtime = runtime
        self.holders: set[socket.socket] = set()
        self.server = _listen(FREEZE_SOCKET)

    def accept(self, sel: selectors.BaseSelector) -> None:
        """A commit asks: frozen (or already frozen), answered `frozen` or `error ...`."""
        try:
            conn, _ = self.server.accept()
        except OSError:
            return
        conn.setblocking(True)
        if not self.holders:
            try:
                self._freeze()
            except (LayerlabError, OSError) as exc:
                _send(conn, f"error {exc}\n".encode())
                conn.close()
                return
        self.holders.add(conn)
        sel.register(conn, selectors.EVENT_READ, "hold")
        _send(conn, b"frozen\n")

    def release(self, conn: socket.socket, sel: selectors.BaseSelector) -> None:
        """A commit is done (or dead): the last one out thaws, then hears `thawed`."""
        sel.unregister(conn)
        self.holders.discard(conn)
        if not self.holders and self.marker.exists():
            with contextlib.suppress(LayerlabError):
                self.runtime.resume(self.id)
            self.marker.unlink(missing_ok=True)
        _send(conn, b"thawed\n")
        conn.close()

    def _freeze(self) -> None:
        if cgroups.frozen(cgroups.container_group(self.id)):
            return  # the user's pause: not ours to end
        self.marker.write_text(f"{os.getpid()}\n")
        try:
            self.runtime.pause(self.id)
        except BaseException:
            self.marker.unlink(missing_ok=True)
            raise

    def close(self) -> None:
        """The container ended: its commits hear the end of their connections."""
        for conn in self.holders:
            conn.close()
        self.server.close()


def _set_ports(ports: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def update(data: dict[str, Any]) -> None:
        data.setdefault("NetworkSettings", {})["Ports"] = ports

    return update


def _listen(name: str) -> socket.socket:
    """A listening unix socket in the container's folder (the shim's cwd is its bundle: a
    socket's path must fit in 108 bytes), for its owner only."""
    import socket

    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with contextlib.suppress(FileNotFoundError):  # left by a shim that was killed
        os.unlink(f"../{name}")
    umask = os.umask(0o177)
    try:
        server.bind(f"../{name}")
    finally:
        os.umask(umask)
    server.listen(8)
    server.setblocking(False)
    return server


def _send(conn: socket.socket, data: bytes) -> None:
    with contextlib.suppress(OSError):  # a commit killed meanwhile hears nothing
        conn.sendall(data)


def _reap(pid: int, sel: selectors.BaseSelector, pidfd: int) -> int:
    """The ended process's exit code, as Docker gives it (128 + the signal that killed it)."""
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    sel.unregister(pidfd)
    os.close(pidfd)
    return 128 - code if code < 0 else code


def _pollable(fd: int) -> bool:
    """Whether epoll takes `fd`: not a regular file or a directory (EPERM)."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def serve(
    root: Path, container_id: str, ready_fd: int, attach: bool, detach_keys: bytes | None = None
) -> int:
    """The shim's life, in a process of its own (launch.py starts it)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    return Shim(Store(root), container_id, ready_fd, attach, detach_keys).run()


def main(argv: list[str]) -> int:
    libc.set_name(NAME)
    root, container_id, ready_fd = argv[0], argv[1], int(argv[2])
    keys = next(
        (bytes.fromhex(a.partition("=")[2]) for a in argv[3:] if a.startswith("--keys=")), None
    )
    return serve(Path(root), container_id, ready_fd, "--attach" in argv[3:], keys)


if __name__ == "__main__":
    # Out without the interpreter's teardown: everything was written with os.write or
    # closed, and whoever started us waits for this exit.
    os._exit(main(sys.argv[1:]))
