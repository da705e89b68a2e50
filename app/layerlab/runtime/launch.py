"""Starting a container's shim: a fresh interpreter, in a session of its own.

The `Shim` handle is what the starter holds afterwards: the shim's pid and a
way to wait for it - and so for the container's exit code - that a caller can
cancel.
"""

from __future__ import annotations

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

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self.popen = popen
        self.pid = popen.pid
        self.told: IO[bytes] | None = None  # where it says the detach keys were typed

    def wait(self, cancel: threading.Event | None = None) -> int:
        """The shim's exit code (the container's); raises `Cancelled` once `cancel` is set,
        `Detached` once the detach keys were typed on the attached terminal.

        A cancelled wait leaves the shim running (the caller reaps it later, or nobody
        does: it is then reaped when the caller exits).
        """
        if self.told is not None:
            with self.told:  # a line when they are typed, else the end when the shim ends
                said = self.told.readline()
            self.told = None
            if said.startswith(b"detached"):
                raise Detached()
        if cancel is None:
            return self.popen.wait()
        while True:
            try:
                return self.popen.wait(timeout=POLL_SECONDS)
            except subprocess.TimeoutExpired:
                if cancel.is_set():
                    raise Cancelled() from None


def spawn_shim(
    root: Path, cid: str, ready_fd: int, attach: Stdio | None, detach_keys: bytes | None = None
) -> Shim:
    """Start `layerlab.runtime.shim` in its own session (`detach_keys`: those that let an
    attached terminal go).

    Always a fresh interpreter, never a fork of ours: the shim is a process of its own,
    as `ps` and /proc tell it (its command line names it and the container; its
    environment is the command's, not that of the fork server the command may run in).
    """
    stdin, stdout, stderr = attach or (subprocess.DEVNULL,) * 3
    argv = [sys.executable, "-P", "-m", "layerlab.runtime.shim", str(root), cid, str(ready_fd)]
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
    return Shim(popen)
