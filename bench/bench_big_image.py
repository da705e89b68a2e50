"""The TUI on images as big as real ones: a 60,000-file, ~1 GB, 20-layer image and a 125-layer one.

Both are built by layerlab itself (`big_images.py`: a `build` of a COPY per layer) in a
scratch store (or `--root DIR`, kept, to measure again without building). Then, headless
(Textual's `run_test`, one process, as a user's TUI), each figure is the time from the
action until the widget's state shows its result, polled every 2 ms:
- open: the subject switched to the image until its layer stack and its top layer's
  files are shown; the first time in the process (nothing of the image read yet) and again;
- layer switch: Down in the layer stack until the files panel shows that layer's entries;
- key: Down in the files tree until the cursor moved; a folder of 100 files unfolded;
  `s` (sort by size) and `f` (filter) on the biggest layer;
- memory: the process's RSS after all of it.
Beside it, Docker (the default daemon when one answers, else a dockerd the bench starts in a
folder of its own, as the tests do): the same image loaded from `layerlab save`, and timed in
`docker image inspect` and `docker history` (Docker has no view of the files).
Not a test: nothing passes or fails. Goals (issue 25): open < 0.5 s, switch < 150 ms,
key < 50 ms, RSS < 250 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import big_images
import psutil
from docker_peer import docker_reachable
from textual import events
from textual.widgets.tree import TreeNode

from layerlab.engine import Engine
from layerlab.errors import NotFound
from layerlab.layerfs.unionfs import Change
from layerlab.storage.snapshot import Subject
from layerlab.tui.app import LayerlabApp
from layerlab.tui.change_tree import ChangeTree
from layerlab.tui.listing import FILTERS
from layerlab.tui.settle import settled

SIZE = (120, 40)
SWITCHES = 19  # Down presses in the layer stack: every layer of the 20
KEYS = 30
OPENS = 5
UNFOLDS = 5
ROWS: list[tuple[str, str, str]] = []  # (measure, figure, goal)


def row(measure: str, figure: str, goal: str) -> None:
    """A row of the table, also printed as it is measured."""
    ROWS.append((measure, figure, goal))
    print(f"  {measure}: {figure}", flush=True)


async def timed(app: LayerlabApp, act: Callable[[], object], done: Callable[[], bool]) -> float:
    """Seconds from `act()` until `done()` holds and the panels' readers are idle."""
    start = time.perf_counter()
    act()
    await settled(
        app, until=done, groups=("subject", "files"), store=False, poll=0.002, quiet=1, timeout=120
    )
    return time.perf_counter() - start


def key(app: LayerlabApp, name: str) -> Callable[[], object]:
    return lambda: app.post_message(events.Key(name, None))


def shows(app: LayerlabApp, image_id: str, row: int = 0) -> bool:
    """The image's layer stack is shown, and its `row`th layer's files are in the tree."""
    view, tree = app.view, app.files_tree
    return (
        view is not None
        and view.subject.id == image_id
        and tree.row is not None
        and tree.row.key == view.layers[row].key
        and not tree.reading
    )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def spread(times: list[float]) -> str:
    """`median; max` of a series."""
    return f"{ms(statistics.median(times))}; {ms(max(times))}"


async def open_image(app: LayerlabApp, name: str, image_id: str) -> None:
    """Busybox shown, then the image: the first time in the process (nothing of it read
    yet, its layers counted after it is shown), then `OPENS` times more."""
    times = []
    for _ in range(1 + OPENS):
        app.subject = Subject("image", app.engine.image("busybox").id)
        await settled(app, store=False, timeout=120)
        times.append(
            await timed(
                app,
                lambda: setattr(app, "subject", Subject("image", image_id)),
                lambda: shows(app, image_id),
            )
        )
    row(f"{name}: open, the first time in the process", ms(times[0]), "< 500 ms")
    row(f"{name}: open again (median of {OPENS}; max)", spread(times[1:]), "< 500 ms")


async def switch_layers(app: LayerlabApp, name: str, image_id: str) -> None:
    view = app.view
    assert view is not None
    app.layer_stack.focus()
    times = []
    for at in range(1, min(SWITCHES, len(view.layers) - 1) + 1):
        times.append(await timed(app, key(app, "down"), lambda at=at: shows(app, image_id, at)))
    row(f"{name}: layer switch (median of {len(times)}; max)", spread(times), "< 150 ms")


def folders_of_files(tree: ChangeTree) -> list[TreeNode[Change]]:
    """The folders of a hundred small files (`/srv/lNNN/dNNN`), the folders above unfolded."""
    entries = tree.listing.entries
    folders = sorted(p for p in entries if p.startswith("/srv/l") and p.count("/") == 3)
    node = tree.root
    for depth in (1, 2):
        want = "/".join(folders[0].split("/")[: depth + 1])
        node = next(n for n in node.children if n.data is not None and n.data.path == want)
        tree.unfold(node)
    return [n for n in node.children if n.allow_expand]


