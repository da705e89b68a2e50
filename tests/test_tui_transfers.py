"""The TUI draws a pull or a push while it happens, from the record a real `TransferLog`
writes in the app's store (the writer `pull` and `push` use): the manifest, the config and
each layer blob with its three digests side by side, which blobs did not travel, a bar for
the others; the record's changes drawn as they come, its end drawn as ended until the next
command. The app driven with Pilot, every wait on state."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from textual.pilot import Pilot

from layerlab.engine import Engine
from layerlab.lessons.loader import find_lesson, load_course
from layerlab.registry.transfers import Blob, Transfer, TransferLog
from layerlab.storage.reference import chain_id
from layerlab.tui.app import LayerlabApp
from layerlab.tui.settle import settled
from layerlab.tui.transfer_panel import TransferPanel, picture

from .registry_side import Registry, oci_layout, push_layout, registry, registry_config  # noqa: F401 - fixtures
from .test_tui_snapshots import steady
from .tui_helpers import drive, enter, key_event, running, until

pytestmark = pytest.mark.system

SnapCompare = Callable[..., bool]
MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def digest(word: str) -> str:
    return "sha256:" + hashlib.sha256(word.encode()).hexdigest()


def a_pull(root: Path, layers: int = 5) -> TransferLog:
    """A pull's record as `pull` writes it: the manifest read, the blobs waiting."""
    blobs = [Blob(kind="config", digest=digest("config"), size=1500)]
    for n in range(1, layers + 1):
        blobs.append(
            Blob(
                kind="layer",
                digest=digest(f"gz{n}"),
                size=20_000_000,
                media_type="application/vnd.docker.image.rootfs.diff.tar.gzip",
                diff_id=digest(f"tar{n}"),
                chain_id=digest(f"chain{n}"),
            )
        )
    transfer = Transfer(id="1-pull", verb="pull", reference="localhost:5000/lab/app:1")
    log = TransferLog(root, transfer)
    log.update(manifest_digest=digest("manifest"), media_type=MANIFEST, blobs=blobs, force=True)
    return log


def under_way(log: TransferLog) -> None:
    """Two layers already here, one downloading, one extracted: a pull half done."""
    blobs = log.transfer.blobs
    log.update(blobs[1].digest, status="Already exists")
    log.update(blobs[2].digest, status="Already exists")
    log.update(blobs[3].digest, status="Downloading", done=5_000_000)
    log.update(blobs[4].digest, status="Pull complete", done=20_000_000, force=True)


def text_of(renderable: Any, width: int) -> str:
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return console.export_text()


def test_the_digests_fit_80_columns_and_grow_at_100(tmp_path: Path) -> None:
    log = a_pull(tmp_path)
    under_way(log)
    narrow, wide = (text_of(picture([log.transfer], w), w) for w in (78, 98))
    gz3 = digest("gz3").removeprefix("sha256:")
    tar3, chain3 = (digest(w).removeprefix("sha256:") for w in ("tar3", "chain3"))
    row = next(line for line in narrow.splitlines() if line.startswith("layer 3"))
    assert [gz3[:12], tar3[:12], chain3[:12]] == row.split()[2:5]
    assert "Downloading" in row and "█" in row and "░" in row
    assert gz3[:13] not in narrow
    row = next(line for line in wide.splitlines() if line.startswith("layer 3"))
    assert [gz3[:16], tar3[:16], chain3[:16]] == row.split()[2:5]
    assert "5MB/20MB" in row  # the sizes, where there is room
    assert all(len(line) <= 78 for line in narrow.splitlines())
    assert narrow.count("Already exists") == 2
    assert f"manifest {digest('manifest')[7:19]}  {MANIFEST}" in narrow


