"""What bridged networking adds to `layerlab run --rm busybox true`: the same command with
the default bridge (a namespace, a veth pair, an address, the bridge made and removed)
and with `--network none`, interleaved A B A B in one run, through the resident fork
server as a user runs it. Goal (issue 21): at most 30 ms more, median against median.
Not a test: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import tempfile
from pathlib import Path

from bench_run import timed
from served import LAYERLAB, wait_for_server

from layerlab.engine import Engine


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", "--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="layerlab-bench-") as tmp:
        work = Path(tmp)
        root = work / "store"
        Engine(root).image("busybox")
        env = dict(os.environ, LAYERLAB_ROOT=str(root), PYTHONPYCACHEPREFIX=str(work / "pyc"),
                   LAYERLAB_SERVER_DIR=str(work / "server"))  # fmt: skip
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        commands = {
            "run --rm busybox true (bridge)": [LAYERLAB, "run", "--rm", "busybox", "true"],
            "run --rm --network none busybox true": [
                LAYERLAB, "run", "--rm", "--network", "none", "busybox", "true",
            ],
        }  # fmt: skip
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for cmd in commands.values():  # warm-up: starts the server
            timed(cmd, env)
        server = wait_for_server(work / "server")
        for _ in range(args.runs):
            for name, cmd in commands.items():
                samples[name].append(timed(cmd, env))
        os.kill(server, signal.SIGTERM)
    medians = {name: statistics.median(s) for name, s in samples.items()}
    for name, s in samples.items():
        print(f"{name:38} median {medians[name] * 1000:7.1f}ms  min {min(s) * 1000:7.1f}ms "
              f"max {max(s) * 1000:7.1f}ms  ({args.runs} runs)")  # fmt: skip
    bridge, none = medians.values()
    print(
        f"bridge - none: {(bridge - none) * 1000:+.1f} ms (goal <= +30 ms); "
        f"bridge / none: {bridge / none:.2f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
