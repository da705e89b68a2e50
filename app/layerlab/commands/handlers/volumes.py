"""`volume create|inspect|ls|prune|rm`: storage outside the layer stack."""

from __future__ import annotations

import argparse
import json

from layerlab.commands.grammar import VOLUME_COMMANDS, UsageError
from layerlab.commands.handlers.common import Handler, command, confirmed, write_listing
from layerlab.commands.handlers.inspection import inspect_formatted
from layerlab.commands.stdio import IO
from layerlab.engine import Engine
from layerlab.errors import LayerlabError
from layerlab.presentation.humanize import human_size
from layerlab.report import Report


@command("volume")
def cmd_volume(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    """`volume create|inspect|ls|prune|rm`: storage outside the layer stack."""
    action = VOLUME_HANDLERS.get(ns.volume_cmd or "")
    if action is None:  # a bare `volume`: Docker prints the group's usage, exit 0
        _volume_usage(io)
        return Report()
    return action(engine, ns, io)


def _volume_usage(io: IO) -> None:
    width = max(11, *map(len, VOLUME_COMMANDS))  # cobra pads command names to 11 at least
    lines = [f"  {name:<{width}} {text.split('.')[0]}" for name, text in VOLUME_COMMANDS.items()]
    print("Usage:  layerlab volume COMMAND\n\nManage volumes\n\nCommands:", file=io.out)
    print("\n".join(lines), file=io.out)
    print("\nRun 'layerlab volume COMMAND --help' for more information on a command.", file=io.out)


def _volume_create(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    if ns.name and ns.name_flag:
        raise UsageError(
            "conflicting options: cannot specify a volume-name through both --name and as a "
            "positional arg",
            1,
        )
    name = ns.name or ns.name_flag  # Docker still takes the old `--name NAME` (hidden)
    if ns.driver != "local":
        raise LayerlabError(
            f"create {name or ''}: error looking up volume plugin {ns.driver}: "
            f'plugin "{ns.driver}" not found',
            exit_code=1,
        )
    labels = {}
    for item in ns.label:
        key, _, value = item.partition("=")
        labels[key] = value
    volume = engine.volume_create(name, labels)
    print(volume.name, file=io.out)
    return Report(volumes=[volume.name], created_volumes=[volume.name])


def _volume_inspect(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    """Docker's `volume inspect`: a template is parsed first (exit 64), then run on each
    volume, a `volume.Volume` struct in Go (`can't evaluate field X`, exit 1)."""
    from layerlab.presentation import inspect_shape

    found, report = [], Report()
    if ns.format is not None:
        from layerlab.presentation.gotemplate import TemplateError, check  # on use, as `inspect -f`

        try:
            check(ns.format)
        except TemplateError as exc:
            print(f"template parsing error: {exc}", file=io.err)
            return Report(code=exc.exit_code)
    for name in ns.names:
        try:
            found.append(inspect_shape.volume(engine.volume(name).inspect()))
        except LayerlabError as exc:
            print(f"Error: {exc}", file=io.err)
            report.code = 1
            continue
        report.volumes.append(name)
    if ns.format is not None:
        report.code = inspect_formatted(io, ns.format, found, "volume.Volume") or report.code
    else:
        print(json.dumps(found, indent=4), file=io.out)
    return report


def _volume_ls(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    """`volume ls [-q] [-f KEY=VALUE] [--format T]`: a custom format wins over `-q`."""
    from layerlab.presentation import listing

    found = engine.volumes()
    if ns.filter:
        from layerlab.presentation.filters import volume_filter

        used = engine.volumes_in_use()
        found = volume_filter(ns.filter, found, lambda name: name in used)
    fmt = ns.format
    if ns.quiet and fmt in (None, "", "table"):
        fmt = "{{.Name}}"
    contexts = listing.volume_contexts(found)
    return write_listing(io, lambda: listing.render_rows(
        fmt, listing.VOLUMES_DEFAULT, contexts, listing.VOLUMES_TITLES, listing.VOLUME_CONTEXT
    ))  # fmt: skip


def _volume_rm(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    report = Report()
    for name in ns.names:
        try:
            engine.volume_rm(name, force=ns.force)
        except LayerlabError as exc:
            print(f"Error: {exc}", file=io.err)
            report.code = 1
            continue
        print(name, file=io.out)
        report.volumes.append(name)
        report.removed_volumes.append(name)
    return report


def _volume_prune(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    """Docker 20.10's `volume prune [--filter label=K[=V]|label!=K[=V]]`: every unused one."""
    from layerlab.engine import prune
    from layerlab.storage.volumes import created_order

    may_go = prune.prune_filter(ns.filter, frozenset({"label", "label!"}))  # before the prompt
    warning = "WARNING! This will remove all local volumes not used by at least one container."
    if not confirmed(io, warning, ns.force):
        return Report()
    deleted, reclaimed = engine.volume_prune(
        lambda volume: may_go(created_order(volume), volume.labels or {})
    )
    if deleted:
        print("Deleted Volumes:", file=io.out)
        for name in deleted:
            print(name, file=io.out)
        print(file=io.out)
    print(f"Total reclaimed space: {human_size(reclaimed)}", file=io.out)
    return Report(volumes=deleted, removed_volumes=deleted)


VOLUME_HANDLERS: dict[str, Handler] = {
    "create": _volume_create,
    "inspect": _volume_inspect,
    "ls": _volume_ls,
    "list": _volume_ls,
    "prune": _volume_prune,
    "rm": _volume_rm,
    "remove": _volume_rm,
}
