"""The image tools beyond Docker's CLI: `pull docker-daemon:`, `compare`, `analyze`."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from layerlab.commands.handlers.common import command
from layerlab.commands.image_tools import GATE_FAILED, GATE_PASSED
from layerlab.commands.stdio import IO
from layerlab.engine import Engine
from layerlab.report import Report

if TYPE_CHECKING:
    from rich.console import RenderableType


def pull_from_daemon(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    """`pull docker-daemon:NAME[:TAG]`: Docker's last lines of a pull, for the daemon's copy."""
    image, had = engine.pull_from_daemon(ns.name, ns.host)
    status = "Image is up to date" if had else "Downloaded newer image"
    print(f"Status: {status} for {image.reference}", file=io.out)
    print(f"docker-daemon:{image.reference}", file=io.out)
    return Report(images=[image.id], created_images=[] if had else [image.id])


@command("analyze")
def cmd_analyze(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    """dive's report; with rules, its CI gate: exit 1 when one fails (`image_tools`)."""
    from layerlab.commands import dive_report

    rules = dive_report.gate(ns)
    analysis = engine.analyze(ns.image)
    verdicts = [rule(analysis) for rule in rules]
    if ns.json:
        print(json.dumps(dive_report.analysis_json(analysis, verdicts), indent=2), file=io.out)
    else:
        print_rich(io, dive_report.analysis_report(analysis, verdicts))
    failed = not all(v.passed for v in verdicts)
    return Report(code=GATE_FAILED if failed else GATE_PASSED, images=[analysis.image.id])


@command("compare")
def cmd_compare(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    from layerlab.commands import compare_report

    compared = engine.compare(ns.first, ns.second)
    if ns.json:
        print(json.dumps(compare_report.comparison_json(compared), indent=2), file=io.out)
    else:
        print_rich(io, compare_report.comparison_report(compared))
    kinds: dict[str, list[str]] = {"image": [], "container": []}
    for stack in (compared.a, compared.b):
        kinds[stack.kind].append(stack.id)
    return Report(images=kinds["image"], containers=kinds["container"])


def print_rich(io: IO, renderable: RenderableType) -> None:
    """A Rich renderable on the command's output: as wide as the terminal, or unwrapped lines
    (no trailing blanks) for a file or a pipe, as a CI log reads them."""
    from rich.console import Console

    terminal = io.out.isatty()
    console = Console(file=io.out, highlight=False, width=None if terminal else 1000)
    with console.capture() as captured:
        console.print(renderable)
    io.out.writelines(line.rstrip() + "\n" for line in captured.get().splitlines())
