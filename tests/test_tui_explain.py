"""What the explainer says after each command the article names, true to what happened.

Most tests hand `explain()` a constructed `Outcome` (pure and fast); the
builder's step record and `stop` with an ignored SIGTERM run on real containers.
"""

from __future__ import annotations

import asyncio
import io
import shlex
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import TabbedContent

from layerlab.build import BuildOptions
from layerlab.commands import grammar
from layerlab.engine import Engine
from layerlab.presentation.humanize import parse_rfc3339
from layerlab.report import BuildStep, Report
from layerlab.storage.containers import Container
from layerlab.tui.app import LayerlabApp
from layerlab.tui.change_tree import ChangeTree
from layerlab.tui.explain import (
    HistoryFacts,
    ImageFacts,
    Outcome,
    build_notes,
    explain,
    plural,
    signal_name,
)
from layerlab.tui.explainer import Explainer
from layerlab.tui.output_log import OutputLog
from layerlab.tui.provenance_view import ProvenanceView

from .tui_helpers import changes, enter, explained, screen_text, until

pytestmark = pytest.mark.unit

START = "2026-01-01T10:00:00Z"
CID = "c" * 64
IMAGE = "sha256:" + "1" * 64


def at(seconds: float) -> str:
    """A FinishedAt `seconds` after START, as the shim writes it."""
    whole, frac = divmod(seconds, 1)
    return f"2026-01-01T10:00:{int(whole):02d}.{round(frac * 1e9):09d}Z"


def container(
    *, running: bool = False, code: int = 0, finished: str = "", command: str = "sleep 600",
    stop_signal: str | None = None,
) -> Container:  # fmt: skip
    path, *args = shlex.split(command)
    config: dict[str, Any] = {"Image": "busybox"}
    if stop_signal:
        config["StopSignal"] = stop_signal
    return Container({
        "Id": CID, "Name": "/demo", "Image": IMAGE, "Path": path, "Args": args,
        "Config": config,
        "State": {"Status": "running" if running else "exited", "Running": running,
                  "Paused": False, "ExitCode": code,
                  "FinishedAt": finished or "0001-01-01T00:00:00Z"},
    })  # fmt: skip


def outcome(line: str, *, code: int = 0, report: Report | None = None, **kw: Any) -> Outcome:
    ns = grammar.parse(shlex.split(line))
    return Outcome(
        line=line, ns=ns, code=code, error="", report=report or Report(code=code),
        subject=None, started=parse_rfc3339(START), **kw,
    )  # fmt: skip


# --- stop: the stop signal, the grace time, SIGKILL ---------------------------------------
def test_stop_with_sigterm_ignored_by_pid_1_then_sigkill_after_the_grace_time() -> None:
    after = container(code=137, finished=at(1.2))
    text = explain(outcome("stop -t 1 demo", container=after, writable_entries=1))
    assert "stop sent SIGTERM to demo's pid 1 (`sleep 600`), which ignored it" in text
    assert "After the 1 s grace time (-t) stop sent SIGKILL" in text
    assert "exit code 137 = 128 + 9 (SIGKILL)" in text
    assert "(1.2 s in all)" in text
    assert "its writable layer (1 entry) stays" in text


def test_stop_without_t_waits_the_default_ten_seconds() -> None:
    text = explain(outcome("stop demo", container=container(code=137, finished=at(10.3))))
    assert "which ignored it" in text and "After the 10 s grace time" in text


def test_stop_that_sigterm_ended_is_exit_143_and_no_sigkill() -> None:
    after = container(code=143, finished=at(0.1), command="sh -c 'trap - TERM; sleep 60'")
    text = explain(outcome("stop -t 5 demo", container=after))
    assert "stop sent SIGTERM" in text and "it ended at once (0.1 s in all)" in text
    assert "exit code 143 = 128 + 15 (SIGTERM)" in text
    assert "SIGKILL" not in text


def test_stop_of_a_process_that_trapped_sigterm_gives_its_own_code() -> None:
    after = container(code=3, finished=at(0.3))
    text = explain(outcome("stop demo", container=after))
    assert "handled the signal (a trap) and exited with its own exit code 3" in text
    assert "no SIGKILL" in text


def test_stop_follows_the_image_stop_signal_and_the_s_flag() -> None:
    after = container(code=130, finished=at(0.2), stop_signal="SIGINT")
    assert "stop sent SIGINT" in explain(outcome("stop demo", container=after))
    after = container(code=130, finished=at(0.2))
    text = explain(outcome("stop -s INT demo", container=after))
    assert "stop sent SIGINT" in text and "exit code 130 = 128 + 2 (SIGINT)" in text


