"""The subject bar: the one container or image every panel is showing, always named."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from layerlab.tui.explain import plural
from layerlab.tui.model import SubjectView

STATUS_STYLE = {
    "running": "bold green",
    "paused": "bold cyan",
    "created": "bold yellow",
    "exited": "bold red",
    "dead": "bold red",
}


class SubjectBar(Static):
    """`layerlab  subject: container demo (running) on busybox:latest`."""

    view: reactive[SubjectView | None] = reactive(None)

    def watch_view(self, view: SubjectView | None) -> None:
        text = Text.assemble(("layerlab ", "bold"), ("│ ", "dim"))
        if view is None:
            text.append("no subject yet: create a container, or pick one with F2", "italic")
        elif view.subject.kind == "image":
            text.append_text(
                Text.assemble(
                    "image ",
                    (view.name, "bold"),
                    f"  {plural(len(view.layers), 'read-only layer')}",
                )
            )
        else:
            text.append_text(
                Text.assemble(
                    "container ",
                    (view.name, "bold"),
                    " ",
                    (view.status, STATUS_STYLE.get(view.status, "bold")),
                    f"  = {view.image_name} ({len(view.layers) - 1} read-only) + 1 writable layer",
                )
            )
        self.update(text)
