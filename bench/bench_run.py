"""`layerlab run --rm busybox true` against its physical limit and against Docker.

The limit is a bare `runc run` of the busybox rootfs with `runc spec`'s
default config: what any runc-based engine must pay. A second bare `runc run`
takes the very spec layerlab hands runc (Docker's seccomp profile, its
capabilities, masked paths and cgroup): runc alone compiles that seccomp
filter on each start, so that row shows what is layerlab's own. Docker is
timed too when a daemon answers. The commands run interleaved, A B C A B C,
so drift in the machine's speed touches all of them alike; medians and
ratios are printed side by side. Not a test: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from docker_peer import docker_reachable
from served import LAYERLAB, peak_rss_mb, wait_for_server

from layerlab.engine import CreateOptions, Engine


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.decode().strip()}")
    return elapsed


def bare_runc_bundle(engine: Engine, workdir: Path) -> Path:
    """A bundle with busybox's layer copied as rootfs and `runc spec`'s default config."""
    image = engine.image("busybox")
    bundle = workdir / "bundle"
    shutil.copytree(image.layers[0].diff_path, bundle / "rootfs", symlinks=True)
    subprocess.run(["runc", "spec", "--bundle", str(bundle)], check=True)
    spec = json.loads((bundle / "config.json").read_text())
    spec["process"].update(terminal=False, args=["true"])
    spec["root"] = {"path": "rootfs", "readonly": False}
    (bundle / "config.json").write_text(json.dumps(spec))
    return bundle


def layerlab_spec_bundle(engine: Engine, rootfs: Path, workdir: Path) -> Path:
    """The spec layerlab gave a real container, on the same copied rootfs: its cgroup
    and the mounts of the store left out."""
    container = engine.create("busybox", CreateOptions(command=["sleep", "60"]))
    try:
        engine.start(container.id)
        spec = engine.bundle_spec(container.id)
    finally:
        engine.rm(container.id, force=True)
    assert spec is not None
    spec["process"]["args"] = ["true"]
    spec["root"] = {"path": str(rootfs), "readonly": False}
    spec["linux"]["cgroupsPath"] = f"/layerlab/bench-{workdir.name}"
    spec["mounts"] = [m for m in spec["mounts"] if not m["source"].startswith(str(workdir))]
    # The container's network namespace went with it: runc makes a fresh, empty one instead.
    spec["linux"]["namespaces"] = [
        {"type": ns["type"]} if ns["type"] == "network" else ns
        for ns in spec["linux"]["namespaces"]
    ]
    bundle = workdir / "bundle-layerlab-spec"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps(spec))
    return bundle


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", "--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="layerlab-bench-") as tmp:
        work = Path(tmp)
        root = work / "store"
        engine = Engine(root)
        bundle = bare_runc_bundle(engine, work)
        same_spec = layerlab_spec_bundle(engine, bundle / "rootfs", work)
        # Bytecode cached in a private folder, as for an installed package (bench_build too).
        env = dict(os.environ, LAYERLAB_ROOT=str(root), PYTHONPYCACHEPREFIX=str(work / "pyc"))
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        # The `layerlab` a user types: its first command starts the resident fork server
        # (client.py), which the warm-up waits for; the second row runs without it.
        layerlab = [LAYERLAB, "run", "--rm", "busybox", "true"]
        env["LAYERLAB_SERVER_DIR"] = str(work / "server")
        commands: dict[str, list[str]] = {
            "layerlab run --rm busybox true": layerlab,
            "  the same, no server": ["env", "LAYERLAB_NO_SERVER=1", *layerlab],
            "runc run (bare bundle)": [
                "runc", "--root", str(work / "runc"), "run", "--bundle", str(bundle), "bench",
            ],
            "runc run (layerlab's spec)": [
                "runc", "--root", str(work / "runc"), "run", "--bundle", str(same_spec), "bench",
            ],
        }  # fmt: skip
        if docker_reachable():
            subprocess.run(["docker", "pull", "-q", "busybox"], capture_output=True)
            commands["docker run --rm busybox true"] = [
                "docker", "run", "--rm", "busybox", "true",
            ]  # fmt: skip
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for cmd in commands.values():  # warm-up
            timed(cmd, env)
        server = wait_for_server(work / "server")
        for _ in range(args.runs):
            for name, cmd in commands.items():
                samples[name].append(timed(cmd, env))
        server_rss = peak_rss_mb(server)
        os.kill(server, signal.SIGTERM)
    medians = {name: statistics.median(s) for name, s in samples.items()}
    base = medians["runc run (bare bundle)"]
    print(f"{'command':34} {'median':>9} {'min':>9} {'max':>9}  vs runc  ({args.runs} runs each)")
    for name, s in samples.items():
        print(
            f"{name:34} {medians[name] * 1000:7.1f}ms {min(s) * 1000:7.1f}ms "
            f"{max(s) * 1000:7.1f}ms  {medians[name] / base:5.2f}x"
        )
    print(f"the fork server: peak RSS {server_rss:.0f} MB (its children share it)")
    ours = medians["layerlab run --rm busybox true"]
    print(f"layerlab / runc: {ours / base:.2f}x (goal <= 2x, issue 13)")
    same = medians["runc run (layerlab's spec)"]
    print(f"layerlab / runc with layerlab's spec: {ours / same:.2f}x")
    if "docker run --rm busybox true" in medians:
        print(f"layerlab / docker: {ours / medians['docker run --rm busybox true']:.2f}x")
    else:
        print("docker: no daemon reachable, not compared")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
