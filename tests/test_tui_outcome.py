"""Running a command for the TUI and reading its outcome, without the TUI: real commands on
a real store, through `layerlab.tui.outcome` alone (no Textual app, no Pilot)."""

from __future__ import annotations

import io
import shlex

import pytest

from layerlab.commands import grammar
from layerlab.commands.stdio import IO
from layerlab.engine import Engine
from layerlab.storage.snapshot import Subject
from layerlab.tui.explain import Outcome
from layerlab.tui.outcome import execute, needs_terminal
from tests.conftest import CLI

pytestmark = pytest.mark.system


def run(engine: Engine, line: str, *, before: bool = False) -> tuple[Outcome, str, str]:
    """`line` run as the command bar runs it; the outcome, what it printed and its errors.
    `before`: the store as the panels show it is read first (what `rm` names things by)."""
    out, err = io.StringIO(), io.StringIO()
    snapshot = engine.snapshot() if before else None
    ns = grammar.parse(shlex.split(line))
    outcome = execute(engine, line, ns, IO(out, err, interactive=False), snapshot)
    return outcome, out.getvalue(), err.getvalue()


def test_create_follows_the_new_container_and_names_its_image(engine: Engine) -> None:
    outcome, out, _ = run(engine, "create --name box busybox")
    assert outcome.code == 0 and not outcome.error and not outcome.said
    box = engine.container("box")
    assert outcome.subject == Subject("container", box.id)
    assert outcome.created and outcome.container is not None and outcome.container.id == box.id
    assert outcome.image is not None and outcome.image.name == "busybox:latest"
    assert outcome.image.layers == len(engine.image("busybox").layers)
    assert out.strip() == box.id


def test_a_process_that_ran_is_read_around_it_in_an_existing_container(engine: Engine) -> None:
    """`run`: the new container's writable layer after; `start` of it again: before and after,
    so the explanation can tell what this run changed."""
    ran, _, _ = run(engine, "run --name happy busybox touch /happiness.txt")
    assert ran.code == 0
    assert "A /happiness.txt" in [str(c) for c in ran.changes_after]
    assert ran.changes_before == ()
    again, _, _ = run(engine, "start -a happy")
    assert again.code == 0 and not again.created
    assert "A /happiness.txt" in [str(c) for c in again.changes_before]
    assert "A /happiness.txt" in [str(c) for c in again.changes_after]


def test_rm_follows_the_removed_containers_image_by_the_name_the_panels_knew(
    engine: Engine,
) -> None:
    run(engine, "create --name gone busybox")
    image = engine.container("gone").data["Image"]
    outcome, _, _ = run(engine, "rm gone", before=True)
    assert outcome.code == 0
    assert outcome.removed == ("gone",)
    assert outcome.subject == Subject("image", image)
    assert outcome.container is None


def test_history_and_images_are_counted(engine: Engine) -> None:
    history, _, _ = run(engine, "history busybox")
    assert history.history is not None and history.history.name == "busybox:latest"
    assert history.history.rows == len(engine.history(engine.image("busybox").id))
    images, _, _ = run(engine, "images")
    assert images.images == len(engine.image_ids()) >= 1
    listed, _, _ = run(engine, "ps -a")
    assert listed.subject is None  # nothing to follow


def test_a_failure_is_one_line_as_the_cli_prints_it_and_nothing_is_read(
    engine: Engine, cli: CLI
) -> None:
    outcome, _, _ = run(engine, "stop nosuch")
    assert outcome.code == 1 and outcome.subject is None and outcome.container is None
    assert outcome.error == "No such container: nosuch"
    assert outcome.said == cli("stop", "nosuch").err.strip() == "Error: No such container: nosuch"


def test_only_an_interactive_process_needs_the_terminal() -> None:
    def needs(line: str) -> bool:
        return needs_terminal(grammar.parse(shlex.split(line)))

    assert needs("run -it busybox sh") and needs("exec -i c sh") and needs("start -ai c")
    assert not needs("run -d -it busybox sh") and not needs("run busybox true")
    assert not needs("ps -a")
