"""WCAG 2 contrast of what the app draws: every text segment's colour against its background."""

from __future__ import annotations

from typing import Any

from rich.color import Color
from rich.segment import Segment

AA = 4.5
DIM_FACTOR = 0.5  # Textual draws dim text halfway to its background


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


def luminance(rgb: tuple[int, int, int]) -> float:
    r, g, b = (_channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def ratio(fg: tuple[int, int, int], bg: tuple[int, int, int]) -> float:
    """The WCAG contrast ratio, 1 to 21."""
    light, dark = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def _rgb(color: Color | None, default: tuple[int, int, int]) -> tuple[int, int, int]:
    if color is None or color.is_default:
        return default
    triplet = color.get_truecolor()
    return (triplet.red, triplet.green, triplet.blue)


def _blend(a: tuple[int, int, int], b: tuple[int, int, int], f: float) -> tuple[int, int, int]:
    return (
        round(a[0] + (b[0] - a[0]) * f),
        round(a[1] + (b[1] - a[1]) * f),
        round(a[2] + (b[2] - a[2]) * f),
    )


def segment_colours(
    segment: Segment, fg_default: tuple[int, int, int], bg_default: tuple[int, int, int]
) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """The colours a terminal shows a segment in: reverse swaps them, dim blends toward the bg."""
    style = segment.style
    if style is None:
        return fg_default, bg_default
    fg, bg = _rgb(style.color, fg_default), _rgb(style.bgcolor, bg_default)
    if style.reverse:
        fg, bg = bg, fg
    if style.dim:
        fg = _blend(bg, fg, DIM_FACTOR)
    return fg, bg


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _is_text(text: str) -> bool:
    """Letters, digits, punctuation: not blanks, and not box drawing (borders, rules, bars).

    Borders and scrollbars are graphics (WCAG's 3:1 for non-text), not text.
    """
    return any(not ch.isspace() and not 0x2500 <= ord(ch) <= 0x259F for ch in text)


def low_contrast(app: Any, minimum: float = AA) -> list[tuple[float, str, str]]:
    """(ratio, text, colours) for every non-blank segment on the screen below `minimum`."""
    screen = app.screen
    theme = app.current_theme
    fg_default = _rgb(Color.parse(theme.foreground or "#e0e0e0"), (224, 224, 224))
    bg_default = _rgb(Color.parse(theme.background or "#121212"), (18, 18, 18))
    found: list[tuple[float, str, str]] = []
    for strip in screen._compositor.render_strips():
        for segment in strip:
            if segment.control or not _is_text(segment.text):
                continue
            fg, bg = segment_colours(segment, fg_default, bg_default)
            value = ratio(fg, bg)
            if value < minimum:
                colours = f"{_hex(fg)} on {_hex(bg)}"
                found.append((round(value, 2), segment.text.strip()[:30], colours))
    return found
