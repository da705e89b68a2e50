"""`tui --docker`: the TUI on a real Docker daemon (the tests' own, started in its own folder),
its images' layers, a container's writable layer written live, its events followed and the bar
running the real docker CLI on it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot

from layerlab.engine.daemon import DaemonSource
from layerlab.storage.snapshot import Subject
from layerlab.tui.app import LayerlabApp
from layerlab.tui.command_runner import READ_ONLY
from layerlab.tui.lesson_desk import LESSONS_OFF
from layerlab.tui.process_tree import ProcessPanel
from layerlab.tui.settle import settled

from .conftest import CLI
from .docker_side import Daemon, start_daemon, stop_daemon
from .tui_helpers import changes, enter, key_event, output, running, screen_text, until

pytestmark = pytest.mark.system


@pytest.fixture
def source(real_docker: Daemon) -> Iterator[DaemonSource]:
    daemon = DaemonSource(real_docker.host)
    yield daemon
    daemon.close()


@pytest.fixture
def short_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for a daemon of the test's own: its containerd's socket path must stay short."""
    return tmp_path_factory.mktemp("dd")


def drive_docker(source: DaemonSource, root: Path, scenario: object) -> None:
    async def main() -> None:
        app = LayerlabApp(root, daemon=source)
        async with app.run_test(size=(120, 36)) as pilot:
            await settled(pilot)
            await scenario(app, pilot)  # type: ignore[operator]

    asyncio.run(main())


def listed(app: LayerlabApp, cid: str) -> bool:
    return app.snapshot is not None and app.snapshot.container(cid) is not None


def shows(app: LayerlabApp, subject: Subject) -> bool:
    return app.view is not None and app.view.subject == subject


def commands_of(app: LayerlabApp) -> list[str]:
    """The process panel's commands, depth first."""
    found: list[str] = []
    stack = list(app.query_one(ProcessPanel).procs or [])
    while stack:
        proc = stack.pop()
        found.append(proc.command)
        stack += proc.children
    return found


def test_a_real_daemons_image_and_a_container_writing_live(
    source: DaemonSource, real_docker: Daemon, root: Path
) -> None:
    image_id = real_docker("image", "inspect", "-f", "{{.Id}}", "busybox").out.strip()
    started: list[str] = []

    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        assert "Docker daemon at " + real_docker.host in screen_text(app)
        assert LESSONS_OFF in str(app.explainer.render())
        await pilot.press("f7")
        await until(pilot, lambda: any(n.message == LESSONS_OFF for n in app._notifications))
        app.subject = Subject("image", image_id)
        await until(pilot, lambda: shows(app, Subject("image", image_id)))
        view = app.view
        assert view is not None and len(view.layers) == 1
        assert view.layers[0].path.is_relative_to(real_docker.data_root)  # the daemon's folder
        await until(pilot, lambda: "A /bin/busybox" in changes(app))

        run = ("run", "-d", "--network", "none", "busybox", "sh", "-c", "sleep 1000")
        made = await asyncio.to_thread(real_docker, *run)
        assert made.code == 0, made.err
        cid = made.out.strip()
        started.append(cid)
        await until(pilot, lambda: listed(app, cid))  # nothing typed: the events said so
        app.subject = Subject("container", cid)
        await until(pilot, lambda: shows(app, Subject("container", cid)))
        await until(pilot, lambda: "sleep 1000" in " ".join(commands_of(app)))
        touched = await asyncio.to_thread(real_docker, "exec", cid, "touch", "/happiness.txt")
        assert touched.code == 0, touched.err
        await until(pilot, lambda: "A /happiness.txt" in changes(app))

        await enter(pilot, "docker ps")
        await until(pilot, lambda: any(cid[:12] in line for line in output(app)))

    try:
        drive_docker(source, root, scenario)
    finally:
        for cid in started:
            real_docker("rm", "-f", cid)
    assert not root.exists()  # layerlab's own store was never made, let alone written


