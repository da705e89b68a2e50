"""Snapshots of the key screens (pytest-textual-snapshot), on a real engine and store.

What varies from run to run - container ids, host paths - is masked before the
snapshot; busybox's layer comes from the host's busybox-static, so the image
screens are stable for one Debian release. Update with `--snapshot-update`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable

from layerlab.engine import Engine
from layerlab.tui.app import LayerlabApp
from layerlab.tui.change_tree import ChangeTree
from layerlab.tui.command_bar import CommandBar
from layerlab.tui.layer_stack import LayerStack
from layerlab.tui.metadata import MetadataPanel
from layerlab.tui.output_log import OutputLog
from layerlab.tui.settle import settled

from .tui_helpers import enter

pytestmark = pytest.mark.system

SnapCompare = Callable[..., bool]
CREATE = "create --name demo busybox sleep 600"


async def steady(pilot: Pilot[Any]) -> None:
    """Settled, painted, and no blinking cursor (it would make every other snapshot differ).

    Then the screen itself must be still: no table with column widths still to work out
    (a DataTable does that when its queue is idle, which a loaded machine delays), and
    three screenshots in a row, a pause apart, the same.
    """
    app = pilot.app
    app.query_one(CommandBar).cursor_blink = False
    await settled(pilot, current=True)
    shots: list[str] = []
    deadline = time.monotonic() + 60  # a hang guard, not a measure
    while len(shots) < 3 or len(set(shots[-3:])) > 1:
        assert time.monotonic() < deadline, "the screen never stood still"
        await pilot.pause(0.05)
        widths_due = any(
            table._require_update_dimensions or table._updated_cells
            for table in app.query(DataTable)
        )
        shots.append(f"widths due {len(shots)}" if widths_due else app.export_screenshot())


def test_welcome_at_80x24(snap_compare: SnapCompare, engine: Engine) -> None:
    assert snap_compare(LayerlabApp(engine.store.root), terminal_size=(80, 24), run_before=steady)


def test_help_at_80x24(snap_compare: SnapCompare, engine: Engine) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await steady(pilot)
        await pilot.press("f1")

    assert snap_compare(
        LayerlabApp(engine.store.root), terminal_size=(80, 24), run_before=run_before
    )


def test_a_created_container(snap_compare: SnapCompare, engine: Engine) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await enter(pilot, CREATE)
        app = pilot.app
        masked = "<store>/containers/<id>/diff"
        layers = app.query_one(LayerStack)
        layers.update_cell("rw", "id", "<id>")
        layers.update_cell("rw", "created_by", masked)
        app.query_one(ChangeTree).border_title = f"writable layer (live) · {masked}"
        app.query_one(MetadataPanel).bring_up("image")
        log = app.query_one(OutputLog)
        log.clear_in_turn()  # in the log's turn: after the real id the command printed
        log.command(CREATE)
        log.say("<container id>")
        await steady(pilot)

    assert snap_compare(
        LayerlabApp(engine.store.root), terminal_size=(100, 32), run_before=run_before
    )


def test_an_image_and_its_base_layer(snap_compare: SnapCompare, engine: Engine) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await enter(pilot, "tag busybox demo:v1")
        await steady(pilot)

    assert snap_compare(
        LayerlabApp(engine.store.root), terminal_size=(100, 32), run_before=run_before
    )
