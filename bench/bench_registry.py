"""pull and push of a 5-layer, ~100 MB image on a loopback registry, as ratios against skopeo.

The image is made once: five layers of 20 MB of random bytes each (incompressible, so
gzip's work is the same on every side), written as an OCI layout and copied with skopeo
into a registry (Debian's docker-registry on 127.0.0.1, started by layerlab's own lesson
registry code). Then, round after round, each side runs as a whole CLI process,
interleaved with its peers, the order turning every round:

- pull: `layerlab pull HOST/bench:1` into a fresh store, beside `skopeo copy
  docker://HOST/bench:1 oci:DIR` into a fresh folder (skopeo keeps the compressed blobs as
  they come; layerlab also unpacks each layer into the store: more work, on purpose the
  issue's referee);
- push: `layerlab push` of that image to a fresh registry, beside `skopeo copy` to a fresh
  registry from a `docker-archive:` (the `save` tar: its layers uncompressed, so skopeo
  compresses them as layerlab must) and from the `oci:` layout (blobs already compressed:
  nothing to compress, a floor).

A fresh store and fresh registries per round: nothing already there makes a round
cheaper (`Already exists`, a blob mounted), and nothing is removed until the end. For
every round the ratio layerlab/peer is taken pair by pair; the table prints median walls
and the median ratio. Not a test: nothing passes or fails.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import itertools
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench_layers import measure

from layerlab.lessons.registry import LessonRegistry

LAYERS = 5
LAYER_BYTES = 20_000_000
Runner = Callable[[int], float]  # round number -> wall seconds


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_layout(folder: Path) -> None:
    """The image as an OCI layout: LAYERS gzip layers of random bytes, a config, a manifest."""
    blobs = folder / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    layers, diff_ids = [], []
    for n in range(LAYERS):
        plain = io.BytesIO()
        with tarfile.open(fileobj=plain, mode="w") as tar:
            info = tarfile.TarInfo(f"data/layer{n}.bin")
            info.size, info.mtime = LAYER_BYTES, 1_700_000_000
            tar.addfile(info, io.BytesIO(os.urandom(LAYER_BYTES)))
        packed = gzip.compress(plain.getvalue(), compresslevel=1, mtime=0)
        (blobs / _sha(packed)[7:]).write_bytes(packed)
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                       "digest": _sha(packed), "size": len(packed)})  # fmt: skip
        diff_ids.append(_sha(plain.getvalue()))
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["/bin/sh"]}, "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": f"layer {n}"} for n in range(LAYERS)],
    }).encode()  # fmt: skip
    (blobs / _sha(config)[7:]).write_bytes(config)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": _sha(config), "size": len(config)},
        "layers": layers,
    }).encode()  # fmt: skip
    (blobs / _sha(manifest)[7:]).write_bytes(manifest)
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": _sha(manifest), "size": len(manifest)}]}  # fmt: skip
    (folder / "index.json").write_text(json.dumps(index))
    (folder / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')


class Bench:
    """The work folder, the first registry (holding the image), layerlab's environment."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.registries: list[LessonRegistry] = []
        self.env = dict(os.environ, PYTHONPYCACHEPREFIX=str(work / "pycache"),
                        LAYERLAB_CONFIG=str(work / "layerlab-config"),
                        DOCKER_CONFIG=str(work / "docker-config"))  # fmt: skip
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.layout = work / "layout"
        make_layout(self.layout)
        self.source = self.registry()
        self.image = f"{self.source.host}/bench:1"
        skopeo(["copy", "--dest-tls-verify=false", f"oci:{self.layout}", f"docker://{self.image}"])
        self.store = work / "store"  # layerlab's copy, pulled once (untimed): what push sends
        self.layerlab(self.store, "pull", "-q", self.image)
        self.archive = work / "bench.tar"
        self.layerlab(self.store, "save", "-o", str(self.archive), self.image)

    def registry(self) -> LessonRegistry:
        started = LessonRegistry(self.work / f"registry-{len(self.registries)}")
        started.start()
        self.registries.append(started)
        return started

    def layerlab(self, store: Path, *words: str) -> None:
        env = dict(self.env, LAYERLAB_ROOT=str(store))
        subprocess.run([sys.executable, "-m", "layerlab", *words], env=env, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip

    def timed_layerlab(self, store: Path, *words: str) -> float:
        env = dict(self.env, LAYERLAB_ROOT=str(store))
        return measure([sys.executable, "-m", "layerlab", *words], env)[0]

    def pull_runners(self) -> dict[str, Runner]:
        def ours(n: int) -> float:
            return self.timed_layerlab(self.work / f"pull-store-{n}", "pull", "-q", self.image)

        def theirs(n: int) -> float:
            source, target = f"docker://{self.image}", f"oci:{self.work / f'skopeo-pull-{n}'}"
            return timed_skopeo(["copy", "--src-tls-verify=false", source, target])

        return {"layerlab": ours, "skopeo (oci:)": theirs}

    def push_runners(self) -> dict[str, Runner]:
        def ours(_: int) -> float:
            target = f"{self.registry().host}/bench:1"
            self.layerlab(self.store, "tag", self.image, target)
            return self.timed_layerlab(self.store, "push", "-q", target)

        def theirs(source: str) -> Runner:
            def run(_: int) -> float:
                target = f"docker://{self.registry().host}/bench:1"
                return timed_skopeo(["copy", "--dest-tls-verify=false", source, target])

            return run

        return {
            "layerlab": ours,
            "skopeo (docker-archive:)": theirs(f"docker-archive:{self.archive}"),
            "skopeo (oci:)": theirs(f"oci:{self.layout}"),
        }

    def close(self) -> None:
        for started in self.registries:
            started.stop()


def skopeo(words: list[str]) -> None:
    subprocess.run(["skopeo", "--insecure-policy", *words], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip


def timed_skopeo(words: list[str]) -> float:
    return measure(["skopeo", "--insecure-policy", *words], {"PATH": os.environ["PATH"]})[0]


def interleave(runners: dict[str, Runner], runs: int) -> dict[str, list[float]]:
    """Every side once a round, the order turning each round."""
    walls: dict[str, list[float]] = {who: [] for who in runners}
    order = list(runners)
    for round_ in range(runs):
        turn = round_ % len(order)
        for who in itertools.chain(order[turn:], order[:turn]):
            walls[who].append(runners[who](round_))
    return walls


def print_table(results: dict[str, dict[str, list[float]]], runs: int) -> None:
    print("| command | layerlab | peer | peer wall | ratio |\n|---|---|---|---|---|")
    for command, walls in results.items():
        ours = walls["layerlab"]
        mine = [command, f"{statistics.median(ours):.2f} s"]
        for peer, theirs in walls.items():
            if peer == "layerlab":
                continue
            ratio = statistics.median(a / b for a, b in zip(ours, theirs, strict=True))
            print("| " + " | ".join([*mine, peer, f"{statistics.median(theirs):.2f} s",
                                     f"{ratio:.2f}x"]) + " |")  # fmt: skip
            mine = ["", ""]
    print(
        f"({LAYERS} layers of {LAYER_BYTES // 1_000_000} MB of random bytes on a loopback "
        f"registry; median of {runs} interleaved rounds, the order turning each round; "
        "ratio = median of per-round layerlab/peer)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", "--runs", type=int, default=5)
    parser.add_argument("-v", "--verbose", action="store_true", help="print every round's walls")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="layerlab-bench-registry-") as tmp:
        bench = Bench(Path(tmp))
        try:
            results = {
                "pull": interleave(bench.pull_runners(), args.runs),
                "push": interleave(bench.push_runners(), args.runs),
            }
        finally:
            bench.close()
    if args.verbose:
        for command, walls in results.items():
            for who, seconds in walls.items():
                print(command, who, " ".join(f"{s:.2f}" for s in seconds))
    print_table(results, args.runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
