"""The lesson validator on broken files: every problem, each as file:line (pure, no engine)."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from layerlab.lessons.checks import CHECKS
from layerlab.lessons.loader import (
    default_dir,
    find_lesson,
    host_paths,
    load_course,
    missing_requirements,
    mount_problem,
    read_dir,
    read_lesson,
)

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parent.parent

GOOD = """\
title: A lesson
steps:
  - prose: |
      Create a container.
    commands:
      - create --name box busybox
    checks:
      - container_state: {container: box, state: created}
    hints:
      - Type `create --name box busybox`.
"""


def problems_of(tmp_path: Path, text: str | bytes, name: str = "01-demo.yaml") -> list[str]:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    lesson, problems = read_lesson(path)
    assert (lesson is None) == bool(problems)
    return [str(p) for p in problems]


def test_a_good_lesson_loads(tmp_path: Path) -> None:
    path = tmp_path / "03-demo.yaml"
    path.write_text(GOOD)
    lesson, problems = read_lesson(path)
    assert problems == []
    assert lesson is not None
    assert (lesson.name, lesson.title, len(lesson.steps)) == ("demo", "A lesson", 1)
    step = lesson.steps[0]
    assert step.line == 3
    assert [c.text for c in step.commands] == ["create --name box busybox"]
    assert step.checks[0].kind == "container_state"
    assert step.checks[0].args == {"container": "box", "state": "created"}
    assert step.checks[0].where == f"{path}:8"
    assert step.solution.strip() == "create --name box busybox"  # the commands, by default


def test_the_course_is_valid_and_long_enough() -> None:
    lessons, problems = read_dir(default_dir())
    assert [str(p) for p in problems] == []
    assert len(lessons) >= 15
    typed = " ".join(c.text for lesson in lessons for s in lesson.steps for c in s.commands)
    typed += " " + " ".join(c.text for lesson in lessons for c in lesson.setup)
    for command in (
        "create", "start", "run", "ps", "ps -a", "images", "images -a", "stop", "kill",
        "pause", "rm", "rmi", "commit", "build", "exec", "inspect", "save", "export", "history",
    ):  # fmt: skip
        assert re.search(rf"(^| ){re.escape(command)}( |$)", typed), command
    for lesson in lessons:
        for step in lesson.steps:
            assert step.hints and step.solution.strip(), f"{lesson.name}: step {step.line}"


def test_the_course_says_where_the_article_is_outdated() -> None:
    text = "\n".join(p.read_text() for p in sorted(default_dir().glob("*.yaml")))
    assert "SIGTSTP" in text and "freezer" in text
    assert "<missing>" in text
    assert "overlay2" in text and "aufs" in text and "content-addressed" in text


def test_the_readme_example_is_a_valid_lesson(tmp_path: Path) -> None:
    readme = (default_dir() / "README.md").read_text()
    example = readme.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert problems_of(tmp_path, example) == []


def test_a_cut_off_file_names_its_line(tmp_path: Path) -> None:
    cut = GOOD[: GOOD.index("state: created")] + "state: cre"
    found = problems_of(tmp_path, cut)
    assert any(re.search(r"01-demo\.yaml:8: .*cut off", p) for p in found), found
    # cut inside a quoted string: the YAML error's line
    found = problems_of(
        tmp_path, GOOD.replace("Create a container.", "x") + '  - prose: "unfinished\n'
    )
    assert any(":12: " in p and "started at line 11" in p for p in found), found


def test_a_binary_file(tmp_path: Path) -> None:
    found = problems_of(tmp_path, b"title: x\n\x00\x01\x02")
    assert found == [f"{tmp_path / '01-demo.yaml'}:2: a binary file (NUL byte)"]
    found = problems_of(tmp_path, b"title: x\nsteps: \xff\xfe\n")
    assert found == [f"{tmp_path / '01-demo.yaml'}:2: a binary file (not UTF-8 text)"]


def test_a_missing_field(tmp_path: Path) -> None:
    text = GOOD.replace(
        "    checks:\n      - container_state: {container: box, state: created}\n", ""
    )
    assert problems_of(tmp_path, text) == [
        f"{tmp_path / '01-demo.yaml'}:3: step 1: missing field 'checks'"
    ]
    found = problems_of(tmp_path, GOOD.replace("title: A lesson\n", ""))
    assert found == [f"{tmp_path / '01-demo.yaml'}:1: lesson: missing field 'title'"]


def test_an_unknown_check_and_bad_arguments_all_reported(tmp_path: Path) -> None:
    text = GOOD.replace(
        "      - container_state: {container: box, state: created}\n",
        "      - container_sate: {container: box}\n"
        "      - container_state: {container: box, state: sleeping}\n"
        "      - image_layers: {image: busybox, count: two}\n"
        "      - layer_has: /x\n"
        "      - exit_code: 0\n",
    )
    found = problems_of(tmp_path, text)
    f = tmp_path / "01-demo.yaml"
    assert found[0].startswith(f"{f}:8: unknown check 'container_sate'")
    assert found[1].startswith(f"{f}:9: check container_state: state must be one of created,")
    assert found[2] == f"{f}:10: check image_layers: count must be a whole number, not 'two'"
    assert found[3] == f"{f}:11: check layer_has takes a mapping of container, path"
    assert len(found) == 4


def test_unknown_fields_and_unparsable_commands(tmp_path: Path) -> None:
    text = GOOD.replace("    hints:", "    hint:").replace(
        "      - create --name box busybox\n",
        "      - create --name box busybox\n      - frobnicate busybox\n      - ps --bogus\n",
    )
    found = problems_of(tmp_path, text)
    f = tmp_path / "01-demo.yaml"
    assert found[0].startswith(f"{f}:7: step 1: commands: ") and "frobnicate" in found[0]
    assert found[1].startswith(f"{f}:8: step 1: commands: ") and "--bogus" in found[1]
    assert found[2].startswith(f"{f}:11: step 1: unknown field 'hint'")


def test_lesson_files_are_data_never_code(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    text = GOOD.replace(
        "title: A lesson", f"title: !!python/object/apply:os.system ['touch {marker}']"
    )
    found = problems_of(tmp_path, text)
    assert any(":1: tag tag:yaml.org,2002:python/object/apply:os.system" in p for p in found)
    assert not marker.exists()
    found = problems_of(tmp_path, "title: &t A lesson\nsummary: *t\n" + GOOD.split("\n", 1)[1])
    assert any(":2: anchors and aliases are not allowed" in p for p in found), found
    bomb = "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n"
    assert len(problems_of(tmp_path, bomb)) == 4


def test_paths_stay_in_the_lessons_work_folder(tmp_path: Path) -> None:
    text = (
        GOOD.replace(
            "      - create --name box busybox\n",
            "      - save -o /etc/busybox.tar busybox\n"
            "      - export -o ../box.tar box\n"
            "      - --root /var/lib/layerlab ps\n"
            "      - tui\n",
        )
        + "files:\n  ../evil: x\n  /abs: y\n"
    )
    found = problems_of(tmp_path, text)
    assert [p.split(": ", 1)[0].rsplit(":", 1)[1] for p in found] == [
        "6", "7", "8", "9", "15", "16"
    ]  # fmt: skip
    assert "must be a relative path" in found[0] and "climb out" in found[1]


def test_size_limit(tmp_path: Path) -> None:
    found = problems_of(tmp_path, GOOD + "# " + "x" * 70_000 + "\n")
    assert found == [f"{tmp_path / '01-demo.yaml'}:1: larger than 65536 bytes: not a lesson file"]


def test_requires_is_checked_against_the_grammar(tmp_path: Path) -> None:
    assert missing_requirements(["ps", "ps -a", "run -d"]) == []
    assert missing_requirements(["teleport", "ps --teleport"]) == ["teleport", "ps --teleport"]
    # a lesson waiting for a command is valid: its commands are checked once the command exists
    text = "requires: [teleport]\n" + GOOD.replace("create --name", "teleport --name")
    assert problems_of(tmp_path, text) == []


def test_a_folder_reports_every_file(tmp_path: Path) -> None:
    (tmp_path / "01-good.yaml").write_text(GOOD)
    (tmp_path / "02-bad.yaml").write_text(GOOD.replace("title: A lesson\n", ""))
    (tmp_path / "03-binary.yaml").write_bytes(b"\x00")
    (tmp_path / "notes.txt").write_text("not a lesson")
    lessons, problems = read_dir(tmp_path)
    assert [lesson.name for lesson in lessons] == ["good"]
    assert [p.file.name for p in problems] == ["02-bad.yaml", "03-binary.yaml"]
    assert find_lesson(load_course(default_dir()), "1").order.startswith("01-")


def test_every_check_kind_is_documented() -> None:
    readme = (default_dir() / "README.md").read_text()
    for name, kind in CHECKS.items():
        assert f"`{name}`" in readme and kind.help


@pytest.mark.system  # the real CLI, through the fork server
def test_lesson_check_on_the_command_line(tmp_path: Path) -> None:
    (tmp_path / "01-bad.yaml").write_text(GOOD.replace("state: created", "state: asleep"))
    env = {"PYTHONPATH": str(REPO / "app"), "PATH": "/usr/bin:/bin",
           "LAYERLAB_SERVER_DIR": os.environ["LAYERLAB_SERVER_DIR"]}  # fmt: skip
    bad = subprocess.run(
        [sys.executable, "-m", "layerlab", "lesson", "check", str(tmp_path)],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert bad.returncode == 1
    assert bad.stderr.startswith(f"{tmp_path / '01-bad.yaml'}:8: check container_state: state")
    good = subprocess.run(
        [sys.executable, "-m", "layerlab", "lessons", "ls"], capture_output=True, text=True, env=env
    )
    assert good.returncode == 0, good.stderr
    assert good.stdout.splitlines()[0].startswith("images-are-layers\t")


def test_cp_and_mounts_stay_off_the_hosts_folders() -> None:
    """For `cp`, `-v` and `--mount` (the volumes work adds them): judged on the parsed words."""
    cp = argparse.Namespace(cmd="cp", source="writer:/lost.txt", dest="lost.txt")
    assert host_paths(cp) == ["lost.txt"]
    cp = argparse.Namespace(cmd="cp", source="/etc/shadow", dest="writer:/x")
    assert host_paths(cp) == ["/etc/shadow"]
    run = argparse.Namespace(cmd="run", volumes=["data:/data", "/anon"], mounts=[])
    assert mount_problem(run) is None
    run.volumes = ["/etc:/host-etc"]
    assert "never the host's folders" in (mount_problem(run) or "")
    run.volumes, run.mounts = [], ["type=bind,source=/,target=/host"]
    assert "never the host's folders" in (mount_problem(run) or "")
    assert mount_problem(argparse.Namespace(cmd="rm", volumes=True)) is None  # `rm -v`: a flag


def test_every_step_of_the_course_names_two_near_misses() -> None:
    """What `test_lessons_near_misses` proves refused, on real containers."""
    for lesson in load_course():
        for number, step in enumerate(lesson.steps, 1):
            assert len(step.near_misses) >= 2, f"{lesson.file}:{step.line}: step {number}"


def test_near_misses_load_in_their_three_forms(tmp_path: Path) -> None:
    text = GOOD + (
        "  - prose: Again.\n"
        "    commands: [diff box]\n"
        "    checks: [exit_code: 0]\n"
        "    near_misses:\n"
        "      - imgaes\n"
        "      - [create --name bx busybox, diff bx]\n"
        "      - {skip: 1, commands: diff box}\n"
    )
    path = tmp_path / "01-demo.yaml"
    path.write_text(text)
    lesson, problems = read_lesson(path)
    assert problems == [] and lesson is not None
    misses = lesson.steps[1].near_misses
    assert [[c.text for c in m.commands] for m in misses] == [
        ["imgaes"],
        ["create --name bx busybox", "diff bx"],
        ["diff box"],
    ]  # a near miss need not parse: an unknown word is one
    assert [m.skip for m in misses] == [(), (), (0,)]
    assert [m.line for m in misses] == [15, 16, 17]


def test_bad_near_misses_are_reported(tmp_path: Path) -> None:
    text = GOOD.replace(
        "    hints:",
        "    near_misses:\n"
        "      - {skip: 1, commands: diff box}\n"
        "      - {skip: x, commands: diff box}\n"
        "      - {commands: ps, then: 2}\n"
        "      - tui\n"
        "      - []\n"
        "    hints:",
    )
    f = tmp_path / "01-demo.yaml"
    assert problems_of(tmp_path, text) == [
        f"{f}:10: step 1: near_misses: skip 1: only a step before step 1",
        f"{f}:11: step 1: near_misses: skip takes step numbers",
        f"{f}:12: step 1: near_misses item: unknown field 'then' (known: commands, skip)",
        f"{f}:13: step 1: near_misses item: 'tui' cannot run inside a lesson",
        f"{f}:14: step 1: near_misses item is empty",
    ]
    text = GOOD.replace("    hints:", "    near_misses: ps\n    hints:")
    assert problems_of(tmp_path, text) == [
        f"{f}:9: step 1: near_misses must be a list of at least one near miss"
    ]


def test_file_has_stays_in_the_work_folder(tmp_path: Path) -> None:
    text = GOOD.replace(
        "      - container_state: {container: box, state: created}\n",
        "      - file_has: {file: ../x.tar, text: a}\n",
    )
    assert problems_of(tmp_path, text) == [
        f"{tmp_path / '01-demo.yaml'}:8: check file_has: file '../x.tar' must not climb out "
        "with '..'"
    ]
