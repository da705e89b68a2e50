"""diff, commit, save and export of a big writable layer, each as a ratio against its peers.

The container writes 10,000 small files and one 100 MB file (the issue's
workload). Each command runs as a whole CLI process, interleaved with its
peers - layerlab, docker, cp -a, layerlab, docker, cp -a, ... - so drift in a
shared machine's speed (and in the file system's state: ext4 slows inode
allocation for minutes after mass deletions) touches them alike. For every
round the ratio layerlab/peer is taken pair by pair; the table prints median
walls, the median ratio, and peak RSS (wait4's rusage of the CLI process).

Peers: Docker, when a daemon answers, running the same workload (without
one, Docker 20.10 figures measured on this kind of machine are printed as a
reference); and always `cp -a` of the same writable layer, the physical cost
of copying it at all (for commit and export; its copy is removed untimed).
layerlab runs with its bytecode cached, as an installed package does.

Every commit makes a new layer: the image is removed, untimed, between rounds,
on both sides. Not a test: nothing passes or fails.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from docker_peer import docker_reachable

WORKLOAD = (
    "mkdir -p /data && cd /data && "
    "i=0; while [ $i -lt 100 ]; do mkdir d$i; j=0; "
    "while [ $j -lt 100 ]; do echo file-$i-$j > d$i/f$j; j=$((j+1)); done; i=$((i+1)); done; "
    "head -c 100000000 /dev/urandom > /big"
)
DOCKER_20_10: dict[str, float] = {"diff": 0.21, "commit": 1.7, "save": 1.4, "export": 0.7}
NAME, IMAGE = "bench-big", "bench-big-image"


def measure(cmd: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds and the child's peak RSS in KiB, for one run of `cmd`."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    errors = proc.stderr.read().decode().strip() if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {errors}")
    return elapsed, usage.ru_maxrss


class Side:
    """One tool (layerlab or docker) with its container made and its commands ready."""

    def __init__(self, tool: list[str], env: dict[str, str], out_dir: Path) -> None:
        self.tool, self.env = tool, env
        self.quiet([*tool, "rm", "-f", NAME])
        subprocess.run(
            [*tool, "run", "--name", NAME, "busybox", "sh", "-c", WORKLOAD],
            env=env, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        self.commands = {
            "diff": [*tool, "diff", NAME],
            "commit": [*tool, "commit", NAME, IMAGE],
            "save": [*tool, "save", "-o", str(out_dir / "save.tar"), IMAGE],
            "export": [*tool, "export", "-o", str(out_dir / "export.tar"), NAME],
        }

    def quiet(self, cmd: list[str]) -> None:
        subprocess.run(cmd, env=self.env, capture_output=True)

    def run(self, name: str) -> tuple[float, int]:
        if name == "commit":  # a new layer every time, not a deduplicated one
            self.quiet([*self.tool, "rmi", IMAGE])
        return measure(self.commands[name], self.env)

    def close(self) -> None:
        self.quiet([*self.tool, "rm", "-f", NAME])
        self.quiet([*self.tool, "rmi", IMAGE])


def copy_peer(upper: str, out_dir: Path) -> Callable[[], tuple[float, int]]:
    """`cp -a` of the writable layer; the copy is removed after, untimed."""
    copy = out_dir / "copy"

    def run() -> tuple[float, int]:
        result = measure(["cp", "-a", upper, str(copy)], dict(os.environ))
        shutil.rmtree(copy)
        return result

    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", "--runs", type=int, default=3)
    args = parser.parse_args()
    names = ["diff", "commit", "save", "export"]
    walls: dict[tuple[str, str], list[float]] = {}
    rss: dict[tuple[str, str], int] = {}
    with tempfile.TemporaryDirectory(prefix="layerlab-bench-") as tmp:
        work = Path(tmp)
        (work / "ours").mkdir()
        (work / "docker").mkdir()
        # Bytecode as an installed package has it (bench_build does the same): without
        # it, PYTHONDONTWRITEBYTECODE makes every command compile every module first.
        env = dict(os.environ, LAYERLAB_ROOT=str(work / "store"), PYTHONPYCACHEPREFIX=str(work))
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        sides = {"layerlab": Side([sys.executable, "-m", "layerlab"], env, work / "ours")}
        if docker_reachable():
            sides["docker"] = Side(["docker"], dict(os.environ), work / "docker")
        upper = subprocess.run(
            [*sides["layerlab"].tool, "inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", NAME],
            env=env, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        cp = copy_peer(upper, work)
        try:
            for name in names:
                runners: dict[str, Callable[[], tuple[float, int]]] = {
                    who: functools.partial(side.run, name) for who, side in sides.items()
                }
                if name in ("commit", "export"):
                    runners["cp -a"] = cp
                for _ in range(args.runs):
                    for who, runner in runners.items():
                        wall, peak = runner()
                        walls.setdefault((name, who), []).append(wall)
                        rss[name, who] = max(rss.get((name, who), 0), peak)
        finally:
            for side in sides.values():
                side.close()
    print_table(names, walls, rss, measured="docker" in sides, runs=args.runs)
    return 0


def ratio(walls: dict[tuple[str, str], list[float]], name: str, peer: str) -> float | None:
    ours, theirs = walls.get((name, "layerlab")), walls.get((name, peer))
    if not ours or not theirs:
        return None
    return statistics.median(a / b for a, b in zip(ours, theirs, strict=True))


def print_table(
    names: list[str],
    walls: dict[tuple[str, str], list[float]],
    rss: dict[tuple[str, str], int],
    *,
    measured: bool,
    runs: int,
) -> None:
    docker = "docker" if measured else "docker 20.10 (ref)"
    print(
        f"| command | layerlab | peak RSS | {docker} | ratio | cp -a | ratio | cp -a peak RSS |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    for name in names:
        ours = statistics.median(walls[name, "layerlab"])
        cells = [name, f"{ours:.2f} s", f"{rss[name, 'layerlab'] / 1024:.1f} MB"]
        if measured:
            theirs = statistics.median(walls[name, "docker"])
            vs_docker = ratio(walls, name, "docker")
        else:
            theirs, vs_docker = DOCKER_20_10[name], ours / DOCKER_20_10[name]
        cells += [f"{theirs:.2f} s", f"{vs_docker:.2f}x"]
        if (name, "cp -a") in walls:
            cells += [
                f"{statistics.median(walls[name, 'cp -a']):.2f} s",
                f"{ratio(walls, name, 'cp -a'):.2f}x",
                f"{rss[name, 'cp -a'] / 1024:.1f} MB",
            ]
        else:
            cells += ["-", "-", "-"]
        print("| " + " | ".join(cells) + " |")
    print(
        f"(median of {runs} interleaved rounds; ratio = median of per-round layerlab/peer;"
        " peak RSS of the CLI process itself, wait4 rusage)"
    )


if __name__ == "__main__":
    raise SystemExit(main())
