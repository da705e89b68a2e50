"""What a container uses, as `docker stats` samples it: its cgroup's counters (cgroups.py),
its network namespace's, and the host's CPU time to weigh them against (moby's
daemon/stats: `SystemUsage` from /proc/stat, the limit capped at the machine's memory)."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from layerlab.runtime import cgroups

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Sample:
    """One reading of a container; a stopped one reads as zeros (Docker's too)."""

    id: str
    name: str
    cpu_ns: int = 0
    system_ns: int = 0
    online_cpus: int = 0
    memory: int = 0
    memory_limit: int = 0
    net_rx: int = 0
    net_tx: int = 0
    block_read: int = 0
    block_write: int = 0
    pids: int = 0

    def cpu_percent(self, before: Sample | None) -> float:
        """docker/cli's calculateCPUPercentUnix: the container's share of the host's CPU
        time since `before`, times the CPUs (200% is two CPUs busy)."""
        if before is None:
            return 0.0
        cpu, system = self.cpu_ns - before.cpu_ns, self.system_ns - before.system_ns
        return cpu / system * self.online_cpus * 100.0 if cpu > 0 and system > 0 else 0.0

    def memory_percent(self) -> float:
        return self.memory / self.memory_limit * 100.0 if self.memory_limit else 0.0


def system_cpu_ns() -> int:
    """The host's CPU time so far, in nanoseconds (/proc/stat's first line: user to softirq,
    as moby's getSystemCPUUsage adds them)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()
    return sum(int(f) for f in fields[1:8]) * 1_000_000_000 // _CLOCK_TICKS


def net_io(pid: int) -> tuple[int, int]:
    """Bytes received and sent by the interfaces of `pid`'s network namespace but `lo`."""
    rx = tx = 0
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/net/dev").read_text().splitlines()[2:]:
            name, _, counters = line.partition(":")
            fields = counters.split()
            if name.strip() != "lo" and len(fields) >= 9:
                rx, tx = rx + int(fields[0]), tx + int(fields[8])
    return rx, tx


def sample(cid: str, name: str, pid: int) -> Sample:
    """The container's counters now; `pid` (its init, 0 when it is not running) names its
    network namespace."""
    if not pid:
        return Sample(cid, name)
    used = cgroups.read_usage(cgroups.container_group(cid))
    machine = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    rx, tx = net_io(pid)
    return Sample(
        cid, name, used.cpu_ns, system_cpu_ns(), os.sysconf("SC_NPROCESSORS_ONLN"), used.memory,
        min(used.memory_limit or machine, machine), rx, tx, used.block_read, used.block_write,
        used.pids,
    )  # fmt: skip
