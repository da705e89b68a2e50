"""The logs panel at the foot of the screen: the output and event logs, a tab each.

Its frame is in the first frame; its tabs and logs mount right after it. The
logs are Textual RichLogs, whose module alone (with Rich's pretty-printer and
attrs) costs ~20 ms to import: it is imported when a log is first needed,
which is after the first frame unless something is written before it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.containers import Vertical
from textual.lazy import Lazy
from textual.widgets import TabbedContent, TabPane

from layerlab.tui.look import panel_css

if TYPE_CHECKING:
    from layerlab.tui.event_log import EventLog
    from layerlab.tui.output_log import OutputLog

FIRST_NOTE = "what each command prints shows here, as the CLI prints it"


class LogTabs(TabbedContent):
    """The output and event logs, a tab each, filling the logs panel."""

    DEFAULT_CSS = """
    LogTabs {
        height: 1fr;
    }
    LogTabs TabPane {
        padding: 0;
    }
    LogTabs Tab {
        color: $text-muted;  /* Textual's 50% foreground is under 4.5:1 */
    }
    """


class LogsPanel(Vertical):
    """The frame, then (after the first frame) its tabs: the output, and the event log behind it."""

    DEFAULT_CSS = panel_css("LogsPanel")

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.tabs = LogTabs(id="log-tabs")
        self._output: OutputLog | None = None
        self._events: EventLog | None = None

    @property
    def output(self) -> OutputLog:
        """The output log, made at its first use."""
        if self._output is None:
            from layerlab.tui.output_log import OutputLog

            self._output = OutputLog(FIRST_NOTE, id="output")
        return self._output

    @property
    def events(self) -> EventLog:
        """The event log, made at its first use."""
        if self._events is None:
            from layerlab.tui.event_log import EventLog

            self._events = EventLog(id="events")
        return self._events

    def on_mount(self) -> None:
        self.call_after_refresh(self._fill)

    async def _fill(self) -> None:
        """The tabs, once the first frame is on the screen (the events log after its own)."""
        tabs = self.tabs
        tabs.compose_add_child(TabPane("output", self.output, id="tab-output"))
        tabs.compose_add_child(TabPane("events", Lazy(self.events), id="tab-events"))
        await self.mount(tabs)

    def show_tab(self, name: str) -> None:
        """Bring up the `name` tab (`output`, `events`): once the tabs have mounted."""
        if self.tabs.is_mounted:
            self.tabs.active = f"tab-{name}"
        else:
            self.call_after_refresh(self.show_tab, name)
