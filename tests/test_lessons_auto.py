"""The course on real containers: every lesson passes `--auto`; a failing check names file:line.

Each lesson runs in a throwaway store; afterwards no sandbox, container or mount is left.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from layerlab.commands.handlers import dispatch
from layerlab.lessons.checks import evaluate
from layerlab.lessons.loader import load_lesson
from layerlab.lessons.model import Check
from layerlab.lessons.runner import LessonRun, Sandbox, run_auto

from .conftest import eventually

pytestmark = pytest.mark.system

REPO = Path(__file__).resolve().parent.parent

FAILING = """\
title: A lesson that fails
setup:
  - run --name sleeper busybox true
steps:
  - prose: Look at it.
    commands:
      - ps -a
    checks:
      - exit_code: 0
      - container_state: {container: sleeper, state: running}
"""


def layerlab(*args: str, tmp: Path, learner: Path) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO / "app"),
        LAYERLAB_ROOT=str(learner),
        LAYERLAB_LESSON_TMP=str(tmp),
    )
    return subprocess.run(
        [sys.executable, "-m", "layerlab", *args],
        capture_output=True, text=True, env=env, timeout=600, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def mounts_under(path: Path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if str(path) in line]


@pytest.mark.timeout(600)
def test_the_whole_course_passes_auto(tmp_path: Path) -> None:
    sandboxes, learner = tmp_path / "sandboxes", tmp_path / "learner"
    sandboxes.mkdir()
    result = layerlab("lesson", "run", "--all", "--auto", tmp=sandboxes, learner=learner)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert " 0 failed" in result.stdout
    assert "✘" not in result.stdout
    assert not learner.exists()  # the learner's own store was never touched
    assert list(sandboxes.iterdir()) == []  # every sandbox removed, with its containers
    assert mounts_under(tmp_path) == []


def test_a_failing_check_names_its_file_and_line(tmp_path: Path) -> None:
    lessons, sandboxes = tmp_path / "lessons", tmp_path / "sandboxes"
    lessons.mkdir()
    sandboxes.mkdir()
    (lessons / "01-fails.yaml").write_text(FAILING)
    result = layerlab(
        "lesson", "run", "fails", "--auto", "--dir", str(lessons),
        tmp=sandboxes, learner=tmp_path / "learner",
    )  # fmt: skip
    assert result.returncode == 1
    where = f"{lessons / '01-fails.yaml'}:10"
    assert f"{where}: check failed: container sleeper is running — now: exited (0)" in (
        result.stdout
    )
    assert result.stderr.startswith(f"{where}: fails failed:")
    assert list(sandboxes.iterdir()) == []


def test_a_failing_setup_command_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "01-setup.yaml"
    path.write_text(FAILING.replace("busybox true", "busybox false"))
    out = io.StringIO()
    result = run_auto(load_lesson(path), dispatch, out, parent=tmp_path)
    assert not result.passed
    assert result.where == f"{path}:3"
    assert "exited 1" in result.message


def test_a_lesson_waiting_for_a_command_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "01-later.yaml"
    path.write_text("requires: [teleport]\n" + FAILING)
    out = io.StringIO()
    result = run_auto(load_lesson(path), dispatch, out, parent=tmp_path)
    assert result.passed and result.skipped
    assert "skipped: needs teleport" in out.getvalue()


def test_a_lesson_step_by_step_shows_goal_and_now(tmp_path: Path) -> None:
    """What the TUI drives: start, type, results - live goal beside the current state."""
    path = tmp_path / "01-demo.yaml"
    path.write_text(
        FAILING.replace("busybox true", "-d busybox sleep 30").replace("ps -a", "kill sleeper")
    )
    with Sandbox(dispatch, parent=tmp_path) as sandbox:
        run = LessonRun(load_lesson(path), sandbox)
        assert run.start() is None
        before = run.results()
        assert [r.ok for r in before] == [False, True]
        assert str(before[0]) == "the last command exited 0 — now: no command yet"
        assert str(before[1]) == "container sleeper is running — now: running"
        outcome = run.type("docker kill sleeper")
        assert (outcome.code, outcome.out) == (0, "sleeper\n")
        goal = "container sleeper is running — now: exited (137)"
        eventually(lambda: str(run.results()[1]), goal)
        assert not run.results()[1].ok
        # `image_gained` without `than` counts from the step's beginning
        gained = Check("image_gained", {"image": "busybox", "layers": 1}, path, 1)
        assert str(evaluate(gained, run.context())) == (
            "image busybox gained 1 layer in this step — now: +0 layers (1 in all)"
        )
        assert run.type("commit sleeper busybox").code == 0
        assert evaluate(gained, run.context()).ok
        assert run.type("--root /var/lib/layerlab ps").code == 125  # never the learner's store
        assert run.type("save -o /etc/x.tar busybox").code == 125  # no path escapes
        sandbox_dir = sandbox.dir
    assert not sandbox_dir.exists()
    assert mounts_under(tmp_path) == []
