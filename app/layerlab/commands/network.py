"""`network connect|create|disconnect|inspect|ls|prune|rm`: Docker's output for each
(the work is layerlab.network.verbs')."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from layerlab.commands.grammar import NETWORK_COMMANDS
from layerlab.commands.stdio import IO
from layerlab.engine import Engine
from layerlab.errors import LayerlabError
from layerlab.network import verbs
from layerlab.presentation.table import format_table
from layerlab.report import Report

Formatted = Callable[[IO, str, list[dict[str, Any]]], int]
Confirmed = Callable[[IO, str, bool], bool]


def run_network(
    engine: Engine, ns: argparse.Namespace, io: IO, formatted: Formatted, confirmed: Confirmed
) -> Report:
    """One `network` verb; a bare `network` prints the group's usage, as Docker's."""
    store = engine.store
    verb = {"list": "ls", "remove": "rm"}.get(ns.network_cmd, ns.network_cmd)
    if verb is None:
        lines = [f"  {name:<11} {text}" for name, text in NETWORK_COMMANDS.items()]
        print("Usage:  layerlab network COMMAND\n\nManage networks\n\nCommands:", file=io.out)
        print("\n".join(lines), file=io.out)
        return Report()
    if verb == "create":
        labels = dict(item.partition("=")[::2] for item in ns.label)
        found = verbs.create(store, ns.name, ns.driver, subnet=ns.subnet, gateway=ns.gateway,
                             internal=ns.internal, labels=labels)  # fmt: skip
        print(found["Id"], file=io.out)
    elif verb == "ls":
        _ls(verbs.ls(store), ns, io)
    elif verb == "inspect":
        return _inspect(store, ns, io, formatted)
    elif verb == "rm":
        return _each(ns.names, io, lambda name: verbs.rm(store, name))
    elif verb == "prune":
        warning = (
            "WARNING! This will remove all custom networks not used by at least one container."
        )
        if confirmed(io, warning, ns.force):
            gone = verbs.prune(store)
            if gone:
                print("Deleted Networks:\n" + "".join(f"{n}\n" for n in gone), file=io.out)
    elif verb == "connect":
        verbs.connect(store, ns.network, ns.container, ns.alias)
    elif verb == "disconnect":
        verbs.disconnect(store, ns.network, ns.container)
    return Report()


def _ls(found: list[dict[str, Any]], ns: argparse.Namespace, io: IO) -> None:
    ids = [n["Id"] if ns.no_trunc else n["Id"][:12] for n in found]
    if ns.quiet:
        io.out.write("".join(f"{i}\n" for i in ids))
        return
    rows = [[i, n["Name"], n["Driver"], n["Scope"]] for i, n in zip(ids, found, strict=True)]
    io.out.write(format_table(["NETWORK ID", "NAME", "DRIVER", "SCOPE"], rows))


def _inspect(store: Any, ns: argparse.Namespace, io: IO, formatted: Formatted) -> Report:
    found, code = [], 0
    for name in ns.names:
        try:
            found.append(verbs.inspect(store, name))
        except LayerlabError as exc:
            print(f"Error: {exc}", file=io.err)
            code = 1
    if ns.format is not None:
        code = formatted(io, ns.format, found) or code
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
