"""The engine's read API for the faces, its state table, and waits a caller can cancel."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pytest

from layerlab.engine import CreateOptions, Engine
from layerlab.errors import Cancelled, Conflict, IllegalTransition, LayerlabError, NotFound
from layerlab.layerfs.unionfs import Change
from layerlab.runtime.launch import Shim
from layerlab.storage.containers import TRANSITIONS, can, new_state, transition
from layerlab.storage.snapshot import Snapshot, Subject

pytestmark = pytest.mark.system

QUIET = (subprocess.DEVNULL, subprocess.DEVNULL, subprocess.DEVNULL)


def _run_d(engine: Engine, *cmd: str, name: str | None = None) -> str:
    container, _ = engine.run("busybox", CreateOptions(command=list(cmd), name=name))
    return container.id


def _cancel_soon(delay: float = 0.2) -> threading.Event:
    """An event another thread sets a moment from now."""
    cancel = threading.Event()
    timer = threading.Timer(delay, cancel.set)
    timer.daemon = True
    timer.start()
    return cancel


# --- the state table --------------------------------------------------------------


def test_the_table_moves_a_container_through_its_life() -> None:
    state = new_state()
    assert state["Status"] == "created"
    transition(state, "start", pid=42, at="2024-01-01T00:00:00Z")
    assert (state["Status"], state["Running"], state["Pid"]) == ("running", True, 42)
    assert state["StartedAt"] == "2024-01-01T00:00:00Z"
    transition(state, "pause")
    assert (state["Status"], state["Paused"], state["Running"]) == ("paused", True, True)
    transition(state, "unpause")
    assert (state["Status"], state["Paused"]) == ("running", False)
    transition(state, "exit", exit_code=3, at="2024-01-01T00:00:01Z")
    assert (state["Status"], state["Running"], state["Pid"], state["ExitCode"]) == (
        "exited", False, 0, 3,
    )  # fmt: skip
    transition(state, "start", pid=7)
    assert state["FinishedAt"] == "0001-01-01T00:00:00Z" and state["ExitCode"] == 0


def test_a_lost_shim_is_exit_255_at_its_start_time() -> None:
    state = transition(new_state(), "start", pid=1, at="2024-01-01T00:00:00Z")
    transition(state, "lost")
    assert (state["Status"], state["ExitCode"], state["FinishedAt"]) == (
        "exited", 255, "2024-01-01T00:00:00Z",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("status", "event"),
    [("created", "pause"), ("exited", "unpause"), ("running", "start"), ("created", "exit")],
)
def test_an_illegal_move_is_a_clear_conflict(status: str, event: str) -> None:
    state = dict(new_state(), Status=status)
    assert not can(state, event)
    with pytest.raises(IllegalTransition) as exc:
        transition(state, event, pid=1, exit_code=0)
    assert isinstance(exc.value, Conflict) and status in str(exc.value)
    assert state["Status"] == status


def test_every_event_targets_a_known_state() -> None:
    from layerlab.storage.containers import STATES

    for event in TRANSITIONS.values():
        assert event.sources <= set(STATES)
        assert event.target is None or event.target in STATES


# --- the read API -----------------------------------------------------------------


def test_snapshot_lists_containers_and_image_rows(engine: Engine) -> None:
    c = engine.create("busybox", CreateOptions(command=["true"], name="snap"))
    image_id = engine.commit(c.id, "mine:latest")
    snap = engine.snapshot()
    assert isinstance(snap, Snapshot)
    assert snap.container(c.id) is not None and snap.container("nope") is None
    assert [ref for ref, _ in snap.images] == [ref for ref, _ in engine.images(all=True)]
    image = snap.image(image_id)
    assert image is not None and image.id == image_id
    assert snap.image_name(image_id) == "mine:latest"
    names = snap.names()
    for name in ("snap", c.short_id, "mine:latest", "mine", "busybox", image_id[7:19]):
        assert name in names


def test_resolve_finds_a_container_first_then_an_image(engine: Engine) -> None:
    assert engine.resolve("busybox") is None  # never made on a lookup
    assert engine.store.image_ids() == []
    image = engine.image("busybox")
    c = engine.create("busybox", CreateOptions(command=["true"], name="busybox"))
    assert engine.resolve("busybox") == Subject("container", c.id)
    assert engine.resolve(image.id) == Subject("image", image.id)
    assert engine.resolve(c.id[:10]) == Subject("container", c.id)
    assert engine.resolve("nothing-here") is None


def test_layer_meta_and_bundle_spec(engine: Engine) -> None:
    image = engine.image("busybox")
    layer = image.layers[0]
    meta = engine.layer_meta(layer.chain_id)
    assert meta["diff_id"] == layer.diff_id and meta["parent"] is None
    with pytest.raises(NotFound):
        engine.layer_meta("sha256:" + "0" * 64)
    c = engine.create("busybox", CreateOptions(command=["sleep", "60"], name="spec"))
    assert engine.bundle_spec("spec") is None  # not started yet
    engine.start("spec")
    spec = engine.bundle_spec("spec")
    assert spec is not None and spec["process"]["args"] == ["sleep", "60"]
    with pytest.raises(NotFound):
        engine.bundle_spec("nope")
    assert c.id


def test_writable_layer_owns_its_paths_mounts_and_changes(engine: Engine) -> None:
    c = engine.create("busybox", CreateOptions(command=["sh", "-c", "touch /happy; sleep 60"]))
    rw = engine.writable_layer(c.id)
    gd = c.data["GraphDriver"]["Data"]
    assert (str(rw.upper), str(rw.work), str(rw.merged)) == (
        gd["UpperDir"], gd["WorkDir"], gd["MergedDir"],
    )  # fmt: skip
    assert rw.init == rw.upper.parent / "init" and rw.lowers[0] == rw.init
    assert list(rw.image_lowers) == [lay.diff_path for lay in engine.image("busybox").layers]
    assert not rw.is_mounted() and rw.changes() == [] and rw.size() == (0, 0)
    engine.start(c.id)
    assert rw.is_mounted()
    deadline = time.monotonic() + 10
    while Change("A", "/happy") not in rw.changes() and time.monotonic() < deadline:
        engine.wait_exit(c.id, 0.05)
    assert engine.diff(c.id) == rw.changes() == [Change("A", "/happy")]
    assert rw.size() == (0, 1)
    engine.kill(c.id)
    assert not rw.is_mounted()


def test_watch_paths_come_from_the_store(engine: Engine, root: Path) -> None:
    assert engine.watch_paths() == ({root.parent} if root.parent.is_dir() else set())
    c = engine.create("busybox", CreateOptions(command=["true"]))
    cdir = engine.store.container_dir(c.id)
    assert engine.watch_paths() == {root, root / "images", root / "containers", cdir}
    store = engine.store
    assert store.indexes(cdir / "config.json") and store.indexes(root / "repositories.json")
    assert store.indexes(root / "images" / "abc.json")
    assert not store.indexes(root / "images" / ".tmp-x")
    assert not store.indexes(cdir / "hostname")
    assert store.reshapes_watch(cdir) and not store.reshapes_watch(cdir / "config.json")


# --- cancellable waits ------------------------------------------------------------


def test_logs_follow_stops_once_cancelled(engine: Engine) -> None:
    cid = _run_d(engine, "sh", "-c", "echo hi; sleep 60")
    cancel = _cancel_soon()
    texts = [entry.text for entry in engine.logs(cid, follow=True, cancel=cancel)]
    assert texts == ["hi\n"] and cancel.is_set()
    assert engine.container(cid).running  # the container goes on


def test_wait_stops_once_cancelled(engine: Engine) -> None:
    cid = _run_d(engine, "sleep", "60")
    with pytest.raises(Cancelled) as exc:
        engine.wait(cid, cancel=_cancel_soon())
    assert exc.value.exit_code == 130 and isinstance(exc.value, LayerlabError)
    assert engine.container(cid).running


def test_an_uncancelled_wait_still_returns_the_exit_code(engine: Engine) -> None:
    cid = _run_d(engine, "sh", "-c", "exit 4")
    assert engine.wait(cid, cancel=threading.Event()) == 4


def test_start_attached_stops_once_cancelled(engine: Engine) -> None:
    c = engine.create("busybox", CreateOptions(command=["sleep", "60"], attach=True))
    with pytest.raises(Cancelled):
        engine.start_attached(c.id, QUIET, cancel=_cancel_soon())
    assert engine.container(c.id).running


def test_a_shims_wait_can_be_cancelled_and_resumed() -> None:
    stand_in = subprocess.Popen(["sh", "-c", "read x; exit 7"], stdin=subprocess.PIPE)
    shim = Shim(stand_in)  # a child that ends when told to
    with pytest.raises(Cancelled):
        shim.wait(_cancel_soon())
    assert stand_in.stdin is not None
    stand_in.stdin.close()
    assert shim.wait(threading.Event()) == 7
