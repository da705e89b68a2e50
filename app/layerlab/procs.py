"""A running container's processes, read from its cgroup and /proc (psutil).

The cgroup is the container's process space as the kernel keeps it: every
process runc started or `exec`'d is in it, whatever its parent. Hosts differ:
cgroup v1 keeps one hierarchy per controller (the freezer says whether the
container is paused), v2 one unified tree; hybrid hosts have both. We find
the container's cgroup from its first process (`State.Pid`) and read it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import psutil

PROC = Path("/proc")


@dataclass(frozen=True)
class Proc:
    """One process of the container, with the pid it has inside and the one it has on the host."""

    host_pid: int
    ns_pid: int
    command: str
    state: str  # running / sleeping / frozen / zombie / ... (psutil's words)
    children: list[Proc] = field(default_factory=list)


def _mounts() -> tuple[dict[str, Path], Path | None]:
    """Where the v1 controllers we read and the v2 tree are mounted: ({controller: dir}, v2 dir)."""
    v1: dict[str, Path] = {}
    v2: Path | None = None
    with open(PROC / "mounts") as f:
        for line in f:
            _, mountpoint, fstype, options, *_ = line.split()
            if fstype == "cgroup2":
                v2 = Path(mountpoint)
            elif fstype == "cgroup":
                for option in options.split(","):
                    if option in ("freezer", "pids"):
                        v1[option] = Path(mountpoint)
    return v1, v2


def cgroup_dirs(pid: int) -> dict[str, Path]:
    """The process's cgroup folders: `freezer`, `pids` (v1) and `unified` (v2), where present."""
    v1, v2 = _mounts()
    dirs: dict[str, Path] = {}
    for line in (PROC / str(pid) / "cgroup").read_text().splitlines():
        hierarchy, controllers, path = line.split(":", 2)
        rel = path.lstrip("/")
        if hierarchy == "0" and v2 is not None:
            dirs["unified"] = v2 / rel
        for controller in controllers.split(","):
            if controller in v1:
                dirs[controller] = v1[controller] / rel
    return {name: d for name, d in dirs.items() if d.is_dir()}


def is_frozen(dirs: dict[str, Path]) -> bool:
    """Paused: the v1 freezer reports FROZEN, or the v2 cgroup reports `frozen 1`."""
    if "freezer" in dirs:
        return (dirs["freezer"] / "freezer.state").read_text().strip() == "FROZEN"
    if "unified" in dirs:
        events = (dirs["unified"] / "cgroup.events").read_text().split("\n")
        return "frozen 1" in events
    return False


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
        dirs = cgroup_dirs(pid)
        source = dirs.get("pids") or dirs.get("freezer") or dirs.get("unified")
        if source is None:
            return []
        pids = [int(p) for p in (source / "cgroup.procs").read_text().split()]
        frozen = is_frozen(dirs)
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
