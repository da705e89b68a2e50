"""The TUI's speed and memory: first paint, write-to-screen latency, a 10,000-file layer.

Headless (Textual's run_test) on a scratch store with a real running
container. A file is written into the container's union (the same overlay
the container writes to) and we time until the writable-layer panel shows
it; lazydocker and oxker refresh once a second, for comparison. Not a test:
nothing passes or fails.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from layerlab.engine import Engine
from layerlab.tui.app import LayerlabApp
from layerlab.tui.change_tree import ChangeTree
from layerlab.tui.settle import settled


def shown(app: LayerlabApp) -> set[str]:
    found: set[str] = set()

    def walk(node: Any) -> None:
        for child in node.children:
            found.add(str(child.data))
            walk(child)

    walk(app.query_one(ChangeTree).root)
    return found


async def until(pilot: Any, check: Any, timeout: float = 10.0) -> float:
    """Seconds until `check()` held (polled every 2 ms): the latency measured."""
    start = time.perf_counter()
    try:
        await settled(
            pilot, until=check, groups=(), store=False, timeout=timeout, poll=0.002, quiet=1
        )
    except AssertionError as exc:
        raise SystemExit(f"the panel did not catch up in time: {exc}") from None
    return time.perf_counter() - start


async def main(runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="layerlab-bench-") as tmp:
        engine = Engine(Path(tmp) / "store")
        engine.image("busybox")
        try:
            t0 = time.perf_counter()
            app = LayerlabApp(engine, history_path=Path(tmp) / "history")  # not the user's
            async with app.run_test(size=(100, 32)) as pilot:
                first_paint = time.perf_counter() - t0
                await pilot.press(*"docker run -d --name bench busybox sleep 600", "enter")
                await settled(pilot, commands=1)  # it becomes the subject; its watcher starts
                merged = Path(engine.container("bench").data["GraphDriver"]["Data"]["MergedDir"])
                latencies = []
                for i in range(runs):
                    (merged / f"write-{i}.txt").write_text("x")
                    latencies.append(
                        await until(pilot, lambda i=i: f"A /write-{i}.txt" in shown(app))
                    )
                    await pilot.pause(0.05)
                data = merged / "many"
                data.mkdir()
                for d in range(100):
                    (data / f"d{d}").mkdir()
                    for f in range(100):
                        (data / f"d{d}" / f"f{f}").write_text("x")
                await until(
                    pilot, lambda: "A /many/d99/f99" in shown(app) or "A /many" in shown(app), 60
                )
                await pilot.pause(1.0)
                rss = psutil.Process().memory_info().rss / 2**20
                keys = []
                for _ in range(20):
                    k0 = time.perf_counter()
                    await pilot.press("down")
                    keys.append(time.perf_counter() - k0)
        finally:
            for c in engine.containers(all=True):
                engine.rm(c.id, force=True)
    latencies.sort()
    p95 = latencies[max(0, int(len(latencies) * 0.95) - 1)]
    print(f"start to first paint (headless): {first_paint * 1000:.0f} ms   (goal <= 1000 ms)")
    print(
        f"write -> diff panel: median {statistics.median(latencies) * 1000:.0f} ms, "
        f"p95 {p95 * 1000:.0f} ms over {runs} writes   (goals 100 / 200 ms; lazydocker 1000)"
    )
    print(f"RSS with a 10,000-file writable layer: {rss:.0f} MB   (goal <= 150 MB)")
    print(f"key response (down), median: {statistics.median(keys) * 1000:.0f} ms   (goal <= 50 ms)")


if __name__ == "__main__":
    asyncio.run(main(20))
