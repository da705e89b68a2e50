"""What the TUI tests share: drive the app with Pilot, type a line, wait for state, read a panel.

Every wait re-reads the app's state on each poll (`settled`), with a timeout that is a hang
guard, not a measure: a loaded machine may be slow.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable, Coroutine
from typing import Any

from rich.console import Console
from textual import events
from textual.app import App
from textual.keys import _character_to_key
from textual.pilot import Pilot
from textual.widgets import Static

from layerlab.engine import Engine
from layerlab.tui import model
from layerlab.tui.app import LayerlabApp
from layerlab.tui.change_tree import ChangeTree
from layerlab.tui.diagram import picture
from layerlab.tui.explainer import Explainer
from layerlab.tui.lesson_pane import LessonPane
from layerlab.tui.output_log import OutputLog
from layerlab.tui.settle import settled

Scenario = Callable[[LayerlabApp, Pilot[None]], Coroutine[Any, Any, None]]


def drive(engine: Engine, scenario: Scenario, size: tuple[int, int] = (100, 32)) -> None:
    """Run `scenario` on the app over the engine's store, once the app has settled."""

    async def main() -> None:
        app = LayerlabApp(engine.store.root)
        async with app.run_test(size=size) as pilot:
            await settled(pilot)
            await scenario(app, pilot)

    asyncio.run(main())


async def until(pilot: Pilot[None], check: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait for `check()` and for the app to settle around it."""
    await settled(pilot, until=check, timeout=timeout)


async def running(pilot: Pilot[None], check: Callable[[], bool], timeout: float = 30) -> None:
    """Wait for `check()` while a command still runs (settled() would wait for its end)."""
    await settled(pilot, until=check, groups=(), store=False, timeout=timeout, queue=False)


async def enter(pilot: Pilot[None], line: str, timeout: float = 60) -> None:
    """Type a command key by key, press Enter, wait until it ran and the panels caught up.

    The keys reach the app as a terminal's do, one after the other with no wait between them
    (Pilot's `press` waits for the app to idle after each key: ~90 ms a key, ~1 s for an Enter
    whose command runs). Caught up includes the store's listing, which only the watcher
    refreshes.

    The first command waits for the output log, which mounts just after the first frame: a
    command that ran before it (typed within a few ms) could not show its output.
    """
    app = pilot.app
    assert isinstance(app, LayerlabApp)
    if not app.output_log.is_attached:
        await running(pilot, lambda: app.output_log.is_attached)
    done = app.commands_done
    for char in [*line, "\r"]:
        app.post_message(key_event(char))
    await settled(pilot, commands=done + 1, current=True, timeout=timeout)


def key_event(char: str) -> events.Key:
    """The key event a terminal makes of `char` (named as Pilot names it)."""
    if char == "\r":
        return events.Key("enter", char)
    return events.Key(char if char.isalnum() else _character_to_key(char), char)


def frame(app: App[Any]) -> list[tuple[str, object]]:
    """What the screen shows, each piece of text with its style."""
    strips = app.screen._compositor.render_strips()
    return [(segment.text, segment.style) for strip in strips for segment in strip]


async def still(pilot: Pilot[None], unlike: object = None, timeout: float = 30) -> None:
    """Settled, and the screen drawn the same on three polls in a row (and not as `unlike`,
    a frame from before a change that must be painted first)."""
    await settled(pilot)
    shots: list[object] = []
    deadline = time.monotonic() + timeout  # a hang guard, not a measure
    while len(shots) < 3 or not shots[-1] == shots[-2] == shots[-3] or shots[-1] == unlike:
        assert time.monotonic() < deadline, "the screen never stood still"
        await pilot.pause(0.02)  # a poll: the next frame is re-read below
        shots.append(frame(pilot.app))


async def wait_checks(pilot: Pilot[None], pane: LessonPane, passed: bool) -> None:
    """Wait until the lesson pane shows its checks' results, all passed or not."""

    def checks_shown() -> bool:
        return pane.ready and bool(pane.results) and pane.passed == passed

    await settled(pilot, until=checks_shown, timeout=60)


def output(app: LayerlabApp) -> list[str]:
    """The output pane's lines."""
    return [line.text for line in app.query_one(OutputLog).lines]


def explained(app: LayerlabApp) -> str:
    return app.query_one(Explainer).text


def text(app: LayerlabApp, selector: str) -> str:
    """What the Static at `selector` shows."""
    return str(app.query_one(selector, Static).render())


def changes(app: LayerlabApp) -> list[str]:
    """The files panel's entries, depth first."""
    found: list[str] = []

    def walk(node: Any) -> None:
        for child in node.children:
            found.append(str(child.data))
            walk(child)

    walk(app.query_one(ChangeTree).root)
    return found


def screen_text(app: LayerlabApp) -> str:
    """The whole screen as the terminal shows it, without colours."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


def drawn(view: model.SubjectView | None, width: int = 60) -> str:
    """The subject's picture as text, `width` columns wide."""
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    console.print(picture(view))
    return console.export_text()
