"""`layerlab build` of a 7-step Dockerfile: cold (every step runs) and fully cached.

The Dockerfile is issue 4's: busybox, then 3 RUN, ENV, WORKDIR, COPY and CMD.
"Cold" is `build --no-cache` with the base image already in the store (as a
pulled image is for Docker); "cached" is a rebuild in which every step hits.
Both are timed as a user runs them, one `layerlab` process each (its
resident fork server warm; the cached build once more without it),
interleaved (cold, cached, cold, ...) so drift in the machine's speed touches
both alike. Bytecode is cached in a private folder, as for an installed package.
Docker's legacy builder is timed beside them when a daemon answers `docker
info`; otherwise the issue's reference numbers for it are printed. Not a test:
nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from docker_peer import docker_reachable
from served import LAYERLAB, peak_rss_mb, wait_for_server

from layerlab.engine import Engine

DOCKERFILE = """\
FROM busybox
RUN echo one > /one.txt
ENV GREETING=hello
WORKDIR /app
COPY hello.txt .
RUN echo "$GREETING from $(pwd)" > msg.txt
RUN cat hello.txt msg.txt > both.txt
CMD ["cat", "/app/both.txt"]
"""
DOCKER_COLD, DOCKER_CACHED = 1.18, 0.054  # issue 4: Docker 20.10's legacy builder


def timed(cmd: list[str], env: dict[str, str], expect: tuple[str, int] | None = None) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.strip()}")
    if expect is not None and proc.stdout.count(expect[0]) != expect[1]:
        raise SystemExit(f"{' '.join(cmd)}: expected {expect[1]} x {expect[0]!r}:\n{proc.stdout}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", "--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="layerlab-bench-build-") as tmp:
        work = Path(tmp)
        root = work / "store"
        ctx = work / "ctx"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(DOCKERFILE)
        (ctx / "hello.txt").write_text("hello\n")
        Engine(root).image("busybox")  # the base image is local, as after `docker pull`
        env = dict(os.environ, LAYERLAB_ROOT=str(root), PYTHONPYCACHEPREFIX=str(work / "pyc"))
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["LAYERLAB_SERVER_DIR"] = str(work / "server")
        layerlab = [LAYERLAB, "build", "-t", "bench-build", str(ctx)]
        commands: dict[str, tuple[list[str], tuple[str, int] | None]] = {
            # every step but COPY runs in a container (COPY writes a layer, as Docker's)
            "layerlab build (cold)": (
                [*layerlab[:2], "--no-cache", *layerlab[2:]],
                ("Running in", 6),
            ),
            "layerlab build (cached)": (layerlab, ("Using cache", 7)),
            "  cached, no server": (["env", "LAYERLAB_NO_SERVER=1", *layerlab], ("Using cache", 7)),
        }
        if docker_reachable():
            subprocess.run(["docker", "pull", "-q", "busybox"], capture_output=True)
            docker = ["docker", "build", "-t", "bench-build", str(ctx)]
            commands["docker build (cold)"] = ([*docker[:2], "--no-cache", *docker[2:]], None)
            commands["docker build (cached)"] = (docker, None)
            env["DOCKER_BUILDKIT"] = "0"  # the legacy builder, whose output layerlab mirrors
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for cmd, _ in commands.values():  # warm-up: bytecode compiled, cache filled
            timed(cmd, env)
        server = wait_for_server(work / "server")
        for _ in range(args.runs):
            for name, (cmd, expect) in commands.items():
                samples[name].append(timed(cmd, env, expect if "docker" not in name else None))
        server_rss = peak_rss_mb(server)
        os.kill(server, signal.SIGTERM)
    medians = {name: statistics.median(s) for name, s in samples.items()}
    print(f"{'command':26} {'median':>9} {'min':>9} {'max':>9}   ({args.runs} runs each)")
    for name, s in samples.items():
        print(
            f"{name:26} {medians[name] * 1000:7.1f}ms {min(s) * 1000:7.1f}ms {max(s) * 1000:7.1f}ms"
        )
    print(f"the fork server: peak RSS {server_rss:.0f} MB (its children share it)")
    cold, cached = medians["layerlab build (cold)"], medians["layerlab build (cached)"]
    print(f"cached / cold: {cached / cold:.2f}")
    if "docker build (cold)" in medians:
        docker_cold = medians["docker build (cold)"]
        docker_cached = medians["docker build (cached)"]
        print("docker: measured here")
    else:
        docker_cold, docker_cached = DOCKER_COLD, DOCKER_CACHED
        print("docker: no daemon reachable, not compared here; issue 4's numbers for it:")
    print(
        f"  cold   {cold:.3f}s vs docker {docker_cold:.3f}s = {cold / docker_cold:.2f}x "
        "(goal <= 0.5x)"
    )
    print(
        f"  cached {cached:.3f}s vs docker {docker_cached:.3f}s = {cached / docker_cached:.2f}x "
        "(goal <= 1x, issue 13)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
