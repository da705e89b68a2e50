"""watchdog on a writable layer and on the store: changes reach a callback, batched."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from layerlab.engine import CreateOptions, Engine
from layerlab.storage.watch import StoreWatch, UpperWatch

# watchdog's own notice that `mkdir -p` made a watch twice (layerlab.storage.watch silences it
# in the app; pytest resets warning filters per test).
pytestmark = [
    pytest.mark.filterwarnings("ignore:Callback with id:RuntimeWarning"),
    pytest.mark.system,
]


class Seen:
    """Collects callback arguments from watchdog's threads."""

    def __init__(self) -> None:
        self.paths: set[str] = set()
        self.calls = 0
        self.event = threading.Event()

    def paths_changed(self, paths: set[str]) -> None:
        self.paths |= paths
        self.calls += 1
        self.event.set()

    def changed(self) -> None:
        self.calls += 1
        self.event.set()

    def wait_for(self, check: object, timeout: float = 3.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if callable(check) and check():
                return True
            time.sleep(0.01)
        return False


def test_upper_watch_reports_paths_relative_to_the_layer(tmp_path: Path) -> None:
    seen = Seen()
    watch = UpperWatch(tmp_path, seen.paths_changed)
    watch.start()
    try:
        (tmp_path / "happiness.txt").write_text("x")
        (tmp_path / "d" / "e").mkdir(parents=True)
        (tmp_path / "d" / "e" / "f").write_text("y")
        assert seen.wait_for(lambda: {"happiness.txt", "d", "d/e/f"} <= seen.paths)
        (tmp_path / "happiness.txt").unlink()
        seen.paths.clear()
        assert seen.wait_for(lambda: "happiness.txt" in seen.paths)
    finally:
        watch.stop()


def test_a_burst_of_writes_is_one_batch(tmp_path: Path) -> None:
    seen = Seen()
    watch = UpperWatch(tmp_path, seen.paths_changed)
    watch.start()
    try:
        for i in range(200):
            (tmp_path / f"f{i}").write_text("x")
        assert seen.wait_for(lambda: len(seen.paths) == 200)
        assert seen.calls < 20
    finally:
        watch.stop()


def test_a_store_watch_stopped_while_it_rescans_leaves_quietly(engine: Engine, root: Path) -> None:
    """`stop` (the app's thread) unschedules every watch while watchdog's thread may be
    rescanning after a container folder went: that rescan then has nothing to do."""
    engine.create("busybox", CreateOptions(command=["true"], name="gone"))
    watch = StoreWatch(root, lambda: None)
    watch.start()
    watch.stop()
    engine.rm("gone")
    watch._sync()  # as watchdog's thread runs it on the removal, had it come just then
    assert watch._observer.emitters == set()


def test_store_watch_sees_containers_come_change_and_go(engine: Engine, root: Path) -> None:
    seen = Seen()
    watch = StoreWatch(root, seen.changed)  # the root does not exist yet
    watch.start()
    try:
        container = engine.create("busybox", CreateOptions(command=["true"], name="watched"))
        assert seen.wait_for(lambda: seen.calls > 0)
        before = seen.calls
        engine.rename("watched", "renamed")  # rewrites containers/<id>/config.json
        assert seen.wait_for(lambda: seen.calls > before)
        before = seen.calls
        engine.rm(container.id)
        assert seen.wait_for(lambda: seen.calls > before)
    finally:
        watch.stop()
