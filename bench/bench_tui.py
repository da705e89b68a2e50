"""The TUI's speed and memory: first paint and keys in a real terminal, write-to-screen latency.

In a real terminal (tmux, a detached session of a fixed size, its screen read
with `capture-pane`), idle and under a load this script makes itself (busy
loops it starts and kills by pid):
- first paint: from starting `layerlab tui` (served by its warm fork server, as
  a user's second start is; and in a process of its own, as the first is) until
  its first frame (the panels' titles) is on the screen, beside the floor
  measured the same way (the smallest Textual app painting one line) and
  printed as a ratio to it. That
  frame is the whole layout: every panel's frame and title, the footer, and the
  command bar with the focus, ready to type; the metadata and log tabs and the
  process tree mount right after it (the keys typed meanwhile land in the bar);
- key response: from a Down sent to the files tree of a 10,000-entry writable
  layer until the screen changed.
Headless (Textual's run_test) on a scratch store with a real running
container: a file written into the container's union, timed until the
writable-layer panel shows it (lazydocker and oxker refresh once a second),
and the memory with a 10,000-file layer. Not a test: nothing passes or fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
from served import LAYERLAB, wait_for_server

from layerlab.engine import CreateOptions, Engine
from layerlab.tui.app import LayerlabApp
from layerlab.tui.change_tree import ChangeTree
from layerlab.tui.settle import settled

SIZE = (100, 32)  # the terminal, columns x rows
PAINT_RUNS = 7
KEY_PRESSES = 20
BUSY_PROCESSES = 2  # the machine's CPUs: a classroom machine doing something else
FIRST_FRAME = "layers · top first"  # the layer stack's title: the app's layout is on screen
FLOOR_MARK = "floor-painted"
SESSIONS = itertools.count()
FLOOR_APP = (
    "from textual.app import App\n"
    "from textual.widgets import Static\n"
    "class Floor(App):\n"
    "    def compose(self):\n"
    f"        yield Static({FLOOR_MARK!r})\n"
    "Floor().run()\n"
)


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


# --- first paint in tmux -------------------------------------------------------------------
SERVERS = itertools.count()
SOCKET = [""]  # the tmux server in use: one of our own, never the user's


def tmux(*args: str, check: bool = True) -> str:
    done = subprocess.run(["tmux", "-L", SOCKET[0], *args], capture_output=True, text=True)
    if check and done.returncode:
        raise SystemExit(f"tmux {args[0]} failed: {done.stderr.strip()}")
    return done.stdout


@contextlib.contextmanager
def tmux_server() -> Iterator[None]:
    """One server for a series of runs (a server exits with its last session: a new one
    started at once may find the old one's socket), with a name of its own."""
    SOCKET[0] = f"tui-bench-{os.getpid()}-{next(SERVERS)}"
    tmux("new-session", "-d", "-s", "keep", "-x", "20", "-y", "5", "sleep 3600")
    socket = Path(tmux("display-message", "-p", "#{socket_path}").strip())
    try:
        yield
    finally:
        tmux("kill-server", check=False)
        socket.unlink(missing_ok=True)  # tmux leaves it behind


def paint_time(command: list[str], mark: str, env: dict[str, str], timeout: float = 30.0) -> float:
    """Seconds from starting `command` in a fresh tmux window until `mark` is on its screen."""
    session = f"run-{next(SESSIONS)}"
    env_args = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
    cols, rows = SIZE
    start = time.perf_counter()
    tmux("new-session", "-d", "-s", session, "-x", str(cols), "-y", str(rows), *env_args,
         *command)  # fmt: skip
    try:
        while time.perf_counter() - start < timeout:
            screen = tmux("capture-pane", "-p", "-t", session, check=False)
            if mark in screen:
                return time.perf_counter() - start
            time.sleep(0.005)
        raise SystemExit(f"no first frame within {timeout:.0f} s; the screen:\n{screen}")
    finally:
        tmux("kill-session", "-t", session, check=False)


@contextlib.contextmanager
def load(processes: int) -> Iterator[None]:
    """A busy machine: `processes` busy loops, ended by their pids when done."""
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)]
    try:
        time.sleep(0.2)  # they are spinning
        yield
    finally:
        for proc in busy:
            proc.kill()
            proc.wait()


