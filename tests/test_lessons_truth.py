"""A lesson's checks never pass on a failure, on real containers (`lesson try`'s code and the TUI).

Output checks read what a command printed on success; a step is done only when
its checks pass after a command typed in it; a skipped step keeps the lesson
unfinished; a line that ran nothing (a usage error, an unknown word) is a
failed command to the checks, not "no command yet".
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from layerlab.commands.handlers import dispatch
from layerlab.engine import Engine
from layerlab.lessons.attempt import Attempt, attempt
from layerlab.lessons.loader import find_lesson, load_course
from layerlab.lessons.progress import Progress
from layerlab.lessons.runner import LessonRun, Sandbox
from layerlab.tui.app import LayerlabApp
from layerlab.tui.lesson_pane import LessonPane
from layerlab.tui.settle import settled

from .tui_helpers import enter, text

pytestmark = pytest.mark.system


def tried(name: str, step: int, *lines: str, tmp: Path) -> Attempt:
    """`lines` typed at the start of `step` (from 1), as `lesson try` judges them."""
    lesson = find_lesson(load_course(), name)
    return attempt(lesson, step - 1, lines, dispatch, tmp)


def shown(result: Attempt) -> list[str]:
    return [("✔ " if r.ok else "✘ ") + str(r) for r in result.results]


def test_a_forgotten_volume_is_not_the_lesson_done(tmp_path: Path) -> None:
    """`cat` failing on the missing file said `kept` in its error: that was read as output."""
    result = tried("22", 4, "rm writer", "run --name reader busybox cat /data/kept.txt",
                   tmp=tmp_path)  # fmt: skip
    assert not result.done
    assert "✘ the output shows 'kept' — now: exited 1: cat: can't open" in "\n".join(shown(result))
    assert tried("22", 4, "rm writer", "run --name reader -v data:/data busybox cat "
                 "/data/kept.txt", tmp=tmp_path).done  # fmt: skip


def test_ps_s_without_a_shows_no_sizes_of_stopped_containers(tmp_path: Path) -> None:
    assert not tried("22", 2, "ps -s", tmp=tmp_path).done
    assert tried("22", 2, "ps -a -s", tmp=tmp_path).done


def test_no_such_image_is_no_output(tmp_path: Path) -> None:
    result = tried("16", 2, "run --name greet hello:v1", tmp=tmp_path)
    assert not result.done
    assert not any(r.ok for r in result.results if r.check.kind == "output_has")


def test_an_error_check_wants_a_failure(tmp_path: Path) -> None:
    """`error_has` reads stderr of a failed command; a success (rm -f) is not the error."""
    assert tried("13", 2, "rm busy", tmp=tmp_path).done
    assert not tried("13", 2, "rm -f busy", tmp=tmp_path).done


def test_a_line_that_ran_nothing_is_a_failed_command(tmp_path: Path) -> None:
    for line, now in [("build -t hello", "exited 1"), ("imgaes", "exited 1")]:
        result = tried("1", 1, line, tmp=tmp_path)
        assert not result.done
        assert f"✘ the last command exited 0 — now: {now}" in shown(result)


def test_a_step_that_prints_nothing_wants_its_own_command(tmp_path: Path) -> None:
    """`diff box` prints nothing: `version` (any command that succeeds) passed it."""
    result = tried("2", 2, "version", tmp=tmp_path)
    assert not result.done
    assert "✘ the last command was diff — now: version" in shown(result)
    assert tried("2", 2, "docker container diff box", tmp=tmp_path).done  # the group form
    assert "✘ the last command was diff — now: not a command" in shown(
        tried("2", 2, "dif box", tmp=tmp_path)
    )


def test_a_step_is_done_by_a_command_typed_in_it(tmp_path: Path) -> None:
    """Lesson 3: step 2's state holds after step 1, but nothing typed in it is not done;
    skipping it keeps the lesson unfinished even when the last step passes."""
    lesson = find_lesson(load_course(), "3")
    with Sandbox(dispatch, tmp_path) as sandbox:
        run = LessonRun(lesson, sandbox)
        assert run.start() is None
        run.type("run --name happy busybox touch /happiness.txt")
        assert run.judge(run.settle())
        run.begin(1)
        results = run.settle()
        assert [r.ok for r in results] == [True, False]  # exited (0); no output yet
        state_only = [r for r in results if r.check.kind == "container_state"]
        assert not run.judge(state_only)  # a state that held already: no command typed
        run.begin(2)  # step 2 skipped
        run.type("inspect -f '{{.GraphDriver.Data.UpperDir}}' happy")
        assert run.judge(run.settle())
        assert run.done == {0, 2}
        assert not run.lesson_done


@pytest.mark.usefixtures("lesson_env")
def test_the_tui_refuses_a_skipped_step_and_sees_a_usage_error(engine: Engine) -> None:
    """Ctrl+N past step 2 of lesson 3: the last step passes, the lesson is not done; a usage
    error in the bar is the step's last command (`exited 1`), not "no command yet"."""
    lesson = find_lesson(load_course(), "3")

    async def main() -> None:
        app = LayerlabApp(engine.store.root, lesson=lesson)
        async with app.run_test(size=(140, 44)) as pilot:
            await settled(pilot, until=lambda: app.lesson_pane is not None)
            pane = app.lesson_pane
            assert isinstance(pane, LessonPane)
            await settled(pilot, until=lambda: pane.ready and bool(pane.results), timeout=60)
            await enter(pilot, "run --name happy busybox touch /happiness.txt")
            await settled(pilot, until=lambda: pane.passed, timeout=60)
            await pilot.press("ctrl+n")  # step 2 skipped
            await settled(pilot, until=lambda: pane.ready and "step 2 of 3" in text(
                app, "#lesson-head"))  # fmt: skip
            await pilot.press("ctrl+n")
            await settled(pilot, until=lambda: pane.ready and "step 3 of 3" in text(
                app, "#lesson-head"))  # fmt: skip
            await pilot.press(*"inspect -f", "enter")  # a usage error: nothing runs
            await settled(pilot, until=lambda: "now: exited 1" in text(app, "#lesson-checks"),
                          timeout=60)  # fmt: skip
            assert "✘ the last command exited 0 — now: exited 1" in text(app, "#lesson-checks")
            await enter(pilot, "inspect -f '{{.GraphDriver.Data.UpperDir}}' happy")
            await settled(pilot, until=lambda: pane.passed, timeout=60)
            await settled(pilot, until=lambda: "step done" in text(app, "#lesson-checks"))
            checks = text(app, "#lesson-checks")
            assert "lesson done" not in checks
            assert "not done yet: step 2" in checks
            assert lesson.name not in Progress.load().done

    asyncio.run(main())


@pytest.mark.usefixtures("lesson_env")
def test_f9_pastes_a_command_that_failed_again(engine: Engine) -> None:
    """Lesson 22's last step is two commands: a typo in the first, and F9 gives it back
    (it used to count the failure as typed and paste the second)."""
    lesson = find_lesson(load_course(), "22")

    async def main() -> None:
        app = LayerlabApp(engine.store.root, lesson=lesson)
        async with app.run_test(size=(140, 44)) as pilot:
            await settled(pilot, until=lambda: app.lesson_pane is not None)
            pane = app.lesson_pane
            assert isinstance(pane, LessonPane)
            for number in (2, 3, 4):
                await settled(pilot, until=lambda: pane.ready, timeout=60)
                await pilot.press("ctrl+n")
                await settled(pilot, until=lambda n=number: pane.ready and f"step {n} of 4" in
                              text(app, "#lesson-head"), timeout=60)  # fmt: skip
            await enter(pilot, "rm writr")
            await settled(pilot, until=lambda: pane.run is not None and pane.run.last is not None)
            await pilot.press("f9")
            assert app.command_bar.value == "rm writer"

    asyncio.run(main())
