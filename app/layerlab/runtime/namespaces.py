"""Which namespaces a running container has of its own: its pid 1's `/proc/PID/ns/*`
against the host's (ours), compared by inode, as `lsns` and `readlink` tell them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Docker's five (`--pid`, `--network`, `--ipc`, `--uts` and the mounts), then the two it
# shares with the host by default.
KINDS = ("pid", "net", "mnt", "uts", "ipc", "cgroup", "user")


@dataclass(frozen=True)
class Namespace:
    """One kind of namespace: the container's (its pid 1's) and the host's, by inode."""

    kind: str
    inode: int
    host: int

    @property
    def own(self) -> bool:
        """The container has one of its own, not the host's."""
        return self.inode != self.host


def of_process(pid: int) -> tuple[Namespace, ...]:
    """`pid`'s namespaces beside ours; () once it is gone (a reader expects that)."""
    found = []
    for kind in KINDS:
        try:
            theirs = os.stat(f"/proc/{pid}/ns/{kind}").st_ino
            ours = os.stat(f"/proc/self/ns/{kind}").st_ino
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            if kind == KINDS[0]:
                return ()
            continue
        found.append(Namespace(kind, theirs, ours))
    return tuple(found)


def of_container(state: Mapping[str, Any]) -> tuple[Namespace, ...]:
    """A container's (by its inspect `State`) namespaces while it runs; () when it does not."""
    pid = int(state.get("Pid") or 0)
    return of_process(pid) if state.get("Running") and pid else ()
