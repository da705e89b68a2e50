"""diff, commit, save and export of a big writable layer, beside Docker where it answers.

The container writes 10,000 small files and one 100 MB file (the issue's
workload). Each command runs as a whole CLI process, several times, and we
print median wall time and peak RSS (from wait4's rusage) side by side with
`docker` running the same workload when a daemon answers. Without a daemon,
the Docker 20.10 figures measured on this kind of machine are printed as the
reference. Not a test: nothing passes or fails.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from docker_peer import docker_reachable

WORKLOAD = (
    "mkdir -p /data && cd /data && "
    "i=0; while [ $i -lt 100 ]; do mkdir d$i; j=0; "
    "while [ $j -lt 100 ]; do echo file-$i-$j > d$i/f$j; j=$((j+1)); done; i=$((i+1)); done; "
    "head -c 100000000 /dev/urandom > /big"
)
DOCKER_20_10: dict[str, float] = {"diff": 0.21, "commit": 1.7, "save": 1.4, "export": 0.7}


def measure(cmd: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds and the child's peak RSS in KiB, for one run of `cmd`."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        errors = proc.stderr.read().decode().strip() if proc.stderr else ""
        raise SystemExit(f"{' '.join(cmd)} failed: {errors}")
    return elapsed, usage.ru_maxrss


def run_suite(
    tool: list[str], env: dict[str, str], out_dir: Path, runs: int
) -> dict[str, tuple[float, int]]:
    subprocess.run([*tool, "rm", "-f", "bench-big"], env=env, capture_output=True)
    subprocess.run(
        [*tool, "run", "--name", "bench-big", "busybox", "sh", "-c", WORKLOAD],
        env=env, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    commands = {
        "diff": [*tool, "diff", "bench-big"],
        "commit": [*tool, "commit", "bench-big", "bench-big-image"],
        "save": [*tool, "save", "-o", str(out_dir / "save.tar"), "bench-big-image"],
        "export": [*tool, "export", "-o", str(out_dir / "export.tar"), "bench-big"],
    }
    if tool[-1] == "layerlab":  # the physical limit of a commit: copying the files at all
        upper = subprocess.run(
            [*tool, "inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", "bench-big"],
            env=env, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        copy = str(out_dir / "copy")
        commands["cp -a"] = ["sh", "-c", f'cp -a "{upper}" "{copy}" && rm -rf "{copy}"']
    results = {}
    for name, cmd in commands.items():
        samples = [measure(cmd, env) for _ in range(runs)]
        results[name] = (statistics.median(s[0] for s in samples), max(s[1] for s in samples))
    subprocess.run([*tool, "rm", "-f", "bench-big"], env=env, capture_output=True)
    subprocess.run([*tool, "rmi", "bench-big-image"], env=env, capture_output=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", "--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="layerlab-bench-") as tmp:
        env = dict(os.environ, LAYERLAB_ROOT=str(Path(tmp) / "store"))
        ours = run_suite([sys.executable, "-m", "layerlab"], env, Path(tmp), args.runs)
        theirs = None
        if docker_reachable():
            measured = run_suite(["docker"], dict(os.environ), Path(tmp), args.runs)
            theirs = {name: wall for name, (wall, _) in measured.items()}
    reference = theirs or DOCKER_20_10
    label = "docker (measured now)" if theirs else "docker 20.10 (reference)"
    print(f"{'command':8} {'layerlab':>10} {'peak RSS':>10} {label:>26} {'ratio':>7}")
    for name, (wall, rss) in ours.items():
        ref = reference.get(name)
        versus = f"{ref:25.2f}s {wall / ref:6.2f}x" if ref else f"{'(the copy alone)':>26}"
        print(f"{name:8} {wall:9.2f}s {rss / 1024:8.1f}MB {versus}")
    print(f"(median of {args.runs} runs; own peak RSS of each CLI process, wait4 rusage)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
