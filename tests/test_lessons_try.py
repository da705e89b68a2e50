"""`layerlab lesson try NAME STEP COMMAND...`: a teacher judges an answer, on real containers.

The answer runs in a throwaway store brought to the start of the step; every
check is printed ✔/✘ with its goal and what is there now; the exit code is 0
only when the step is done. The store is gone afterwards, Ctrl-C or not.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import eventually
from .test_lessons_auto import REPO, layerlab, mounts_under

pytestmark = pytest.mark.system

FORGOT_V = "run --name reader busybox cat /data/kept.txt"
ANSWER = "run --name reader -v data:/data busybox cat /data/kept.txt"


def try_(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    sandboxes = tmp_path / "sandboxes"
    sandboxes.mkdir(exist_ok=True)
    result = layerlab("lesson", "try", *args, tmp=sandboxes, learner=tmp_path / "learner")
    assert list(sandboxes.iterdir()) == []  # the throwaway store is gone, with its containers
    assert mounts_under(tmp_path) == []
    assert not (tmp_path / "learner").exists()  # the learner's store is never touched
    return result


def test_a_wrong_answer_is_refused_check_by_check(tmp_path: Path) -> None:
    result = try_(tmp_path, "22", "4", "docker rm writer", FORGOT_V)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("layers-vs-volumes, step 4 of 4 (")
    assert "$ docker rm writer  (exit 0)" in lines
    assert f"$ {FORGOT_V}  (exit 1)" in lines
    assert "✔ container writer is gone — now: gone" in lines
    assert any(line.startswith("✘ the output shows 'kept' — now: exited 1: cat:") for line in lines)
    assert lines[-1] == "step 4: not done"


def test_the_right_answer_is_the_step_done(tmp_path: Path) -> None:
    result = try_(tmp_path, "layers-vs-volumes", "4", "rm writer", ANSWER)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "✔ the output shows 'kept' — now: kept" in result.stdout
    assert result.stdout.splitlines()[-1] == "step 4: done"


def test_a_skipped_earlier_step_is_left_out(tmp_path: Path) -> None:
    """--skip 1: no `writer` was ever made, so the right commands no longer do the step."""
    result = try_(tmp_path, "22", "4", "--skip", "1", "rm writer", ANSWER)
    assert result.returncode == 1
    assert "✘ the output shows 'kept'" in result.stdout


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["22", "5", "ps"], "Error: lesson layers-vs-volumes has steps 1 to 4, not 5\n"),
        (["22", "2", "--skip", "2", "ps"], "Error: --skip 2: only a step before step 2\n"),
        (["nosuch", "1", "ps"], "Error: no lesson 'nosuch'"),
    ],
)
def test_bad_input_is_one_line(tmp_path: Path, args: list[str], error: str) -> None:
    result = try_(tmp_path, *args)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(error) and result.stderr.count("\n") == 1


def test_ctrl_c_removes_the_throwaway_store(tmp_path: Path) -> None:
    """Interrupted while a container runs: it is stopped and its store and mounts are gone."""
    sandboxes = tmp_path / "sandboxes"
    sandboxes.mkdir()
    env = {"PYTHONPATH": str(REPO / "app"), "LAYERLAB_LESSON_TMP": str(sandboxes),
           "LAYERLAB_ROOT": str(tmp_path / "learner")}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "layerlab", "lesson", "try", "7", "1",
         "run -d --name runner busybox sleep 60", "wait runner"],
        env=dict(os.environ, **env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        eventually(lambda: len(mounts_under(sandboxes)) > 0, True, timeout=60)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert list(sandboxes.iterdir()) == []
    assert mounts_under(tmp_path) == []
