"""cgroup v1 and v2 read alike: Docker's values from either kind of file, and a real
cgroup2 tree mounted here (this host is hybrid: v2 has no memory/cpu/pids controllers,
but every v2 group has `cgroup.procs` and `cgroup.freeze`)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from layerlab import libc
from layerlab.runtime import cgroups
from layerlab.runtime.cgroups import Hierarchies, Limits

from .conftest import eventually

pytestmark = pytest.mark.unit

HYBRID_MOUNTS = """\
tmpfs /sys/fs/cgroup tmpfs rw 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,relatime,cpu,cpuacct 0 0
cgroup /sys/fs/cgroup/pids cgroup rw,relatime,pids 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
"""


def test_mounts_say_where_each_controller_is_read() -> None:
    h = cgroups.hierarchies(HYBRID_MOUNTS)
    assert h.v1["cpu"] == Path("/sys/fs/cgroup/cpu,cpuacct") and h.version("memory") == 1
    assert h.v2 == Path("/sys/fs/cgroup/unified") and h.version("nothing") is None
    assert h.path("pids", "/layerlab/c1") == Path("/sys/fs/cgroup/pids/layerlab/c1")
    assert h.path("", "/layerlab/c1") == Path("/sys/fs/cgroup/unified/layerlab/c1")
    v2 = Hierarchies({}, Path("/sys/fs/cgroup"), frozenset({"memory", "pids", "cpu"}))
    assert v2.version("memory") == 2
    assert v2.path("memory", "/layerlab/c1") == Path("/sys/fs/cgroup/layerlab/c1")


def test_v2_words_translate_to_dockers_values() -> None:
    assert cgroups.parse_max("max\n") is None and cgroups.parse_max("20\n") == 20
    assert cgroups.parse_v1_bytes("9223372036854771712\n") is None
    assert cgroups.parse_cpu_max("50000 100000\n") == 500_000_000
    assert cgroups.parse_cpu_max("max 100000\n") == 0
    assert cgroups.nano_cpus(-1, 100_000) == 0  # v1's cfs_quota_us -1
    # runc's shares -> weight: Docker's default 1024 is 39; the ends map to the ends.
    assert [cgroups.cpu_weight(s) for s in (2, 512, 1024, 262144)] == [1, 20, 39, 10000]
    assert all(cgroups.cpu_weight(cgroups.shares_from_weight(w)) == w for w in range(1, 10001))
    # MemorySwap: v1 counts memory and swap together, v2's swap.max is swap alone.
    assert cgroups.memory_swap(32 << 20, 64 << 20, v2=False) == 64 << 20
    assert cgroups.memory_swap(32 << 20, 32 << 20, v2=True) == 64 << 20
    assert cgroups.memory_swap(32 << 20, None, v2=True) == -1
    assert cgroups.memory_swap(None, None, v2=True) == 0


def _files(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text + "\n")


V2_FILES = {
    "memory.max": str(32 << 20), "memory.swap.max": str(32 << 20), "pids.max": "20",
    "cpu.max": "150000 100000", "cpu.weight": "20", "cgroup.procs": "7\n8",
    "memory.events": "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1",
    "cgroup.events": "populated 1\nfrozen 1",
}  # fmt: skip
V2_UNLIMITED = {
    "memory.max": "max", "memory.swap.max": "max", "pids.max": "max",
    "cpu.max": "max 100000", "cpu.weight": "100",
}  # fmt: skip
V1_FILES = {
    "memory": {"memory.limit_in_bytes": str(32 << 20), "memory.oom_control": "oom_kill 2",
               "memory.memsw.limit_in_bytes": str(64 << 20)},
    "cpu": {"cpu.cfs_quota_us": "50000", "cpu.cfs_period_us": "100000", "cpu.shares": "512"},
    "pids": {"pids.max": "max", "cgroup.procs": "9"},
    "freezer": {"freezer.state": "THAWED"},
}  # fmt: skip


def test_limits_read_from_v2_files_and_v1_files(tmp_path: Path) -> None:
    v2 = Hierarchies({}, tmp_path / "v2", frozenset({"memory", "pids", "cpu"}))
    _files(tmp_path / "v2/layerlab/c1", V2_FILES)
    assert cgroups.read_limits("/layerlab/c1", v2) == Limits(
        memory=32 << 20, memory_swap=64 << 20, pids=20, nano_cpus=1_500_000_000,
        cpu_shares=cgroups.shares_from_weight(20),
    )  # fmt: skip
    assert cgroups.oom_kills("/layerlab/c1", v2) == 1
    assert cgroups.procs("/layerlab/c1", v2) == [7, 8]
    assert cgroups.frozen("/layerlab/c1", v2)
    _files(tmp_path / "v2/layerlab/c2", V2_UNLIMITED)
    assert cgroups.read_limits("/layerlab/c2", v2) == Limits()
    v1 = Hierarchies({c: tmp_path / "v1" / c for c in V1_FILES})
    for controller, files in V1_FILES.items():
        _files(tmp_path / "v1" / controller / "layerlab/c1", files)
    assert cgroups.read_limits("/layerlab/c1", v1) == Limits(
        memory=32 << 20, memory_swap=64 << 20, pids=None, nano_cpus=500_000_000, cpu_shares=512
    )
    assert cgroups.oom_kills("/layerlab/c1", v1) == 2
    assert cgroups.procs("/layerlab/c1", v1) == [9]
    assert not cgroups.frozen("/layerlab/c1", v1)


@pytest.fixture
def cgroup2(tmp_path: Path) -> Iterator[Hierarchies]:
    """A real cgroup2 tree mounted for the test, seen as a v2-only host sees it."""
    point = tmp_path / "cgroup2"
    point.mkdir()
    try:
        libc.mount("none", str(point), "cgroup2", 0)
    except OSError as exc:
        pytest.skip(f"this kernel will not mount cgroup2 here: {exc}")
    try:
        enabled = frozenset((point / "cgroup.controllers").read_text().split())
        yield Hierarchies({}, point, enabled)
    finally:
        libc.umount(str(point), libc.MNT_DETACH)


@pytest.mark.system
def test_a_real_cgroup2_group_lists_and_freezes(cgroup2: Hierarchies) -> None:
    assert cgroup2.v2 is not None
    group = f"/layerlab-test-{os.getpid()}"
    folder = cgroup2.v2 / group.lstrip("/")
    folder.mkdir()
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        (folder / "cgroup.procs").write_text(str(sleeper.pid))
        assert cgroups.procs(group, cgroup2) == [sleeper.pid]
        assert cgroups.group_of(sleeper.pid, cgroup2) == group
        (folder / "cgroup.freeze").write_text("1")
        eventually(lambda: cgroups.frozen(group, cgroup2), True)
        (folder / "cgroup.freeze").write_text("0")
        eventually(lambda: cgroups.frozen(group, cgroup2), False)
        # What the v2 tree has no controller for reads as no limit, not as an error.
        if "memory" not in cgroup2.v2_controllers:
            assert cgroups.read_limits(group, cgroup2).memory == 0
            assert cgroups.oom_kills(group, cgroup2) == 0
    finally:
        sleeper.kill()
        sleeper.wait()
        for _ in range(100):
            with contextlib.suppress(OSError):
                folder.rmdir()
            if not folder.exists():
                break
            eventually(lambda: cgroups.procs(group, cgroup2), [])
