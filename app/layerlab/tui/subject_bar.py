"""The subject bar: the one container or image every panel is showing, always named."""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from layerlab.presentation.humanize import plural
from layerlab.tui.literal import literal
from layerlab.tui.look import component_style, on_theme_change
from layerlab.tui.model import SubjectView

# A container's states, each drawn with a component class of its own (here and in the list).
STATUSES = ("running", "paused", "created", "exited", "dead")
STATUS_CSS = """
    & > .{name}--running {{ color: $text-success; text-style: bold; }}
    & > .{name}--paused {{ color: $text-primary; text-style: bold; }}
    & > .{name}--created {{ color: $text-warning; text-style: bold; }}
    & > .{name}--exited {{ color: $text-error; text-style: bold; }}
    & > .{name}--dead {{ color: $text-error; text-style: bold; }}
"""


class SubjectBar(Static):
    """`layerlab  subject: container demo (running) on busybox:latest`."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "subject-bar--app",
        "subject-bar--rule",
        "subject-bar--name",
        "subject-bar--none",
        *(f"subject-bar--{status}" for status in STATUSES),
    }
    """
    | Class | Description |
    | :- | :- |
    | `subject-bar--app` | The app's name. |
    | `subject-bar--rule` | The rule after it. |
    | `subject-bar--name` | The subject's name. |
    | `subject-bar--none` | The line shown with no subject. |
    | `subject-bar--running` ... `--dead` | A container's status. |
    """
    DEFAULT_CSS = (
        """
    SubjectBar {
        padding: 0 1;
        background: $primary 15%;
        & > .subject-bar--app { text-style: bold; }
        & > .subject-bar--rule { color: $text-muted; }
        & > .subject-bar--name { text-style: bold; }
        & > .subject-bar--none { text-style: italic; }
"""
        + STATUS_CSS.format(name="subject-bar")
        + "    }\n"
    )

    view: reactive[SubjectView | None] = reactive(None)
    shown_from = ""  # `tui --docker`: the daemon shown, named before the subject

    def on_mount(self) -> None:
        on_theme_change(self, lambda: self.watch_view(self.view))

    def _component(self, name: str) -> Style:
        return component_style(self, name)

    def watch_view(self, view: SubjectView | None) -> None:
        text = Text.assemble(
            ("layerlab ", self._component("subject-bar--app")),
            ("│ ", self._component("subject-bar--rule")),
        )
        if self.shown_from:
            text.append_text(
                Text.assemble(self.shown_from, (" │ ", self._component("subject-bar--rule")))
            )
        name = self._component("subject-bar--name")
        if view is None:
            text.append(
                "no subject yet: create a container, or pick one with F2",
                self._component("subject-bar--none"),
            )
        elif view.subject.kind == "image":
            text.append_text(
                Text.assemble(
                    "image ",
                    (view.name, name),
                    f"  {plural(len(view.layers), 'read-only layer')}",
                )
            )
        else:
            status = (
                self._component(f"subject-bar--{view.status}") if view.status in STATUSES else name
            )
            text.append_text(
                Text.assemble(
                    "container ",
                    (view.name, name),
                    " ",
                    (view.status, status),
                    f"  = {view.image_name} ({len(view.layers) - 1} read-only) + 1 writable layer",
                )
            )
        self.update(literal(text))
