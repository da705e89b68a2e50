"""The command bar as a teacher types: a queue in order, Ctrl+C, Escape, keys, bar words, history.

Lines are typed with no pause between them (`pilot.press(*line1, "enter", *line2, ...)`):
each must run whole, in its turn, with the right result.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.events import Key
from textual.pilot import Pilot
from textual.widgets import TabbedContent, Tabs

from layerlab.engine import CreateOptions, Engine
from layerlab.tui import history
from layerlab.tui.app import LayerlabApp
from layerlab.tui.bar_status import BarStatus
from layerlab.tui.command_bar import CommandBar
from layerlab.tui.command_queue import CommandQueue
from layerlab.tui.event_log import EventLog
from layerlab.tui.output_log import OutputLog
from layerlab.tui.settle import settled

from .tui_helpers import drive, explained, output, running, until

pytestmark = pytest.mark.system

TICKER = ["sh", "-c", "while true; do echo tick; sleep 0.2; done"]


def typed(*lines: str) -> list[str]:
    """The keys of `lines`, each ended by Enter, with no pause anywhere."""
    keys: list[str] = []
    for line in lines:
        keys += [*line, "enter"]
    return keys


def events(app: LayerlabApp) -> list[str]:
    """The event log's lines without their time stamps."""
    return [line.text.split(" ", 1)[1] for line in app.query_one(EventLog).lines]


async def commands_logged(app: LayerlabApp, pilot: Pilot[None], count: int) -> list[str]:
    """The commands the event log shows (its tab brought up: a hidden log defers its lines)."""
    app.query_one("#log-tabs", TabbedContent).active = "tab-events"

    def logged() -> list[str]:
        return [line for line in events(app) if line.startswith("$ ")]

    await until(pilot, lambda: len(logged()) >= count)
    return logged()


# --- the queue ------------------------------------------------------------------------------
def test_the_queue_takes_lines_in_turn() -> None:
    now = [0.0]
    queue = CommandQueue(clock=lambda: now[0])
    for line in ("a", "b", "c"):
        queue.add(line)
    assert queue.take() == "a" and queue.take() is None  # one at a time
    now[0] = 2.5
    assert queue.status().endswith(
        "a  2.5s  │  next: b · c  │  Ctrl+C stops it · Esc clears the queue"
    )
    assert queue.clear() == 2 and queue.running == "a" and not queue.idle
    queue.finish()
    assert queue.idle and queue.status() == ""


def test_five_commands_typed_with_no_pause_run_in_order(engine: Engine) -> None:
    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        done = app.commands_done
        await pilot.press(
            *typed(
                "create --name x1 busybox sleep 600",
                "start x1",
                "exec x1 touch /a",
                "commit x1 x1img",
                "history x1img",
                "run --rm x1img ls /a",
            )
        )
        await settled(pilot, commands=done + 6, current=True, timeout=120)
        shown = output(app)
        commands = [line for line in shown if line.startswith("$ ")]
        assert commands == [
            "$ create --name x1 busybox sleep 600",
            "$ start x1",
            "$ exec x1 touch /a",
            "$ commit x1 x1img",
            "$ history x1img",
            "$ run --rm x1img ls /a",
        ]
        assert not [line for line in shown if "Error" in line or "No such" in line], shown
        assert "/a" in shown  # the committed image has /a
        history_at = shown.index("$ history x1img")
        assert shown[history_at + 1].startswith("IMAGE")
        assert sum("sleep 600" in line for line in shown[history_at:]) == 1  # commit's layer
        exits = await commands_logged(app, pilot, 6)
        assert all(line.endswith("→ exit 0") for line in exits), exits

    drive(engine, scenario)


