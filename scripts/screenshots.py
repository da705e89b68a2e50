"""Render the TUI's key screens as SVG into screenshots/, on a scratch store with real containers.

Run as root (it starts real containers): `.venv/bin/python scripts/screenshots.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

from textual.pilot import Pilot

from layerlab.engine import Engine
from layerlab.engine.daemon import DaemonSource
from layerlab.lessons.loader import find_lesson, load_course
from layerlab.storage.snapshot import Subject
from layerlab.tui import themes
from layerlab.tui.app import LayerlabApp
from layerlab.tui.command_bar import CommandBar
from layerlab.tui.file_view import FileView
from layerlab.tui.settle import settled

OUT = Path(__file__).resolve().parent.parent / "screenshots"
SIZES = [(100, 32), (100, 30), (80, 24)]
# (screen name, the commands typed before it is captured)
SCENES = [
    ("welcome", []),
    ("created", ["docker create --name demo busybox sleep 600"]),
    ("running", ["docker start demo", "docker exec demo touch /happiness.txt"]),
    ("paused", ["docker pause demo"]),
    ("committed", ["docker unpause demo", "docker stop -t 1 demo", "docker commit demo demo:v1"]),
    (
        "volumes",
        [  # a volume and a tmpfs: outside the layer stack, in no diff, in no commit
            "docker run -d --name vol -v data:/data --tmpfs /run busybox sleep 600",
            "docker exec vol touch /data/kept.txt /happiness.txt",
        ],
    ),
]


async def type_line(pilot: Pilot[None], line: str, timeout: float = 60) -> None:
    """Enter a command in the command bar and wait until the app has shown its effect."""
    app = pilot.app
    assert isinstance(app, LayerlabApp)
    done = app.commands_done
    bar = app.query_one(CommandBar)
    bar.focus()
    bar.value = line
    await pilot.press("enter")
    await settled(pilot, commands=done + 1, current=True, timeout=timeout)


async def variants(app: LayerlabApp, pilot: Pilot[None], size: str) -> None:
    """The running screen in the light and high-contrast themes, and in presentation mode."""
    for theme, label in ((themes.LIGHT.name, "light"), (themes.CONTRAST.name, "contrast")):
        app.theme = theme
        await pilot.pause(0.3)
        app.save_screenshot(f"running-{label}-{size}.svg", str(OUT))
    app.theme = themes.DARK.name
    app.action_toggle_present()
    await pilot.pause(0.3)
    app.save_screenshot(f"present-{size}.svg", str(OUT))
    app.action_toggle_present()
    await pilot.pause(0.3)


async def file_view(app: LayerlabApp, pilot: Pilot[None], size: str) -> None:
    """A file the container changed, opened from the files panel beside the copy below it."""
    await type_line(
        pilot, "docker exec vol sh -c 'echo learner:x:1000:1000::/home:/bin/sh >> /etc/passwd'"
    )
    tree = app.files_tree
    await settled(pilot, until=lambda: "/etc/passwd" in tree.listing.entries)
    etc = next(n for n in tree.root.children if n.data is not None and n.data.path == "/etc")
    tree.unfold(etc)
    passwd = next(n for n in etc.children if n.data is not None and n.data.path == "/etc/passwd")
    await settled(pilot, until=lambda: passwd.line >= 0)
    tree.focus()
    tree.move_cursor(passwd)
    await pilot.press("v")
    await settled(
        pilot, until=lambda: isinstance(app.screen, FileView) and app.screen.contents is not None
    )
    await pilot.pause(0.3)
    app.save_screenshot(f"file-view-{size}.svg", str(OUT))
    await pilot.press("escape")
    await settled(pilot, until=lambda: not isinstance(app.screen, FileView))


async def lesson(app: LayerlabApp, pilot: Pilot[None], size: str) -> None:
    """A lesson's first step done: the lesson folded into a strip above the panels."""
    app.lessons.open(find_lesson(load_course(), "layers-vs-volumes"))
    await settled(pilot, until=lambda: app.lesson_pane is not None and app.lesson_pane.ready)
    pane = app.lesson_pane
    assert pane is not None
    await settled(pilot, until=lambda: pane.run is not None and bool(pane.results), timeout=60)
    await type_line(pilot, pane.next_command() or "")
    await settled(pilot, until=lambda: pane.passed, timeout=60)
    await pilot.pause(1.6)
    app.save_screenshot(f"lesson-{size}.svg", str(OUT))
    app.leave_lesson()
    await settled(pilot, until=lambda: not app.lesson_closing, timeout=60)


