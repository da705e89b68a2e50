"""What every panel looks like, and how a widget re-renders when the theme changes.

Each widget carries its own look (`DEFAULT_CSS`, `COMPONENT_CLASSES`); the
panel chrome they share is here once. `app.tcss` only places the panels.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.style import Style
from textual.widget import Widget


def panel_css(widget: str) -> str:
    """A panel: a title rule on top and no side borders (80 columns are precious).

    The panel holding the focus draws its rule heavy, in the accent colour (same height).
    """
    return f"""
    {widget}, {widget}:focus {{
        border: none;
        border-top: solid $primary 60%;
        border-title-color: $text;
        border-title-style: bold;
        background: $surface;
    }}
    {widget}:focus-within {{
        border-top: heavy $accent;
        border-title-color: $text-accent;
    }}
    """


def on_theme_change(widget: Widget, restyle: Callable[[], None]) -> None:
    """Call `restyle` after each theme change (from the widget's `on_mount`).

    A widget that renders its content once (a Static's Text, a table's cells)
    reads its component styles then; after a theme change it renders again.
    """
    widget.app.theme_changed_signal.subscribe(widget, lambda _theme: restyle())


def component_style(widget: Widget, name: str) -> Style:
    """A component class's style from the widget's CSS, as a partial Rich style.

    Before the widget has styles (a Tree measures its labels while being built)
    it is the plain style.
    """
    return widget.get_component_rich_style(name, partial=True, default=Style())
