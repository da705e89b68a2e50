"""diff, commit, save and export of a big writable layer, each as a ratio against its peers.

The container writes 10,000 small files and one 100 MB file (the issue's
workload). Each command runs as a whole CLI process, interleaved with its
peers, and the order turns every round (A B C, B C A, C A B, ...) so that
drift in a shared machine's speed touches them alike and no tool always runs
right after the same neighbour. For every round the ratio layerlab/peer is
taken pair by pair; the table prints median walls, the median ratio, and peak
RSS (wait4's rusage of the command's process).

Rounds must not disturb each other. Nothing is deleted until the end: ext4
allocates inodes slowly for minutes after a mass deletion, so removing the
last round's layer would slow whoever writes next. Every commit therefore
makes a new layer - an untimed `cp` of a one-line marker file into the
container first makes its content new, on both sides, so neither deduplicates
and throws a copy away inside the timed window - and every output file (save,
export, cp -a) goes to a fresh path. A `sync` before each timed command keeps
the previous command's writeback out of it.

Peers: Docker, when a daemon answers, running the same workload (without
one, Docker 20.10 figures measured on this kind of machine are printed as a
reference); `cp -a` of the same writable layer (commit and export), the
physical cost of copying it at all; and `tar -cf` of it (export), the cost of
writing it as one archive. `--baseline APP_DIR` adds another layerlab (an
older checkout) as one more side, in its own store: before and after in one
run. layerlab runs with its bytecode cached, as an installed package does.
Not a test: nothing passes or fails.
"""

from __future__ import annotations

import argparse
import itertools
import os
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
COMMANDS = ["diff", "commit", "save", "export"]
PEERS = {"commit": ["cp -a"], "export": ["cp -a", "tar -cf"]}
Runner = Callable[[int], tuple[float, int]]  # round number -> (wall seconds, peak RSS KiB)


