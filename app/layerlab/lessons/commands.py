"""`layerlab lesson ls | check | run | try | record`: lessons on the CLI.

`lesson open NAME` opens the TUI, so the entry point (`layerlab.main`) runs it.

The entry point (`layerlab.main`) runs `lesson` itself, not a handler: it calls `main`
with the commands' `dispatch`, through which the runner runs each lesson command, in
the lesson's own store.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from layerlab.commands.stdio import IO
from layerlab.errors import LayerlabError
from layerlab.lessons.loader import find_lesson, load_course, missing_requirements, read_dir
from layerlab.lessons.runner import Dispatch, run_all, temp_parent


def main(ns: argparse.Namespace, io: IO, dispatch: Dispatch) -> int:
    directory = Path(ns.dir) if getattr(ns, "dir", None) else None
    if ns.lesson_cmd == "ls":
        for lesson in load_course(directory):
            steps = f"{len(lesson.steps)} step" + ("s" if len(lesson.steps) != 1 else "")
            note = ""
            if missing := missing_requirements(lesson.requires):
                note = f"  [needs {', '.join(missing)}]"
            print(f"{lesson.name}\t{lesson.title} ({steps}){note}", file=io.out)
        return 0
    if ns.lesson_cmd == "check":
        lessons, problems = read_dir(directory)
        for problem in problems:
            print(problem, file=io.err)
        if problems:
            print(f"{len(problems)} problem(s) in {directory or 'the course'}", file=io.err)
            return 1
        for lesson in lessons:
            if missing := missing_requirements(lesson.requires):
                print(f"{lesson.where}: note: waits for {', '.join(missing)}", file=io.out)
        print(f"{len(lessons)} lessons, no problems", file=io.out)
        return 0
    if ns.lesson_cmd == "record":
        import sys

        from layerlab.lessons.record import record

        name = ns.names[0]
        target = Path(ns.output) if ns.output else Path(f"{name}.yaml")
        record(name, sys.stdin, dispatch, io.out, target, ns.title, temp_parent(),
               prompt=sys.stdin.isatty())  # fmt: skip
        return 0
    if ns.lesson_cmd == "try":
        from layerlab.lessons.attempt import attempt, report

        lesson = find_lesson(load_course(directory), ns.names[0])
        skip = [n - 1 for n in ns.skip]
        result = attempt(lesson, ns.step - 1, ns.lines, dispatch, temp_parent(), skip)
        report(lesson, result, io.out)
        return 0 if result.done else 1
    # run
    if not ns.auto:
        raise LayerlabError(
            "lesson run plays a lesson unattended with --auto; the TUI runs it step by step"
        )
    course = load_course(directory)
    if ns.all == bool(ns.names):
        raise LayerlabError("lesson run takes lesson NAMEs or --all")
    chosen = course if ns.all else [find_lesson(course, name) for name in ns.names]
    results = run_all(chosen, dispatch, io.out, temp_parent())
    failed = [r for r in results if not r.passed]
    skipped = [r for r in results if r.skipped]
    passed = len(results) - len(failed) - len(skipped)
    summary = f"{passed} passed, {len(skipped)} skipped, {len(failed)} failed"
    if failed:
        print(f"{failed[0].where}: {failed[0].lesson.name} failed: {failed[0].message}",
              file=io.err)  # fmt: skip
        print(summary, file=io.err)
        return 1
    print(summary, file=io.out)
    return 0
