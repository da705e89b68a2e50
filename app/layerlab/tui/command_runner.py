"""The command bar's lines, run one at a time in the order typed.

A line is echoed and parsed here; `help`, `clear`, `exit` and words that are no
command are answered at once. A command runs in a worker of the app (group
"command") through `outcome.execute`, its output streamed into the output pane,
and comes back as a `CommandDone` the app shows; `-it` suspends the app and hands
the terminal to the container. Ctrl+C ends the running command as the CLI's does.
A worker that failed is shown by the app's one handler; here it only ends its turn.
The hint above the bar (Tab's alternatives, a line offered in place of a failed one)
is kept here too: it speaks of the bar's value.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shlex
import signal
import sys
import threading
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from textual.app import SuspendNotSupported
from textual.widgets.input import Selection
from textual.worker import Worker, get_current_worker

from layerlab.errors import LayerlabError, printed
from layerlab.tui import bar_words
from layerlab.tui.command_queue import CommandQueue
from layerlab.tui.explain import Outcome, build_notes
from layerlab.tui.messages import CommandDone
from layerlab.tui.outcome import execute, needs_terminal

if TYPE_CHECKING:
    from textual.app import App

    from layerlab.commands.stdio import IO
    from layerlab.engine import Engine
    from layerlab.storage.snapshot import Snapshot
    from layerlab.tui.bar_status import BarStatus
    from layerlab.tui.command_bar import CommandBar
    from layerlab.tui.explainer import Explainer
    from layerlab.tui.lesson_pane import LessonPane
    from layerlab.tui.logs_panel import LogsPanel
    from layerlab.tui.metadata import MetadataPanel
    from layerlab.tui.output_log import OutputLog


class RunnerHost(Protocol):
    """What the runner needs of the app (`LayerlabApp`, which imports this module)."""

    @property
    def app(self) -> App[Any]: ...
    @property
    def engine(self) -> Engine: ...
    @property
    def snapshot(self) -> Snapshot | None: ...
    @property
    def lesson_pane(self) -> LessonPane | None: ...
    @property
    def output_log(self) -> OutputLog: ...
    @property
    def logs(self) -> LogsPanel: ...
    @property
    def explainer(self) -> Explainer: ...
    @property
    def metadata_panel(self) -> MetadataPanel: ...
    @property
    def bar_status(self) -> BarStatus: ...
    @property
    def command_bar(self) -> CommandBar: ...
    def action_help(self) -> None: ...


class CommandRunner:
    """The queue of lines typed, the command running now, and how to end its wait."""

    def __init__(self, host: RunnerHost, queue: CommandQueue) -> None:
        self.host = host
        self.queue = queue  # lines run one at a time, in the order typed
        self.running_io: IO | None = None  # the running command's IO: its cancel, its attach
        # One event per running command: set, it ends a long wait (`logs -f`, `wait`, attached).
        self._cancels: dict[Worker[None], threading.Event] = {}
        self._cancels_lock = threading.Lock()
        self.completed: str | None = None  # the bar's value the hint above it speaks of

    # --- the queue ------------------------------------------------------------------------
    def add(self, line: str) -> None:
        """Each line waits its turn: one command at a time, in the order typed."""
        self.queue.add(line)
        self.next()

    def next(self) -> None:
        """Start the next line if none runs; lines that run no command end at once."""
        while (line := self.queue.take()) is not None:
            if self._begin(line):
                break
            self.queue.finish()
        self.host.bar_status.show_state()
        self.host.app.refresh_bindings()  # Ctrl+C: in the footer while a command runs

    def over(self) -> None:
        """The running command is over (done, or its worker failed): the next one's turn."""
        self.queue.finish()
        self.next()

    # --- one line -------------------------------------------------------------------------
    def _begin(self, line: str) -> bool:
        """Echo and parse a line; start its command. False: nothing runs (an error, a word)."""
        host = self.host
        log = host.output_log
        log.command(line)
        host.logs.show_tab("output")
        try:
            words = shlex.split(line)
        except ValueError as exc:
            log.say(f"Error: {exc}")
            self._refused(line, f"Error: {exc}")
            return False
        if words and self._bar_word(words):
            return False
        from layerlab.commands import grammar  # the command line's grammar: at the first line typed

        parsed = io.StringIO()
        try:
            with contextlib.redirect_stdout(parsed), contextlib.redirect_stderr(parsed):
                ns = grammar.parse(words)
        except LayerlabError as exc:  # a usage error: bare, as Docker's CLI prints it
            log.say(printed(exc))
            self._refused(line, printed(exc))
            return False
        except SystemExit:  # --help / --version print and exit, as argparse does
            log.say(parsed.getvalue().rstrip("\n"))
            return False
        if ns.cmd is None or ns.cmd == "tui":
            log.say(grammar.build_parser().format_help().rstrip("\n"))
            return False
        host.metadata_panel.mark()
        if needs_terminal(ns):
            return self._run_in_terminal(line, ns)
        host.app.run_worker(
            partial(self._run, line, ns),
            name="run_command",
            group="command",
            thread=True,
            exit_on_error=False,
        )
        return True

    def _bar_word(self, words: list[str]) -> bool:
        """`help`, `clear`, `exit`/`quit`, and a friendly line for words that are no command."""
        host = self.host
        word = bar_words.bar_word(words)
        if word == "help":
            host.action_help()
        elif word == "clear":
            host.output_log.clear_in_turn()
        elif word is not None:
            host.app.exit()
        if word is not None:
            return True
        word = bar_words.not_a_command(words)
        if word is None:
            return False
        host.output_log.say(f"{word}: not a docker command here; F1 lists them")
        self._refused(shlex.join(words), f"Error: {word}: not a docker command")
        host.explainer.text = (
            f"{word} is not one of Docker's commands: the bar runs Docker's commands "
            "(a leading docker is fine), plus help, clear and exit. F1 lists them."
        )
        return True

    def _refused(self, line: str, said: str) -> None:
        """A lesson's checks see a line that ran nothing as a failed command, as Docker's exit 1."""
        if self.host.lesson_pane is not None:
            self.host.lesson_pane.refused(line, said)

    def _run(self, line: str, ns: argparse.Namespace) -> None:
        """On the command's worker: run it, its output into the output pane as it comes."""
        from layerlab.commands.stdio import IO
        from layerlab.tui.output_log import LogStream, OutputLog

        host = self.host
        log = host.output_log
        out: TextIO = LogStream(log)
        err: TextIO = LogStream(log, err=True)
        pane = host.lesson_pane
        if pane is not None:  # the lesson's `output_has` reads what the command printed
            out, err = pane.tee(out), pane.tee(err)
        cancel = threading.Event()
        worker = get_current_worker()
        with self._cancels_lock:
            self._cancels[worker] = cancel
            if worker.is_cancelled or not host.app.is_running:
                cancel.set()
        try:
            cio = IO(out, err, interactive=False, cancel=cancel)
            self.running_io = cio
            prepare = pane.prepare if pane is not None else None
            outcome = execute(host.engine, line, ns, cio, host.snapshot, prepare)
        finally:
            self.running_io = None
            with self._cancels_lock:
                self._cancels.pop(worker, None)
        out.flush()
        for note in build_notes(outcome.report.build_steps):  # in order, after the build's lines
            log.post_message(OutputLog.Line(note, False, note=True))
        if outcome.error:
            err.write(f"{outcome.said}\n")
        err.flush()
        if outcome.cancelled:
            log.post_message(
                OutputLog.Line("(stopped waiting: the container keeps running)", False)
            )
        if pane is not None:
            pane.ran(line, outcome.code, out, err)
        host.app.post_message(CommandDone(outcome=outcome))

    def _run_in_terminal(self, line: str, ns: argparse.Namespace) -> bool:
        """Hand the real terminal to the container (`-it`), then come back and catch up.

        This blocks the UI thread on purpose: the app is suspended and the
        terminal belongs to the container until it exits.
        """
        from layerlab.commands.stdio import IO

        host = self.host
        log = host.output_log
        pane = host.lesson_pane
        try:
            with host.app.suspend():
                cio = IO(sys.stdout, sys.stderr, interactive=True)
                prepare = pane.prepare if pane is not None else None
                outcome = execute(host.engine, line, ns, cio, host.snapshot, prepare)
        except SuspendNotSupported:
            log.say("Error: this terminal cannot be handed to a container (run -it needs a tty)")
            return False
        if outcome.said:
            log.say(outcome.said)
        log.note(f"the terminal is back from the container (exit code {outcome.code})")
        if pane is not None:  # what it printed went to the terminal, not to us
            pane.ran(line, outcome.code, io.StringIO(), io.StringIO())
        host.app.post_message(CommandDone(outcome=outcome))
        return True

    # --- ending a wait ----------------------------------------------------------------------
    def interrupt(self) -> None:
        """Ctrl+C ends the running command as the CLI's Ctrl+C does.

        Attached to a container (`run`, `start -a`), SIGINT goes to it (Docker's
        sig-proxy); a process that ignores it runs on, and a second Ctrl+C stops
        waiting. `logs -f` and `wait` stop waiting at once.
        """
        cio = self.running_io
        if cio is None or cio.cancel is None:  # between commands, or an -it one
            return
        self.queue.interrupts += 1
        attached = cio.attached
        log = self.host.output_log
        if attached is not None and self.queue.interrupts == 1:
            log.note("^C: SIGINT sent to the container (Ctrl+C again stops waiting)")
            self.host.app.run_worker(
                partial(self._signal, attached, signal.SIGINT),
                name="send_signal",
                group="signal",
                thread=True,
                exit_on_error=False,
            )
        else:
            log.note("^C")
            cio.cancel.set()

    def _signal(self, container_id: str, signum: int) -> None:
        with contextlib.suppress(LayerlabError):  # it may have ended meanwhile
            self.host.engine.kill(container_id, signum)

    def cancelled(self, worker: Worker[Any]) -> None:
        """A command's worker was cancelled: its thread runs on until its wait sees this."""
        with self._cancels_lock:
            cancel = self._cancels.get(worker)
        if cancel is not None:
            cancel.set()

    def cancel_all(self) -> None:
        """End every command's long wait: the app quits."""
        with self._cancels_lock:
            for cancel in self._cancels.values():
                cancel.set()

    # --- the hint above the bar -------------------------------------------------------------
    def completions(self, value: str, alternatives: list[str]) -> None:
        """Tab completed the bar to `value`: the other ways it could go, above it."""
        self.completed = value
        self.host.bar_status.set_hint(
            f"Tab: {'  '.join(alternatives)}" if alternatives else "Tab: nothing to complete here"
        )

    def typed(self, value: str) -> None:
        """The bar's value changed: a hint about another value goes."""
        pane = self.host.lesson_pane
        if value and pane is not None and pane.reading:
            pane.toggle_fold()  # the bar was under the step's prose: the panels come back
        if self.host.bar_status.hint and value != self.completed:
            self.completed = None
            self.host.bar_status.set_hint("")

    def offer(self, outcome: Outcome) -> None:
        """`run hello:v1 ...` with `hello:latest` here: offer the line on the nearest local
        image; `run ubuntu ...` has nothing to pull: offer it on busybox. Never another tag of
        the same name: Enter must not run an image the user did not mean.

        Into the bar only when it is empty and nothing waits (typing is never overwritten);
        else it is shown above the bar.
        """
        ns = outcome.ns
        image = getattr(ns, "image", None)
        if ns.cmd not in ("run", "create") or not image:
            return
        if not any(word in outcome.error for word in ("No such image", "Unable to find image")):
            return
        snapshot = self.host.snapshot
        refs = [ref for ref, _ in snapshot.images] if snapshot else []
        near = bar_words.nearest(image, [ref for ref in refs if not ref.startswith("<none>")])
        if near is not None:
            line = bar_words.on_image(outcome.line, image, near)
            why = f"There is no image {image} here; the nearest name is {near}."
        elif bar_words.local_repository(image, refs):
            return  # a tag that is not here, and nothing close: no guess
        else:
            line = bar_words.on_busybox(outcome.line, image)
            why = f"There is no registry here to pull {image} from; busybox is made locally."
        if line is None:
            return
        self.host.explainer.text = f"{why} Try: {line}"
        bar, status = self.host.command_bar, self.host.bar_status
        if not bar.value and not self.queue.waiting:
            # Selected: Enter runs it, an arrow key edits it, typing replaces it.
            bar.value = line
            bar.selection = Selection(0, len(line))
            status.set_hint(
                f"ready to edit: Enter runs it on {near or 'busybox'}, typing replaces it"
            )
            self.completed = line
        else:
            status.set_hint(f"try: {line}")
