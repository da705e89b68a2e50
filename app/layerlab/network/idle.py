"""Removing a store's idle bridge a moment after its last container left it, in a
detached process of its own: the run that ended does not wait for the kernel (~25 ms).

The process is forked, so it holds nothing of its parent's: every descriptor is closed
first (a store or networks lock, the pipe a `run` reads its output from), and the
networks lock is taken afresh. If a container joined meanwhile, the bridge stays.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from layerlab.network.unlink import delete_link

IDLE_SECONDS = 1.0


def remove_later(networks_dir: Path, network_id: str, bridge: str) -> None:
    """Delete `bridge` in IDLE_SECONDS if the network has no lease then."""
    child = os.fork()
    if child == 0:  # the middle process: it ends at once, so nobody need reap the remover
        try:
            if os.fork() == 0:
                _remove(networks_dir, network_id, bridge)
        finally:
            os._exit(0)
    os.waitpid(child, 0)


def _remove(networks_dir: Path, network_id: str, bridge: str) -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    os.setsid()
    time.sleep(IDLE_SECONDS)  # a grace time, not a wait for state: a start may come
    try:
        lock = os.open(networks_dir / "lock", os.O_RDWR | os.O_CLOEXEC)
        fcntl.flock(lock, fcntl.LOCK_EX)
        if any((networks_dir / network_id / "leases").iterdir()):
            return
    except FileNotFoundError:
        pass  # the store was deleted meanwhile (a lesson's, a test's): nothing needs it
    delete_link(bridge)
