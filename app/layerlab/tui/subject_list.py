"""The side list: every container (with its state) and every image, to pick a subject from."""

from __future__ import annotations

from rich.text import Text
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from layerlab.tui.model import StoreSummary, Subject
from layerlab.tui.subject_bar import STATUS_STYLE

STATUS_MARK = {"running": "●", "paused": "‖", "created": "○", "exited": "■", "dead": "✕"}


class SubjectList(OptionList):
    """Containers first (newest first, as `ps -a`), then images (as `images -a`)."""

    class Picked(Message):
        def __init__(self, subject: Subject) -> None:
            super().__init__()
            self.subject = subject

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._subjects: dict[str, Subject] = {}

    def show(self, summary: StoreSummary, current: Subject | None) -> None:
        options: list[Option] = [Option(Text("CONTAINERS", style="bold dim"), disabled=True)]
        subjects: dict[str, Subject] = {}
        for c in summary.containers:
            mark = STATUS_MARK.get(c.status, "?")
            label = Text.assemble((mark + " ", STATUS_STYLE.get(c.status, "")), c.name)
            subjects[c.id] = Subject("container", c.id)
            options.append(Option(label, id=c.id))
        if not summary.containers:
            options.append(Option(Text("  none yet", style="italic dim"), disabled=True))
        options.append(Option(Text("IMAGES", style="bold dim"), disabled=True))
        for _, image in summary.images:
            if image.id in subjects:
                continue  # one entry per image, however many tags it has
            subjects[image.id] = Subject("image", image.id)
            label = Text.assemble(("▤ ", "blue"), summary.image_name(image.id))
            options.append(Option(label, id=image.id))
        self._subjects = subjects
        option = self.highlighted_option
        browsing = option.id if self.has_focus and option else None  # keep the user's cursor
        self.set_options(options)
        target = browsing or (current.id if current else None)
        if target in subjects:
            self.highlighted = self.get_option_index(target)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        subject = self._subjects.get(event.option.id or "")
        if subject is not None:
            self.post_message(self.Picked(subject))
