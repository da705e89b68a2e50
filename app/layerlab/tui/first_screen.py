"""The app's own screen: born with the classes its size and mode give it, styled once."""

from __future__ import annotations

from textual import events
from textual.geometry import Size
from textual.screen import Screen

Breakpoints = list[tuple[int, str]]


class FirstScreen(Screen[None]):
    """The app's own screen, styled once before its first frame.

    Each widget is styled as it mounts; Textual then restyles the whole screen
    when it first becomes current, in case the CSS changed while it was away.
    The first time it was never away: that second pass would only delay the frame.
    Its focus starts in the command bar (Textual's default, the first focusable
    widget, would restyle the subject list in and out of focus on the way).
    """

    AUTO_FOCUS = "#command"
    _resumed = False

    @classmethod
    def born(
        cls, size: Size, horizontal: Breakpoints, vertical: Breakpoints, present: bool
    ) -> FirstScreen:
        """The screen with the classes its size and mode give it.

        Set after its panels mounted (as Textual does on the first resize), each
        class would restyle every panel once more before the first frame.
        """
        classes = [
            max((point for point in points if point[0] <= length), default=(0, ""))[1]
            for length, points in ((size.width, horizontal), (size.height, vertical))
        ]
        if present:
            classes.append("-present")
        return cls(id="_default", classes=" ".join(classes))

    def _on_screen_resume(self, event: events.ScreenResume) -> None:  # before Screen's own
        if not self._resumed:
            self._resumed = True
            event.refresh_styles = False
