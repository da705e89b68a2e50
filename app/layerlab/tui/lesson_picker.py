"""The lesson picker: the course, one lesson a line, with its length and whether it is done."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from layerlab.lessons.model import Lesson
from layerlab.lessons.progress import Progress

LEAVE = "leave"  # the picker's answer for "back to your own store"


def lesson_line(lesson: Lesson, done: bool) -> Text:
    steps = len(lesson.steps)
    mark = Text("✔ ", style="green") if done else Text("· ", style="dim")
    return (
        mark
        + Text(f"{lesson.order}  {lesson.title}")
        + Text(f"  ({steps} step{'s' if steps != 1 else ''})", style="dim")
    )


class LessonPicker(ModalScreen[Lesson | str | None]):
    """Pick a lesson (Enter), leave the one open, or close (Esc)."""

    DEFAULT_CSS = """
    LessonPicker {
        align: center middle;
        & > #picker {
            width: 90%;
            max-width: 100;
            height: 80%;
            border: round $accent;
            background: $surface;
            padding: 0 1;
        }
        #picker-lessons { height: 1fr; }
        #picker-note { color: $text-muted; }
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,f7", "dismiss_none", "Close"),
    ]

    def __init__(self, lessons: list[Lesson], progress: Progress, current: str | None) -> None:
        super().__init__()
        self.lessons = lessons
        self.progress = progress
        self.current = current

    def compose(self) -> ComposeResult:
        options: list[Option] = []
        if self.current is not None:
            options.append(
                Option(Text(f"← leave lesson {self.current}: back to your own store"), id=LEAVE)
            )
        for lesson in self.lessons:
            line = lesson_line(lesson, lesson.name in self.progress.done)
            options.append(Option(line, id=lesson.name))
        done = sum(1 for lesson in self.lessons if lesson.name in self.progress.done)
        with Vertical(id="picker"):
            yield Static(
                f"[b]lessons[/] · {done} of {len(self.lessons)} done · each runs in a store of "
                "its own: your containers and images stay as they are",
            )
            yield OptionList(*options, id="picker-lessons")
            yield Static("Enter opens (the open one restarts clean) · Esc closes", id="picker-note")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        choice = event.option.id
        if choice == LEAVE:
            self.dismiss(LEAVE)
            return
        self.dismiss(next(lesson for lesson in self.lessons if lesson.name == choice))

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
