"""Hostile text in every panel: brackets and escape sequences are shown as typed, never obeyed.

Names, labels, env values, file names, command lines and outputs come from
outside; none may be read as markup (a `[/]` used to end the app) and no escape
sequence may reach the terminal.
"""

from __future__ import annotations

import pytest
from rich.style import Style
from textual.notifications import Notification
from textual.pilot import Pilot

from layerlab.engine import Engine
from layerlab.tui.app import LayerlabApp
from layerlab.tui.change_tree import ChangeTree
from layerlab.tui.layer_stack import LayerStack

from .conftest import CLI
from .tui_helpers import drive, enter, screen_text, until

pytestmark = pytest.mark.system

ESC = "\x1b[31m"
HOSTILE = ("[", "[/]", "[bold", "[link=x]", ESC)


def files(app: LayerlabApp) -> list[str]:
    tree = app.query_one(ChangeTree)
    return [tree.render_label(line.node, Style(), Style()).plain for line in tree._tree_lines]


def told(app: LayerlabApp) -> list[Notification]:
    return list(app._notifications)


def shows_literally(app: LayerlabApp, *wanted: str) -> bool:
    text = screen_text(app)
    assert "\x1b" not in text  # an escape sequence drawn, not sent to the terminal
    return all(want in text for want in wanted)


def test_hostile_text_is_shown_as_it_is_in_every_panel(engine: Engine, cli: CLI) -> None:
    script = " ".join(f"'/{name}'" for name in HOSTILE if "/" not in name)
    pid1 = f"touch {script} && while :; do sleep 1; done; : '[/] [bold {ESC}'"
    made = cli(
        "run", "-d", "--name", "hx", "-l", "l=[/] [bold [link=x]", "-e", f"E=[/] {ESC}",
        "busybox", "sh", "-c", pid1,
    )  # fmt: skip
    assert made.code == 0, made.err
    committed = cli("commit", "-c", "LABEL z=[/]", "hx", "hostile:v1")
    assert committed.code == 0, committed.err

    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        await enter(pilot, "exec hx ls /")  # the output: the file names, an ESC among them
        await until(pilot, lambda: shows_literally(app, "[link=x]", "␛[31m"))
        # the files panel, the processes, the picture (pid 1's command line)
        names = {"A /[", "A /[bold", "A /[link=x]", "A /␛[31m"}  # no `/` in a file's name
        await until(pilot, lambda: names <= set(files(app)))
        await until(pilot, lambda: shows_literally(app, "A /[link=x]", "A /␛[31m", "A /["))
        await pilot.press("f6")
        await until(pilot, lambda: shows_literally(app, "sh -c touch '/['"))
        await pilot.press("escape")
        await enter(pilot, 'inspect -f "{{json .Config.Labels}}" hx')  # a label
        await until(pilot, lambda: shows_literally(app, '{"l":"[/] [bold [link=x]"}'))
        await enter(pilot, "exec hx env")  # an env value
        await until(pilot, lambda: shows_literally(app, "E=[/] ␛[31m"))
        await enter(pilot, "inspect hx")  # JSON, beginning with `[`
        await enter(pilot, "inspect [/]")  # an error quoting what was typed
        await until(pilot, lambda: shows_literally(app, "No such object: [/]"))
        await enter(pilot, 'exec hx sh -c "echo [/] [bold"')  # the explainer quotes the command
        await until(pilot, lambda: shows_literally(app, "echo [/] [bold"))
        await pilot.press("f4", "down", "down")  # a file: its provenance and host path
        await until(pilot, lambda: shows_literally(app, "on the host:"))
        app.action_copy_host_path()  # the notification names the host path, as it is
        await until(pilot, lambda: any(n.title == "copied the host path" for n in told(app)))
        assert all(n.message.endswith("/diff/[") and not n.markup for n in told(app))
        await pilot.press("escape")
        await enter(pilot, "history hostile:v1")  # created_by: the hostile command line
        await enter(pilot, "images")
        app.subject = engine.resolve("hostile:v1")
        await until(pilot, lambda: len(app.query_one(LayerStack).stack) == 2)
        await until(pilot, lambda: shows_literally(app, "image hostile:v1", "sh -c touch '/['"))
        assert app.is_running

    drive(engine, scenario, size=(160, 45))