def paint_env(root: Path) -> dict[str, str]:
    return {
        "LAYERLAB_ROOT": str(root),
        "LAYERLAB_SERVER_DIR": str(root.parent / "server"),  # the bench's own fork server
        "XDG_STATE_HOME": str(root.parent / "state"),  # not the user's history
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        "TERM": "xterm-256color",
        "PYTHONDONTWRITEBYTECODE": "",  # compiled once, as an installed app is
    }


def first_paint(root: Path, runs: int) -> None:
    """Medians of `layerlab tui` (as typed: served by its warm fork server; and in a
    process of its own) and of the floor, idle and loaded, as a ratio to the floor."""
    env = paint_env(root)
    served = [LAYERLAB, "tui"]
    alone = ["env", "LAYERLAB_NO_SERVER=1", LAYERLAB, "tui"]
    floor = [sys.executable, "-c", FLOOR_APP]
    importing = [sys.executable, "-c", "import textual.app"]
    server = None
    try:
        for label, busy in (("idle", 0), (f"loaded ({busy_label()})", BUSY_PROCESSES)):
            with tmux_server(), load(busy):
                if server is None:
                    paint_time(served, FIRST_FRAME, env)  # it starts the fork server
                    server = wait_for_server(Path(env["LAYERLAB_SERVER_DIR"]))
                ours, own, base, imports = [], [], [], []
                paint_time(alone, FIRST_FRAME, env)  # a warm-up: bytecode written, files cached
                paint_time(floor, FLOOR_MARK, env)
                for _ in range(runs):  # interleaved, so all see the same machine
                    ours.append(paint_time(served, FIRST_FRAME, env))
                    own.append(paint_time(alone, FIRST_FRAME, env))
                    base.append(paint_time(floor, FLOOR_MARK, env))
                    t0 = time.perf_counter()
                    subprocess.run(importing, check=True, env=dict(os.environ, **env))
                    imports.append(time.perf_counter() - t0)
            mine, lone, low = (statistics.median(x) for x in (ours, own, base))
            print(
                f"first paint in tmux, {label}: served {mine * 1000:.0f} ms (min "
                f"{min(ours) * 1000:.0f}, max {max(ours) * 1000:.0f}), in its own process "
                f"{lone * 1000:.0f} ms, over {runs} runs; floor (a one-line Textual app) "
                f"{low * 1000:.0f} ms; ratios {mine / low:.2f}x / {lone / low:.2f}x   "
                f"(`import textual.app` alone: {statistics.median(imports) * 1000:.0f} ms; "
                "goal <= 500 ms loaded)"
            )
    finally:
        if server is not None:
            os.kill(server, signal.SIGTERM)


# --- keys in tmux ------------------------------------------------------------------------
def key_response(root: Path, merged: Path, presses: int) -> list[float]:
    """Seconds from each Down sent to tmux until the screen changed, in the files tree
    of a writable layer of 10,000 entries (written while the TUI watches: all expanded)."""
    env = paint_env(root)
    session = "keys"
    cols, rows = SIZE
    env_args = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
    tmux("new-session", "-d", "-s", session, "-x", str(cols), "-y", str(rows), *env_args,
         "env", "LAYERLAB_NO_SERVER=1", LAYERLAB, "tui")  # fmt: skip
    try:
        screen = wait_screen(session, lambda text: "A /top" in text)
        fill(merged / "many")
        screen = wait_screen(session, lambda text: re.search(r"\b1010\d\b", text), 120)
        tmux("send-keys", "-t", session, "F4")
        screen = wait_screen(session, lambda text: text != screen)
        time.sleep(1.0)  # the file counts and sizes settle
        times = []
        for _ in range(presses):
            before = tmux("capture-pane", "-p", "-e", "-t", session)
            start = time.perf_counter()
            tmux("send-keys", "-t", session, "Down")
            wait_screen(session, lambda text, was=before: text != was, escapes=True)
            times.append(time.perf_counter() - start)
            time.sleep(0.1)  # keys as a person presses them, not a key-repeat burst
        return times
    finally:
        tmux("kill-session", "-t", session, check=False)


