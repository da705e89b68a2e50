"""Starting a container's shim: fork it (single-threaded CLI) or exec it (threaded TUI).

The `Shim` handle is what the starter holds afterwards: the shim's pid and a
way to wait for it - and so for the container's exit code - that a caller can
cancel.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

from layerlab.errors import Cancelled, Detached

Stream = int | IO[Any] | None
Stdio = tuple[Stream, Stream, Stream]
POLL_SECONDS = 0.05


class Shim:
    """The detached per-container shim we started; `wait()` gives the container's exit code."""

    def __init__(self, pid: int, popen: subprocess.Popen[bytes] | None = None) -> None:
        self.pid = pid
        self.popen = popen
        self.told: IO[bytes] | None = None  # where it says the detach keys were typed

    def wait(self, cancel: threading.Event | None = None) -> int:
        """The shim's exit code (the container's); raises `Cancelled` once `cancel` is set,
        `Detached` once the detach keys were typed on the attached terminal.

        A cancelled wait leaves the shim running (the caller reaps it later, or
        nobody does: a forked shim is then reaped when the caller exits).
        """
        if self.told is not None:
            with self.told:  # a line when they are typed, else the end when the shim ends
                said = self.told.readline()
            self.told = None
            if said.startswith(b"detached"):
                raise Detached()
        if cancel is None:
            if self.popen is not None:
                return self.popen.wait()
            return os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        while True:
            if self.popen is not None:
                try:
                    return self.popen.wait(timeout=POLL_SECONDS)
                except subprocess.TimeoutExpired:
                    pass
            else:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
                if pid:
                    return os.waitstatus_to_exitcode(status)
                if cancel.wait(POLL_SECONDS):
                    raise Cancelled()
                continue
            if cancel.is_set():
                raise Cancelled()


def _fileno(stream: Stream) -> int:
    if stream is None:
        return -1
    return stream if isinstance(stream, int) else stream.fileno()


def spawn_shim(
    root: Path, cid: str, ready_fd: int, attach: Stdio | None, detach_keys: bytes | None = None
) -> Shim:
    """Start `layerlab.runtime.shim` in its own session (`detach_keys`: those that let an
    attached terminal go).

    A single-threaded CLI forks it: the child already has every module loaded,
    which saves a whole interpreter start on each `run`. A threaded process
    (the TUI) must not fork, so it starts a fresh interpreter instead.
    """
    stdin, stdout, stderr = attach or (subprocess.DEVNULL,) * 3
    if threading.active_count() > 1:
        argv = [sys.executable, "-m", "layerlab.runtime.shim", str(root), cid, str(ready_fd)]
        argv += ["--attach"] if attach is not None else []
        argv += [f"--keys={detach_keys.hex()}"] if detach_keys else []
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
        code = shim.serve(root, cid, ready_fd, attach is not None, detach_keys)
    finally:
        os._exit(code)
