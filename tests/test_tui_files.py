"""The files panel on real layers: a file's contents opened (text, binary, a changed file beside
its lower copy, a symlink, a whiteout), and the tree sorted and filtered."""

from __future__ import annotations

from typing import Any

import pytest
from bench import big_images
from textual.pilot import Pilot
from textual.widgets.tree import TreeNode

from layerlab.engine import Engine
from layerlab.layerfs.unionfs import Change
from layerlab.storage.snapshot import Subject
from layerlab.tui import change_tree, model
from layerlab.tui.app import LayerlabApp
from layerlab.tui.change_tree import ChangeTree
from layerlab.tui.file_view import FileView

from .conftest import CLI
from .tui_helpers import changes, drawn, drive, screen_text, until

pytestmark = pytest.mark.system

# One run writes what each case needs into its writable layer: text, binary, a symlink, a
# text file changed (/etc/passwd), a file deleted (/etc/group: a whiteout), a control
# character, and files of sizes chosen here.
SCRIPT = (
    "mkdir -p /d/big /d/small && echo hello > /d/text.txt"
    " && printf '\\177ELF\\002\\001\\001' > /d/prog && head -c 3000 /dev/zero >> /d/prog"
    " && ln -s /etc/passwd /d/link && printf 'a\\033[31mred\\n' > /d/ctrl.txt"
    " && echo learner:x:1000:1000::/home:/bin/sh >> /etc/passwd && rm /etc/group"
    " && head -c 5000 /dev/zero > /d/big/a && head -c 4000 /dev/zero > /d/big/b"
    " && head -c 7000 /dev/zero > /d/small/c && head -c 100 /dev/zero > /d/zz"
)


@pytest.fixture
def written(cli: CLI) -> None:
    result = cli("run", "--name", "files", "busybox", "sh", "-c", SCRIPT)
    assert result.code == 0, result.err


def node(tree: ChangeTree, path: str) -> TreeNode[Change]:
    """The tree's node for `path`, its folders unfolded on the way."""
    parts = path.strip("/").split("/")
    at = tree.root
    for depth in range(1, len(parts) + 1):
        tree.unfold(at)
        want = "/" + "/".join(parts[:depth])
        at = next(n for n in at.children if n.data is not None and n.data.path == want)
    return at


async def open_file(app: LayerlabApp, pilot: Pilot[None], path: str, key: str = "v") -> FileView:
    """Put the cursor on `path` in the files panel and open it; the view once it has read."""
    tree = app.files_tree
    await until(pilot, lambda: any(c.endswith(" " + path) for c in changes(app)))
    tree.focus()
    target = node(tree, path)
    await until(pilot, lambda: target.line >= 0)
    tree.move_cursor(target)
    await pilot.press(key)
    await until(pilot, lambda: isinstance(app.screen, FileView) and app.screen.contents is not None)
    assert isinstance(app.screen, FileView)
    return app.screen


async def close(app: LayerlabApp, pilot: Pilot[None]) -> None:
    await pilot.press("escape")
    await until(pilot, lambda: not isinstance(app.screen, FileView))


def pane(view: FileView, which: str) -> str:
    return str(view.query_one(f"#{which}").render())


def test_a_text_file_is_shown_with_its_controls_visible(engine: Engine, written: None) -> None:
    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        view = await open_file(app, pilot, "/d/text.txt")
        assert "hello" in pane(view, "top") and "UTF-8 text" in pane(view, "top")
        assert not view.query_one("#below-pane").display  # added here: nothing below
        await close(app, pilot)
        view = await open_file(app, pilot, "/d/ctrl.txt")
        assert "a␛[31mred" in pane(view, "top")  # the escape drawn, never sent

    drive(engine, scenario)


def test_a_binary_file_is_a_hex_summary(engine: Engine, written: None) -> None:
    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        view = await open_file(app, pilot, "/d/prog")
        shown = pane(view, "top")
        assert "ELF executable" in shown and "3007 bytes" in shown
        assert "00000000  7f 45 4c 46 02 01 01 00" in shown and "|.ELF" in shown
        assert "the first 256 bytes of 3007" in shown

    drive(engine, scenario)


def test_a_changed_file_beside_its_lower_copy(engine: Engine, written: None) -> None:
    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        view = await open_file(app, pilot, "/etc/passwd")
        assert view.query_one("#below-pane").display
        diff = pane(view, "below")
        assert "+learner:x:1000:1000::/home:/bin/sh" in diff and "root:x:0:0" in diff
        assert "diff -u layer" in screen_text(app)  # the lower copy's layer named

    drive(engine, scenario)


def test_a_symlink_and_a_whiteout(engine: Engine, written: None) -> None:
    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        view = await open_file(app, pilot, "/d/link")
        assert "symlink → /etc/passwd" in pane(view, "top")
        await close(app, pilot)
        view = await open_file(app, pilot, "/etc/group")
        assert "deleted in this layer" in pane(view, "top")
        assert "root:x:0:" in pane(view, "below")  # what the whiteout hides, from below

    drive(engine, scenario)


def order(app: LayerlabApp, folder: Any) -> list[str]:
    return [n.data.path for n in folder.children if n.data is not None]


def under(tree: ChangeTree, path: str) -> list[str]:
    """The names shown right under folder `path`, top to bottom."""
    folder = node(tree, path)
    tree.unfold(folder)
    return [str(n.label) for n in folder.children]


def leaves(tree: ChangeTree) -> list[str]:
    """Every entry shown that is no folder on the way to others, as `A /path`."""
    found: list[str] = []
    stack = list(tree.root.children)
    while stack:
        at = stack.pop()
        if at.children:
            stack += at.children
        else:
            found.append(str(at.data))
    return found


