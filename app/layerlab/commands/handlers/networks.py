"""`network connect|create|disconnect|inspect|ls|prune|rm`, and `port`: Docker's output
for each (the engine does the work)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from layerlab.commands.handlers.common import command, confirmed
from layerlab.commands.handlers.inspection import inspect_formatted
from layerlab.commands.network import NETWORK_COMMANDS
from layerlab.commands.ports import cmd_port
from layerlab.commands.stdio import IO
from layerlab.engine import Engine
from layerlab.errors import LayerlabError
from layerlab.presentation.table import format_table
from layerlab.report import Report

command("port")(cmd_port)

PRUNE_WARNING = "WARNING! This will remove all custom networks not used by at least one container."


@command("network")
def cmd_network(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    """One `network` verb; a bare `network` prints the group's usage, as Docker's."""
    verb = {"list": "ls", "remove": "rm"}.get(ns.network_cmd, ns.network_cmd)
    if verb is None:
        lines = [f"  {name:<11} {text}" for name, text in NETWORK_COMMANDS.items()]
        print("Usage:  layerlab network COMMAND\n\nManage networks\n\nCommands:", file=io.out)
        print("\n".join(lines), file=io.out)
        return Report()
    if verb == "create":
        labels = dict(item.partition("=")[::2] for item in ns.label)
        found = engine.network_create(ns.name, ns.driver, subnet=ns.subnet, gateway=ns.gateway,
                                      internal=ns.internal, labels=labels)  # fmt: skip
        print(found["Id"], file=io.out)
    elif verb == "ls":
        _ls(engine, ns, io)
    elif verb == "inspect":
        return _inspect(engine, ns, io)
    elif verb == "rm":
        return _each(ns.names, io, engine.network_rm)
    elif verb == "prune":
        if confirmed(io, PRUNE_WARNING, ns.force):
            gone = engine.network_prune()
            if gone:
                print("Deleted Networks:\n" + "".join(f"{n}\n" for n in gone), file=io.out)
    elif verb == "connect":
        engine.network_connect(ns.network, ns.container, ns.alias)
    elif verb == "disconnect":
        engine.network_disconnect(ns.network, ns.container)
    return Report()


def _ls(engine: Engine, ns: argparse.Namespace, io: IO) -> None:
    found = engine.networks()
    ids = [n["Id"] if ns.no_trunc else n["Id"][:12] for n in found]
    if ns.quiet:
        io.out.write("".join(f"{i}\n" for i in ids))
        return
    rows = [[i, n["Name"], n["Driver"], n["Scope"]] for i, n in zip(ids, found, strict=True)]
    io.out.write(format_table(["NETWORK ID", "NAME", "DRIVER", "SCOPE"], rows))


def _inspect(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    found, code = [], 0
    for name in ns.names:
        try:
            found.append(engine.network_inspect(name))
        except LayerlabError as exc:
            print(f"Error: {exc}", file=io.err)
            code = 1
    if ns.format is not None:
        code = inspect_formatted(io, ns.format, found) or code
    else:
        print(json.dumps(found, indent=4), file=io.out)
    return Report(code=code)


def _each(names: list[str], io: IO, act: Callable[[str], object]) -> Report:
    """Docker's `rm` of several: each name printed or its error said; exit 1 if any failed."""
    code = 0
    for name in names:
        try:
            act(name)
        except LayerlabError as exc:
            print(f"Error: {exc}", file=io.err)
            code = 1
            continue
        print(name, file=io.out)
    return Report(code=code)
