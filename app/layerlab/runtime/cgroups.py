"""A container's cgroup, read alike on cgroup v1, v2 and hybrid hosts.

v1 keeps one hierarchy per controller (`memory/<group>/memory.limit_in_bytes`), v2 one
tree whose files say the same in other words (`<group>/memory.max`, `max` for none).
A hybrid host has both: a controller is read where it is mounted - its own v1
hierarchy, else the v2 tree if that enables it. The process list and the freezer are
read the same way (v2's `cgroup.procs` and `cgroup.freeze` are in every group). Every
reader of a cgroup - limits, OOM kills, processes, paused - asks here.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
V1_UNLIMITED = 1 << 62  # v1 writes "no limit" as a page-rounded 2^63 - 1: anything above
V1_CONTROLLERS = frozenset(
    "blkio cpu cpuacct cpuset devices freezer hugetlb memory misc net_cls net_prio "
    "perf_event pids rdma".split()
)
# runc's shares -> weight (libcontainer cgroups.ConvertCPUSharesToCgroupV2Value)
SHARES_MIN, SHARES_MAX, WEIGHT_MAX = 2, 262144, 10000


@dataclass(frozen=True)
class Hierarchies:
    """Where each controller is read: v1 mounts by controller, and the v2 tree."""

    v1: dict[str, Path] = field(default_factory=dict)
    v2: Path | None = None
    v2_controllers: frozenset[str] = frozenset()

    def version(self, controller: str) -> int | None:
        """1 or 2: where `controller` is read on this host; None when it is nowhere."""
        if controller in self.v1:
            return 1
        if self.v2 is not None and controller in self.v2_controllers:
            return 2
        return None

    def path(self, controller: str, group: str) -> Path | None:
        """The group's folder for `controller` ("" for the tree that holds procs/freeze)."""
        rel = group.strip("/")
        if controller == "":  # the group itself: v2 if there is a v2 tree, else the v1 freezer
            if self.v2 is not None:
                return self.v2 / rel
            controller = "freezer"
        version = self.version(controller)
        if version == 1:
            return self.v1[controller] / rel
        if version == 2 and self.v2 is not None:
            return self.v2 / rel
        return None


def hierarchies(mounts: str | None = None) -> Hierarchies:
    """This host's cgroup mounts, from /proc/self/mounts (or the `mounts` text given)."""
    if mounts is None:
        mounts = Path("/proc/self/mounts").read_text()
    v1: dict[str, Path] = {}
    v2: Path | None = None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        point, fstype, options = Path(fields[1].replace("\\040", " ")), fields[2], fields[3]
        if fstype == "cgroup2" and v2 is None:
            v2 = point
        elif fstype == "cgroup":
            for option in options.split(","):
                if option in V1_CONTROLLERS:
                    v1.setdefault(option, point)
    enabled: frozenset[str] = frozenset()
    if v2 is not None:
        with contextlib.suppress(OSError):
            enabled = frozenset((v2 / "cgroup.controllers").read_text().split())
    return Hierarchies(v1, v2, enabled)


# --- v2's words, translated to Docker's HostConfig values ------------------------------


def parse_max(text: str) -> int | None:
    """v2's `max` (no limit) -> None, a number -> int."""
    text = text.strip()
    return None if text == "max" else int(text)


def parse_v1_bytes(text: str) -> int | None:
    """v1's memory limits: the huge "no limit" -> None."""
    value = int(text.strip())
    return None if value >= V1_UNLIMITED or value < 0 else value


def nano_cpus(quota: int | None, period: int) -> int:
    """CFS quota over period -> Docker's NanoCpus (0: no limit)."""
    if quota is None or quota < 0 or period <= 0:
        return 0
    return quota * 1_000_000_000 // period


def parse_cpu_max(text: str) -> int:
    """v2 `cpu.max` ("50000 100000", "max 100000") -> NanoCpus."""
    words = text.split()
    quota = parse_max(words[0]) if words else None
    return nano_cpus(quota, int(words[1]) if len(words) > 1 else 100_000)


def cpu_weight(shares: int) -> int:
    """runc's v2 translation of Docker's `--cpu-shares` (0: not set)."""
    if shares == 0:
        return 0
    shares = min(max(shares, SHARES_MIN), SHARES_MAX)
    return 1 + ((shares - SHARES_MIN) * (WEIGHT_MAX - 1)) // (SHARES_MAX - SHARES_MIN)