async def pushed(app: LayerlabApp, pilot: Pilot[None], size: str) -> None:
    """The content-addressing lesson's first push, drawn: each blob's three names, its fate."""
    app.lessons.open(find_lesson(load_course(), "content-addressing"))
    await settled(pilot, until=lambda: app.lesson_pane is not None and app.lesson_pane.ready)
    pane = app.lesson_pane
    assert pane is not None
    await settled(pilot, until=lambda: pane.run is not None and bool(pane.results), timeout=60)
    for command in pane.run.step.commands if pane.run else ():
        await type_line(pilot, command.text)
    await settled(pilot, until=lambda: pane.passed and app.transfer_panel.ended, timeout=60)
    await pilot.pause(1.6)
    app.save_screenshot(f"push-{size}.svg", str(OUT))
    app.leave_lesson()
    await settled(pilot, until=lambda: not app.lesson_closing, timeout=60)


async def render(size: tuple[int, int], root: Path) -> None:
    engine = Engine(root / "store")
    app = LayerlabApp(engine.store.root, history_path=root / "history")  # not the user's history
    try:
        async with app.run_test(size=size) as pilot:
            await settled(pilot)
            for name, lines in SCENES:
                for line in lines:
                    await type_line(pilot, line)
                await pilot.pause(1.6)
                app.save_screenshot(f"{name}-{size[0]}x{size[1]}.svg", str(OUT))
                if name == "running":  # the same screen for projectors: light, high contrast
                    await variants(app, pilot, f"{size[0]}x{size[1]}")
            await file_view(app, pilot, f"{size[0]}x{size[1]}")
            app.action_help()
            await pilot.pause(0.3)
            app.save_screenshot(f"help-{size[0]}x{size[1]}.svg", str(OUT))
            app.action_help()
            await lesson(app, pilot, f"{size[0]}x{size[1]}")
            await pushed(app, pilot, f"{size[0]}x{size[1]}")
    finally:
        for container in engine.containers(all=True):
            engine.rm(container.id, force=True)


async def docker(root: Path, size: tuple[int, int] = (100, 32)) -> bool:
    """`tui --docker` on a Docker daemon of its own (the tests'), a container writing a file in
    it; False when dockerd is not installed."""
    sys.path.insert(0, str(OUT.parent))
    from tests.docker_side import start_daemon, stop_daemon

    (root / "dockerd").mkdir()
    started = start_daemon(root / "dockerd")
    if started is None:
        return False
    daemon, proc = started
    with contextlib.ExitStack() as stack:  # undone last first: the container, then the daemon
        stack.callback(stop_daemon, proc)
        stack.callback(daemon, "rm", "-f", "web")
        run = daemon("run", "-d", "--network", "none", "--name", "web", "busybox", "sleep", "600")
        daemon("exec", "web", "touch", "/happiness.txt")
        source = DaemonSource(daemon.host)
        stack.callback(source.close)
        app = LayerlabApp(root / "store", history_path=root / "history", daemon=source)
        async with app.run_test(size=size) as pilot:
            await settled(pilot)
            app.subject = Subject("container", run.out.strip())
            tree = app.files_tree

            def written() -> bool:
                return any("happiness" in str(node.data) for node in tree.root.children)

            await settled(pilot, until=written)
            await type_line(pilot, "docker ps --format '{{.Names}} {{.Status}}'")
            await pilot.pause(1.6)
            app.save_screenshot(f"docker-{size[0]}x{size[1]}.svg", str(OUT))
    return True


def main() -> int:
    OUT.mkdir(exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="layerlab-shots-"))
    try:
        if asyncio.run(docker(root)):
            print(f"wrote docker-100x32.svg to {OUT}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    for size in SIZES:
        root = Path(tempfile.mkdtemp(prefix="layerlab-shots-"))
        os.environ["XDG_STATE_HOME"] = str(root / "state")  # the lesson's progress: not the user's
        try:
            asyncio.run(render(size, root))
        finally:
            shutil.rmtree(root, ignore_errors=True)
    print(f"wrote {len(SIZES) * (len(SCENES) + 7)} screenshots to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