def test_a_commands_output_comes_before_the_next_ones_echo(engine: Engine) -> None:
    """Its lines come from its worker as messages; the next line's echo waits its turn behind
    them (it was once written at once: `$ ps -a` above `history`'s table, typed in tmux)."""

    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        done = app.commands_done
        lines = ("create --name demo busybox", "commit demo happy", "history happy", "ps -a",
                 "run --rm busybox seq 1 300", "images -q", "clear", "ps -q")  # fmt: skip
        await pilot.press(*typed(*lines))
        await settled(pilot, commands=done + 7, current=True, timeout=120)
        await until(pilot, lambda: output(app)[:1] == ["$ ps -q"])  # cleared in its turn
        assert output(app) == ["$ ps -q"]
        await pilot.press(*typed(*lines[2:6]))
        await settled(pilot, commands=done + 11, current=True, timeout=120)
        await until(pilot, lambda: any(line.startswith("$ images") for line in output(app)))
        shown = output(app)
        at = shown.index("$ history happy")
        assert shown[at + 1].startswith("IMAGE")
        listed = shown.index("$ ps -a")
        assert listed > at and shown[listed + 1].startswith("CONTAINER ID")
        at = shown.index("$ run --rm busybox seq 1 300")
        assert shown[at + 1 : at + 301] == [str(n) for n in range(1, 301)]
        assert shown[at + 301] == "$ images -q"

    drive(engine, scenario)


def test_the_apps_own_lines_queue_behind_the_commands(engine: Engine) -> None:
    """A line a worker posted (not shown yet) comes before the echo and notes the app writes
    after it: they are posted too, never written over the queue's head."""

    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        log = app.output_log
        log.post_message(OutputLog.Line("the last command's line"))
        log.command("next")
        log.say("Error: its own")
        log.note("a note")
        want = ["the last command's line", "$ next", "Error: its own", "a note"]
        await until(pilot, lambda: output(app)[-4:] == want)

    drive(engine, scenario)


def test_kill_then_rm_are_logged_in_that_order(engine: Engine) -> None:
    engine.run("busybox", CreateOptions(command=["sleep", "600"], name="demo"))

    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        done = app.commands_done
        await pilot.press(*typed("kill demo", "rm demo"))
        await settled(pilot, commands=done + 2, current=True)
        lines = await commands_logged(app, pilot, 2)
        assert lines == ["$ kill demo  → exit 0", "$ rm demo  → exit 0"]
        assert engine.containers(all=True) == []

    drive(engine, scenario)


def test_the_running_command_and_the_queue_show_and_escape_clears_the_queue(
    engine: Engine,
) -> None:
    engine.run("busybox", CreateOptions(command=TICKER, name="ticker"))

    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        done = app.commands_done
        await pilot.press(*typed("wait ticker", "ps", "images"))
        status = app.query_one(BarStatus)
        await running(pilot, lambda: app.queue.waiting == ("ps", "images"))
        assert status.display
        shown = str(status.render())
        assert "wait ticker" in shown and "next: ps · images" in shown
        await pilot.press("escape")
        assert app.queue.waiting == ()
        assert isinstance(app.focused, CommandBar)
        assert app.queue.running == "wait ticker"  # the running one runs on
        await pilot.press("ctrl+c")
        await settled(pilot, commands=done + 1)
        assert app.commands_done == done + 1  # ps and images never ran
        assert "$ ps" not in output(app)
        assert not status.display  # nothing to say: the line is gone
        assert engine.container("ticker").running

    drive(engine, scenario)


def test_ctrl_c_ends_logs_follow(engine: Engine) -> None:
    engine.run("busybox", CreateOptions(command=TICKER, name="ticker"))

    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        done = app.commands_done
        await pilot.press(*typed("logs -f ticker", "ps"))
        await running(pilot, lambda: "tick" in output(app))
        await pilot.press("ctrl+c")
        await settled(pilot, commands=done + 2)
        shown = output(app)
        assert shown.index("$ ps") > shown.index("^C") > shown.index("$ logs -f ticker")
        assert "tick" not in shown[shown.index("$ ps") :]  # no tick streams into later output
        assert engine.container("ticker").running

    drive(engine, scenario)


def test_ctrl_c_sends_sigint_to_an_attached_container(engine: Engine) -> None:
    script = "trap 'exit 3' INT; echo ready; while :; do sleep 0.1; done"
    line = f'run --name att busybox sh -c "{script}"'

    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        done = app.commands_done
        await pilot.press(*typed(line))
        await running(pilot, lambda: "ready" in output(app))
        await pilot.press("ctrl+c")
        await settled(pilot, commands=done + 1)
        await commands_logged(app, pilot, 1)
        assert "→ exit 3" in "".join(events(app))  # the container's code, as docker run's
        assert engine.container("att").state["ExitCode"] == 3

    drive(engine, scenario)


