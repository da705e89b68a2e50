"""The command bar: Docker's grammar, typed as in a shell, with history and completion."""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.suggester import Suggester
from textual.widgets import Input

from layerlab.cli.grammar import COMMANDS


class CommandSuggester(Suggester):
    """Completes the word being typed: a command name first, then container and image names."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.names: list[str] = []

    async def get_suggestion(self, value: str) -> str | None:
        head, _, word = value.rpartition(" ")
        if not word or word.startswith("-"):
            return None
        words = head.split()
        if words[:1] == ["docker"]:
            words = words[1:]
        pool = self.names if words else sorted(COMMANDS) + ([] if head else ["docker"])
        match = next((c for c in pool if c.startswith(word) and c != word), None)
        return value + match[len(word) :] if match else None


class CommandBar(Input):
    """Where commands are typed; `Entered` carries each line to the app."""

    DEFAULT_CSS = """
    CommandBar, CommandBar:focus {
        border: none;
        padding: 0 1;
        background: $boost;
        & > .input--placeholder, & > .input--suggestion { color: $text-muted; }
    }
    CommandBar:focus {
        background: $primary 25%;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "history(-1)", "Previous command", show=False),
        Binding("down", "history(1)", "Next command", show=False),
        Binding("tab", "complete", "Complete", show=False),
    ]

    class Entered(Message):
        def __init__(self, line: str) -> None:
            super().__init__()
            self.line = line

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(
            placeholder="type a command, e.g. docker create busybox  (F1 help)",
            suggester=CommandSuggester(),
            id=id,
        )
        self.history: list[str] = []
        self._index = 0

    def set_names(self, names: list[str]) -> None:
        """The container and image names completion offers (from the latest store read)."""
        assert isinstance(self.suggester, CommandSuggester)
        self.suggester.names = names

    async def on_key(self, event: events.Key) -> None:
        if event.character == "?" and not self.value:  # `?` on an empty line opens help
            event.prevent_default()
            event.stop()
            await self.run_action("app.help")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        line = event.value.strip()
        if not line:
            return
        if not self.history or self.history[-1] != line:
            self.history.append(line)
        self._index = len(self.history)
        self.value = ""
        self.post_message(self.Entered(line))

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        self._index = max(0, min(len(self.history), self._index + step))
        self.value = self.history[self._index] if self._index < len(self.history) else ""
        self.cursor_position = len(self.value)

    def action_complete(self) -> None:
        """Tab takes the suggestion, as a shell completes; with none, it moves focus on."""
        if self._suggestion and self.cursor_at_end:
            self.action_cursor_right()
        else:
            self.screen.focus_next()
