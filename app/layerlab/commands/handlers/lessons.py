"""`lesson`: the guided lessons, each run in a store of its own."""

from __future__ import annotations

import argparse

from layerlab.commands.handlers.common import command, dispatch
from layerlab.commands.stdio import IO
from layerlab.engine import Engine
from layerlab.report import Report


@command("lesson")
def cmd_lesson(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    """Lessons run in stores of their own: `engine` (the learner's store) is never touched."""
    from layerlab.lessons.commands import main  # on use: CLI start-up stays lean

    return Report(code=main(ns, io, dispatch))