def wait_screen(session: str, done: Any, timeout: float = 30.0, escapes: bool = False) -> str:
    """The screen (with colours if `escapes`) once `done(screen)` holds, polled."""
    start = time.perf_counter()
    flags = ["-e"] if escapes else []
    while time.perf_counter() - start < timeout:
        screen = tmux("capture-pane", "-p", *flags, "-t", session, check=False)
        if done(screen):
            return screen
        time.sleep(0.002)
    raise SystemExit(f"the screen did not change in time:\n{screen}")


def fill(folder: Path) -> None:
    """10,000 files in 100 folders."""
    for d in range(100):
        (folder / f"d{d}").mkdir(parents=True)
        for f in range(100):
            (folder / f"d{d}" / f"f{f}").write_text("x")


def busy_label() -> str:
    return f"{BUSY_PROCESSES} busy loops on {os.cpu_count()} CPUs"


# --- headless: the live panel and keys -----------------------------------------------------
async def headless(tmp: Path, runs: int) -> None:
    engine = Engine(tmp / "store")
    engine.image("busybox")
    try:
        t0 = time.perf_counter()
        app = LayerlabApp(engine.store.root, history_path=tmp / "history")  # not the user's
        async with app.run_test(size=SIZE) as pilot:
            first_paint_headless = time.perf_counter() - t0
            await pilot.press(*"docker run -d --name bench busybox sleep 600", "enter")
            await settled(pilot, commands=1)  # it becomes the subject; its watcher starts
            merged = Path(engine.container("bench").data["GraphDriver"]["Data"]["MergedDir"])
            latencies = []
            for i in range(runs):
                (merged / f"write-{i}.txt").write_text("x")
                latencies.append(await until(pilot, lambda i=i: f"A /write-{i}.txt" in shown(app)))
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
    finally:
        for c in engine.containers(all=True):
            engine.rm(c.id, force=True)
    latencies.sort()
    p95 = latencies[max(0, int(len(latencies) * 0.95) - 1)]
    print(f"start to first paint (headless): {first_paint_headless * 1000:.0f} ms")
    print(
        f"write -> diff panel: median {statistics.median(latencies) * 1000:.0f} ms, "
        f"p95 {p95 * 1000:.0f} ms over {runs} writes   (goals 100 / 200 ms; lazydocker 1000)"
    )
    print(f"RSS with a 10,000-file writable layer: {rss:.0f} MB   (goal <= 150 MB)")


def keys(tmp: Path) -> None:
    """Key response in a real terminal, idle and loaded, on a running container's layer."""
    root = tmp / "keys-store"
    engine = Engine(root)
    for label, busy in (("idle", 0), (f"loaded ({busy_label()})", BUSY_PROCESSES)):
        made = engine.create("busybox", CreateOptions(["sh", "-c", "echo > /top; sleep 600"]))
        try:
            engine.start(made.id)
            merged = Path(engine.container(made.id).data["GraphDriver"]["Data"]["MergedDir"])
            with tmux_server(), load(busy):
                times = key_response(root, merged, KEY_PRESSES)
        finally:
            engine.rm(made.id, force=True)
        print(
            f"key response (Down) in a 10,000-entry files tree in tmux, {label}: median "
            f"{statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms "
            f"over {len(times)} presses   (goal <= 50 ms; a tmux capture-pane poll "
            f"alone: {capture_cost() * 1000:.0f} ms)"
        )


def capture_cost() -> float:
    """What one poll of the screen costs: the resolution of the key measure."""
    with tmux_server():
        start = time.perf_counter()
        for _ in range(10):
            tmux("capture-pane", "-p", "-e", "-t", "keep")
        return (time.perf_counter() - start) / 10


async def main(runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="layerlab-bench-") as tmp:
        root = Path(tmp) / "paint-store"
        Engine(root).image("busybox")
        first_paint(root, PAINT_RUNS)
        keys(Path(tmp))
        await headless(Path(tmp), runs)


if __name__ == "__main__":
    asyncio.run(main(20))