def test_sort_by_size_puts_the_largest_first_folders_by_their_total(
    engine: Engine, written: None
) -> None:
    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        tree = app.files_tree
        await until(pilot, lambda: "A /d/zz" in changes(app))
        assert under(tree, "/d") == ["big", "ctrl.txt", "link", "prog", "small", "text.txt", "zz"]
        tree.focus()
        await pilot.press("s")
        # big/: 5000 + 4000 bytes, small/: 7000, prog 3007, zz 100, ctrl.txt 9, text.txt 6
        want = ["big", "small", "prog", "zz", "ctrl.txt", "text.txt", "link"]
        await until(pilot, lambda: under(tree, "/d") == want)
        assert under(tree, "/d/big") == ["a", "b"]
        assert "by size · all │ writable layer" in screen_text(app)  # at 80x24 too
        await pilot.press("s")
        await until(pilot, lambda: under(tree, "/d")[:2] == ["big", "ctrl.txt"])

    drive(engine, scenario, size=(80, 24))


def test_filter_by_change_type(engine: Engine, written: None) -> None:
    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        tree = app.files_tree
        await until(pilot, lambda: "D /etc/group" in changes(app))
        tree.focus()
        await pilot.press("f")  # added
        await until(pilot, lambda: "C /etc/passwd" not in changes(app))
        assert "A /d/zz" in leaves(tree) and {e[0] for e in leaves(tree)} == {"A"}
        await until(pilot, lambda: "by name · added only (11) │ writable" in screen_text(app))
        await pilot.press("f")  # modified
        await until(pilot, lambda: leaves(tree) == ["C /etc/passwd"])
        await pilot.press("f")  # removed
        await until(pilot, lambda: leaves(tree) == ["D /etc/group"])
        await pilot.press("f")  # unchanged: only the union view has them
        await until(pilot, lambda: "nothing unchanged here" in screen_text(app))
        await pilot.press("u")
        await until(pilot, lambda: "  /bin/sh" in leaves(tree))
        assert {e[0] for e in leaves(tree)} == {" "} and "A /d/zz" not in changes(app)
        await pilot.press("f")  # all again
        await until(pilot, lambda: "A /d/zz" in changes(app) and "  /bin/sh" in changes(app))

    drive(engine, scenario)


def test_a_big_image_opens_and_each_layer_shows_its_own_files(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small image made as the benchmark's big one is, with the big image's ways on: its
    layers counted after it is shown, its folders made into nodes only once unfolded."""
    monkeypatch.setattr(model, "STATS_BUDGET", 0.0)
    monkeypatch.setattr(change_tree, "FILL_ALL_UP_TO", 10)
    image = big_images.big(engine, "big:latest", files=800, layers=6, big_files=1, big_size=5000)

    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        tree, stack = app.files_tree, app.layer_stack
        app.subject = Subject("image", image)

        def shows(layer: int) -> bool:
            view = app.view
            return (
                view is not None and view.subject.id == image and not tree.reading
                and tree.row is not None and tree.row.key == view.layers[layer].key
            )  # fmt: skip

        await until(pilot, lambda: shows(0))
        assert len(stack.stack) == 6  # busybox's, four COPYs, the RUN on top
        await until(pilot, lambda: all(row.files is not None for row in stack.stack))
        assert stack.stack[0].files == len(tree.listing)  # counted after the image was shown
        # The RUN: a folder of the second COPY deleted, a file changed.
        assert tree.listing.entries["/srv/l001/d000"].kind == "D"
        assert tree.listing.entries["/etc/passwd"].kind == "C"
        stack.focus()
        await pilot.press("down")  # the last COPY: rewrites what the first one wrote
        await until(pilot, lambda: shows(1))
        rewritten = [c for p, c in tree.listing.entries.items() if p.startswith("/srv/l000/d000/")]
        assert len(rewritten) == 100 and {c.kind for c in rewritten} == {"C"}
        assert stack.stack[1].hidden  # the first COPY's copies, still stored
        await pilot.press("down")  # the third COPY: only its own new files
        await until(pilot, lambda: shows(2))
        assert {p.split("/")[2] for p in tree.listing.entries if p.count("/") >= 2} == {"l002"}
        assert {c.kind for p, c in tree.listing.entries.items() if p != "/srv"} == {"A"}
        assert "A /srv/l002/d000/f000.txt" not in changes(app)  # a folder's nodes: made...
        d000 = node(tree, "/srv/l002/d000")
        tree.unfold(d000)
        assert "f000.txt" in [str(n.label) for n in d000.children]
        assert "A /srv/l002/d000/f000.txt" in changes(app)  # ...once it is unfolded
        d001 = node(tree, "/srv/l002/d001")  # by a key: Space on the folder
        await until(pilot, lambda: d001.line >= 0)
        tree.focus()
        tree.move_cursor(d001)
        await pilot.press("space")
        await until(pilot, lambda: "A /srv/l002/d001/f099.txt" in changes(app))
        stack.focus()
        await pilot.press("up")  # back to a layer seen before: its listing was kept
        await until(pilot, lambda: shows(1))
        assert tree.listing.entries["/srv/l000/d000/f000.txt"].kind == "C"
        assert "/srv/l002" not in tree.listing.entries

    drive(engine, scenario)


def test_a_deep_images_picture_draws_its_top_layers_a_count_and_its_bottom(
    engine: Engine,
) -> None:
    image = big_images.deep(engine, "deep:latest", layers=20)
    view = model.load(engine, Subject("image", image))
    assert len(view.layers) == 20
    picture = drawn(view)
    assert "… 8 more read-only layers …" in picture
    assert picture.count("  RO") == 12 and "bottom layer: no parent" in picture
    assert "COPY" in picture.split("more read-only")[0]  # the newest layers are drawn
