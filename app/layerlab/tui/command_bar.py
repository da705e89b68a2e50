"""The command bar: Docker's grammar, typed as in a shell, with history and completion.

Enter, Tab and Up/Down are handled in the bar's own key handler, in the
order the keys arrive: a binding would run later, on the app's task, while
the next keys typed were already landing in the line (keys of two commands
got mixed). So the line is taken and emptied by the very key that ends it.
"""

from __future__ import annotations

from pathlib import Path

from textual import events
from textual.message import Message
from textual.suggester import Suggester
from textual.widgets import Input

from layerlab.commands.grammar import COMMANDS
from layerlab.tui import history


def candidates(value: str, names: list[str]) -> list[str]:
    """What the last word of `value` may complete to: a command first, then a name."""
    head, _, word = value.rpartition(" ")
    if not word or word.startswith("-"):
        return []
    words = head.split()
    if words[:1] == ["docker"]:
        words = words[1:]
    pool = names if words else sorted(COMMANDS) + ([] if head else ["docker"])
    return [c for c in dict.fromkeys(pool) if c.startswith(word) and c != word]


class CommandSuggester(Suggester):
    """Completes the word being typed: a command name first, then container and image names."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.names: list[str] = []

    async def get_suggestion(self, value: str) -> str | None:
        found = candidates(value, self.names)
        word = value.rpartition(" ")[2]
        return value + found[0][len(word) :] if found else None


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

    class Entered(Message):
        def __init__(self, line: str) -> None:
            super().__init__()
            self.line = line

    class Completed(Message):
        """Tab found several completions: `alternatives` (the bar now holds `value`)."""

        def __init__(self, value: str, alternatives: list[str]) -> None:
            super().__init__()
            self.value = value
            self.alternatives = alternatives

    def __init__(self, *, id: str | None = None, history_path: Path | None = None) -> None:
        super().__init__(
            placeholder="type a command, e.g. docker create busybox  (F1 help)",
            suggester=CommandSuggester(),
            id=id,
        )
        self.history_path = history_path
        self.history: list[str] = history.load(history_path) if history_path else []
        self._index = len(self.history)
        self._draft = ""  # the line being typed before Up went into the history

    def set_names(self, names: list[str]) -> None:
        """The container and image names completion offers (from the latest store read)."""
        assert isinstance(self.suggester, CommandSuggester)
        self.suggester.names = names

    async def _on_key(self, event: events.Key) -> None:
        handled = {
            "enter": self.submit_line,
            "tab": self.complete,
            "up": lambda: self.browse(-1),
            "down": lambda: self.browse(1),
        }.get(event.key)
        if handled is not None:
            event.stop()
            event.prevent_default()
            handled()
            return
        if event.character == "?" and not self.value:  # `?` on an empty line opens help
            event.stop()
            event.prevent_default()
            await self.run_action("app.help")
            return
        await super()._on_key(event)

    async def action_submit(self) -> None:
        """Input's own submit (a binding, a script) takes the same road as Enter."""
        self.submit_line()

    def submit_line(self) -> None:
        line = self.value.strip()
        if not line:
            return
        self.value = ""
        if not self.history or self.history[-1] != line:
            self.history.append(line)
            if self.history_path is not None:
                history.append(self.history_path, line)
        self._index = len(self.history)
        self._draft = ""
        self.post_message(self.Entered(line))

    def browse(self, step: int) -> None:
        """Up/Down: older and newer lines; past the newest, the line that was being typed."""
        if not self.history:
            return
        if self._index == len(self.history):
            self._draft = self.value
        self._index = max(0, min(len(self.history), self._index + step))
        self.value = self.history[self._index] if self._index < len(self.history) else self._draft
        self.cursor_position = len(self.value)

    def complete(self) -> None:
        """Tab completes the word, as a shell does; with several, the others are listed.

        It moves focus on only from an empty line: typed text never loses the keyboard.
        """
        if not self.value:
            self.screen.focus_next()
            return
        if not self.cursor_at_end:
            self.cursor_position = len(self.value)
            return
        assert isinstance(self.suggester, CommandSuggester)
        found = candidates(self.value, self.suggester.names)
        if not found:
            self.post_message(self.Completed(self.value, []))
            return
        word = self.value.rpartition(" ")[2]  # the first match: what the grey suggestion shows
        self.value = self.value[: len(self.value) - len(word)] + found[0]
        self.cursor_position = len(self.value)
        self.post_message(self.Completed(self.value, found if len(found) > 1 else []))
