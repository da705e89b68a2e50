"""Issue 9: panels that follow the subject, the article's pictures, presentation mode, contrast.

Real containers (runc, overlay) throughout; the app is driven with Pilot and
waited on with `settled()`, never with bare sleeps.
"""

from __future__ import annotations

import asyncio
import colorsys

import pytest
from rich.color import EIGHT_BIT_PALETTE, STANDARD_PALETTE, Color, ColorSystem
from rich.color_triplet import ColorTriplet
from textual.pilot import Pilot
from textual.widgets import Tree

from layerlab.commands import grammar
from layerlab.engine import CreateOptions, Engine
from layerlab.storage.reference import short_id
from layerlab.storage.snapshot import Subject
from layerlab.tui import model, themes
from layerlab.tui.app import LayerlabApp
from layerlab.tui.change_tree import ChangeTree
from layerlab.tui.diagram import CAPTION, Diagram
from layerlab.tui.explainer import Explainer
from layerlab.tui.layer_stack import LayerStack
from layerlab.tui.provenance_view import HINT, ProvenanceView
from layerlab.tui.settle import settled

from .conftest import CLI
from .contrast import AA, low_contrast, ratio
from .tui_helpers import changes, drawn, drive, enter, explained, frame, screen_text, still, until

pytestmark = pytest.mark.system


# --- the picture, a pure function of the subject ------------------------------------------
def test_the_picture_of_an_image_a_container_and_a_running_one(engine: Engine) -> None:
    image = engine.image("busybox")
    layer = image.layers[0]
    view = model.load(engine, Subject("image", image.id))
    text = drawn(view)
    assert f"layer {short_id(layer.chain_id)}…" in text and "bottom" in text
    assert f"image id {image.id[:19]}…" in text  # told apart from the layer id
    assert image.id.startswith("sha256:") and "writable" not in text
    assert "rmi takes an image id or name, never a layer id" in " ".join(text.split())
    assert "process space" not in text

    made = engine.create("busybox", CreateOptions(command=["sleep", "60"], name="pic"))
    text = drawn(model.load(engine, Subject("container", made.id)))
    assert text.index("writable layer  RW") < text.index(f"layer {short_id(layer.chain_id)}")
    assert "process space" not in text  # a container that is not running has none

    engine.start("pic")
    running = model.load(engine, Subject("container", made.id))
    wide, narrow = drawn(running, 80), drawn(running, 40)
    for text in (wide, narrow):
        assert "process space" in text and "pid 1 sleep 60" in text and "running" in text
    # beside the stack when there is room, below it when not
    wide_line = next(line for line in wide.splitlines() if "process space" in line)
    assert "│" in wide_line.split("process space")[0]
    engine.pause("pic")
    assert "frozen (paused)" in drawn(model.load(engine, Subject("container", made.id)))
    assert drawn(None).startswith("no subject yet")
    assert "rmi" in CAPTION


def test_the_picture_changes_as_commands_run(engine: Engine) -> None:
    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        diagram = app.query_one(Diagram)

        def text() -> str:
            return " ".join(drawn(diagram.view, 70).split())

        await enter(pilot, "create --name art busybox sleep 600")
        assert "writable layer RW" in text() and "process space" not in text()
        await enter(pilot, "start art")
        assert "process space" in text() and "pid 1 sleep 600" in text()
        await enter(pilot, "pause art")
        assert "frozen (paused)" in text()
        await enter(pilot, "unpause art")
        await enter(pilot, "stop -t 1 art")
        assert "process space" not in text()
        await enter(pilot, "commit art art:v1")
        view = diagram.view
        assert view is not None and view.subject.kind == "image" and len(view.layers) == 2
        assert "image art:v1 = 2 read-only layers" in text()
        assert text().count("layer ") >= 2 and "writable" not in text()

    drive(engine, scenario)