def test_the_bar_runs_the_docker_cli_in_turn_and_ctrl_c_ends_its_wait(
    source: DaemonSource, root: Path
) -> None:
    """`docker events` waits until Ctrl+C (the CLI's own: SIGINT); `run -it` cannot have a
    headless terminal and says so; the next line runs on the daemon."""
    lines = ["docker events", "docker run -it busybox sh", "version -f '{{.Server.Version}}'"]

    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        done = app.commands_done
        await pilot.press(*[key for line in lines for key in [*line, "enter"]])
        await running(pilot, lambda: app.runner.cli is not None and app.queue.waiting != ())
        await pilot.press("ctrl+c")
        await settled(pilot, commands=done + 2)
        shown = output(app)
        assert shown.index("^C") > shown.index("$ docker events")
        assert any("cannot be handed to the docker CLI" in line for line in shown)
        assert "20.10" in " ".join(shown[shown.index("$ " + lines[2]) :])

    drive_docker(source, root, scenario)


def test_where_the_layer_folders_cannot_be_read_they_come_from_docker_save(
    real_docker: Daemon, short_folder: Path, root: Path
) -> None:
    """A daemon on the vfs driver: no overlay2 folders to read, so busybox's layer is the one
    `docker save` gives, unpacked into a folder of ours, and the header says why."""
    started = start_daemon(short_folder, driver="vfs")
    assert started is not None  # real_docker skipped the test where there is no dockerd
    daemon, proc = started
    source = DaemonSource(daemon.host)
    try:
        assert source.why_saved == "the daemon's storage driver is vfs, not overlay2"

        async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
            assert "from docker save: " + str(source.why_saved) in str(app.layer_stack.border_title)
            image = app.snapshot.images[0][1] if app.snapshot else None
            assert image is not None
            app.subject = Subject("image", image.id)
            await until(pilot, lambda: shows(app, Subject("image", image.id)))
            await until(pilot, lambda: "A /bin/busybox" in changes(app))
            layer = app.view.layers[0] if app.view else None
            assert layer is not None and not layer.path.is_relative_to(daemon.data_root)
            assert "docker save" in layer.meta["note"]
            for char in [*"docker ps", "\r"]:
                app.post_message(key_event(char))
            await until(pilot, lambda: READ_ONLY in output(app))

        source.cli = None  # no docker CLI on this machine: the bar is read-only
        drive_docker(source, root, scenario)
    finally:
        source.close()
        stop_daemon(proc)


def test_a_daemon_that_goes_away_is_one_line_and_the_app_stays_up(
    real_docker: Daemon, short_folder: Path, root: Path
) -> None:
    """Its events stream ends: the read that follows fails, and says why."""
    started = start_daemon(short_folder)
    assert started is not None  # real_docker skipped the test where there is no dockerd
    daemon, proc = started
    source = DaemonSource(daemon.host)
    gone = f"Cannot connect to the Docker daemon at {daemon.host}"

    def said(app: LayerlabApp) -> bool:  # "reading the store failed: Cannot connect ..."
        return any(gone in str(n.message) for n in app._notifications)

    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        await until(pilot, lambda: app.snapshot is not None and bool(app.snapshot.images))
        await asyncio.to_thread(stop_daemon, proc)
        await until(pilot, lambda: said(app))
        assert app.is_running

    try:
        drive_docker(source, root, scenario)
    finally:
        source.close()
        stop_daemon(proc)


def test_a_daemon_that_does_not_answer_is_one_line(cli: CLI, tmp_path: Path) -> None:
    host = f"unix://{tmp_path}/nobody.sock"
    done = cli("tui", "--docker", "--host", host)
    assert done.code == 1
    said = f"Cannot connect to the Docker daemon at {host}. Is the docker daemon running?\n"
    assert done.err == said  # the docker CLI's line, bare
    assert done.out == ""