def test_stop_of_a_container_that_had_already_stopped_sends_nothing() -> None:
    after = container(code=0, finished="2026-01-01T09:00:00Z")
    text = explain(outcome("stop demo", container=after))
    assert text.startswith("demo was not running: stop sent no signal.")


def test_a_sigkill_before_the_grace_time_is_not_called_an_ignored_sigterm() -> None:
    text = explain(outcome("stop -t 30 demo", container=container(code=137, finished=at(2))))
    assert "ignored" not in text and "before the 30 s grace time ran out" in text


# --- kill, pause, unpause -------------------------------------------------------------------
def test_kill_is_sigkill_at_once() -> None:
    text = explain(outcome("kill demo", container=container(code=137, finished=at(0.05))))
    assert "kill sent SIGKILL to demo's processes at once, with no grace time" in text
    assert "exit code 137 = 128 + 9 (SIGKILL)" in text


def test_kill_with_a_signal_pid_1_ignores_leaves_it_running() -> None:
    text = explain(outcome("kill -s TERM demo", container=container(running=True)))
    assert "kill sent SIGTERM" in text and "still running" in text


def test_kill_with_a_signal_that_ends_it() -> None:
    text = explain(outcome("kill -s HUP demo", container=container(code=129, finished=at(0.1))))
    assert "kill sent SIGHUP" in text and "exit code 129 = 128 + 1 (SIGHUP)" in text


def test_pause_is_the_freezer_not_a_signal_and_unpause_thaws() -> None:
    text = explain(outcome("pause demo", container=container(running=True)))
    assert "cgroup freezer" in text and "no signal is sent" in text
    assert "thawed" in explain(outcome("unpause demo", container=container(running=True)))


def test_signal_names() -> None:
    assert signal_name("TERM") == "SIGTERM"
    assert signal_name("9") == "SIGKILL"
    assert signal_name(None, "KILL") == "SIGKILL"
    assert signal_name("NOPE") == "NOPE"


# --- build, per step -------------------------------------------------------------------------
STEPS = [
    BuildStep("FROM busybox", "FROM", image=IMAGE),
    BuildStep("ENV A=1", "ENV", container="e" * 64, image="sha256:" + "2" * 64),
    BuildStep("RUN echo hi > /hi", "RUN", container="f" * 64, layer="sha256:" + "a" * 64,
              image="sha256:" + "3" * 64),
    BuildStep("COPY f /f", "COPY", container="d" * 64, layer="sha256:" + "b" * 64,
              image="sha256:" + "4" * 64),
    BuildStep("CMD [\"sh\"]", "CMD", cached=True, image="sha256:" + "5" * 64),
]  # fmt: skip


def test_build_says_what_each_kind_of_step_did() -> None:
    report = Report(build_steps=STEPS, created_images=["sha256:" + "5" * 64])
    text = explain(outcome("build -t greet .", report=report, image=ImageFacts("greet:latest", 3)))
    assert "build ran 4 steps after FROM" in text
    assert "2 (COPY, RUN) changed files in a container's writable layer" in text
    assert "each committed as a new read-only layer" in text
    assert "1 changed only the config: an empty layer (0B) in history" in text
    assert "1 came from the cache: no container at all" in text
    assert "image greet:latest is the last" in text


def test_build_notes_are_a_line_per_step() -> None:
    notes = build_notes(STEPS)
    assert len(notes) == 5
    assert notes[0].startswith("step 1 FROM busybox: start from image 111111111111's layers")
    assert "container eeeeeeeeeeee committed unchanged, config only: an empty layer" in notes[1]
    assert "ran in container ffffffffffff" in notes[2]
    assert "committed as the new read-only layer aaaaaaaaaaaa" in notes[2]
    assert "files written into container dddddddddddd's writable layer" in notes[3]
    assert "(no process ran)" in notes[3]
    assert "Using cache" in notes[4] and "no container, no new layer" in notes[4]


def test_a_build_all_from_the_cache_and_a_failed_build() -> None:
    cached = [STEPS[0], *(BuildStep(s.instruction, s.keyword, cached=True) for s in STEPS[1:])]
    text = explain(outcome("build .", report=Report(build_steps=cached)))
    assert "4 came from the cache: no container at all" in text
    assert "committed" not in text
    failed = explain(outcome("build .", code=1, report=Report(code=1, build_steps=STEPS[:3])))
    assert failed.startswith("build stopped with exit code 1 after 2 steps")
    assert "no image was tagged" in failed


# --- save vs export, images vs images -a, history, rmi -------------------------------------------
def test_save_keeps_layers_and_export_flattens() -> None:
    save = explain(outcome("save -o g.tar greet"))
    assert "save wrote greet whole into g.tar" in save
    assert "each layer as its own tar" in save and "`load` brings it back" in save
    export = explain(
        outcome("export -o h.tar demo", container=container(), image=ImageFacts("busybox", 1))
    )
    assert "export flattened demo's merged filesystem" in export
    assert "1 read-only layer plus its writable layer" in export
    assert "no layers, no history" in export and "`import` makes a one-layer image" in export