def test_a_push_recorded_top_first_is_drawn_bottom_first_and_its_end_as_last_seen() -> None:
    """Layers in the manifest's order (bottom first), found by their chain ids; once the
    record is gone, a blob not seen finishing says it was last seen so."""
    diff_ids = [digest(f"tar{n}") for n in range(3)]
    chains = [diff_ids[0]]
    for diff_id in diff_ids[1:]:
        chains.append(chain_id(chains[-1], diff_id))
    layers = [
        Blob(kind="layer", digest=digest(f"gz{n}"), size=10, diff_id=diff_ids[n],
             chain_id=chains[n], status="Pushed", done=10)
        for n in range(3)
    ]  # fmt: skip
    config = Blob(kind="config", digest=digest("config"), size=10, status="Waiting")
    push = Transfer(id="2-push", verb="push", reference="r/a:1", blobs=[*layers[::-1], config])
    lines = text_of(picture([push], 78, ended=True), 78).splitlines()
    rows = [line.split()[2] for line in lines if line.startswith("layer ")]
    assert rows == [d[7:19] for d in (digest("gz0"), digest("gz1"), digest("gz2"))]
    assert "last seen: Waiting" in next(line for line in lines if line.startswith("config"))


def test_a_pull_from_another_terminal_is_drawn_live_then_ended(engine: Engine) -> None:
    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        panel = app.query_one(TransferPanel)

        def drawn() -> str:
            return text_of(picture(panel.transfers, 98, panel.ended), 98)

        log = a_pull(engine.store.root)
        await until(pilot, lambda: "layer 5" in drawn())
        assert panel.display and not app.panels.display  # in the panels' place
        assert panel.border_title == "pull · live"
        assert drawn().count("Waiting") == 6
        under_way(log)
        await until(pilot, lambda: drawn().count("Already exists") == 2)
        assert "Downloading" in drawn() and "Pull complete" in drawn()
        log.update(log.transfer.blobs[3].digest, status="Pull complete", done=20_000_000)
        await until(pilot, lambda: "Downloading" not in drawn())
        log.close()  # the pull ended: its record goes, its picture stays, ended
        await until(pilot, lambda: panel.ended)
        assert panel.border_title == "pull · ended" and panel.display
        await enter(pilot, "images")  # the next command gives the panels back
        await until(pilot, lambda: not panel.display and app.panels.display)

    drive(engine, scenario, size=(100, 30))


@pytest.mark.parametrize("size", [(80, 24), (100, 30)])
def test_a_pull_under_way(snap_compare: SnapCompare, engine: Engine, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, LayerlabApp)
        await steady(pilot)
        under_way(a_pull(engine.store.root))
        await until(pilot, lambda: "Pull complete" in str(app.transfer_panel.transfers))
        await steady(pilot)

    assert snap_compare(LayerlabApp(engine.store.root), terminal_size=size, run_before=run_before)


def test_the_manifest_tab_names_each_layer_three_ways(engine: Engine) -> None:
    """An image never pulled nor pushed: its manifest as a push would send it, the config
    blob being the image id, each layer's compressed blob not made yet."""
    image = engine.image("busybox")

    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        await enter(pilot, "tag busybox lab/box:1")
        document = app.metadata_panel.view("manifest")
        await until(pilot, lambda: document.data is not None)
        manifest = document.data
        assert manifest["mediaType"] == MANIFEST and manifest["schemaVersion"] == 2
        config = manifest["config"]
        assert config["digest"] == image.id
        assert config["size"] == len(engine.store.image_path(image.id).read_bytes())
        [layer] = manifest["layers"]
        assert layer["digest"] == layer["size"] == "not yet compressed"
        assert layer["diff_id"] == image.config["rootfs"]["diff_ids"][0]
        assert layer["chain_id"] == image.layers[0].chain_id
        assert manifest["RepoDigests"] == []
        app.metadata_panel.bring_up("manifest")
        await until(pilot, lambda: "not yet compressed" in str(document.render()))

    drive(engine, scenario, size=(100, 30))


