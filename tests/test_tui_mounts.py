"""Issue 10: a volume, a bind mount and a tmpfs shown as what they are: outside the layers.

Real containers (runc, overlay, real mounts); the app is driven with Pilot and
waited on with `settled()`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.style import Style
from textual.pilot import Pilot

from layerlab.engine import CreateOptions, Engine, Mounted
from layerlab.storage.snapshot import Subject
from layerlab.tui import model
from layerlab.tui.app import LayerlabApp
from layerlab.tui.change_tree import ChangeTree
from layerlab.tui.diagram import Diagram
from layerlab.tui.layer_stack import LayerStack
from layerlab.tui.outside import NOTE

from .tui_helpers import changes, drawn, drive, enter, explained, until

pytestmark = pytest.mark.system


def shown_lines(app: LayerlabApp) -> list[str]:
    """The files panel's entries as drawn (kind, name and notes)."""
    tree = app.query_one(ChangeTree)
    return [
        tree.render_label(line.node, Style(), Style()).plain.lstrip("▶▼ ")
        for line in tree._tree_lines
    ]


def test_the_picture_draws_mounts_under_the_stack_apart_from_it(
    engine: Engine, tmp_path: Path
) -> None:
    host = tmp_path / "site"
    host.mkdir()
    opts = CreateOptions(
        command=["sleep", "60"],
        name="mounts",
        volumes=["data:/data", f"{host}:/mnt:ro"],
        tmpfs=["/run"],
    )
    made = engine.create("busybox", opts)
    view = model.load(engine, Subject("container", made.id))
    assert view.mounts == (
        Mounted("volume", "/data", "data"),
        Mounted("bind", "/mnt", str(host), read_only=True),
        Mounted("tmpfs", "/run", ""),
    )
    text = " ".join(drawn(view, 120).split())
    assert "volume data → /data" in text
    assert f"bind {host} → /mnt (read-only)" in text
    assert "tmpfs /run" in text and NOTE in text
    # under the stack: after its bottom layer, in a box of its own
    assert text.index("bottom layer: no parent") < text.index("mounted over the union")
    image = engine.image("busybox")
    assert "mounted over the union" not in drawn(model.load(engine, Subject("image", image.id)))


def test_a_volume_a_bind_and_a_tmpfs_are_beside_the_layers_not_in_them(
    engine: Engine, tmp_path: Path
) -> None:
    host = tmp_path / "dir"
    host.mkdir()
    line = (
        f"run -d --name mounts -v data:/data -v {host}:/mnt --tmpfs /run busybox "
        "sh -c 'echo v > /data/f; echo b > /mnt/g; echo t > /run/h; echo l > /top; sleep 600'"
    )

    def stack_rows(app: LayerlabApp) -> list[str]:
        table = app.query_one(LayerStack)
        return [
            " ".join(str(cell) for cell in table.get_row_at(i) if str(cell))
            for i in range(table.row_count)
        ]

    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        await enter(pilot, line)
        await until(pilot, lambda: "A /top" in changes(app), timeout=30)
        # The writable layer has the file written into the union, none of the mounted ones.
        files = changes(app)
        assert not any(path in entry for entry in files for path in ("/f", "/g", "/h"))
        assert (host / "g").read_text() == "b\n"  # it went through the bind, to the host
        # Their mount points are in it, and say where their files are.
        lines = shown_lines(app)
        assert "A /data  volume data mounted here: outside the layers" in lines
        assert f"A /mnt  bind {host} mounted here: outside the layers" in lines
        assert "A /run  tmpfs mounted here: outside the layers" in lines
        assert "A /top" in lines
        # The layer stack: its layers, then, under the bottom one, the mounts.
        rows = stack_rows(app)
        assert rows[0].startswith("RW") and rows[1].startswith("RO")
        assert rows[2:] == [
            f"volume /data data → /data · {NOTE}",
            f"bind /mnt {host} → /mnt · {NOTE}",
            f"tmpfs /run /run · {NOTE}",
        ]
        # The picture the app shows draws them too.
        shown = " ".join(drawn(app.query_one(Diagram).view, 120).split())
        assert "volume data → /data" in shown and "tmpfs /run" in shown
        # Moving onto a mount row picks no layer: the files panel keeps the writable layer.
        table = app.query_one(LayerStack)
        table.focus()
        table.move_cursor(row=2)
        await until(pilot, lambda: table.cursor_row == 2)
        assert "A /top" in changes(app)
        # A write into the volume changes no layer, and the explanation says where it went.
        app.screen.set_focus(app.command_bar)
        await enter(pilot, "exec mounts touch /data/new")
        said = " ".join(explained(app).split())
        assert "nothing changed in its writable layer" in said
        assert (
            "What it wrote under /data, /mnt or /run went to what is mounted there "
            f"(volume data, bind {host}, tmpfs), outside the layers: in no diff, in no commit."
        ) in said
        assert not any("new" in entry for entry in changes(app))

    drive(engine, scenario)
