"""The OCI runtime adapter: runc (or crun) driven through its command line.

We never write a namespace runtime of our own: every container operation is
one invocation of the runtime binary, with its state kept under the store.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from layerlab.errors import LayerlabError
from layerlab.layerfs import unionfs
from layerlab.network import release as release_network

RUNTIMES = ("runc", "crun")
# In a running container's folder, while its stdin is open (`-i`): the FIFO its shim reads
# and copies into the container's stdin, so that `attach` can write to it from anywhere.
STDIN_FIFO = "stdin.fifo"
ATTACH_SOCKET = "attach.sock"  # a `-t` container's raw output, for `attach` (shim.py)
# A commit's freeze, held by the shim while the commit's connection is open (shim.Freezer),
# and the marker it keeps while the freeze is its own: `inspect` then says Paused.
FREEZE_SOCKET = "freeze.sock"
FROZEN_MARKER = "frozen-by-commit"


def find_runtime() -> str:
    """`LAYERLAB_RUNTIME` (a name or path), else runc, else crun.

    runc comes first: crun refuses hosts with hybrid (v1 + v2) cgroups.
    """
    wanted = os.environ.get("LAYERLAB_RUNTIME")
    for name in (wanted,) if wanted else RUNTIMES:
        path = _executable(name)
        if path:
            return path
    raise LayerlabError(
        "no OCI runtime found: install runc (apt-get install runc)"
        + (f"; LAYERLAB_RUNTIME={wanted} is not an executable" if wanted else "")
    )


def _executable(name: str) -> str | None:
    """Where `name` (or the path it is) is an executable file, as `shutil.which` says:
    found here, as importing shutil (bz2, lzma) would cost every `run` milliseconds."""
    for folder in [""] if os.sep in name else os.get_exec_path():
        path = os.path.join(folder, name)
        if os.access(path, os.X_OK) and os.path.isfile(path):
            return path
    return None


def runtime_message(stderr: str) -> str:
    """runc's error as one line: its last `msg` (json log) or last non-empty line."""
    last = ""
    for line in stderr.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            last = json.loads(line).get("msg", line)
        except (ValueError, AttributeError):
            last = line
    for prefix in ("runc create failed: ", "runc run failed: ", "crun: "):
        last = last.removeprefix(prefix)
    return last


def exec_failure_code(message: str) -> int:
    """Docker's codes for a command that cannot be started: 127 not found, 126 otherwise."""
    lowered = message.lower()
    if "not found" in lowered or "no such file" in lowered:
        return 127
    return 126


def start_failure(message: str) -> str:
    """A failed start in Docker's words, as its `State.Error` and its error line say it."""
    return (
        "failed to create shim task: OCI runtime create failed: runc create failed: "
        f"{message}: unknown"
    )