def shares_from_weight(weight: int) -> int:
    """The least `--cpu-shares` runc turns into `weight` (the translation loses the rest)."""
    span, steps = SHARES_MAX - SHARES_MIN, WEIGHT_MAX - 1
    return SHARES_MIN + -(-(weight - 1) * span // steps)


def memory_swap(memory: int | None, swap: int | None, v2: bool) -> int:
    """Docker's MemorySwap (memory + swap; -1 unlimited; 0 unset) from the cgroup's limits:
    v1's memsw limit counts memory and swap together, v2's swap.max swap alone."""
    if memory is None:
        return 0
    if swap is None:
        return -1
    return memory + swap if v2 else swap


@dataclass(frozen=True)
class Limits:
    """A cgroup's limits in Docker's HostConfig words: 0 or None for none."""

    memory: int = 0
    memory_swap: int = 0
    pids: int | None = None
    nano_cpus: int = 0
    cpu_shares: int = 0


def _read(folder: Path | None, name: str) -> str | None:
    if folder is None:
        return None
    try:
        return (folder / name).read_text()
    except OSError:
        return None


def read_limits(group: str, h: Hierarchies | None = None) -> Limits:
    """What the kernel enforces on `group` (runc's cgroupsPath), v1 or v2."""
    h = h or hierarchies()
    mem_dir, cpu_dir, pids_dir = (h.path(c, group) for c in ("memory", "cpu", "pids"))
    pids_text = _read(pids_dir, "pids.max")
    pids = parse_max(pids_text) if pids_text else None
    if h.version("memory") == 2:
        memory = parse_max(_read(mem_dir, "memory.max") or "max")
        swap_text = _read(mem_dir, "memory.swap.max")
        swap = memory_swap(memory, parse_max(swap_text) if swap_text else None, v2=True)
    else:
        memory = parse_v1_bytes(_read(mem_dir, "memory.limit_in_bytes") or "-1")
        swap_text = _read(mem_dir, "memory.memsw.limit_in_bytes")
        swap = memory_swap(memory, parse_v1_bytes(swap_text) if swap_text else None, v2=False)
    if h.version("cpu") == 2:
        cpus = parse_cpu_max(_read(cpu_dir, "cpu.max") or "max 100000")
        weight = int(_read(cpu_dir, "cpu.weight") or "100")
        shares = 0 if weight == 100 else shares_from_weight(weight)  # 100: v2's default
    else:
        quota = int(_read(cpu_dir, "cpu.cfs_quota_us") or "-1")
        cpus = nano_cpus(quota, int(_read(cpu_dir, "cpu.cfs_period_us") or "100000"))
        shares = int(_read(cpu_dir, "cpu.shares") or "1024")
        shares = 0 if shares == 1024 else shares  # 1024: v1's default, Docker's "not set"
    return Limits(memory or 0, swap, pids, cpus, shares)


def oom_kills(group: str, h: Hierarchies | None = None) -> int:
    """How many processes the kernel's OOM killer ended in `group`: v2 `memory.events`,
    v1 `memory.oom_control` (kernel 4.13+); both say `oom_kill N`. Read before the
    group is deleted."""
    h = h or hierarchies()
    name = "memory.events" if h.version("memory") == 2 else "memory.oom_control"
    for line in (_read(h.path("memory", group), name) or "").splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill":
            return int(value)
    return 0


def procs(group: str, h: Hierarchies | None = None) -> list[int]:
    """Every process of the group (`cgroup.procs`, v1 or v2)."""
    h = h or hierarchies()
    for controller in ("pids", "freezer", ""):
        text = _read(h.path(controller, group), "cgroup.procs")
        if text is not None:
            return [int(p) for p in text.split()]
    return []


def frozen(group: str, h: Hierarchies | None = None) -> bool:
    """Paused: the v1 freezer says FROZEN, or v2's `cgroup.events` says `frozen 1`."""
    h = h or hierarchies()
    if "freezer" in h.v1:
        return (_read(h.path("freezer", group), "freezer.state") or "").strip() == "FROZEN"
    events = _read(h.path("", group), "cgroup.events") or ""
    return "frozen 1" in events.splitlines()


def group_of(pid: int, h: Hierarchies | None = None) -> str | None:
    """The cgroup path of a process (as runc's cgroupsPath), from /proc/PID/cgroup: the v1
    freezer's or pids' line, else v2's `0::` line."""
    h = h or hierarchies()
    found: dict[str, str] = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        hierarchy, controllers, path = line.split(":", 2)
        if hierarchy == "0":
            found[""] = path
        for controller in controllers.split(","):
            found[controller] = path
    for key in ("freezer", "pids", ""):
        if key in found and (key == "" or key in h.v1):
            return found[key]
    return None


def container_group(container_id: str) -> str:
    """The cgroup (runc's cgroupsPath) a container's processes run in: `/layerlab/<id>`."""
    return f"/layerlab/{container_id}"


def layerlab_groups(h: Hierarchies | None = None) -> list[Path]:
    """Every container cgroup folder layerlab made (`<mount>/layerlab/<id>`), in any
    hierarchy; shared by every store on the host."""
    h = h or hierarchies()
    tops = {*h.v1.values(), *([h.v2] if h.v2 is not None else [])}
    found = []
    for top in sorted(tops):
        with contextlib.suppress(OSError):
            found += [p for p in (top / "layerlab").iterdir() if p.is_dir() and not p.is_symlink()]
    return found


@dataclass(frozen=True)
class Usage:
    """A cgroup's counters as `docker stats` reads them (runc's stats, v1 or v2)."""

    cpu_ns: int = 0  # CPU time used, all CPUs
    memory: int = 0  # usage less the inactive page cache (Docker's "no cache" usage)
    memory_limit: int | None = None
    pids: int = 0
    block_read: int = 0
    block_write: int = 0


def _stat_values(text: str | None) -> dict[str, int]:
    """`memory.stat`, `cpu.stat`: a `key value` line each."""
    values = {}
    for line in (text or "").splitlines():
        key, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            values[key] = int(value)
    return values


def _block_io(h: Hierarchies, group: str) -> tuple[int, int]:
    """Bytes read and written: v2 `io.stat` (`rbytes=`, `wbytes=`), v1 blkio's
    `io_service_bytes_recursive` (`8:0 Read N`), CFQ's file else the throttle one's, as runc."""
    folder = h.path("io" if h.version("blkio") is None else "blkio", group)
    read = write = 0
    if h.version("blkio") is None:
        for field_ in (_read(folder, "io.stat") or "").split():
            key, _, value = field_.partition("=")
            read += int(value) if key == "rbytes" else 0
            write += int(value) if key == "wbytes" else 0
        return read, write
    text = _read(folder, "blkio.io_service_bytes_recursive") or _read(
        folder, "blkio.throttle.io_service_bytes_recursive"
    )
    for line in (text or "").splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[1][:1] in "rR":
            read += int(fields[2])
        elif len(fields) == 3 and fields[1][:1] in "wW":
            write += int(fields[2])
    return read, write


def read_usage(group: str, h: Hierarchies | None = None) -> Usage:
    """What `group` uses now; zeros for what is not there (a group that is gone)."""
    h = h or hierarchies()
    mem_dir = h.path("memory", group)
    stat = _stat_values(_read(mem_dir, "memory.stat"))
    if h.version("memory") == 2:
        used = int(_read(mem_dir, "memory.current") or 0)
        inactive = stat.get("inactive_file", 0)
        limit = parse_max(_read(mem_dir, "memory.max") or "max")
    else:
        used = int(_read(mem_dir, "memory.usage_in_bytes") or 0)
        inactive = stat.get("total_inactive_file", 0)
        limit = parse_v1_bytes(_read(mem_dir, "memory.limit_in_bytes") or "-1")
    if h.version("cpuacct") == 1:
        cpu = int(_read(h.path("cpuacct", group), "cpuacct.usage") or 0)
    else:
        cpu = _stat_values(_read(h.path("", group), "cpu.stat")).get("usage_usec", 0) * 1000
    pids = int(_read(h.path("pids", group), "pids.current") or 0)
    read, write = _block_io(h, group)
    return Usage(cpu, used - inactive if inactive < used else used, limit, pids, read, write)