def test_images_and_images_a_are_told_apart_and_name_the_two_ids() -> None:
    top, every = explain(outcome("images")), explain(outcome("images -a"))
    assert top != every
    assert "top-level images" in top and "intermediate images a build leaves" in every
    for text in (top, every):
        assert "what `rmi` takes" in text and "layer ids (chain ids)" in text


def test_history_tells_empty_layers_and_missing_rows() -> None:
    facts = HistoryFacts("greet:latest", rows=6, empty=3, missing=1)
    text = explain(outcome("history greet", history=facts))
    assert "history listed greet:latest's 6 steps, newest first" in text
    assert "3 of them show 0B: config-only steps" in text
    assert "1 row read <missing>" in text and "layers are not images" in text
    local = explain(outcome("history greet", history=HistoryFacts("greet", 2, 0, 0)))
    assert "<missing>" not in local and "intermediate image" in local


def test_rmi_says_it_takes_image_ids_not_layer_ids() -> None:
    report = Report(removed_images=[IMAGE], untagged=["greet:latest"])
    text = explain(outcome("rmi greet", report=report))
    assert "image ids" in text and "never layer ids" in text


def test_a_failed_command_keeps_its_one_line_error() -> None:
    failed = Outcome(
        line="stop nosuch", ns=grammar.parse(["stop", "nosuch"]), code=1,
        error="No such container: nosuch", report=Report(code=1), subject=None,
    )  # fmt: skip
    assert explain(failed) == "stop failed: No such container: nosuch. The store is as it was."


def test_plural() -> None:
    assert plural(0, "entry") == "0 entries"
    assert plural(1, "entry") == "1 entry"
    assert plural(2, "layer") == "2 layers"


# --- on real containers ----------------------------------------------------------------------
@pytest.mark.system
def test_the_builder_records_each_step(engine: Engine, tmp_path: Path) -> None:
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "f").write_text("data\n")
    (context / "Dockerfile").write_text(
        'FROM busybox\nENV A=1\nRUN echo hi > /hi\nCOPY f /f\nCMD ["sh"]\n'
    )
    steps: list[BuildStep] = []
    image_id = engine.build(context, BuildOptions(out=io.StringIO(), steps=steps))
    assert [s.keyword for s in steps] == ["FROM", "ENV", "RUN", "COPY", "CMD"]
    assert not any(s.cached for s in steps)
    assert [bool(s.layer) for s in steps] == [False, False, True, True, False]
    assert all(s.container for s in steps[1:]) and not steps[0].container
    assert steps[-1].image == image_id
    top = engine.image(image_id).layers
    assert steps[3].layer == top[-1].chain_id and steps[2].layer == top[-2].chain_id

    again: list[BuildStep] = []
    assert engine.build(context, BuildOptions(out=io.StringIO(), steps=again)) == image_id
    assert [s.cached for s in again] == [False, True, True, True, True]
    assert not any(s.container for s in again)


@pytest.mark.system
def test_stop_with_an_ignored_sigterm_in_the_tui(engine: Engine) -> None:
    """`sleep` as pid 1 has no SIGTERM handler: stop waits -t 1, then SIGKILL: 137."""

    async def main() -> None:
        app = LayerlabApp(engine.store.root)
        async with app.run_test(size=(100, 32)) as pilot:
            await enter(pilot, "run -d --name demo busybox sleep 600")
            await enter(pilot, "stop -t 1 demo")
            text = explained(app)
            assert "stop sent SIGTERM to demo's pid 1 (`sleep 600`), which ignored it" in text
            assert "After the 1 s grace time (-t) stop sent SIGKILL" in text
            assert "exit code 137 = 128 + 9 (SIGKILL)" in text
            assert str(app.query_one(Explainer).render()).startswith("stop sent SIGTERM")

            await enter(pilot, "inspect demo")  # the inspect tab comes forward
            tabs = app.query_one("#metadata-tabs", TabbedContent)
            await until(pilot, lambda: tabs.active == "tab-container")

    asyncio.run(main())