def test_an_it_command_waits_its_turn_and_the_queue_goes_on(engine: Engine) -> None:
    """Headless, `-it` cannot have the terminal: it says so in its turn, and the next runs."""

    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        done = app.commands_done
        await pilot.press(*typed("create --name first busybox true", "run -it busybox", "ps -a"))
        await settled(pilot, commands=done + 2, current=True)
        shown = output(app)
        assert shown.index("$ create --name first busybox true") < shown.index("$ run -it busybox")
        assert any("cannot be handed to a container" in line for line in shown)
        assert shown.index("$ ps -a") > shown.index("$ run -it busybox")

    drive(engine, scenario)


# --- keys -----------------------------------------------------------------------------------
def test_function_keys_reach_every_panel_and_escape_comes_back(engine: Engine) -> None:
    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        for key, panel in [
            ("f3", "layers"),
            ("f4", "files"),
            ("f6", "procs"),
            ("f12", "output"),
            ("shift+f12", "events"),
        ]:
            await pilot.press(key)
            await until(pilot, lambda panel=panel: getattr(app.focused, "id", None) == panel)
            await pilot.press("escape", *"ps")  # typed right after Escape: nothing lost
            assert isinstance(app.focused, CommandBar) and app.focused.value == "ps"
            app.focused.value = ""
        await pilot.press("f2")
        await until(pilot, lambda: app.focused is app.subject_list)

    drive(engine, scenario)


def test_escape_typed_with_the_next_key_as_one_alt_key_loses_nothing(engine: Engine) -> None:
    """A terminal sends Escape and a key right after it as `alt+key`: both take effect."""

    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        await pilot.press("f4", "ctrl+o")
        await until(pilot, lambda: app.screen.maximized is app.files_tree.parent)
        for char in "ps -a":
            app.post_message(Key(f"alt+{char}" if char == "p" else char, char))
        await until(pilot, lambda: app.command_bar.value == "ps -a")
        assert app.focused is app.command_bar and app.screen.maximized is None

    drive(engine, scenario)


def test_f5_goes_to_the_metadata_tabs_and_left_right_switch_them(engine: Engine) -> None:
    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        await pilot.press("f5")
        await until(pilot, lambda: isinstance(app.focused, Tabs))
        tabs = app.query_one("#metadata-tabs Tabs", Tabs)
        first = tabs.active
        await pilot.press("right")
        assert tabs.active != first
        await pilot.press("left")
        assert tabs.active == first

    drive(engine, scenario)


def test_question_mark_opens_help_outside_the_bar(engine: Engine) -> None:
    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        await pilot.press("f4")
        await until(pilot, lambda: app.focused is app.files_tree)
        await pilot.press("question_mark")
        assert app.screen.__class__.__name__ == "HelpScreen"
        await pilot.press("escape")
        assert app.screen.__class__.__name__ != "HelpScreen"
        assert isinstance(app.focused, CommandBar)
        await pilot.press(*"ps?")  # in the bar with text, `?` is a character
        assert app.command_bar.value == "ps?"

    drive(engine, scenario)


def test_tab_completes_lists_alternatives_and_keeps_the_line(engine: Engine) -> None:
    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        bar = app.command_bar
        await pilot.press(*"docker ps", "tab", *" -a")
        assert bar.value == "docker ps -a" and app.focused is bar
        bar.value = ""
        await pilot.press(*"docker st", "tab")
        assert bar.value == "docker start" and app.focused is bar
        hint = app.query_one(BarStatus).hint
        assert "start" in hint and "stop" in hint
        await pilot.press("backspace")  # typing on: the hint goes
        assert app.query_one(BarStatus).hint == ""
        bar.value = ""
        await pilot.press("tab")  # an empty line: Tab moves focus, as elsewhere
        assert app.focused is not bar

    drive(engine, scenario)