@dataclass
class Runtime:
    binary: str
    state_root: Path

    @classmethod
    def for_store(cls, root: Path) -> Runtime:
        return cls(find_runtime(), root / "runtime")

    @property
    def name(self) -> str:
        return Path(self.binary).name

    def command(self, *args: str) -> list[str]:
        return [self.binary, "--root", str(self.state_root), *args]

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            self.command(*args), capture_output=True, text=True, stdin=subprocess.DEVNULL
        )
        if check and proc.returncode != 0:
            raise LayerlabError(f"{self.name} {args[0]}: {runtime_message(proc.stderr)}")
        return proc

    def run_detached(
        self,
        container_id: str,
        bundle: Path,
        pid_file: Path,
        stdio: tuple[int, int, int],
        log: Path,
        console_socket: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start `runc run --detach` (create and start in one call, to save a runtime start-up).

        The caller may need to serve the console socket meanwhile. The container
        inherits `stdio`, so runc's own errors are read from `log`.
        """
        args = ["run", "--detach", "--bundle", str(bundle), "--pid-file", str(pid_file)]
        if console_socket is not None:
            args += ["--console-socket", str(console_socket)]
        return subprocess.Popen(
            [
                self.binary,
                "--root",
                str(self.state_root),
                "--log",
                str(log),
                "--log-format",
                "json",
                *args,
                container_id,
            ],
            stdin=stdio[0],
            stdout=stdio[1],
            stderr=stdio[2],
            close_fds=True,
        )

    def kill(self, container_id: str, signal: int) -> None:
        self._run("kill", container_id, str(signal))

    def pause(self, container_id: str) -> None:
        self._run("pause", container_id)

    def resume(self, container_id: str) -> None:
        self._run("resume", container_id)

    def update(self, container_id: str, resources: dict[str, Any]) -> None:
        """`runc update --resources -`: new cgroup limits for a running container."""
        proc = subprocess.run(
            self.command("update", "--resources", "-", container_id),
            input=json.dumps(resources), capture_output=True, text=True,
        )  # fmt: skip
        if proc.returncode != 0:
            raise LayerlabError(f"{self.name} update: {runtime_message(proc.stderr)}")

    def delete(self, container_id: str) -> None:
        self._start_delete(container_id).wait()

    def _start_delete(self, container_id: str) -> subprocess.Popen[bytes]:
        """`runc delete --force`, started; its failure (nothing to delete) is no error."""
        return subprocess.Popen(
            self.command("delete", "--force", container_id),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def release(
        self, container_id: str, container_dir: Path, meanwhile: Callable[[], None] | None = None
    ) -> None:
        """Everything a run leaves behind: runc's record, the union, its network.

        Called by the shim when the process ends, and by `rm` for a container
        whose shim died without cleaning up. Idempotent. The mounts come down while
        runc deletes (they are the host's; the container's own namespace holds its
        copies): on `run --rm`'s path the unmount overlaps runc's start-up.
        `meanwhile` runs once the union is down, while runc still deletes (the shim
        removes a `--rm` container then, which nothing can start again).
        """
        deleting = self._start_delete(container_id)
        try:
            unionfs.unmount(container_dir / "merged")
            release_network(container_dir)  # its links, leases and namespace file
            if meanwhile is not None:
                meanwhile()
        finally:
            deleting.wait()
        (container_dir / "shim.pid").unlink(missing_ok=True)
        for name in (STDIN_FIFO, ATTACH_SOCKET, FREEZE_SOCKET, FROZEN_MARKER):
            (container_dir / name).unlink(missing_ok=True)

    def state(self, container_id: str) -> dict[str, Any] | None:
        proc = self._run("state", container_id, check=False)
        if proc.returncode != 0:
            return None
        data: dict[str, Any] = json.loads(proc.stdout)
        return data

    def pids(self, container_id: str) -> list[int]:
        """Every process in the container's cgroup, `exec`'d ones included."""
        proc = self._run("ps", "--format", "json", container_id)
        return [int(p) for p in json.loads(proc.stdout or "[]") or []]

    def exec(
        self,
        container_id: str,
        args: list[str],
        *,
        env: list[str],
        cwd: str | None,
        tty: bool,
        detach: bool,
        stdin: int | IO[Any] | None,
        stderr: int | IO[Any] | None = None,
        stdout: int | IO[Any] | None = None,
        log: Path,
        own_terminal: bool = False,
        process: dict[str, Any] | None = None,
    ) -> subprocess.Popen[bytes]:
        """`runc exec`; runc's own failure (as opposed to the process's) is written to `log`.

        `own_terminal`: stdin is a pseudo-terminal that becomes runc's controlling one
        (its `--tty` copies from /dev/tty), in a session of its own.
        """
        cmd = ["--log", str(log), "--log-format", "json", "exec", "--pid-file", str(pid_file(log))]
        if detach:
            cmd.append("--detach")
        if tty:
            cmd.append("--tty")
        if cwd:
            cmd += ["--cwd", cwd]
        if process is not None:
            # The whole process (`exec -u`): runc's --user keeps the container's additional
            # groups, and --additional-gids adds to them, where Docker's exec has the user's.
            path = process_file(log)
            path.write_text(json.dumps(process))
            cmd += ["--process", str(path)]
            args = []
        for item in env:
            cmd += ["--env", item]
        return subprocess.Popen(
            [*self.command(*cmd), container_id, *args],
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            start_new_session=own_terminal,
            preexec_fn=_take_terminal if own_terminal else None,
        )


def process_file(log: Path) -> Path:
    """Where `exec`'s process spec is written, beside its log (removed with it)."""
    return log.with_suffix(".process.json")


def pid_file(log: Path) -> Path:
    """Where runc writes an `exec`'d process's pid once it started, beside its log."""
    return log.with_suffix(".pid")


def _take_terminal() -> None:
    """In the child, after setsid: its stdin (a pty) becomes its controlling terminal."""
    import termios  # only `exec -t` takes a terminal

    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