# --- panels that follow the subject ----------------------------------------------------------
def test_a_new_subject_shows_its_writable_layer_not_the_layer_picked_before(
    engine: Engine,
) -> None:
    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        await enter(pilot, "run --name first busybox sh -c 'echo x >> /etc/passwd'")
        stack, tree = app.query_one(LayerStack), app.query_one(ChangeTree)
        stack.focus()
        await pilot.press("down")  # pick busybox's read-only layer
        await until(pilot, lambda: "A /bin" in changes(app))
        tree.focus()
        await pilot.press("down")  # a file of that layer: its provenance shows
        provenance = app.query_one(ProvenanceView)
        await until(pilot, lambda: provenance.provenance is not None)

        await pilot.press("escape")  # back to the command bar
        await enter(pilot, "create --name second busybox true")
        second = engine.container("second")
        assert app.subject == Subject("container", second.id)
        assert stack.cursor_row == 0 and stack.stack[0].writable
        assert tree.live == stack.stack[0].path  # its writable layer, live
        assert changes(app) == [] and "writable layer (live)" in str(tree.border_title)
        assert provenance.provenance is None and HINT in str(provenance.render())

        stack.focus()
        await pilot.press("down")  # a read-only layer again; then any command goes back up
        await until(pilot, lambda: "A /bin" in changes(app))
        await pilot.press("escape")
        await enter(pilot, "ps -a")
        await until(pilot, lambda: tree.live is not None and changes(app) == [])
        assert stack.cursor_row == 0

        await enter(pilot, "start -a first")  # the container that wrote /etc/passwd
        await until(pilot, lambda: "C /etc/passwd" in changes(app))
        tree.focus()
        await pilot.press("enter")  # Enter on a file: its provenance
        await until(pilot, lambda: provenance.provenance is not None)

    drive(engine, scenario)


def test_provenance_follows_enter_on_a_file(engine: Engine) -> None:
    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        await enter(pilot, "run --name prov busybox sh -c 'echo x >> /etc/passwd'")
        tree = app.query_one(ChangeTree)
        await until(pilot, lambda: "C /etc/passwd" in changes(app))
        provenance = app.query_one(ProvenanceView)
        provenance.clear()
        tree.focus()
        etc = tree.root.children[0]
        node = next(n for n in etc.children if str(n.data) == "C /etc/passwd")
        tree.post_message(Tree.NodeSelected(node))  # what Enter on the node posts
        await until(pilot, lambda: provenance.provenance is not None)
        assert provenance.provenance is not None
        assert provenance.provenance.path == "/etc/passwd"

    drive(engine, scenario)


@pytest.mark.filterwarnings("ignore:Callback with id:RuntimeWarning")  # see test_watch.py
def test_the_writable_layers_size_follows_writes(engine: Engine, cli: CLI) -> None:
    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        await enter(pilot, "run -d --name grow busybox sleep 60")
        stack = app.query_one(LayerStack)

        def size() -> str:
            return str(stack.get_cell("rw", "size"))

        assert size() == "0B"
        script = "dd if=/dev/zero of=/big bs=1000 count=5 2>/dev/null"
        wrote = await asyncio.to_thread(cli, "exec", "grow", "sh", "-c", script)
        assert wrote.code == 0, wrote.err
        # nothing typed in the TUI: the watcher's update measures the layer again
        await until(pilot, lambda: size() == "5kB", timeout=10)
        assert "writable layer  RW  5kB" in drawn(app.query_one(Diagram).view)

    drive(engine, scenario)


def test_the_subject_falls_back_to_the_most_recent_when_it_vanishes(engine: Engine) -> None:
    older = engine.create("busybox", CreateOptions(command=["true"], name="older"))

    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        await until(pilot, lambda: app.subject == Subject("container", older.id))  # start-up
        await enter(pilot, "create --name newer busybox true")
        assert app.view is not None and app.view.name == "newer"
        other = Engine(engine.store.root)  # another shell removes the subject
        await asyncio.to_thread(other.rm, "newer")
        await until(pilot, lambda: app.subject == Subject("container", older.id), timeout=10)
        assert app.view is not None and app.view.name == "older"
        await asyncio.to_thread(other.rm, "older")
        busybox = Subject("image", engine.image("busybox").id)
        await until(pilot, lambda: app.subject == busybox, timeout=10)

    drive(engine, scenario)


