"""Resource limits a class of thirty needs: memory (OOM -> 137, OOMKilled), pids, CPU,
ulimits, per-store defaults (daemon.json), `update`, and json-file log rotation.

Docker 20.10 answered the same questions side by side: `-m 32m` with 100 MB written
through `tail` exits 137 with `OOMKilled: true`; `-m 32m` alone shows MemorySwap
67108864 (twice the memory); `--pids-limit 0` shows null; `--memory-swap` without `-m`,
`-m 1m`, swap below memory and an unknown capability are refused with the words below.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from layerlab.engine import CreateOptions, Engine
from layerlab.errors import LayerlabError
from layerlab.runtime import cgroups
from layerlab.storage.limits import (
    LimitOptions,
    host_config,
    log_rotation,
    oci_resources,
    parse_bytes,
)

from .conftest import CLI, eventually

pytestmark = pytest.mark.system

# Inside a container its own cgroup is at /sys/fs/cgroup: per controller on v1, one tree on v2.
V1_CPU = cgroups.hierarchies().version("cpu") == 1
PIDS_MAX = "/sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max"
SHARES, WEIGHT = "/sys/fs/cgroup/cpu/cpu.shares", "/sys/fs/cgroup/cpu.weight"


def _inspect(cli: CLI, name: str, fmt: str) -> str:
    result = cli("inspect", "--format", fmt, name)
    assert result.code == 0, result.err
    return result.out.strip()


def test_sizes_and_defaults_read_as_docker_reads_them() -> None:
    assert parse_bytes("32m") == 32 << 20 and parse_bytes("1g") == 1 << 30
    assert parse_bytes("512k") == 512 << 10 and parse_bytes("100") == 100
    fields = host_config(LimitOptions(memory="32m", cpus="1.5", pids_limit=0), {})
    assert fields["Memory"] == 32 << 20 and fields["MemorySwap"] == 64 << 20
    assert fields["NanoCpus"] == 1_500_000_000 and fields["PidsLimit"] is None
    assert fields["LogConfig"]["Config"] == {"max-file": "3", "max-size": "10m"}
    assert oci_resources(fields) == {
        "memory": {"limit": 32 << 20, "swap": 64 << 20},
        "cpu": {"period": 100_000, "quota": 150_000},
    }
    assert log_rotation({"max-size": "10m", "max-file": "3"}) == (10 << 20, 3)


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        (LimitOptions(memory_swap="64m"), "You should always set the Memory limit"),
        (LimitOptions(memory="1m"), "Minimum memory limit allowed is 6MB"),
        (LimitOptions(memory="64m", memory_swap="32m"), "Minimum memoryswap limit"),
        (LimitOptions(ulimits=["bogus=1"]), "invalid ulimit type: bogus"),
        (LimitOptions(log_opts=["max-file=3"]), "max-file cannot be set without max-size"),
        (LimitOptions(log_opts=["bogus=1"]), "unknown log opt 'bogus'"),
    ],
)
def test_bad_limits_are_refused_before_anything_is_made(
    engine: Engine, opts: LimitOptions, message: str
) -> None:
    with pytest.raises(LayerlabError, match=message):
        engine.create("busybox", CreateOptions(command=["true"], limits=opts))
    assert engine.containers(all=True) == []


def test_memory_hog_ends_137_oom_killed(cli: CLI) -> None:
    result = cli("run", "--name", "hog", "-m", "32m", "busybox",
                 "sh", "-c", "head -c 100m /dev/zero | tail")  # fmt: skip
    assert result.code == 137
    assert _inspect(cli, "hog", "{{.State.OOMKilled}} {{.State.ExitCode}}") == "true 137"
    assert _inspect(cli, "hog", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}") == (
        f"{32 << 20} {64 << 20}"
    )
    # A plain exit leaves OOMKilled false.
    assert cli("run", "--name", "calm", "-m", "32m", "busybox", "true").code == 0
    assert _inspect(cli, "calm", "{{.State.OOMKilled}}") == "false"


def test_fork_bomb_is_held_by_the_pids_limit(engine: Engine, cli: CLI) -> None:
    container, _ = engine.run(
        "busybox", CreateOptions(command=["sleep", "300"], limits=LimitOptions(pids_limit=20))
    )
    loop = "i=0; while [ $i -lt 100 ]; do sleep 300 >/dev/null 2>&1 & i=$((i+1)); done"
    bomb = cli("exec", container.id, "sh", "-c", loop)
    assert bomb.code != 0 and "can't fork" in bomb.err
    # 20 = the first process + the forking shell + 18 sleeps; the shell gave up, 19 stay.
    eventually(lambda: len(engine.runtime.pids(container.id)), 19)
    assert _inspect(cli, container.id, "{{json .HostConfig.PidsLimit}}") == "20"


def test_update_changes_a_running_containers_cgroup(engine: Engine, cli: CLI) -> None:
    container, _ = engine.run("busybox", CreateOptions(command=["sleep", "300"]))
    result = cli("update", "--pids-limit", "30", "-m", "64m", "--cpus", "0.5", container.id)
    assert (result.code, result.out) == (0, container.id + "\n"), result.err
    # What the kernel enforces, read from the host's cgroup files (v1 or v2 alike).
    enforced = cgroups.read_limits(f"/layerlab/{container.id}")
    assert (enforced.pids, enforced.memory, enforced.nano_cpus) == (30, 64 << 20, 500_000_000)
    # moby's update sets no swap the user did not give: the cgroup's stays unlimited
    assert enforced.memory_swap == -1
    fmt = "{{.HostConfig.PidsLimit}} {{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}"
    assert _inspect(cli, container.id, fmt) == f"30 {64 << 20} 500000000"
    assert cli("update", container.id).code == 1  # no flag: Docker's usage error


def test_ulimits_cpu_shares_and_inspect(cli: CLI) -> None:
    shares = f"cat {SHARES}" if V1_CPU else f"cat {WEIGHT}"
    result = cli("run", "--name", "ulim", "--ulimit", "nofile=100:200", "--ulimit", "nproc=50",
                 "--cpu-shares", "512", "busybox", "sh", "-c",
                 f"ulimit -n; ulimit -Hn; ulimit -u; {shares}")  # fmt: skip
    weight = "512" if V1_CPU else str(cgroups.cpu_weight(512))
    assert result.out.split() == ["100", "200", "50", weight], result.err
    ulimits = json.loads(_inspect(cli, "ulim", "{{json .HostConfig.Ulimits}}"))
    assert ulimits == [
        {"Name": "nofile", "Hard": 200, "Soft": 100},
        {"Name": "nproc", "Hard": 50, "Soft": 50},
    ]


def test_store_defaults_limit_every_container_without_flags(root: Path, cli: CLI) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "daemon.json").write_text(json.dumps({
        "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 512, "Soft": 256}},
        "default-memory": "64m", "default-pids-limit": 50, "default-cpus": "1",
        "log-opts": {"max-size": "1m", "max-file": "2"},
    }))  # fmt: skip
    result = cli("run", "--name", "dflt", "busybox", "sh", "-c",
                 f"ulimit -n; cat {PIDS_MAX}")  # fmt: skip
    assert result.out.split() == ["256", "50"], result.err
    fmt = "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.NanoCpus}}"
    assert _inspect(cli, "dflt", fmt) == f"{64 << 20} 50 1000000000"
    assert _inspect(cli, "dflt", "{{json .HostConfig.LogConfig.Config}}") == (
        '{"max-file":"2","max-size":"1m"}'
    )
    # A flag wins over the store's default.
    flagged = cli("run", "--rm", "--pids-limit", "7", "busybox", "sh", "-c", f"cat {PIDS_MAX}")
    assert flagged.out.strip() == "7"
    (root / "daemon.json").write_text("{broken")
    broken = cli("create", "busybox")
    assert broken.code != 0 and "daemon.json" in broken.err and "Traceback" not in broken.err


def test_log_rotates_and_logs_reads_across_files(cli: CLI, engine: Engine) -> None:
    result = cli("run", "--name", "chatty", "--log-opt", "max-size=1k", "--log-opt",
                 "max-file=3", "busybox", "seq", "1000")  # fmt: skip
    assert result.code == 0
    log = Path(engine.container("chatty").data["LogPath"])
    files = sorted(log.parent.glob(log.name + "*"))
    assert [p.name for p in files] == [log.name, log.name + ".1", log.name + ".2"]
    assert all(p.stat().st_size <= 1024 for p in files)
    lines = cli("logs", "chatty").out.split()
    assert lines == [str(n) for n in range(int(lines[0]), 1001)]  # the newest, in order


def test_logs_follow_prints_every_line_across_rotations(cli: CLI, root: Path) -> None:
    import os
    import subprocess
    import sys

    count = 150
    script = (
        "echo ready; while [ ! -e /go ]; do usleep 10000; done; i=1; "
        f"while [ $i -le {count} ]; do echo $i; i=$((i+1)); usleep 30000; done"
    )
    assert cli("run", "-d", "--name", "steady", "--log-opt", "max-size=1k", "--log-opt",
               "max-file=3", "busybox", "sh", "-c", script).code == 0  # fmt: skip
    follow = subprocess.Popen(
        [sys.executable, "-m", "layerlab", "logs", "-f", "steady"],
        env=dict(os.environ, LAYERLAB_ROOT=str(root)), stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert follow.stdout is not None
    assert follow.stdout.readline() == "ready\n"  # the follower reads: now let it print
    assert cli("exec", "steady", "touch", "/go").code == 0
    out, _ = follow.communicate(timeout=120)  # `logs -f` ends when the container does
    assert out.split() == [str(n) for n in range(1, count + 1)]
    assert cli("logs", "steady").out.split()[-1] == str(count)