class Gate:
    """A relay on loopback in front of a registry that holds every layer blob's request
    until `open()` (the manifest and the config pass): a pull stopped half-way, for as long
    as the test looks at it (no timing)."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.passes = b"-"  # the config blob's digest
        self.opened = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.host = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def open(self) -> None:
        self.opened.set()

    def close(self) -> None:
        self.opened.set()
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # closed
                return
            server = socket.create_connection(("127.0.0.1", self.upstream))
            for a, b, held in ((client, server, True), (server, client, False)):
                threading.Thread(target=self._pipe, args=(a, b, held), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, held: bool) -> None:
        with source, sink:
            while data := _recv(source):
                if held and b"/blobs/" in data and self.passes not in data:
                    self.opened.wait(120)  # a hang guard: the test opens it
                sink.sendall(data)


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


@pytest.fixture
def gate(registry: Registry) -> Iterator[Gate]:  # noqa: F811 - the fixture above
    relay = Gate(registry.port)
    yield relay
    relay.close()


def test_a_real_pull_typed_in_the_bar_is_drawn_live(
    engine: Engine,
    registry: Registry,  # noqa: F811 - the fixture imported above
    gate: Gate,
    tmp_path: Path,
) -> None:
    layout = oci_layout(tmp_path / "layout", [{"a.txt": os.urandom(3000)}, {"b.txt": b"b"}])
    # busybox's layer, then these two: three layers
    push_layout(registry, layout, "lab/app:1")
    reference = f"{gate.host}/lab/app:1"
    gate.passes = layout.config_digest.encode()

    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        panel = app.transfer_panel

        def drawn() -> str:
            return text_of(picture(panel.transfers, 98, panel.ended), 98)

        for char in [*f"pull {reference}", "\r"]:  # typed, and not waited for: it waits
            app.post_message(key_event(char))
        try:
            await running(pilot, lambda: "layer 3 " in drawn() and not panel.ended)
            assert panel.display and not app.panels.display
        finally:
            held = drawn()
            gate.open()
        assert f"pull {reference}" in held and "Pull complete" not in held  # under way
        for blob, diff_id in zip(layout.layer_digests, layout.diff_ids, strict=True):
            row = next(line for line in held.splitlines() if blob[7:23] in line)
            assert diff_id[7:23] in row  # the compressed digest beside its diff_id
        await until(pilot, lambda: panel.ended and app.commands_done == 1)
        image = engine.image(reference)
        chains = [layer.chain_id[7:23] for layer in image.layers]
        assert [c for c in chains if c in drawn()] == chains  # the record's: the store's
        manifest = app.metadata_panel.view("manifest")
        await until(pilot, lambda: (manifest.data or {}).get("layers") is not None)
        assert manifest.data["config"]["digest"] == image.id
        assert [layer["digest"] for layer in manifest.data["layers"]] == layout.layer_digests
        [repo_digest] = manifest.data["RepoDigests"]
        assert repo_digest.startswith(f"{gate.host}/lab/app@sha256:")

    drive(engine, scenario, size=(100, 30))


def test_the_content_addressing_lesson_plays_in_the_tui_at_80x24(
    engine: Engine, lesson_env: Path
) -> None:
    """The demo types `$REGISTRY` commands into the bar, the sandbox's registry takes them
    and every step's checks pass (what travelled, what was mounted); the registry ends with
    the lesson. (How fast a push ends decides what of it the panel saw: the gated pull
    above is the proof of the drawing.)"""

    async def main() -> None:
        lesson = find_lesson(load_course(), "content-addressing")
        app = LayerlabApp(engine.store.root, lesson, demo=0.0)
        async with app.run_test(size=(80, 24)) as pilot:
            await settled(pilot, until=lambda: app.lesson_pane is not None)
            pane = app.lesson_pane
            assert pane is not None
            await settled(pilot, until=lambda: pane.demo_done, timeout=180)
            assert pane.passed and app.demo_failed == []
            sandbox = pane.sandbox
            assert sandbox is not None and sandbox.registry is not None
            registry = sandbox.registry._proc
            assert registry is not None
            app.leave_lesson()
            await settled(pilot, until=lambda: not app.lesson_closing, timeout=60)
            assert registry.poll() is not None  # ended, by its pid, with the lesson

    asyncio.run(main())
