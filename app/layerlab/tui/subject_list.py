"""The side list: every container (with its state) and every image, to pick a subject from."""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.message import Message
from textual.widget import Widget
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from layerlab.storage.snapshot import Snapshot, Subject
from layerlab.tui.look import component_style, on_theme_change, panel_css
from layerlab.tui.subject_bar import STATUS_CSS, STATUSES

STATUS_MARK = {"running": "●", "paused": "‖", "created": "○", "exited": "■", "dead": "✕"}


class SubjectList(OptionList):
    """Containers first (newest first, as `ps -a`), then images (as `images -a`)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "subject-list--heading",
        "subject-list--none",
        "subject-list--image",
        *(f"subject-list--{status}" for status in STATUSES),
    }
    """
    | Class | Description |
    | :- | :- |
    | `subject-list--heading` | CONTAINERS, IMAGES. |
    | `subject-list--none` | The line for no containers. |
    | `subject-list--image` | An image's mark. |
    | `subject-list--running` ... `--dead` | A container's status mark. |
    """
    DEFAULT_CSS = (
        panel_css("SubjectList")
        + """
    SubjectList {
        & > .subject-list--heading { color: $text-muted; text-style: bold; }
        & > .subject-list--none { color: $text-muted; text-style: italic; }
        & > .subject-list--image { color: $text-primary; }
"""
        + STATUS_CSS.format(name="subject-list")
        + "    }\n"
    )

    class Picked(Message):
        def __init__(self, subject: Subject) -> None:
            super().__init__()
            self.subject = subject

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._subjects: dict[str, Subject] = {}
        self._shown: tuple[Snapshot, Subject | None] | None = None

    def on_mount(self) -> None:
        on_theme_change(self, self._restyle)

    def _restyle(self) -> None:
        if self._shown is not None:
            self.show(*self._shown)

    def _component(self, name: str) -> Style:
        return component_style(self, name)

    def show(self, snapshot: Snapshot, current: Subject | None) -> None:
        self._shown = (snapshot, current)
        heading = self._component("subject-list--heading")
        options: list[Option] = [Option(Text("CONTAINERS", style=heading), disabled=True)]
        subjects: dict[str, Subject] = {}
        for c in snapshot.containers:
            mark = STATUS_MARK.get(c.status, "?")
            status = self._component(f"subject-list--{c.status}") if c.status in STATUSES else ""
            label = Text.assemble((mark + " ", status), c.name)
            subjects[c.id] = Subject("container", c.id)
            options.append(Option(label, id=c.id))
        if not snapshot.containers:
            none = self._component("subject-list--none")
            options.append(Option(Text("  none yet", style=none), disabled=True))
        options.append(Option(Text("IMAGES", style=heading), disabled=True))
        for _, image in snapshot.images:
            if image.id in subjects:
                continue  # one entry per image, however many tags it has
            subjects[image.id] = Subject("image", image.id)
            label = Text.assemble(
                ("▤ ", self._component("subject-list--image")), snapshot.image_name(image.id)
            )
            options.append(Option(label, id=image.id))
        self._subjects = subjects
        option = self.highlighted_option
        browsing = option.id if self.has_focus and option else None  # keep the user's cursor
        self.set_options(options)
        target = browsing or (current.id if current else None)
        if target in subjects:
            self.highlighted = self.get_option_index(target)

    def toggle(self, elsewhere: Widget) -> None:
        """Go to the list (showing it if hidden); from the list, hide it, focusing `elsewhere`.

        It starts hidden on narrow screens.
        """
        if not self.display or self.screen.focused is self:
            self.toggle_class("-toggled")
        self.call_after_refresh(self._focus, elsewhere)

    def _focus(self, elsewhere: Widget) -> None:
        if self.display:
            self.focus()
        else:
            elsewhere.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        subject = self._subjects.get(event.option.id or "")
        if subject is not None:
            self.post_message(self.Picked(subject))
