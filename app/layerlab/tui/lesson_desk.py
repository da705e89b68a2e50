"""The lesson open in the app: the picker (F7), the pane, its keys, and its sandbox's end.

A lesson opens on a clean sandbox of its own: the pane makes it and switches the
app onto it. Leaving (or opening another) switches the app back home and closes
the sandbox through its engine on a thread of its own, off the UI thread; the app
waits for those threads only as it exits. The pane and the picker are modules of
their own; this one only opens, leaves and drives them.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Protocol

from layerlab.tui.literal import shown

if TYPE_CHECKING:
    from textual.app import App

    from layerlab.engine import Engine
    from layerlab.engine.daemon import DaemonSource
    from layerlab.lessons.model import Lesson
    from layerlab.tui.command_bar import CommandBar
    from layerlab.tui.explainer import Explainer
    from layerlab.tui.lesson_pane import LessonPane
    from layerlab.tui.output_log import OutputLog


LESSONS_OFF = "Lessons are off on a real Docker daemon: they run in layerlab's own sandboxes."


class DeskHost(Protocol):
    """What the desk needs of the app (`LayerlabApp`, which imports this module)."""

    demo_exit: bool
    demo_failed: list[str]

    @property
    def app(self) -> App[Any]: ...
    @property
    def home_engine(self) -> Engine: ...
    @property
    def daemon(self) -> DaemonSource | None: ...
    @property
    def output_log(self) -> OutputLog: ...
    @property
    def explainer(self) -> Explainer: ...
    @property
    def command_bar(self) -> CommandBar: ...
    def switch_engine(self, engine: Engine) -> None: ...


class LessonDesk:
    """The lesson pane while a lesson is open, and the sandboxes still being removed."""

    def __init__(self, host: DeskHost) -> None:
        self.host = host
        self.pane: LessonPane | None = None
        self._closers: list[threading.Thread] = []  # sandboxes being removed

    def pick(self) -> None:
        """F7: the course, to open a lesson (or leave the one open)."""
        from layerlab.lessons.loader import LessonError, load_course
        from layerlab.lessons.progress import Progress
        from layerlab.tui.lesson_picker import LessonPicker

        app = self.host.app
        if self.host.daemon is not None:  # `tui --docker`
            app.notify(LESSONS_OFF, title="layerlab", timeout=4, markup=False)
            return
        try:
            course = load_course()
        except LessonError as exc:
            app.notify(
                shown(str(exc)), title="the course has problems", severity="error", markup=False
            )
            return
        current = self.pane.lesson.name if self.pane else None
        app.push_screen(LessonPicker(course, Progress.load(), current), self._picked)

    def _picked(self, choice: Lesson | str | None) -> None:
        from layerlab.lessons.model import Lesson
        from layerlab.tui.lesson_picker import LEAVE

        if choice == LEAVE:
            self.leave()
        elif isinstance(choice, Lesson):
            self.open(choice)

    def open(self, lesson: Lesson, demo: float | None = None) -> None:
        """Open a lesson on a clean sandbox of its own (the one open is closed first), with an
        empty output pane: what came before spoke of another store."""
        from layerlab.lessons.progress import Progress
        from layerlab.tui.lesson_pane import LessonPane

        host = self.host
        self.leave()
        host.output_log.clear_in_turn()  # after the lines already on their way
        pane = LessonPane(lesson, Progress.load())
        self.pane = pane
        host.app.mount(pane)  # its on_mount makes the sandbox and switches us onto it
        host.explainer.text = (
            f"{lesson.title}: the lesson says what to type (F9 pastes it) and ticks each check "
            "as the store changes; Shift+F7 shows or folds the step's text, F10 gives a hint."
        )
        if demo is not None:
            host.app.run_worker(self._demo(pane, demo), group="demo", exit_on_error=False)
            pane.focus()  # space and → drive the demo; the command bar only shows the typing
        else:
            host.command_bar.focus()

    async def _demo(self, pane: LessonPane, delay: float) -> None:
        await pane.play(delay)
        if self.host.demo_exit:
            self.host.app.exit(return_code=1 if self.host.demo_failed else 0)

    def leave(self) -> None:
        """Back to the learner's own store; the lesson's sandbox is removed off the UI thread."""
        pane, self.pane = self.pane, None
        if pane is None:
            return
        app = self.host.app
        app.workers.cancel_group(app, "demo")
        self.host.switch_engine(self.host.home_engine)
        self.close_sandbox(pane)
        pane.remove()

    def close_sandbox(self, pane: LessonPane | None = None, wait: bool = False) -> None:
        """Close the pane's sandbox (the open one's by default) on a thread; `wait`: wait for
        every sandbox being closed (the app exits)."""
        pane = pane or self.pane
        sandbox = pane.release() if pane is not None else None
        if sandbox is not None:
            thread = threading.Thread(target=sandbox.close, name="lesson-close")
            thread.start()
            self._closers.append(thread)
        if wait:
            for thread in self._closers:
                thread.join()

    @property
    def closing(self) -> bool:
        """A lesson's sandbox is still being removed."""
        return any(thread.is_alive() for thread in self._closers)

    def act(self, what: str) -> None:
        """F9 paste the next command, F10 a hint, Shift+F10 the solution, ^N/^B step, ^R restart."""
        pane = self.pane
        if pane is None:
            return
        if what == "paste":
            command = pane.next_command()
            if command:
                bar = self.host.command_bar
                bar.value = command
                bar.cursor_position = len(command)
                bar.focus()
        elif what == "hint":
            pane.hint()
        elif what == "solution":
            pane.solution()
        elif what in ("next", "back"):
            pane.step_by(1 if what == "next" else -1)
        elif what == "restart":
            self.open(pane.lesson)
        elif what == "fold":
            pane.toggle_fold()
