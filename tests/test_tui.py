"""The TUI on real containers: type the article's commands and check what the panels show."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from textual import events
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import TabbedContent, Tabs
from textual.worker import NoActiveWorker, get_current_worker

import layerlab
from layerlab.engine import CreateOptions, Engine
from layerlab.errors import LayerlabError
from layerlab.runtime.procs import Proc
from layerlab.storage.snapshot import Subject
from layerlab.tui.app import LayerlabApp
from layerlab.tui.change_tree import ChangeTree
from layerlab.tui.command_bar import CommandBar
from layerlab.tui.event_log import EventLog
from layerlab.tui.explainer import Explainer
from layerlab.tui.layer_stack import LayerStack
from layerlab.tui.metadata import MetadataPanel
from layerlab.tui.output_log import OutputLog
from layerlab.tui.process_tree import ProcessPanel
from layerlab.tui.provenance_view import ProvenanceView
from layerlab.tui.settle import settled, shows_the_store
from layerlab.tui.subject_bar import SubjectBar
from layerlab.tui.subject_list import SubjectList

from .conftest import CLI
from .tui_helpers import changes, drive, enter, explained, output, running, until

pytestmark = pytest.mark.system


def processes(app: LayerlabApp) -> list[Proc]:
    def flat(procs: list[Proc]) -> Iterator[Proc]:
        for p in procs:
            yield p
            yield from flat(p.children)

    return list(flat(app.query_one(ProcessPanel).procs or []))


def test_starts_in_the_command_bar_with_a_welcome(engine: Engine) -> None:
    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        assert isinstance(app.focused, CommandBar)
        assert "docker create busybox" in str(app.query_one(Explainer).render())
        assert "no subject yet" in str(app.query_one(SubjectBar).render())
        await pilot.press("question_mark")
        assert app.screen.__class__.__name__ == "HelpScreen"
        await pilot.press("escape")
        assert isinstance(app.focused, CommandBar)

    drive(engine, scenario, size=(80, 24))


def test_the_article_in_the_command_bar(engine: Engine) -> None:
    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        await enter(pilot, "create --name t1 busybox sleep 60")
        stack = app.query_one(LayerStack).stack
        assert [row.writable for row in stack] == [True, False]
        assert str(stack[0].path).endswith("/diff")
        assert "writable layer" in explained(app)
        assert "container t1 created" in str(app.query_one(SubjectBar).render())
        assert changes(app) == []

        await enter(pilot, "docker start t1")
        await until(pilot, lambda: any(p.command == "sleep 60" for p in processes(app)))
        init = next(p for p in processes(app) if p.command == "sleep 60")
        assert init.ns_pid == 1 and init.host_pid != 1
        assert ("State", "Status") in app.query_one(MetadataPanel).view("container").changed
        assert app.query_one(MetadataPanel).view("oci").data["process"]["args"] == ["sleep", "60"]

        await enter(pilot, "exec t1 touch /happiness.txt")
        await until(pilot, lambda: "A /happiness.txt" in changes(app))
        assert "A /happiness.txt" in explained(app)

        await enter(pilot, "pause t1")
        await until(pilot, lambda: {p.state for p in processes(app)} == {"frozen"})

        app.query_one("#log-tabs", TabbedContent).active = "tab-events"  # as a click on its tab

        def events() -> list[str]:  # a log renders its lines once shown
            return [line.text for line in app.query_one(EventLog).lines]

        await until(pilot, lambda: any("t1: running → paused" in line for line in events()))
        assert any("t1: A /happiness.txt" in line for line in events())
        await enter(pilot, "stop -t 1 t1")
        await until(pilot, lambda: app.query_one(ProcessPanel).procs is None)
        assert "stopped container is still a container" in explained(app)
        assert "A /happiness.txt" in changes(app)  # the writable layer outlives the processes

        await enter(pilot, "commit t1")
        view = app.view
        assert view is not None and view.subject.kind == "image"
        assert len(view.layers) == 2  # busybox's one, plus the writable layer made read-only
        assert not any(row.writable for row in app.query_one(LayerStack).stack)
        assert "one more" in explained(app)

    drive(engine, scenario)


@pytest.mark.filterwarnings("ignore:Callback with id:RuntimeWarning")  # see test_watch.py
def test_a_write_from_another_process_shows_up_live(engine: Engine, cli: CLI) -> None:
    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        await enter(pilot, "run -d --name live busybox sleep 60")
        await until(pilot, lambda: bool(processes(app)))
        script = "mkdir -p /d/e && touch /d/e/f /live.txt"
        writer = await asyncio.to_thread(cli, "exec", "live", "sh", "-c", script)
        assert writer.code == 0, writer.err
        await until(pilot, lambda: "A /live.txt" in changes(app))  # nothing typed in the TUI
        assert {"A /d", "A /d/e", "A /d/e/f"} <= set(changes(app))
        deleted = await asyncio.to_thread(cli, "exec", "live", "rm", "/bin/ls")
        assert deleted.code == 0, deleted.err
        await until(pilot, lambda: "D /bin/ls" in changes(app))
        assert "C /bin" in changes(app)

    drive(engine, scenario)


def test_a_container_made_from_a_second_terminal_appears(engine: Engine, cli: CLI) -> None:
    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        await enter(pilot, "create --name first busybox true")
        made = await asyncio.to_thread(cli, "create", "--name", "second", "busybox", "true")
        assert made.code == 0, made.err
        listed = app.query_one(SubjectList)

        def ids() -> list[str | None]:
            return [listed.get_option_at_index(i).id for i in range(listed.option_count)]

        await until(pilot, lambda: made.out.strip() in ids(), timeout=3)

    drive(engine, scenario)


def test_selecting_a_file_shows_its_provenance(engine: Engine) -> None:
    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        await enter(pilot, "run --name prov busybox sh -c 'echo x >> /etc/passwd'")
        tree = app.query_one(ChangeTree)
        await until(pilot, lambda: "C /etc/passwd" in changes(app))
        tree.focus()
        node = next(n for n in tree.root.children[0].children if str(n.data) == "C /etc/passwd")
        tree.move_cursor(node)
        provenance = app.query_one(ProvenanceView)
        await until(pilot, lambda: "/etc/passwd" in str(provenance.render()))
        text = str(provenance.render())
        assert "the writable layer (file)" in text and "shadows layer" in text
        assert "\n+x" in text  # the content diff against the copy below
        rw = app.query_one(LayerStack).stack[0]
        assert rw.hidden > 0  # the lower /etc/passwd is still stored: wasted space

        await pilot.press("u")  # the union view: everything the container sees, from here down
        await until(pilot, lambda: "  /bin/sh" in changes(app))
        assert "C /etc/passwd" in changes(app)
        await pilot.press("u")
        await until(pilot, lambda: "  /bin/sh" not in changes(app))

    drive(engine, scenario)


def test_errors_and_output_go_to_the_output_log(engine: Engine) -> None:
    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        await enter(pilot, "start nosuch")
        assert "failed" in explained(app)
        await enter(pilot, "ps -a")
        lines = [line.text for line in app.query_one(OutputLog).lines]
        assert "Error: No such container: nosuch" in lines
        assert any(line.startswith("CONTAINER ID") for line in lines)

    drive(engine, scenario)


def test_a_command_is_followed_by_its_report_not_by_reading_the_store(engine: Engine) -> None:
    """The subject and the explanation come from the command's Report and targeted reads.

    No full store read and no writable-layer diff runs inside a command's worker
    (but the diff around `exec`); the listing comes from the watcher alone, so a
    command that changes nothing (`ps`) leaves the app as it was, and consistent.
    """
    in_commands: list[str] = []

    def counted(app_engine: Engine, name: str) -> None:
        real = getattr(app_engine, name)

        def spy(*args: Any, **kwargs: Any) -> Any:
            with contextlib.suppress(NoActiveWorker):
                if get_current_worker().group == "command":
                    in_commands.append(name)
            return real(*args, **kwargs)

        setattr(app_engine, name, spy)

    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        counted(app.engine, "snapshot")  # the app's own engine, on the same store
        counted(app.engine, "diff")
        await enter(pilot, "create --name rep busybox true")
        made = app.subject
        assert made is not None and made.kind == "container"
        assert made.id == engine.container("rep").id
        await enter(pilot, "ps -a")
        assert app.subject == made and "ps read" in explained(app)
        assert shows_the_store(app)
        await enter(pilot, "commit rep snap:v1")
        image = engine.image("snap:v1")
        assert app.subject == Subject("image", image.id)
        assert "image snap:v1 has 2 layers, one more" in explained(app)
        await enter(pilot, "rm rep")  # the container goes: its image is what remains
        assert app.subject == Subject("image", engine.image("busybox").id)
        assert "rm deleted rep's writable layer" in explained(app)
        await enter(pilot, "tag snap:v1 snap:v2")
        await enter(pilot, "rmi snap:v1")
        assert "removed the name snap:v1" in explained(app)
        await enter(pilot, "rmi snap:v2")
        assert "rmi deleted 1 image" in explained(app)
        assert "(untagged snap:v2)" in explained(app)
        assert in_commands == []
        await enter(pilot, "run --name ran busybox touch /made.txt")
        assert "A /made.txt" in explained(app)
        assert in_commands == ["diff"]  # after a process ran in a new container, nothing before
        assert shows_the_store(app)

    drive(engine, scenario)


def test_history_and_completion(engine: Engine) -> None:
    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        bar = app.query_one(CommandBar)
        await enter(pilot, "create --name histo busybox true")
        await pilot.press("up")
        assert bar.value == "create --name histo busybox true"
        await pilot.press("down")
        assert bar.value == ""
        await pilot.press(*"docker sta", "tab")
        assert bar.value == "docker start"
        await pilot.press(*" hi", "tab")
        assert bar.value == "docker start histo"

    drive(engine, scenario)


def test_typing_at_a_panel_goes_to_the_command_bar(engine: Engine) -> None:
    """A click (a browser's) leaves the focus on a panel: the keys typed next go to the bar;
    a panel's own keys (`u` on the files panel: the union view) stay its own."""

    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        await settled(pilot)
        await pilot.click("#layers")
        await until(pilot, lambda: app.focused is app.layer_stack)
        await pilot.press(*"ps -a")
        assert app.focused is app.command_bar
        assert app.command_bar.value == "ps -a"
        await pilot.press("f4")
        await until(pilot, lambda: app.focused is app.files_tree)
        await pilot.press("u")
        await until(pilot, lambda: app.files_tree.union)
        assert app.focused is app.files_tree and app.command_bar.value == "ps -a"

    drive(engine, scenario)


def test_a_layer_of_an_image_shows_its_files(engine: Engine, root: Path) -> None:
    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        await enter(pilot, "tag busybox mine:v1")
        view = app.view
        assert view is not None and view.subject.kind == "image"
        await until(pilot, lambda: "A /bin/sh" in changes(app))
        layer = app.query_one(MetadataPanel).view("layer").data
        assert layer["parent"] is None  # the bottom layer points to no parent
        assert view.layers[0].files == len(changes(app))

    drive(engine, scenario)


def test_the_layer_tables_columns_fit_its_rows_as_they_are_shown(engine: Engine) -> None:
    """However late the table's idle comes (a loaded machine), no frame draws its header at
    the labels' widths over wider rows: the widths come with the rows, not after them."""

    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        await enter(pilot, "tag busybox mine:v1")
        rows = app.query_one(LayerStack).stack
        fresh = LayerStack()
        await app.screen.mount(fresh)
        fresh.show(rows)  # no await: nothing else ran in between, the table's idle neither
        shown = [column.get_render_width(fresh) for column in fresh.ordered_columns]
        await pilot.pause()
        assert not fresh._require_update_dimensions  # the table worked its widths out too
        assert [column.get_render_width(fresh) for column in fresh.ordered_columns] == shown
        assert shown[1] > len(" layer ")  # the short ids, wider than the label

    drive(engine, scenario)


def test_a_bare_layerlab_off_a_terminal_prints_help_and_the_cli_never_loads_textual(
    root: Path,
) -> None:
    env = {"LAYERLAB_ROOT": str(root), "PATH": "/usr/bin:/bin",
           "LAYERLAB_SERVER_DIR": os.environ["LAYERLAB_SERVER_DIR"]}  # fmt: skip
    bare = subprocess.run(
        [sys.executable, "-m", "layerlab"], capture_output=True, text=True, env=env, timeout=30
    )
    assert bare.returncode == 0 and "Usage:  layerlab" in bare.stdout
    assert "tui" in bare.stdout
    # The CLI's own path, as `layerlab ps -a` runs it: grammar, handlers, engine, table.
    probe = (
        "import sys; from layerlab.main import main; code = main(['ps', '-a']); "
        "sys.exit(code or ('textual' in sys.modules and 3))"
    )
    ps = subprocess.run(
        [sys.executable, "-c", probe], env=env, timeout=30, capture_output=True, text=True
    )
    assert ps.returncode == 0, ps.stderr  # 3: Textual was loaded
    assert ps.stdout.startswith("CONTAINER ID")


# What the first frame must not wait for: the engine and the store's machinery load after it.
AFTER_THE_FIRST_FRAME = (
    "layerlab.engine",
    "layerlab.storage.store",
    "layerlab.storage.containers",
    "layerlab.storage.images",
)
FIRST_FRAME_PROBE = """
import asyncio, sys
from pathlib import Path
from layerlab.tui.app import LayerlabApp
from layerlab.tui.settle import settled

after_first_frame = LayerlabApp._after_first_frame

def probe(app):  # what is loaded when the first frame is on the screen
    app.loaded_at_first_frame = [m for m in {mods!r} if m in sys.modules]
    after_first_frame(app)

LayerlabApp._after_first_frame = probe

async def main():
    app = LayerlabApp(Path({root!r}))
    async with app.run_test() as pilot:
        await settled(pilot)
        print(app.loaded_at_first_frame, app.snapshot is not None and app.snapshot.images != ())

asyncio.run(main())
"""


def test_the_first_frame_is_painted_before_the_engine_loads(engine: Engine, root: Path) -> None:
    """`layerlab tui` paints before it imports the engine: the store is read (and the engine
    made) by a worker after the first frame, and settled() waits for that read."""
    engine.image("busybox")
    probe = FIRST_FRAME_PROBE.format(mods=AFTER_THE_FIRST_FRAME, root=str(root))
    code = str(Path(layerlab.__file__).parents[1])  # this checkout's code, not an installed one
    env = {"LAYERLAB_ROOT": str(root), "PATH": "/usr/bin:/bin", "XDG_STATE_HOME": str(root),
           "PYTHONPATH": code}  # fmt: skip
    ran = subprocess.run(
        [sys.executable, "-c", probe], env=env, timeout=120, capture_output=True, text=True
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["[]", "True"]  # none loaded then; the store read since


def early_panels(app: LayerlabApp) -> list[Widget]:
    """What mounts right after the first frame: metadata tabs, process tree, logs' tabs."""
    return [app.metadata_panel.tabs, app.process_panel.proc_tree, app.logs.tabs]


class TypedEarly(LayerlabApp):
    """Keys typed before the first frame: before the panels that mount after it are there."""

    CSS_PATH = Path(layerlab.__file__).parent / "tui" / "app.tcss"  # not beside this file

    def on_mount(self) -> None:  # LayerlabApp's own on_mount runs next, as Textual calls both
        self.first_frame = [w.id for w in self.screen.walk_children() if w.id]
        self.early_mounted = [w.is_mounted for w in early_panels(self)]
        for key in (*"images", "f5"):
            self.post_message(events.Key(key, key if len(key) == 1 else None))


def test_the_first_frame_is_the_layout_and_keys_typed_before_its_panels_fill_in_are_kept(
    engine: Engine,
) -> None:
    """The first frame has every panel's frame and the command bar; the metadata tabs, the
    process tree and the logs' tabs mount right after it. What was typed meanwhile is in
    the bar, and F5 pressed then reaches the tabs once they are there."""
    engine.image("busybox")

    async def main() -> None:
        app = TypedEarly(engine.store.root)
        async with app.run_test(size=(100, 32)) as pilot:
            panels = ["subject", "subjects", "layers", "files", "provenance", "diagram"]
            panels += ["metadata", "procs", "explainer", "logs", "bar-status", "command"]
            assert set(panels) <= set(app.first_frame)
            assert app.early_mounted == [False, False, False]
            await until(pilot, lambda: all(w.is_mounted for w in early_panels(app)))
            assert app.query_one(CommandBar).value == "images"
            assert app.focused is app.metadata_panel.tabs.query_one(Tabs)
            await pilot.press("escape", "enter")
            await settled(pilot, commands=1, current=True)
            assert any(line.startswith("busybox ") for line in output(app))  # the output tab
            assert app.snapshot is not None and app.snapshot.images  # the store was read

    asyncio.run(main())


def test_the_collector_held_off_for_the_first_frame_resumes_after_it(engine: Engine) -> None:
    """`run_tui` holds the garbage collector off until the first frame; the app resumes it."""

    async def main() -> None:
        app = LayerlabApp(engine.store.root)
        gc.disable()
        try:
            async with app.run_test() as pilot:
                await settled(pilot)
                assert gc.isenabled()
        finally:
            gc.enable()

    asyncio.run(main())


def test_the_app_stays_up_while_another_terminal_changes_the_store(
    engine: Engine, root: Path
) -> None:
    """Images and containers come and go under the app (a second engine on the same store)."""
    other = Engine(root)  # "another terminal"
    rounds = 8

    def terminal() -> None:
        for i in range(rounds):
            made = other.create("busybox", CreateOptions(command=["true"], name=f"other{i}"))
            other.commit(made.id, f"snap:{i}")
            other.rm(made.id)
            other.rmi(f"snap:{i}")

    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        await enter(pilot, "create --name mine busybox true")
        assert app.view is not None and app.view.name == "mine"
        work = asyncio.create_task(asyncio.to_thread(terminal))
        while not work.done():  # the app refreshes meanwhile: store reads, subject reads
            app.load_store()
            if app.subject is not None:
                app.load_subject(app.subject)
            await pilot.pause(0.01)
        await work
        await asyncio.to_thread(other.rm, "mine")  # the subject itself goes
        busybox = Subject("image", engine.image("busybox").id)
        await until(pilot, lambda: app.subject == busybox, timeout=10)  # the one left
        assert app.is_running
        snapshot = app.snapshot
        assert snapshot is not None and not snapshot.containers
        assert [ref for ref, _ in snapshot.images] == ["busybox:latest"]
        await until(pilot, lambda: "image busybox" in str(app.query_one(SubjectBar).render()))

    drive(engine, scenario)


@pytest.mark.filterwarnings("ignore:Callback with id:RuntimeWarning")  # see test_watch.py
@pytest.mark.timeout(300)  # the watcher's catch-up on the churn's backlog is slow under load
def test_a_writable_layer_that_churns_while_the_subject_loads(engine: Engine) -> None:
    """Files and directories appear and vanish in the upperdir while the panels read it."""

    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        await enter(pilot, "create --name churn busybox true")
        upper = Path(engine.container("churn").upper_dir)
        stop = threading.Event()
        rounds = [0]  # the trees the container has made and deleted so far

        def container() -> None:  # as a process inside would: make trees, then delete them
            while not stop.is_set():
                n = rounds[0]
                d = upper / f"tmp{n % 4}"
                try:
                    for j in range(30):
                        (d / f"sub{j}").mkdir(parents=True)
                        (d / f"sub{j}" / "f").write_text("x" * j)
                    shutil.rmtree(d)
                except OSError:
                    pass
                rounds[0] += 1

        writer = threading.Thread(target=container, daemon=True)
        writer.start()
        try:
            deadline = time.monotonic() + 60  # a hang guard, not a measure
            reads = 0
            while reads < 20 or rounds[0] < 20:  # reads all along the container's churn
                assert time.monotonic() < deadline, f"{reads} reads, {rounds[0]} rounds"
                assert app.subject is not None
                app.load_subject(app.subject)  # the layer stack's sizes, its files, hidden bytes
                reads += 1
                await pilot.pause(0.05)  # the app's turn to read: a pace, not a wait for state
        finally:
            stop.set()
            await asyncio.to_thread(writer.join)
        (upper / "kept.txt").write_text("still here")
        # The watcher catches up on the churn's backlog of events: slow on a loaded machine.
        await until(pilot, lambda: "A /kept.txt" in changes(app), timeout=120)
        await until(pilot, lambda: not any(c.startswith("A /tmp") for c in changes(app)), 120)
        assert app.is_running and app.view is not None and app.view.name == "churn"
        assert sorted(changes(app)) == sorted(str(c) for c in engine.diff("churn"))

    drive(engine, scenario)


def test_a_failed_read_is_a_notification_and_the_app_stays_up(engine: Engine, root: Path) -> None:
    """A read that really fails (here a disk error, EIO, on the engine's snapshot) goes
    through the TUI's one policy: a notification and an event line, then it reads again.

    What vanishes mid-read, or a corrupt file, the engine already skips with a
    warning (`engine.snapshot`), so the failure is injected at the engine's edge.
    """
    engine.image("busybox")  # made on first use: the store has an image to list
    failures = []

    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        await settled(pilot)
        real = app.engine.snapshot  # the app's own engine, on the same store

        def failing_once() -> Any:
            if not failures:
                failures.append(1)
                raise OSError(errno.EIO, "Input/output error", str(root))
            return real()

        app.engine.snapshot = failing_once  # type: ignore[method-assign]
        try:
            app.load_store()
            await until(pilot, lambda: any("store failed" in n.message for n in app._notifications))
        finally:
            app.engine.snapshot = real  # type: ignore[method-assign]
        app.query_one("#log-tabs", TabbedContent).active = "tab-events"  # a log renders once shown
        failed = "reading the store failed: OSError"
        await until(
            pilot, lambda: any(failed in line.text for line in app.query_one(EventLog).lines)
        )
        assert app.is_running
        await enter(pilot, "ps -a")  # and it carries on
        assert app.snapshot is not None and app.snapshot.images

    drive(engine, scenario)


def test_the_theme_restyles_the_panels(engine: Engine) -> None:
    """Colours come from the widgets' component classes, so the light theme changes them."""

    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        await enter(pilot, "create --name themed busybox true")
        tree, stack = app.query_one(ChangeTree), app.query_one(LayerStack)
        await pilot.press("escape")

        def looks() -> tuple[Any, Any]:
            added = tree.get_component_rich_style("change-tree--added", partial=True)
            rw = stack.get_row_at(0)[0]
            return added.color, rw.style.color

        dark = looks()
        app.action_toggle_dark()
        await until(pilot, lambda: looks() != dark)
        assert all(colour is not None for colour in looks())

    drive(engine, scenario)


TICKER = ["sh", "-c", "while true; do echo tick; sleep 0.2; done"]


def command_running(app: LayerlabApp) -> bool:
    return any(w.group == "command" and w.is_running for w in app.workers)


async def quit_while(engine: Engine, line: str, started: Callable[[LayerlabApp], bool]) -> None:
    """Type `line`, wait until `started(app)` while it runs, press ctrl+q; return once all ended.

    A command that ignores the quit keeps its worker thread alive, and the event
    loop's executor (so `asyncio.run`) waits for it: that is the hang.
    """
    app = LayerlabApp(engine.store.root)
    async with app.run_test(size=(100, 32)) as pilot:
        await settled(pilot)
        await pilot.press(*line, "enter")
        await running(pilot, lambda: started(app) and command_running(app), timeout=20)
        await pilot.press("ctrl+q")
    assert not app.is_running


@pytest.mark.parametrize(
    ("line", "started"),
    [
        ("logs -f ticker", lambda app: "tick" in output(app)),
        ("wait ticker", lambda app: True),
        ("start -a ticker2", lambda app: "tick" in output(app)),
    ],
    ids=["logs-f", "wait", "start-a"],
)
def test_quitting_while_a_command_waits_exits_at_once(
    engine: Engine, line: str, started: Callable[[LayerlabApp], bool]
) -> None:
    """Quitting ends `logs -f`, `wait` and an attached start; their containers keep running."""
    engine.run("busybox", CreateOptions(command=TICKER, name="ticker"))
    engine.create("busybox", CreateOptions(command=TICKER, name="ticker2"))
    failed: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(quit_while(engine, line, started))
        except BaseException as exc:  # reported below, on the test's thread
            failed.append(exc)

    app_thread = threading.Thread(target=run, daemon=True)
    app_thread.start()
    app_thread.join(20)  # generous: a quit takes well under a second
    hung = app_thread.is_alive()
    if hung:  # end the command so the thread (and this test) can finish, then fail
        for name in ("ticker", "ticker2"):
            with contextlib.suppress(LayerlabError):
                engine.kill(name)
        app_thread.join(30)
    assert not hung, f"quitting the TUI hung while {line!r} ran"
    if failed:
        raise failed[0]
    assert engine.container("ticker").running  # the container keeps running, as Docker's does


def test_cancelling_a_waiting_command_ends_it_calmly(engine: Engine) -> None:
    """A cancelled command worker sets its command's cancel event: `wait` ends, no error shown."""
    engine.run("busybox", CreateOptions(command=TICKER, name="ticker"))

    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        done = app.commands_done
        await pilot.press(*"wait ticker", "enter")
        await running(pilot, lambda: command_running(app) and in_engine("wait"))
        app.workers.cancel_group(app, "command")
        await settled(pilot, commands=done + 1, timeout=10)
        assert "wait stopped waiting; the container keeps running" in explained(app)
        assert not any(line.startswith("Error") for line in output(app))
        assert engine.container("ticker").running

    drive(engine, scenario)


def in_engine(method: str) -> bool:
    """Some thread is inside the engine's `method` now (its stack, read on each call)."""
    engine_code = f"{os.sep}layerlab{os.sep}engine{os.sep}"
    for frame in sys._current_frames().values():
        here: FrameType | None = frame
        while here is not None:
            if here.f_code.co_name == method and engine_code in here.f_code.co_filename:
                return True
            here = here.f_back
    return False


def subjects(app: LayerlabApp) -> list[str]:
    return [str(option.prompt) for option in app.query_one(SubjectList).options]


def test_an_empty_store_says_so_and_lists_busybox_once_it_is_made(engine: Engine, cli: CLI) -> None:
    """`images` in an empty store points at nothing; busybox, made meanwhile by another
    process (a lesson's setup) while the watch was starting, is listed all the same."""

    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        await enter(pilot, "images")
        assert explained(app).startswith("images listed nothing: this store has no image yet")
        assert "subjects list" in explained(app) and "pick one" not in explained(app)
        app._watching = False  # no watch, as before a new store's watch has started
        await asyncio.to_thread(app._reconcile_store_watch)
        made = await asyncio.to_thread(cli, "history", "-q", "busybox")  # busybox, made
        assert made.code == 0, made.err
        app._watching = True
        app.start_store_watch()
        await until(pilot, lambda: "▤ busybox:latest" in subjects(app))
        await until(pilot, lambda: "image busybox:latest" in str(app.subject_bar.render()))
        await enter(pilot, "images")
        assert "pick one in the subjects list" in explained(app)

    drive(engine, scenario)
