"""The TUI's pure helpers: JSON lines with their paths, and the messages' burst merging."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from layerlab.layerfs.unionfs import Change
from layerlab.tui.json_view import json_lines, leaves
from layerlab.tui.messages import ProcsLoaded, StoreChanged, UpperChanged

pytestmark = pytest.mark.unit


def test_json_lines_are_json_dumps_lines_with_their_paths() -> None:
    doc = {"Id": "abc", "State": {"Status": "running", "Pid": 7}, "Args": ["60"], "Empty": {}}
    lines = list(json_lines(doc))
    assert [text for text, _, _ in lines] == json.dumps(doc, indent=2).splitlines()
    assert ('    "Status": "running",', ("State", "Status"), True) in lines
    assert leaves(doc) == {
        ("Id",): "abc",
        ("State", "Status"): "running",
        ("State", "Pid"): 7,
        ("Args", 0): "60",
        ("Empty",): {},
    }


def test_bursts_of_messages_merge() -> None:
    assert StoreChanged().can_replace(StoreChanged())
    assert ProcsLoaded(pid=1, procs=[]).can_replace(ProcsLoaded(pid=1, procs=[]))
    upper = Path("/u")
    older = UpperChanged(upper, {"/a": Change("A", "/a"), "/b": Change("A", "/b")})
    newer = UpperChanged(upper, {"/b": None})
    assert older.can_replace(newer)
    assert newer.updates == {"/a": Change("A", "/a"), "/b": None}  # the newer read wins
    assert not newer.can_replace(UpperChanged(Path("/other"), {}))
    assert not newer.can_replace(StoreChanged())


def test_a_result_posted_outside_a_worker_is_never_stale() -> None:
    assert ProcsLoaded(pid=1, procs=[]).stale is False


def test_processes_read_before_the_panel_is_composed_are_drawn_once_it_is() -> None:
    """A process read can land before the panel mounts (or while it is torn down): no
    query for a child that is not there, and what arrived is drawn at mount."""
    import asyncio

    from textual.app import App, ComposeResult

    from layerlab.runtime.procs import Proc
    from layerlab.tui.process_tree import ProcessPanel

    panel = ProcessPanel(lambda pid: [], id="procs")  # shown by hand: nothing is read
    panel.show([Proc(host_pid=4242, ns_pid=1, command="sleep 600", state="sleeping")])

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield panel

    async def scenario() -> None:
        async with Host().run_test() as pilot:
            await pilot.pause()
            assert panel.has_class("-running")
            labels = [node.label.plain for node in panel.proc_tree.root.children]
            assert labels == ["  1    4242 sleeping sleep 600"]
        panel.show([Proc(host_pid=4243, ns_pid=2, command="sh", state="running")])  # removed

    asyncio.run(scenario())
