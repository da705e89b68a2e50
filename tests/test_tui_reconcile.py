"""Following the store and a writable layer, without the TUI: the watches of
`layerlab.tui.reconcile` on a real store, with real containers writing (no Textual, no Pilot)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from layerlab.engine import Engine
from layerlab.layerfs.unionfs import Change
from layerlab.storage.snapshot import Subject
from layerlab.tui.reconcile import StoreFollower, UpperFollower, store_news, subject_changed
from tests.conftest import CLI

pytestmark = pytest.mark.system

HANG_GUARD = 30.0  # seconds: a loaded machine is slow, a hang is not


def wait_for(check: Callable[[], bool], what: str) -> None:
    """Poll `check()` (it re-reads its state each time) until true, or fail after the guard."""
    deadline = time.monotonic() + HANG_GUARD
    while not check():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.02)


class Reports:
    """What a watch reported, collected from watchdog's thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.upper: list[tuple[Path, dict[str, Change | None]]] = []
        self.store = 0

    def on_upper(self, upper: Path, updates: dict[str, Change | None]) -> None:
        with self.lock:
            self.upper.append((upper, updates))

    def on_store(self) -> None:
        with self.lock:
            self.store += 1

    def seen(self, upper: Path, path: str) -> bool:
        with self.lock:
            return any(u == upper and path in changes for u, changes in self.upper)


def running(cli: CLI, engine: Engine, name: str) -> tuple[Path, tuple[Path, ...]]:
    """A container running `sleep`: its writable layer and the layers below it."""
    made = cli("run", "-d", "--name", name, "busybox", "sleep", "600")
    assert made.code == 0, made.err
    layer = engine.writable_layer(name)
    return layer.upper, layer.lowers


def test_the_writable_layer_watch_follows_the_last_request(engine: Engine, cli: CLI) -> None:
    reports = Reports()
    follower = UpperFollower(reports.on_upper)
    one, two = running(cli, engine, "one"), running(cli, engine, "two")
    try:
        follower.wanted = one
        follower.reconcile()
        assert follower.watching == one[0]
        assert cli("exec", "one", "touch", "/happiness.txt").code == 0
        wait_for(lambda: reports.seen(one[0], "/happiness.txt"), "the write in one")
        change = next(c for u, cs in reports.upper for p, c in cs.items() if p == "/happiness.txt")
        assert str(change) == "A /happiness.txt"

        follower.wanted = two  # two requests, then one reconcile: the latest is in force
        follower.wanted = one
        follower.reconcile()
        assert follower.watching == one[0]
        follower.wanted = two
        follower.reconcile()
        assert follower.watching == two[0]
        assert cli("exec", "one", "touch", "/unseen.txt").code == 0
        assert cli("exec", "two", "touch", "/seen.txt").code == 0
        wait_for(lambda: reports.seen(two[0], "/seen.txt"), "the write in two")
        assert not reports.seen(one[0], "/unseen.txt")  # one's watch was stopped
    finally:
        follower.wanted = None
        follower.reconcile()
    assert follower.watching is None


def test_a_layer_gone_before_its_watch_starts_is_no_watch(engine: Engine, tmp_path: Path) -> None:
    follower = UpperFollower(Reports().on_upper)
    follower.wanted = (tmp_path / "gone" / "diff", ())
    follower.reconcile()  # the container was removed meanwhile: nothing to watch, no error
    assert follower.watching is None


def made(cli: CLI, *args: str) -> None:
    done = cli(*args)
    assert done.code == 0, done.err


def test_the_store_watch_follows_the_engine_in_use(
    engine: Engine, cli: CLI, tmp_path: Path
) -> None:
    """The store watched is the wanted engine's (a lesson's sandbox, then home again); a new
    watch reports once as it starts, and none once nothing is wanted."""
    reports = Reports()
    other = Engine(tmp_path / "other")
    wanted: list[Engine | None] = [engine]
    follower = StoreFollower(lambda: wanted[0], reports.on_store)
    follower.reconcile()
    assert follower.watching is engine and reports.store == 1
    follower.reconcile()  # already watching that store: nothing new
    assert reports.store == 1
    made(cli, "create", "--name", "seen", "busybox")
    wait_for(lambda: reports.store > 1, "the store's change")

    wanted[0] = other
    follower.reconcile()
    assert follower.watching is other
    wanted[0] = None
    follower.reconcile()
    assert follower.watching is None
    after = reports.store
    made(cli, "create", "--name", "unseen", "busybox")  # no watch now: nothing reported
    assert reports.store == after


def test_what_changed_in_the_store_as_event_lines(engine: Engine, cli: CLI) -> None:
    empty = engine.snapshot()
    made(cli, "create", "--name", "box", "busybox", "sleep", "600")
    created = engine.snapshot()
    layers = len(engine.image("busybox").layers)
    assert sorted(store_news(empty, created)) == [
        ("container box: created, a writable layer on busybox", ""),
        (f"image busybox:latest: added, {layers} read-only layer", ""),
    ]
    made(cli, "start", "box")
    started = engine.snapshot()
    assert store_news(created, started) == [("container box: created → running", "")]
    made(cli, "rm", "-f", "box")
    made(cli, "rmi", "busybox")
    assert sorted(store_news(started, engine.snapshot())) == [
        ("container box: removed with its writable layer", "removed"),
        ("image busybox:latest: removed", "removed"),
    ]


def test_the_subject_is_read_again_when_its_record_changes_or_it_goes(
    engine: Engine, cli: CLI
) -> None:
    made(cli, "create", "--name", "box", "busybox")
    first = engine.snapshot()
    box = Subject("container", engine.container("box").id)
    image = Subject("image", engine.image("busybox").id)
    assert not subject_changed(first, engine.snapshot(), box)
    assert subject_changed(None, first, box)  # not known before
    made(cli, "rename", "box", "renamed")
    assert subject_changed(first, engine.snapshot(), box)
    assert not subject_changed(first, engine.snapshot(), image)
    made(cli, "rm", "renamed")
    made(cli, "rmi", "busybox")
    assert subject_changed(first, engine.snapshot(), image)