def measure(cmd: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds and the child's peak RSS in KiB, for one run of `cmd`, after a sync."""
    os.sync()  # the last command's dirty pages are written back now, not inside this one
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

    def __init__(self, tool: list[str], env: dict[str, str], out_dir: Path, name: str) -> None:
        self.tool, self.env, self.out_dir = tool, env, out_dir
        self.container, self.image = name, f"{name}-image"
        self.quiet([*tool, "rm", "-f", name])
        subprocess.run(
            [*tool, "run", "--name", name, "busybox", "sh", "-c", WORKLOAD],
            env=env, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        self.images: list[str] = []

    def quiet(self, cmd: list[str]) -> None:
        subprocess.run(cmd, env=self.env, capture_output=True)

    def run(self, name: str, round_: int) -> tuple[float, int]:
        out = str(self.out_dir / f"{name}-{round_}.tar")
        if name == "commit":  # new content, so a new layer every time (not a deduplicated one)
            marker = self.out_dir / f"round-{round_}"
            marker.write_text(f"{round_}\n")
            subprocess.run(
                [*self.tool, "cp", str(marker), f"{self.container}:/{marker.name}"],
                env=self.env, check=True, capture_output=True,
            )  # fmt: skip
            self.images.append(f"{self.image}:r{round_}")
        if name == "diff":
            command = ["diff", self.container]
        elif name == "commit":
            command = ["commit", self.container, self.images[-1]]
        elif name == "save":
            command = ["save", "-o", out, self.images[0]]
        else:
            command = ["export", "-o", out, self.container]
        return measure([*self.tool, *command], self.env)

    def close(self) -> None:
        self.quiet([*self.tool, "rm", "-f", self.container])
        if self.images:
            self.quiet([*self.tool, "rmi", *self.images])


def copy_peer(upper: str, out_dir: Path) -> Runner:
    """`cp -a` of the writable layer into a fresh directory (removed with the rest, at the end)."""
    return lambda round_: measure(["cp", "-a", upper, str(out_dir / f"copy-{round_}")], {})


def tar_peer(upper: str, out_dir: Path) -> Runner:
    """GNU tar of the writable layer into a fresh file: one archive written, nothing else."""
    return lambda round_: measure(
        ["tar", "-cf", str(out_dir / f"tar-{round_}.tar"), "-C", upper, "."], {}
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", "--runs", type=int, default=5)
    parser.add_argument("--name", default="bench-big", help="container name on both sides")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every round's walls")
    parser.add_argument(
        "--baseline",
        metavar="APP_DIR",
        help="also run the layerlab found in APP_DIR (e.g. an older checkout's app/), in its own"
        " store, interleaved like any side: before and after measured in one run",
    )
    args = parser.parse_args()
    walls: dict[tuple[str, str], list[float]] = {}
    rss: dict[tuple[str, str], int] = {}
    with tempfile.TemporaryDirectory(prefix="layerlab-bench-") as tmp:
        work = Path(tmp)
        for sub in ("ours", "baseline", "docker", "peers"):
            (work / sub).mkdir()
        # Bytecode as an installed package has it (bench_build does the same): without
        # it, PYTHONDONTWRITEBYTECODE makes every command compile every module first.
        env = dict(os.environ, LAYERLAB_ROOT=str(work / "store"), PYTHONPYCACHEPREFIX=str(work))
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        sides = {
            "layerlab": Side([sys.executable, "-m", "layerlab"], env, work / "ours", args.name)
        }
        try:
            if args.baseline:
                base_env = dict(env, LAYERLAB_ROOT=str(work / "baseline-store"))
                base_env["PYTHONPATH"] = os.pathsep.join(
                    [args.baseline, *env.get("PYTHONPATH", "").split(os.pathsep)]
                )
                sides["baseline"] = Side(
                    [sys.executable, "-m", "layerlab"], base_env, work / "baseline", args.name
                )
            if docker_reachable():
                sides["docker"] = Side(["docker"], dict(os.environ), work / "docker", args.name)
            upper = subprocess.run(
                [*sides["layerlab"].tool, "inspect", "-f", "{{.GraphDriver.Data.UpperDir}}",
                 args.name],
                env=env, capture_output=True, text=True, check=True,
            ).stdout.strip()  # fmt: skip
            peers = {
                "cp -a": copy_peer(upper, work / "peers"),
                "tar -cf": tar_peer(upper, work / "peers"),
            }
            for name in COMMANDS:
                runners: dict[str, Runner] = {
                    who: lambda r, side=side, name=name: side.run(name, r)
                    for who, side in sides.items()
                }
                runners.update((peer, peers[peer]) for peer in PEERS.get(name, []))
                order = list(runners)
                for round_ in range(args.runs):
                    turn = round_ % len(order)
                    for who in itertools.chain(order[turn:], order[:turn]):
                        wall, peak = runners[who](round_)
                        walls.setdefault((name, who), []).append(wall)
                        rss[name, who] = max(rss.get((name, who), 0), peak)
                if args.verbose:
                    for who in order:
                        print(name, who, " ".join(f"{w:.2f}" for w in walls[name, who]))
        finally:
            for side in sides.values():
                side.close()
    print_table(walls, rss, measured="docker" in sides, runs=args.runs)
    if "baseline" in sides:
        print(f"\nbaseline ({args.baseline}), measured in the same rounds:")
        print_table(walls, rss, measured="docker" in sides, runs=args.runs, subject="baseline")
    return 0


def ratio(
    walls: dict[tuple[str, str], list[float]], name: str, peer: str, subject: str = "layerlab"
) -> float:
    ours, theirs = walls[name, subject], walls[name, peer]
    return statistics.median(a / b for a, b in zip(ours, theirs, strict=True))


def print_table(
    walls: dict[tuple[str, str], list[float]],
    rss: dict[tuple[str, str], int],
    *,
    measured: bool,
    runs: int,
    subject: str = "layerlab",
) -> None:
    """One row per command and peer: both medians, the median ratio, both peak RSS.

    The layerlab subject's peers are Docker, the physical ones, and the baseline if
    one ran (for the baseline itself: all but itself).
    """
    print(
        f"| command | {subject} | peak RSS | peer | peer wall | ratio | peer peak RSS |\n"
        "|---|---|---|---|---|---|---|"
    )
    for name in COMMANDS:
        ours = statistics.median(walls[name, subject])
        mine = [name, f"{ours:.2f} s", f"{rss[name, subject] / 1024:.1f} MB"]
        peers = (["docker"] if measured else []) + PEERS.get(name, [])
        if subject == "layerlab" and (name, "baseline") in walls:
            peers.append("baseline")
        rows = [
            [
                peer,
                f"{statistics.median(walls[name, peer]):.2f} s",
                f"{ratio(walls, name, peer, subject):.2f}x",
                f"{rss[name, peer] / 1024:.1f} MB" + (" (CLI)" if peer == "docker" else ""),
            ]
            for peer in peers
        ]
        if not measured:
            reference = DOCKER_20_10[name]
            rows.insert(
                0, ["docker 20.10 (ref)", f"{reference:.2f} s", f"{ours / reference:.2f}x", "-"]
            )
        for row in rows:
            print("| " + " | ".join(mine + row) + " |")
            mine = ["", "", ""]
    print(
        f"(median of {runs} interleaved rounds, the order turning each round; ratio = median"
        f" of per-round {subject}/peer; peak RSS of the command's own process, wait4 rusage)"
    )


if __name__ == "__main__":
    raise SystemExit(main())