def test_maximize_a_panel_and_back(engine: Engine) -> None:
    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        await pilot.press("f4")
        await until(pilot, lambda: app.focused is app.files_tree)
        await pilot.press("ctrl+o")
        assert app.screen.maximized is app.files_tree.parent  # with the provenance under it
        await pilot.press("ctrl+o")
        assert app.screen.maximized is None
        await pilot.press("f5")
        await until(pilot, lambda: isinstance(app.focused, Tabs))
        await pilot.press("ctrl+o")
        assert app.screen.maximized is not None
        await pilot.press("escape")
        assert app.screen.maximized is None

    drive(engine, scenario)


# --- the bar's words ------------------------------------------------------------------------
def test_help_clear_and_a_word_that_is_no_command(engine: Engine) -> None:
    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        await pilot.press(*typed("find / -name happiness.txt"))
        await until(pilot, lambda: app.queue.idle)
        assert "find: not a docker command here; F1 lists them" in output(app)
        assert "find is not one of Docker's commands" in explained(app)
        await pilot.press(*typed("clear"))
        await until(pilot, lambda: app.queue.idle and output(app) == [])
        await pilot.press(*typed("docker help"))
        await until(pilot, lambda: app.screen.__class__.__name__ == "HelpScreen")
        await pilot.press("escape")
        await pilot.press(*typed("exit"))
        await until(pilot, lambda: not app.is_running)

    drive(engine, scenario)


def test_run_ubuntu_offers_the_busybox_line_ready_to_edit(engine: Engine) -> None:
    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        done = app.commands_done
        await pilot.press(*typed("docker run ubuntu echo hi"))
        await settled(pilot, commands=done + 1)
        assert app.command_bar.value == "docker run busybox echo hi"
        assert "ready to edit" in app.query_one(BarStatus).hint
        assert "no registry" in explained(app)
        await pilot.press(*"ps")  # typed on: the offered line is replaced, never mixed in
        assert app.command_bar.value == "ps"
        assert app.query_one(BarStatus).hint == ""

    drive(engine, scenario)


def test_a_tag_typo_offers_the_nearest_local_name_never_busybox(engine: Engine) -> None:
    engine.tag(engine.image("busybox").id, "hello:latest")

    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        done = app.commands_done
        await pilot.press(*typed("run --name greet hello:v1 echo hi"))
        await settled(pilot, commands=done + 1)
        assert app.command_bar.value == "run --name greet hello echo hi"
        assert "Enter runs it on hello" in app.query_one(BarStatus).hint
        assert "the nearest name is hello" in explained(app)
        await pilot.press("ctrl+u")  # nothing close to this tag of hello: no guess at all
        await pilot.press(*typed("run --name greet hello:a-tag-far-from-any echo hi"))
        await settled(pilot, commands=done + 2)
        assert app.command_bar.value == ""
        assert "Try:" not in explained(app) and app.query_one(BarStatus).hint == ""

    drive(engine, scenario)


# --- history --------------------------------------------------------------------------------
def test_history_is_kept_between_sessions_in_the_xdg_state_dir(
    engine: Engine, state_home: Path
) -> None:
    async def first(app: LayerlabApp, pilot: Pilot[None]) -> None:
        done = app.commands_done
        await pilot.press(*typed("ps", "images"))
        await settled(pilot, commands=done + 2)

    async def second(app: LayerlabApp, pilot: Pilot[None]) -> None:
        await pilot.press(*"ima")
        await pilot.press("up")
        assert app.command_bar.value == "images"
        await pilot.press("up")
        assert app.command_bar.value == "ps"
        await pilot.press("down", "down")
        assert app.command_bar.value == "ima"  # the line being typed is kept

    drive(engine, first)
    path = state_home / "layerlab" / "history"
    assert path.read_text() == "ps\nimages\n"
    drive(engine, second)


def test_history_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "history"
    path.write_text("".join(f"ps {i}\n" for i in range(2 * history.LIMIT + 5)))
    lines = history.load(path)
    assert len(lines) == history.LIMIT and lines[-1] == f"ps {2 * history.LIMIT + 4}"
    assert len(path.read_text().splitlines()) == history.LIMIT
