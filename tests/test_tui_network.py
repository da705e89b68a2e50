"""The picture draws a running container's network beside its process space: its own
namespaces against the host's, eth0 with the address the kernel gave it, the veth pair's
host end, the bridge and who else is on it, the published ports. Real containers on a
real bridge; the app driven with Pilot, waited on with `settled()`."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from rich.console import Console
from textual.app import App, ComposeResult
from textual.pilot import Pilot

from layerlab.commands.grammar import parse
from layerlab.commands.handlers import dispatch
from layerlab.commands.stdio import IO
from layerlab.engine import Engine
from layerlab.network import probe
from layerlab.network.view import NetworkView
from layerlab.storage.snapshot import Subject
from layerlab.tui import model
from layerlab.tui.app import LayerlabApp
from layerlab.tui.diagram import Diagram, picture
from layerlab.tui.metadata import MetadataPanel

from .test_tui import drive, enter, explained, until

pytestmark = pytest.mark.system

SnapCompare = Callable[..., bool]
WEB = "run -d --name web --network lab -p 127.0.0.1::80 busybox httpd -f -p 80"


def drawn(view: model.SubjectView | None, width: int = 50) -> str:
    """The picture at a width that draws it under the stack, each line whole."""
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    console.print(picture(view))
    return " ".join(console.export_text().split())


def _eth0(engine: Engine, name: str) -> str | None:
    """The address the kernel gave the container's eth0 (read inside its namespace)."""
    return probe.links(int(engine.container(name).state["Pid"])).get("eth0")


def test_the_picture_draws_the_network_as_it_is_made_and_removed(engine: Engine) -> None:
    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        diagram = app.query_one(Diagram)

        def text() -> str:
            return drawn(diagram.view)

        await enter(pilot, "network create lab")
        await enter(pilot, "run -d --name db --network lab busybox sleep 600")
        await until(pilot, lambda: "network namespace" in text())
        assert "namespaces of its own: pid net mnt uts ipc" in text()
        await enter(pilot, WEB)
        await until(pilot, lambda: "also on it: db" in text())
        web, db = _eth0(engine, "web"), _eth0(engine, "db")
        assert web and db and web != db
        port = engine.inspect("web")["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"]
        for part in (f"eth0 {web}/", f"also on it: db {db}", "(lab)", "⇅ veth",
                     f"published 127.0.0.1:{port} → 80/tcp"):  # fmt: skip
            assert part in text(), part
        # the metadata panel: inspect's NetworkSettings, with the address of this run
        document = app.query_one(MetadataPanel).view("container").data
        assert document["NetworkSettings"]["Networks"]["lab"]["IPAddress"] == web
        await enter(pilot, "port web")
        assert "layerlab-proxy" in explained(app)
        await enter(pilot, "rm -f web")
        await until(pilot, lambda: "also on it: web" not in text() and "web" not in text())
        await enter(pilot, "rm -f db")
        await until(pilot, lambda: "network namespace" not in text())

    drive(engine, scenario, size=(160, 48))


def test_none_and_host_are_drawn_as_what_they_are(engine: Engine) -> None:
    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        diagram = app.query_one(Diagram)
        await enter(pilot, "run -d --name alone --network none busybox sleep 600")
        await until(pilot, lambda: "no other link (--network none)" in drawn(diagram.view))
        assert "eth0" not in drawn(diagram.view)
        await enter(pilot, "run -d --name hosted --network host busybox sleep 600")
        await until(pilot, lambda: "the host's (--network host)" in drawn(diagram.view))
        assert "the host's: net cgroup user" in drawn(diagram.view)

    drive(engine, scenario)


class DiagramApp(App[None]):
    """The picture alone, as the app draws it, for a snapshot."""

    def __init__(self, view: model.SubjectView) -> None:
        super().__init__()
        self.view = view

    def compose(self) -> ComposeResult:
        yield Diagram(id="diagram")

    def on_mount(self) -> None:
        self.query_one(Diagram).show(self.view)


def test_a_running_container_on_a_network(snap_compare: SnapCompare, engine: Engine) -> None:
    """What varies from run to run (addresses, link names, the host port) is masked."""
    io_ = IO(io.StringIO(), io.StringIO(), interactive=False)
    for line in ("network create lab", "run -d --name db --network lab busybox sleep 600", WEB):
        assert dispatch(engine, parse(line.split()), io_).code == 0
    view = model.load(engine, Subject("container", engine.container("web").id))
    assert view.network is not None and view.network.links
    link = replace(
        view.network.links[0], address="10.213.1.3", gateway="10.213.1.1",
        host_link="ll0123v0a1b2c0", bridge="ll0123b4c5d6e7", peers=(("db", "10.213.1.2"),),
    )  # fmt: skip
    masked = replace(view, network=NetworkView("lab", (link,), ("127.0.0.1:49153 -> 80/tcp",)))

    async def steady(pilot: Pilot[Any]) -> None:
        await pilot.pause()

    assert snap_compare(DiagramApp(masked), terminal_size=(100, 24), run_before=steady)
