"""The app's themes: dark, light and high contrast, every text colour at WCAG AA (4.5:1) or more.

A projector washes colours out, so each theme's text colours are chosen
against its own backgrounds (surface, panel, the subject bar's tint); the
widgets name only theme variables (`$text-success`, `$text-muted`...).
Ctrl+T cycles them.

A terminal with 256 or 16 colours (tmux, macOS Terminal) shows each colour as
the nearest of its palette: a dark amber tint becomes dark red there, and reads
as an error. So a tinted background is chosen by what it becomes: the
explainer's is a warm grey, grey on the 256-colour ramp.
"""

from __future__ import annotations

from typing import Any

from textual.app import App
from textual.theme import Theme

DARK = Theme(
    name="layerlab-dark",
    primary="#3b8eea",
    secondary="#2a6cb5",
    accent="#ffb454",
    warning="#ffb454",
    error="#ff7b8a",
    success="#5fd68a",
    foreground="#e8e8e8",
    background="#121212",
    surface="#1a1a1a",
    panel="#242424",
    dark=True,
    variables={
        "explainer-background": "#38322a",  # saturation under 15%: grey #303030 in 256 colours
        "text-muted": "#b4b4b4",
        "text-primary": "#8cc4ff",
        "text-success": "#6fe09a",
        "text-warning": "#ffc27a",
        "text-error": "#ff9aa6",
        "footer-key-foreground": "#ffc27a",
        "footer-description-foreground": "#e8e8e8",
        "input-cursor-foreground": "#121212",
        "block-cursor-foreground": "#ffffff",
        "block-cursor-background": "#163f73",  # dark enough for every status colour (AA)
        "block-cursor-blurred-foreground": "#ffffff",
        "block-cursor-blurred-background": "#2c3e55",
        "block-hover-background": "#2c2c2c",
    },
)

LIGHT = Theme(
    name="layerlab-light",
    primary="#0b5394",
    secondary="#1565c0",
    accent="#8a4b00",
    warning="#8a4b00",
    error="#a4161a",
    success="#1b6b34",
    foreground="#141414",
    background="#f6f6f6",
    surface="#ffffff",
    panel="#ececec",
    dark=False,
    variables={
        "explainer-background": "#e5dcd1",  # #d7d7d7 in 256 colours
        "text-muted": "#4f4f4f",
        "text-primary": "#0b4f8c",
        "text-success": "#17602e",
        "text-warning": "#7a4100",
        "text-error": "#9c1418",
        "footer-key-foreground": "#0b4f8c",
        "footer-description-foreground": "#141414",
        "input-cursor-foreground": "#ffffff",
        "block-cursor-foreground": "#141414",
        "block-cursor-background": "#cfe0f3",  # light: status colours stay AA on the cursor
        "block-cursor-blurred-foreground": "#141414",
        "block-cursor-blurred-background": "#d6e4f2",
        "block-hover-background": "#e4e4e4",
    },
)

CONTRAST = Theme(
    name="layerlab-high-contrast",
    primary="#4aa8ff",
    secondary="#4aa8ff",
    accent="#ffe066",
    warning="#ffe066",
    error="#ff9e9e",
    success="#7dff9e",
    foreground="#ffffff",
    background="#000000",
    surface="#000000",
    panel="#0c0c0c",
    dark=True,
    variables={
        "explainer-background": "#26210f",  # black in 256 colours, as the screen
        "text-muted": "#d8d8d8",
        "text-primary": "#9fd0ff",
        "text-success": "#7dff9e",
        "text-warning": "#ffe066",
        "text-error": "#ffb0b0",
        "footer-key-foreground": "#ffe066",
        "footer-description-foreground": "#ffffff",
        "input-cursor-foreground": "#000000",
        "block-cursor-foreground": "#ffffff",
        "block-cursor-background": "#0d2a4a",  # dark: the light status colours stay AA on it
        "block-cursor-blurred-foreground": "#ffffff",
        "block-cursor-blurred-background": "#1e3a5a",
        "block-hover-background": "#1a1a1a",
    },
)

THEMES = (DARK, LIGHT, CONTRAST)
NAMES = tuple(theme.name for theme in THEMES)


# For a theme of Textual's own (the command palette offers them): the variables ours add.
VARIABLE_DEFAULTS = {"explainer-background": "rgba(128,128,128,0.15)"}  # a grey tint


def register(app: App[Any]) -> None:
    """Register the three themes and start in the dark one (unless one of ours is set)."""
    for theme in THEMES:
        app.register_theme(theme)
    if app.theme not in NAMES:
        app.theme = DARK.name


def next_theme(current: str) -> str:
    """Dark → light → high contrast → dark (Ctrl+T)."""
    index = NAMES.index(current) if current in NAMES else -1
    return NAMES[(index + 1) % len(NAMES)]
