"""A running container's processes, read from its cgroup and /proc (psutil).

The cgroup is the container's process space as the kernel keeps it: every
process runc started or `exec`'d is in it, whatever its parent. We find the
container's cgroup from its first process (`State.Pid`) and read it through
`cgroups` (v1, v2 or hybrid alike).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from layerlab.runtime import cgroups

PROC = Path("/proc")


@dataclass(frozen=True)
class Proc:
    """One process of the container, with the pid it has inside and the one it has on the host."""

    host_pid: int
    ns_pid: int
    command: str
    state: str  # running / sleeping / frozen / zombie / ... (psutil's words)
    children: list[Proc] = field(default_factory=list)


def _ns_pid(pid: int) -> int:
    """The pid inside the container's pid namespace: the last field of `NSpid`."""
    for line in (PROC / str(pid) / "status").read_text().splitlines():
        if line.startswith("NSpid:"):
            return int(line.split()[-1])
    return pid


def processes(pid: int) -> list[Proc]:
    """The process forest of the cgroup `pid` belongs to, roots first by in-container pid.

    An `exec`'d process is a root too: its parent (runc) lives outside the
    container. Empty when the process is gone.
    """
    try:
        hierarchies = cgroups.hierarchies()
        group = cgroups.group_of(pid, hierarchies)
        if group is None:
            return []
        pids = cgroups.procs(group, hierarchies)
        frozen = cgroups.frozen(group, hierarchies)
    except (FileNotFoundError, ProcessLookupError):
        return []
    nodes: dict[int, Proc] = {}
    parents: dict[int, int] = {}
    for host_pid in pids:
        with contextlib.suppress(psutil.Error, FileNotFoundError, ProcessLookupError):
            p = psutil.Process(host_pid)
            with p.oneshot():
                command = " ".join(p.cmdline()) or p.name()
                state = "frozen" if frozen else p.status()
                parents[host_pid] = p.ppid()
            nodes[host_pid] = Proc(host_pid, _ns_pid(host_pid), command, state)
    roots: list[Proc] = []
    for host_pid, node in sorted(nodes.items(), key=lambda item: item[1].ns_pid):
        parent = nodes.get(parents[host_pid])
        (parent.children if parent is not None else roots).append(node)
    return roots
