"""`pull docker-daemon:` of an image beside `docker save` of the same image, in one run.

Docker 20.10's daemon is started for the bench in a folder of its own, as the tests start
it (`tests/docker_side.start_daemon`: no bridge, busybox imported from the host's static
busybox), and given an image built on busybox: three layers and ~100 MB (`--big`: 20
layers, 60,000 files, 1 GB, the issue's big image). Each round times `docker save -o
FILE` (the daemon writing the image's tar, its CLI writing it to a file) and `layerlab
pull --host ... docker-daemon:IMAGE` into a fresh store (the same tar streamed from the
daemon, every digest verified, the layers unpacked into the store), taking turns to go
first; a `sync` before each keeps the other's writeback out of it. Then, as the physical
peer of unpacking the image at all, `docker load -i` of the saved tar after an (untimed)
`docker rmi`: Docker writing the same layers' files. Nothing else is deleted until the
end. Ratios are medians of the per-round ones.
Not a test: nothing passes or fails.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from bench_layers import measure

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.docker_side import start_daemon, stop_daemon  # from the repository's root

IMAGE = "bench-pull:v1"


def write_context(folder: Path, layers: int, files: int, total: int) -> None:
    """A Dockerfile of `layers` COPY steps on busybox, each a folder of `files` files (one
    big, the rest small) of `total` bytes in all."""
    steps = ["FROM busybox"]
    per_layer = total // layers
    for n in range(layers):
        part = folder / f"part{n}"
        part.mkdir(parents=True)
        small = max(files - 1, 0)
        small_size = min(16_384, per_layer // 2 // max(small, 1))
        for i in range(small):
            (part / f"f{i}").write_bytes(os.urandom(small_size))
        (part / "big").write_bytes(os.urandom(per_layer - small * small_size))
        steps.append(f"COPY part{n}/ /data{n}/")
    (folder / "Dockerfile").write_text("\n".join(steps) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", "--runs", type=int, default=5)
    parser.add_argument("--big", action="store_true", help="20 layers, 60,000 files, 1 GB")
    args = parser.parse_args()
    layers, files, total = (20, 3_000, 1 << 30) if args.big else (3, 400, 100_000_000)
    walls: dict[str, list[float]] = {"pull": [], "save": [], "load": []}
    rss: dict[str, int] = {"pull": 0, "save": 0, "load": 0}
    with tempfile.TemporaryDirectory(prefix="layerlab-bench-pull-") as tmp:
        work = Path(tmp)
        (work / "dockerd").mkdir()
        started = start_daemon(work / "dockerd")
        if started is None:
            print("no dockerd on this machine (Debian's docker.io): nothing to measure")
            return 0
        daemon, proc = started
        try:
            write_context(work / "context", layers, files, total)
            built = daemon("build", "-q", "-t", IMAGE, str(work / "context"), timeout=1800)
            if built.code != 0:
                raise SystemExit(f"docker build failed: {built.err}")
            env = dict(os.environ, PYTHONPYCACHEPREFIX=str(work))
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            for round_ in range(args.runs):
                pull = [sys.executable, "-m", "layerlab", "pull", "--host", daemon.host,
                        f"docker-daemon:{IMAGE}"]  # fmt: skip
                save = [daemon.cli.docker, "--host", daemon.host, "save", "-o",
                        str(work / f"saved-{round_}.tar"), IMAGE]  # fmt: skip
                sides = {"pull": (pull, dict(env, LAYERLAB_ROOT=str(work / f"store-{round_}"))),
                         "save": (save, env)}  # fmt: skip
                load = [*daemon.argv, "load", "-i", str(work / f"saved-{round_}.tar")]
                for who in [*sorted(sides, reverse=round_ % 2 == 1), "load"]:
                    if who == "load" and daemon("rmi", IMAGE).code != 0:
                        raise SystemExit(f"docker rmi {IMAGE} failed")
                    wall, peak = measure(*sides.get(who, (load, env)))
                    walls[who].append(wall)
                    rss[who] = max(rss[who], peak)
        finally:
            stop_daemon(proc)
    size = f"{layers} layers, {layers * files:,} files, {total / 1e6:,.0f} MB"
    wall = {who: statistics.median(times) for who, times in walls.items()}
    ratios = f"{ratio(walls, 'save'):.2f}x save, {ratio(walls, 'load'):.2f}x load"
    print(f"| pull docker-daemon: ({size}) | {wall['pull']:.2f} s | docker save -o "
          f"{wall['save']:.2f} s; docker load -i {wall['load']:.2f} s | {ratios} |")  # fmt: skip
    print(
        f"(median of {args.runs} rounds, pull and save taking turns, then load; ratio = "
        f"median of per-round pull/peer; peak RSS: pull {rss['pull'] / 1024:.0f} MB)"
    )
    return 0


def ratio(walls: dict[str, list[float]], peer: str) -> float:
    return statistics.median(p / q for p, q in zip(walls["pull"], walls[peer], strict=True))


if __name__ == "__main__":
    raise SystemExit(main())
