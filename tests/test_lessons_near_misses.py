"""Every step of the course accepts its solution and refuses each of its near misses.

A near miss (`near_misses:` in the lesson file) is what a student types
instead: a typo in a name, a missing flag, the wrong image or tag, an earlier
step skipped. Each is judged as `lesson try` judges an answer (the same
`attempt`), in a throwaway store brought to the start of its step, on real
containers: a check that passes on one of them lies to a student.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from layerlab.commands.handlers import dispatch
from layerlab.lessons.attempt import Attempt, attempt
from layerlab.lessons.loader import load_course, missing_requirements
from layerlab.lessons.model import Command, Lesson

pytestmark = pytest.mark.system

COURSE = load_course()


def cases() -> list[pytest.ParameterSet]:
    """One case per step's solution and per near miss: (lesson, step, commands, skip, done)."""
    found = []
    for lesson in COURSE:
        missing = missing_requirements(lesson.requires)  # `--auto` skips such a lesson too
        marks = [pytest.mark.skip(reason=f"needs {', '.join(missing)}")] if missing else []
        for index, step in enumerate(lesson.steps):
            name = f"{lesson.order}-step{index + 1}"
            found.append(pytest.param(lesson, index, step.commands, (), True, marks=marks,
                                      id=f"{name}-solution"))  # fmt: skip
            for number, miss in enumerate(step.near_misses, 1):
                miss_id = f"{name}-near-miss-{number}"
                found.append(pytest.param(lesson, index, miss.commands, miss.skip, False,
                                          marks=marks, id=miss_id))  # fmt: skip
    return found


def shown(result: Attempt) -> str:
    lines = [f"$ {o.line} (exit {o.code}) {o.output.strip()[:300]}" for o in result.outcomes]
    lines += [("✔ " if r.ok else "✘ ") + str(r) for r in result.results]
    return "\n".join([result.broken, *lines])


@pytest.mark.parametrize(("lesson", "index", "commands", "skip", "done"), cases())
def test_the_step_judges_the_answer(
    lesson: Lesson,
    index: int,
    commands: tuple[Command, ...],
    skip: tuple[int, ...],
    done: bool,
    tmp_path: Path,
) -> None:
    result = attempt(lesson, index, [c.text for c in commands], dispatch, tmp_path, skip)
    assert not result.broken, result.broken
    assert result.done == done, f"{lesson.file}:{commands[0].line}\n{shown(result)}"
    assert list(tmp_path.iterdir()) == []  # the throwaway store is gone