async def keys(app: LayerlabApp, name: str, image_id: str) -> None:
    """On the layer with the most entries: Down, a folder unfolded, sort, filter."""
    view = app.view
    assert view is not None
    biggest = max(range(len(view.layers)), key=lambda i: view.layers[i].files)
    app.layer_stack.move_cursor(row=biggest)
    await settled(app, until=lambda: shows(app, image_id, biggest), store=False, timeout=120)
    tree = app.files_tree
    tree.focus()
    folders = folders_of_files(tree)[:UNFOLDS]
    unfolds = []
    for folder in reversed(folders):  # from the last: each unfolding moves the ones below
        await settled(app, store=False, until=lambda f=folder: f.line >= 0)
        tree.move_cursor(folder)
        await settled(app, store=False, until=lambda f=folder: tree.cursor_node is f)
        unfolds.append(
            await timed(app, key(app, "space"), lambda f=folder: f.is_expanded and bool(f.children))
        )
    size = len(folders[0].children)
    row(f"{name}: a folder of {size} files unfolded (median of {UNFOLDS}; max)",
        spread(unfolds), "< 50 ms")  # fmt: skip
    folder = folders[0]
    tree.move_cursor(folder.children[0])
    await settled(app, store=False)
    downs = []
    for _ in range(min(KEYS, len(folder.children) - 1)):
        line = tree.cursor_line
        downs.append(await timed(app, key(app, "down"), lambda line=line: tree.cursor_line > line))
    row(f"{name}: Down in the files tree (median; max)", spread(downs), "< 50 ms")
    entries = view.layers[biggest].files
    sorts = []
    for want in ("size", "name", "size", "name"):
        sorts.append(await timed(app, key(app, "s"), lambda want=want: tree.sort == want))
    row(f"{name}: s, sort by size / by name, {entries} entries (median; max)",
        spread(sorts), "< 50 ms")  # fmt: skip
    filters = []
    for only in (*FILTERS[1:], FILTERS[0]):
        filters.append(await timed(app, key(app, "f"), lambda only=only: tree.only == only))
    row(f"{name}: f, each filter and back to all (median; max)", spread(filters), "< 50 ms")


async def union_view(app: LayerlabApp, name: str, image_id: str) -> None:
    """`u` on the top layer: the merged view of every layer (the image's whole tree)."""
    app.layer_stack.move_cursor(row=0)
    await settled(app, until=lambda: shows(app, image_id, 0), store=False, timeout=120)
    tree = app.files_tree
    tree.focus()
    took = await timed(app, key(app, "u"), lambda: tree.union and not tree.reading)
    row(f"{name}: u, the union view ({len(tree.listing)} entries)", ms(took), "-")
    took = await timed(app, key(app, "u"), lambda: not tree.union and not tree.reading)
    row(f"{name}: u, back to the layer's own entries", ms(took), "< 50 ms")


@contextlib.contextmanager
def docker_peer(folder: Path) -> Iterator[list[str] | None]:
    """The `docker` command to time: the default daemon's when one answers, else a daemon of
    the bench's own in `folder` (the tests' way: no bridge, its own data root), else None."""
    if docker_reachable():
        yield ["docker"]
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.docker_side import start_daemon, stop_daemon

    started = start_daemon(folder)
    if started is None:
        yield None
        return
    daemon, proc = started
    try:
        yield [daemon.cli.docker, "--host", daemon.host]
    finally:
        stop_daemon(proc)


def docker_side(engine: Engine, docker: list[str], tag: str, name: str) -> None:
    """The same image in Docker, loaded from `layerlab save`: `docker load`, and Docker's
    views of it (`image inspect`, `history`; Docker has none of its files)."""
    with tempfile.TemporaryDirectory() as folder:
        tar = Path(folder) / "image.tar"
        with tar.open("wb") as out:
            engine.save([tag], out)
        start = time.perf_counter()
        subprocess.run([*docker, "load", "-i", str(tar)], check=True, capture_output=True)
        row(f"{name}: docker load of layerlab's save", ms(time.perf_counter() - start), "-")
    for what in (["image", "inspect", tag], ["history", tag]):
        start = time.perf_counter()
        subprocess.run([*docker, *what], check=True, capture_output=True)
        row(f"{name}: docker {' '.join(what[:-1])}", ms(time.perf_counter() - start), "-")
    subprocess.run([*docker, "rmi", tag], capture_output=True)


async def measure(root: Path, images: dict[str, str]) -> None:
    app = LayerlabApp(root)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot, timeout=120)
        for name, image_id in images.items():
            await open_image(app, name, image_id)
            await switch_layers(app, name, image_id)
            if name == "big":
                await keys(app, name, image_id)
                await union_view(app, name, image_id)
        rss = psutil.Process().memory_info().rss
        row("RSS after both images, every layer opened", f"{rss / 2**20:.0f} MB", "< 250 MB")


def build(engine: Engine) -> dict[str, str]:
    """The two images, built unless the store has them (`--root` kept from a run before)."""
    found = {}
    for name, make in (("big", big_images.big), ("deep", big_images.deep)):
        try:
            found[name] = engine.image(f"{name}:latest").id
        except NotFound:  # not built yet
            start = time.perf_counter()
            found[name] = make(engine, f"{name}:latest")
            print(f"built {name}:latest in {time.perf_counter() - start:.0f} s")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, help="a store kept between runs (built once)")
    args = parser.parse_args()
    root = args.root or Path(tempfile.mkdtemp(prefix="layerlab-bigbench-")) / "store"
    engine = Engine(root)
    try:
        images = build(engine)
        asyncio.run(measure(root, images))
        with (
            tempfile.TemporaryDirectory(prefix="layerlab-bigbench-docker-") as folder,
            docker_peer(Path(folder)) as docker,
        ):
            if docker is None:
                row("docker", "no daemon answered, no dockerd to start", "-")
            for name in images if docker else ():
                docker_side(engine, docker, f"{name}:latest", name)
    finally:
        if args.root is None:
            shutil.rmtree(root.parent, ignore_errors=True)
    width = max(len(r[0]) for r in ROWS)
    print(f"{'measure':<{width}}  {'layerlab':>18}  goal")
    for measure_, figure, goal in ROWS:
        print(f"{measure_:<{width}}  {figure:>18}  {goal}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
