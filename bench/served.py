"""The `layerlab` a user types, timed with its resident fork server (client.py) warm.

A bench's first command starts the server; `wait_for_server` waits until it
answers and gives its pid, which the bench ends when done.
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

LAYERLAB = str(Path(sys.executable).with_name("layerlab"))  # the venv's console script


def wait_for_server(folder: Path, timeout: float = 30.0) -> int:
    """The pid of the fork server the first `layerlab` command started, once it answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for sock in folder.glob("cli-*.sock"):  # bound once it is ready; its lock names it
            with contextlib.suppress(OSError, ValueError):
                return int(sock.with_name(sock.name + ".lock").read_text())
        time.sleep(0.05)
    raise SystemExit("the layerlab fork server did not start")


def peak_rss_mb(pid: int) -> float:
    """A process's peak resident memory (VmHWM), in MB: the server's, which its children share."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0