@pytest.mark.system
def test_whole_outputs_and_the_host_path(engine: Engine) -> None:
    """Ctrl+G gives the output most of the screen; a file's host path is whole and copied."""

    async def main() -> None:
        app = LayerlabApp(engine.store.root)
        async with app.run_test(size=(80, 24)) as pilot:
            logs = app.query_one("#logs")
            rows = logs.size.height
            await pilot.press("ctrl+g")
            await until(pilot, lambda: logs.size.height > rows * 2)
            await pilot.press("ctrl+g")
            await until(pilot, lambda: logs.size.height == rows)

            await enter(pilot, "run --name hap busybox touch /happiness.txt")
            await until(pilot, lambda: "A /happiness.txt" in changes(app))
            tree = app.query_one(ChangeTree)
            app.screen.set_focus(tree)
            node = next(n for n in tree.root.children if str(n.data) == "A /happiness.txt")
            tree.move_cursor(node)
            # Enter selects it whether or not the cursor moved (already on it: no highlight)
            await pilot.press("enter")
            view = app.query_one(ProvenanceView)
            await until(pilot, lambda: view.provenance is not None and bool(view.provenance.host))
            assert view.provenance is not None
            host = view.provenance.host
            upper = engine.container("hap").upper_dir
            assert host == f"{upper}/happiness.txt" and "/containers/" in host
            text = str(view.render()).replace("\n", "")  # wrapped at 80 columns, never cut
            assert host in text
            copied: list[str] = []
            app.copy_to_clipboard = copied.append  # type: ignore[method-assign]
            await pilot.press("ctrl+y")
            assert copied == [host]

            await pilot.press("escape")  # back to the command bar
            await enter(pilot, "inspect hap")  # the whole document, wrapped, nothing cut
            lines = [line.text.rstrip() for line in app.query_one(OutputLog).lines]
            assert lines[-1] == "]"
            assert engine.container("hap").id in "".join(lines)

    asyncio.run(main())


# --- a failure, the quotes as typed, shell syntax in the bar ----------------------------
def test_a_read_that_failed_is_explained_as_a_failure() -> None:
    text = explain(outcome("inspect busybx", code=1))
    assert text == "inspect failed (exit code 1): the output says why; nothing changed."
    assert "printed metadata" not in text


def test_the_command_is_quoted_as_typed_and_shell_syntax_is_named() -> None:
    quoted = explain(outcome("run --rm busybox sh -c 'echo hi > /x'"))
    assert "ran `sh -c 'echo hi > /x'`" in quoted and "Note" not in quoted
    bare = explain(outcome("run --rm busybox sh -c echo hi > /x"))
    assert "ran `sh -c echo hi > /x`" in bare
    assert "`>` was passed to `sh` as a plain argument" in bare
    assert bare.endswith("read it: run --rm busybox sh -c 'echo hi > /x'")
    piped = explain(outcome("docker run --rm busybox ls / | wc -l && echo done"))
    assert "`|`, `&&` were passed to `ls` as plain arguments" in piped
    assert piped.endswith("docker run --rm busybox sh -c 'ls / | wc -l && echo done'")


@pytest.mark.system
def test_the_explainer_in_the_tui_after_a_failure_and_an_unquoted_redirection(
    engine: Engine,
) -> None:

    async def main() -> None:
        app = LayerlabApp(engine.store.root)
        async with app.run_test(size=(100, 32)) as pilot:
            await enter(pilot, "inspect busybx")
            assert explained(app).startswith("inspect failed (exit code 1)")
            await enter(pilot, "run -d --name ex busybox sleep 600")
            await enter(pilot, "exec ex sh -c echo hi > /x")
            text = explained(app)
            assert "exec ran `sh -c echo hi > /x`" in text and "nothing changed" in text
            assert text.endswith("read it: exec ex sh -c 'echo hi > /x'")
            await enter(pilot, "exec ex sh -c 'echo hi > /x'")
            text = explained(app)
            assert "exec ran `sh -c 'echo hi > /x'`" in text and "A /x" in text
            assert "Note" not in text

    asyncio.run(main())


@pytest.mark.system
def test_ctrl_o_on_the_files_panel_keeps_the_host_path(engine: Engine) -> None:
    """Maximized, the files panel still says where the picked file is on the host."""

    async def main() -> None:
        app = LayerlabApp(engine.store.root)
        async with app.run_test(size=(80, 24)) as pilot:
            await enter(pilot, "run --name hap busybox touch /happiness.txt")
            await until(pilot, lambda: "A /happiness.txt" in changes(app))
            await pilot.press("f4")
            tree = app.files_tree
            tree.move_cursor(next(n for n in tree.root.children if n.data is not None))
            await pilot.press("enter")  # the file: its provenance under the tree
            view = app.query_one(ProvenanceView)
            await until(pilot, lambda: view.provenance is not None and bool(view.provenance.host))
            await pilot.press("ctrl+o")
            await until(pilot, lambda: app.screen.maximized is not None)
            await until(pilot, lambda: "on the host:" in screen_text(app))
            assert "/diff/happiness.txt" in "".join(screen_text(app).split())  # wrapped
            assert app.focused is app.files_tree
            await pilot.press("ctrl+o")
            await until(pilot, lambda: app.screen.maximized is None)

    asyncio.run(main())
