"""Images as big as real ones, built by layerlab itself (`docker build`: a COPY per layer).

`big(...)`: many small files in folders of a hundred, spread over the layers, a few big
files among them, a layer that changes files of an earlier one (C, and hidden bytes) and
a last RUN that deletes a folder (whiteouts) - the 60,000-file, ~1 GB, 20-layer image at
its defaults. `deep(...)`: the deepest image Docker allows, 125 layers of a file each.
The benchmark builds them at full size; the tests build small ones with the same code.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from layerlab.build.builder import BuildOptions
from layerlab.engine import Engine

PER_FOLDER = 100
BIG_CHUNK = 1 << 20
SMALL_SIZES = (600, 1500, 3000, 4096, 9000)  # bytes, in turn: ~3.6 kB a file on average


@contextmanager
def _context() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="layerlab-big-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _small_files(layer_dir: Path, layer: int, count: int, start: int) -> None:
    """`count` files under /srv/l<layer>/d<n>/, a hundred a folder, each its own content."""
    for i in range(count):
        n = start + i
        folder = layer_dir / "srv" / f"l{layer:03d}" / f"d{i // PER_FOLDER:03d}"
        if i % PER_FOLDER == 0:
            folder.mkdir(parents=True, exist_ok=True)
        size = SMALL_SIZES[n % len(SMALL_SIZES)]
        line = f"file {n} of layer {layer}\n".encode()
        (folder / f"f{i % PER_FOLDER:03d}.txt").write_bytes((line * (size // len(line) + 1))[:size])


def _big_file(path: Path, size: int, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    chunk = bytes((seed + i) % 251 for i in range(BIG_CHUNK))
    with path.open("wb") as out:
        for _ in range(size // BIG_CHUNK):
            out.write(chunk)
        out.write(chunk[: size % BIG_CHUNK])


def _build(engine: Engine, context: Path, dockerfile: list[str], tag: str) -> str:
    (context / "Dockerfile").write_text("\n".join(dockerfile) + "\n")
    return engine.build(context, BuildOptions(tags=[tag], out=io.StringIO(), quiet=True))


def big(
    engine: Engine,
    tag: str = "big:latest",
    *,
    files: int = 60_000,
    layers: int = 20,
    big_files: int = 4,
    big_size: int = 190 << 20,
) -> str:
    """An image of `layers` layers (busybox's, the COPYs, a RUN) holding ~`files` files.

    The second-to-last COPY rewrites the first COPY's first folder (C entries, hidden
    bytes); the RUN deletes the second COPY's first folder (whiteouts) and changes a file.
    """
    copies = layers - 2  # busybox below, the RUN on top
    with _context() as context:
        lines = ["FROM busybox"]
        per_layer = files // copies
        for layer in range(copies):
            layer_dir = context / f"c{layer:03d}"
            layer_dir.mkdir()
            if layer == copies - 1 and copies > 2:  # rewrite what the first COPY wrote
                _small_files(layer_dir, 0, min(PER_FOLDER, per_layer), files)
            else:
                _small_files(layer_dir, layer, per_layer, layer * per_layer)
            if (
                big_files
                and layer % max(1, copies // big_files) == 0
                and layer // max(1, copies // big_files) < big_files
            ):
                _big_file(layer_dir / "opt" / f"blob{layer:03d}.bin", big_size, layer)
            lines.append(f"COPY c{layer:03d} /")
        lines.append("RUN rm -rf /srv/l001/d000 && echo changed >> /etc/passwd")
        return _build(engine, context, lines, tag)


def deep(engine: Engine, tag: str = "deep:latest", *, layers: int = 125) -> str:
    """An image of `layers` layers: busybox's, then a COPY of one small file per layer."""
    with _context() as context:
        lines = ["FROM busybox"]
        for layer in range(1, layers):
            (context / f"f{layer:03d}").write_text(f"layer {layer}\n")
            lines.append(f"COPY f{layer:03d} /layers/")
        return _build(engine, context, lines, tag)