def test_start_up_selects_the_latest_subject(engine: Engine) -> None:
    engine.create("busybox", CreateOptions(command=["true"], name="early"))
    latest = engine.create("busybox", CreateOptions(command=["true"], name="late"))

    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        await until(pilot, lambda: app.view is not None)
        assert app.subject == Subject("container", latest.id)
        assert app.query_one(LayerStack).cursor_row == 0

    drive(engine, scenario)


# --- presentation mode -----------------------------------------------------------------------
def test_present_is_in_the_grammar() -> None:
    assert grammar.parse(["tui", "--present"]).present is True
    assert grammar.parse(["tui"]).present is False


def test_presentation_mode_at_80x24_shows_the_layers_and_the_change(engine: Engine) -> None:
    async def main() -> None:
        app = LayerlabApp(engine.store.root, present=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await settled(pilot)
            for line in ("create --name demo busybox sleep 600", "start demo"):
                await enter(pilot, line)
            await enter(pilot, "exec demo touch /happiness.txt")
            await until(pilot, lambda: "A /happiness.txt" in screen_text(app))  # repainted
            text = screen_text(app)
            stack = app.query_one(LayerStack).stack
            assert "A /happiness.txt" in text
            for row in stack:
                assert row.short_id in text
            assert "RW" in text and "RO" in text
            assert "process space" in text and "writable layer" in text
            assert "processes:" not in text and "inspect" not in text  # the rest is hidden
            await pilot.press("f8")
            await until(pilot, lambda: not app.screen.has_class("-present"))
            assert not app.query_one(Diagram).display  # 24 rows: the picture is F8's
            await pilot.press("f8")
            await until(pilot, lambda: app.screen.has_class("-present"))

    asyncio.run(main())


def test_presentation_mode_shows_the_output_and_whole_explanations_at_80x24(
    engine: Engine,
) -> None:
    """A teacher shows `history`'s output; Ctrl+G gives it the screen and F12 goes to it;
    stop's explanation (the longest) is whole, not cut mid-sentence."""

    async def main() -> None:
        app = LayerlabApp(engine.store.root, present=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await settled(pilot)
            await enter(pilot, "history busybox")
            await until(pilot, lambda: 'CMD ["sh"]' in screen_text(app))  # its output
            for line in ("create --name demo busybox sleep 600", "start demo", "stop -t 1 demo"):
                await enter(pilot, line)
            await until(pilot, lambda: "SIGKILL" in screen_text(app))
            explainer = app.query_one(Explainer)
            assert explainer.virtual_size.height <= explainer.scrollable_content_region.height
            assert "(SIGKILL)" in explained(app) and explained(app).split()[-1] in screen_text(app)
            logs = app.query_one("#logs")
            small = logs.region.height
            await pilot.press("ctrl+g")
            await until(pilot, lambda: logs.region.height > 2 * small)
            await pilot.press("ctrl+g")
            await until(pilot, lambda: logs.region.height == small)
            await pilot.press("f12")
            await until(pilot, lambda: app.focused is app.output_log)

    asyncio.run(main())


# --- contrast ---------------------------------------------------------------------------------
def test_the_wcag_formula() -> None:
    assert round(ratio((0, 0, 0), (255, 255, 255)), 1) == 21.0
    assert ratio((118, 118, 118), (255, 255, 255)) > AA > ratio((119, 119, 119), (255, 255, 255))


async def painted_in(pilot: Pilot[None], theme: str) -> None:
    """Switch to `theme` and wait until the screen is painted in it."""
    app = pilot.app
    before = frame(app)
    changed = app.theme != theme
    app.theme = theme
    await still(pilot, unlike=before if changed else None)


async def in_every_theme(pilot: Pilot[None], where: str) -> list[tuple[float, str, str]]:
    """The screen as it is now, painted in each theme in turn: what is under AA in each."""
    found: list[tuple[float, str, str]] = []
    for theme in themes.NAMES:
        await painted_in(pilot, theme)
        found += [(r, f"{theme}, {where}: {t}", c) for r, t, c in low_contrast(pilot.app)]
    return found


def test_every_text_meets_wcag_aa_in_every_theme(engine: Engine) -> None:
    """Every non-blank text segment on screen, in every panel's state, at 4.5:1 or more: one
    session, each state painted in each theme."""

    async def main() -> None:
        app = LayerlabApp(engine.store.root)
        async with app.run_test(size=(100, 32)) as pilot:
            await settled(pilot)
            found = await in_every_theme(pilot, "welcome")
            for line in (
                "create --name demo -v data:/data --tmpfs /run busybox sleep 600",
                "start demo",
                "exec demo touch /happiness.txt",
                "pause demo",
                "ps -a",
            ):
                await enter(pilot, line)
            await until(pilot, lambda: "A /happiness.txt" in changes(app))
            for keys in ([], ["f3"], ["f4"], ["f5"], ["f2"], ["f1"], ["escape", "f8"]):
                await pilot.press(*keys)
                found += await in_every_theme(pilot, str(keys))
        assert not found, f"{len(found)} segments under {AA}:1, e.g. {found[:5]}"

    asyncio.run(main())


def test_ctrl_t_cycles_three_themes(engine: Engine) -> None:
    async def scenario(app: LayerlabApp, pilot: Pilot[None]) -> None:
        seen = [app.theme]
        for _ in themes.NAMES:
            await pilot.press("ctrl+t")
            seen.append(app.theme)
        assert seen == [*themes.NAMES, themes.NAMES[0]]
        assert app.get_theme("layerlab-high-contrast") is not None

    drive(engine, scenario, size=(80, 24))


def reddish(triplet: tuple[int, int, int]) -> bool:
    """A colour a reader takes for an error: a hue near red, not a grey."""
    hue, _, saturation = colorsys.rgb_to_hls(*(part / 255 for part in triplet))
    return max(triplet) - min(triplet) > 24 and saturation > 0.2 and not 1 / 12 < hue < 11 / 12


def test_in_256_and_16_colours_no_background_turns_red(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tmux or macOS Terminal: TERM=xterm-256color and no COLORTERM. Each background on the
    screen, in each theme, as the terminal's palette shows it (256 colours, and 16), is no
    error's red."""
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("COLORTERM", raising=False)
    backgrounds: dict[str, tuple[int, int, int]] = {}

    async def main() -> None:
        app = LayerlabApp(engine.store.root)
        assert app.console.color_system == "256"
        async with app.run_test(size=(100, 30)) as pilot:
            await enter(pilot, "run -d --name red busybox sleep 600")
            assert app.explainer.text  # the explainer has its say, on its background
            row = app.explainer.region.y
            for theme in themes.NAMES:
                await painted_in(pilot, theme)
                for y, strip in enumerate(app.screen._compositor.render_strips()):
                    for segment in strip:
                        color = segment.style.bgcolor if segment.style else None
                        if color is not None and color.triplet is not None:
                            where = f"{theme}, " + ("explainer" if y == row else f"row {y}")
                            backgrounds.setdefault(f"{where} {color.triplet.hex}", color.triplet)
        for theme in themes.NAMES:
            assert any(where.startswith(f"{theme}, explainer") for where in backgrounds)
        for system, palette in (
            (ColorSystem.EIGHT_BIT, EIGHT_BIT_PALETTE),
            (ColorSystem.STANDARD, STANDARD_PALETTE),
        ):
            shown = {
                where: palette[Color.from_triplet(triplet).downgrade(system).number or 0]
                for where, triplet in backgrounds.items()
            }
            red = {where: ColorTriplet(*rgb).hex for where, rgb in shown.items() if reddish(rgb)}
            assert not red, f"{system.name}: {red}"

    asyncio.run(main())
