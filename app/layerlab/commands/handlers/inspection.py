"""`inspect`: containers and images as JSON, or through a Go template (`-f`), which
`volume inspect` shares."""

from __future__ import annotations

import argparse
import json
from typing import Any

from layerlab.commands.handlers.common import command
from layerlab.commands.stdio import IO
from layerlab.engine import Engine
from layerlab.errors import LayerlabError
from layerlab.report import Report


@command("inspect")
def cmd_inspect(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    found, report = [], Report()
    if ns.format is not None:
        from layerlab.presentation.gotemplate import TemplateError, check  # on use: -f only

        try:
            check(ns.format)  # Docker parses first: exit 64 whatever the names
        except TemplateError as exc:
            print(f"template parsing error: {exc}", file=io.err)
            return Report(code=exc.exit_code)
    if ns.type not in (None, "container", "image"):
        raise LayerlabError(
            f'unknown type: "{ns.type}": must be one of "container", "image"', exit_code=1
        )
    for ref in ns.names:
        try:
            item = _inspect_one(engine, ref, ns.type, ns.size, io)
        except LayerlabError as exc:
            print(f"Error: {exc}", file=io.err)
            report.code = 1
            continue
        found.append(item)
        # A container's record has a State; an image's inspect has none.
        (report.containers if "State" in item else report.images).append(str(item["Id"]))
    if ns.format is not None:
        report.code = inspect_formatted(io, ns.format, found) or report.code
    else:  # Docker prints `[]` even when nothing was found
        print(json.dumps(found, indent=4), file=io.out)
    return report


def inspect_formatted(
    io: IO, fmt: str, found: list[dict[str, Any]], struct: str | None = None
) -> int:
    """`inspect -f` on each object found, as Docker's inspector: one that fails is reported
    (exit 1) and the others still print; with nothing printed, a lone newline."""
    from layerlab.presentation.gotemplate import TemplateError, render

    printed, code = False, 0
    for item in found:
        try:
            print(render(fmt, item, struct=struct), file=io.out)
            printed = True
        except TemplateError as exc:
            print(f"template parsing error: {exc}", file=io.err)
            code = exc.exit_code
    if code and not printed:
        print(file=io.out)
    return code


def _inspect_one(
    engine: Engine, ref: str, kind: str | None, size: bool, io: IO
) -> dict[str, object]:
    """One object for `inspect`: `--type` narrows the lookup, `-s` adds the sizes."""
    from layerlab.presentation.inspect_shape import inspected

    item = inspected(engine.inspect(ref, size=size, kind=kind))
    if size and "State" not in item:
        print("WARNING: --size ignored for image", file=io.err)
    return item
