"""What every command group shares: the table of handlers, `dispatch`, and Docker's ways
of reporting on several names at once (`each`), of asking (`confirmed`) and of printing
a `--format`ted listing (`write_listing`).
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterable, Sequence

from layerlab.commands.grammar import COMMANDS, GROUP_COMMANDS, UsageError
from layerlab.commands.stdio import IO
from layerlab.engine import Engine
from layerlab.errors import LayerlabError
from layerlab.report import Report
from layerlab.storage.containers import Container

Handler = Callable[[Engine, argparse.Namespace, IO], Report]
HANDLERS: dict[str, Handler] = {}
GROUP_HANDLERS: dict[str, Handler] = {}  # `container prune`, `system df`, ...


def command(name: str) -> Callable[[Handler], Handler]:
    if name not in COMMANDS and name not in GROUP_COMMANDS:
        raise AssertionError(f"{name} is not in the grammar's COMMANDS")

    def register(fn: Handler) -> Handler:
        (HANDLERS if name in COMMANDS else GROUP_HANDLERS)[name] = fn
        return fn

    return register


def write_listing(io: IO, render: Callable[[], str]) -> Report:
    """Write a `--format`ted output; a template that fails is printed as Docker prints it,
    without our "Error:" (its words come with it: `listing.PS_ERRORS`, ...)."""
    from layerlab.presentation.gotemplate import TemplateError

    try:
        text = render()
    except TemplateError as exc:
        print(exc, file=io.err)
        return Report(code=exc.exit_code)
    io.out.write(text)
    return Report()


def confirmed(io: IO, warning: str, force: bool) -> bool:
    """Docker's prompt: `-f` skips it; anything but y/yes (EOF, no stdin) is No."""
    if force:
        return True
    io.out.write(f"{warning}\nAre you sure you want to continue? [y/N] ")
    io.out.flush()
    if io.stdin is None:
        return False
    answer = io.stdin.readline().decode(errors="replace").strip().lower()
    return answer in ("y", "yes")


def each(
    refs: Sequence[str],
    io: IO,
    action: Callable[[str], Report],
    failed: list[str] | None = None,
) -> Report:
    """Docker's multi-container commands: echo each name done, one error line per failure.

    A lone failing name is the command's error, unless `failed` collects the failed names
    (`start` sums them up after, even for one)."""
    report = Report()
    for ref in refs:
        try:
            done = action(ref)
            print(ref, file=io.out)
        except LayerlabError as exc:
            if len(refs) == 1 and failed is None:
                raise
            print(f"Error: {exc}", file=io.err)
            report.code = 1
            report.errors.append(str(exc))
            if failed is not None:
                failed.append(ref)
            continue
        report.merge(done)
    return report


def touched(container: Container) -> Report:
    return Report(containers=[container.id])


def container_ids(engine: Engine, ref: str) -> list[str]:
    """`ref`'s full id, or none if it names no container (the engine's own call says so)."""
    with contextlib.suppress(LayerlabError):
        return [engine.container(ref).id]
    return []


def image_ids(engine: Engine, ref: str) -> list[str]:
    """`ref`'s image id, or none if it names no image (the engine's own call says so)."""
    with contextlib.suppress(LayerlabError):
        return [engine.image(ref).id]
    return []


def unique(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def dispatch(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    """Run a parsed command; a `LayerlabError` is the user's one-line error, with the
    exit code Docker gives it for this command (`LayerlabError.for_command`)."""
    handler = HANDLERS.get(ns.cmd) or GROUP_HANDLERS.get(ns.cmd)
    if handler is None:  # `tui`: the entry point opens it (layerlab.main), not a handler
        raise UsageError(f"layerlab {ns.cmd}: not a command this face runs")
    try:
        return handler(engine, ns, io)
    except LayerlabError as exc:
        exc.for_command(ns.cmd)
        raise
