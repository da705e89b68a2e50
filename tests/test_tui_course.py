"""The course in the TUI: every lesson played by its demo at a student's sizes, on real
containers, and the lesson pane's room at 100x30 (folded into a strip)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from layerlab.lessons.loader import find_lesson, load_course, read_dir
from layerlab.lessons.model import Lesson
from layerlab.tui.app import LayerlabApp
from layerlab.tui.settle import settled

from .tui_helpers import enter, screen_text, wait_checks

pytestmark = pytest.mark.system

COURSE = load_course()
SIZES = ((80, 24), (100, 30), (160, 45))


def play(
    root: Path, lesson: Lesson, sizes: list[tuple[int, int]], present: bool = False
) -> list[str]:
    """Play `lesson`'s demo to its end (a crash raises), step n at `sizes[n % len(sizes)]`:
    the steps whose checks failed."""

    async def main() -> list[str]:
        app = LayerlabApp(root, lesson, demo=0.0, present=present)
        async with app.run_test(size=sizes[0]) as pilot:
            shown = 0
            deadline = time.monotonic() + 300  # a hang guard, not a measure
            while app.is_running and time.monotonic() < deadline:
                pane = app.lesson_pane
                if pane is not None and pane.demo_done:
                    break
                step = pane.run.index if pane is not None and pane.run is not None else 0
                if step != shown:  # re-read on every poll: the demo goes on by itself
                    shown = step
                    await pilot.resize_terminal(*sizes[step % len(sizes)])
                await pilot.pause(0.05)
            assert app.lesson_pane is not None and app.lesson_pane.demo_done, "no end in 300 s"
            failed = list(app.demo_failed)
            app.leave_lesson()
            await settled(pilot, until=lambda: not app.lesson_closing, timeout=60)
        return failed

    return asyncio.run(main())


def rotated(index: int) -> list[tuple[int, int]]:
    return [SIZES[(index + n) % len(SIZES)] for n in range(len(SIZES))]


@pytest.mark.parametrize(
    ("lesson", "sizes"),
    [(lesson, rotated(n)) for n, lesson in enumerate(COURSE)],
    ids=[lesson.name for lesson in COURSE],
)
def test_every_lesson_plays_in_the_tui(
    lesson: Lesson,
    sizes: list[tuple[int, int]],
    root: Path,
    lesson_env: Path,
) -> None:
    """No crash (a command's output that looks like markup: `[` in inspect's JSON), and
    every step's checks pass after its commands were typed into the bar. One play a lesson
    (all three sizes in every play would triple the time): its steps go through 80x24,
    100x30 and 160x45 in turn, each lesson starting at the next size."""
    assert play(root, lesson, sizes) == []


def test_a_folded_lesson_leaves_room_for_the_files_and_the_picture(
    root: Path,
    lesson_env: Path,
) -> None:
    """At 100x30 the lesson is a strip above the panels: the writable layer's tree keeps 8
    rows (`/lost.txt` shows), the picture 36 columns; ⇧F7 shows the step's prose over the
    panels, Escape or typing a command folds it back."""

    async def main() -> None:
        lesson = find_lesson(COURSE, "layers-vs-volumes")
        app = LayerlabApp(root, lesson)
        async with app.run_test(size=(100, 30)) as pilot:
            await settled(pilot, until=lambda: app.lesson_pane is not None)
            pane = app.lesson_pane
            assert pane is not None
            await wait_checks(pilot, pane, passed=False)
            await pilot.press("f9")
            await enter(pilot, "")
            await wait_checks(pilot, pane, passed=True)
            await settled(pilot, until=lambda: "A /lost.txt" in screen_text(app), current=True)
            assert pane.has_class("-folded")
            assert app.files_tree.scrollable_content_region.height >= 8
            assert app.diagram.content_region.width >= 36
            assert "step done" in screen_text(app)
            prose = app.query_one("#lesson-prose-box")
            assert not prose.display
            await pilot.press("shift+f7")  # the step's prose, over the panels
            await settled(pilot, until=lambda: prose.display and prose.region.height > 0)
            assert pane.reading and pane.region.width == 100
            await pilot.press("escape")
            await settled(pilot, until=lambda: not prose.display)
            assert pane.has_class("-folded")
            await pilot.press("shift+f7")
            await settled(pilot, until=lambda: pane.reading)
            await pilot.press("l")  # typing: the bar was under the prose, the panels come back
            await settled(pilot, until=lambda: not pane.reading)
            assert app.command_bar.value == "l" and pane.has_class("-folded")
            app.leave_lesson()
            await settled(pilot, until=lambda: not app.lesson_closing)

    asyncio.run(main())


STEP_THAT_FAILS = """\
title: A step whose checks cannot pass
summary: the demo says so.
steps:
  - prose: List the images.
    commands:
      - images
    checks:
      - image_exists: nosuch
"""


def test_a_demo_with_a_failing_step_exits_non_zero(
    root: Path,
    tmp_path: Path,
    lesson_env: Path,
) -> None:
    """`demo --exit` is honest: the step left with a failing check makes exit code 1."""
    course = tmp_path / "course"
    course.mkdir()
    (course / "01-fails.yaml").write_text(STEP_THAT_FAILS)
    lessons, problems = read_dir(course)
    assert problems == []

    async def main() -> None:
        app = LayerlabApp(root, lessons[0], demo=0.0)
        app.demo_exit = True
        async with app.run_test(size=(100, 30)) as pilot:
            await settled(pilot, until=lambda: not app.is_running, timeout=120)
        assert app.demo_failed == ["fails step 1"]
        assert app.return_code == 1

    asyncio.run(main())
