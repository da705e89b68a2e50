"""The system: version, info, help, the bare groups' help, prune, `system df`,
`system check` and `events`."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from layerlab.commands.grammar import UsageError
from layerlab.commands.handlers.common import command, confirmed, write_listing
from layerlab.commands.stdio import IO
from layerlab.engine import Engine
from layerlab.presentation.humanize import human_size
from layerlab.report import Report


def _print_formatted(
    io: IO, fmt: str | None, data: object, text: Callable[[], str], struct: str, name: str = ""
) -> Report:
    """`version`/`info` `--format`: Docker words a parse error "template parsing error: ..."
    (exit 64) and prints an execution error bare (exit 1), `struct` the type it names."""
    if fmt is None:
        io.out.write(text())
        return Report()
    from layerlab.presentation.gotemplate import TemplateError, check, render

    try:
        check(fmt, name)
    except TemplateError as exc:
        print(f"template parsing error: {exc}", file=io.err)
        return Report(code=exc.exit_code)
    try:
        print(render(fmt, data, struct=struct, name=name), file=io.out)
    except TemplateError as exc:  # Docker prints what ran, a newline, then the error
        print(exc.partial, file=io.out)
        print(exc, file=io.err)
        return Report(code=exc.exit_code)
    return Report()


@command("version")
def cmd_version(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    from layerlab.engine import sysinfo

    data = sysinfo.version(engine)
    text = lambda: sysinfo.version_text(data)  # noqa: E731
    return _print_formatted(io, ns.format, data, text, "system.versionInfo", "version")


@command("info")
def cmd_info(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    from layerlab.engine import sysinfo

    data = sysinfo.info(engine)
    text = lambda: sysinfo.info_text(data)  # noqa: E731
    return _print_formatted(io, ns.format, data, text, "system.dockerInfo")


@command("help")
def cmd_help(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    """`help` is `--help`; `help ps` is `ps --help`."""
    from layerlab.commands.grammar import build_parser

    parser = build_parser()
    if ns.topic:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        name = " ".join(ns.topic)
        if name not in sub.choices:
            raise UsageError(f'layerlab help: unknown command "{name}"')
        parser = sub.choices[name]
    io.out.write(parser.format_help())
    return Report()


def _group_help(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    """A bare `container`, `image` or `system`: its help, as Docker prints it."""
    from layerlab.commands.grammar import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    io.out.write(sub.choices[ns.cmd].format_help())
    return Report()


for _group in ("container", "image", "system"):
    command(_group)(_group_help)


def _pruned_report(io: IO, pruned: object) -> Report:
    from layerlab.engine.prune import Pruned

    assert isinstance(pruned, Pruned)
    if pruned.containers:
        io.out.write("Deleted Containers:\n" + "".join(f"{c}\n" for c in pruned.containers))
        io.out.write("\n")
    if pruned.untagged or pruned.deleted:
        io.out.write("Deleted Images:\n")
        io.out.write("".join(f"untagged: {t}\n" for t in pruned.untagged))
        io.out.write("".join(f"deleted: {d}\n" for d in pruned.deleted))
        io.out.write("\n")
    io.out.write(f"Total reclaimed space: {human_size(pruned.reclaimed)}\n")
    return Report(
        containers=list(pruned.containers),
        removed_containers=list(pruned.containers),
        removed_images=list(pruned.deleted_images),
        untagged=list(pruned.untagged),
    )


@command("container prune")
def cmd_container_prune(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    from layerlab.engine import prune

    prune.prune_filter(ns.filter)  # a bad filter is refused before the prompt
    if not confirmed(io, prune.CONTAINERS_WARNING, ns.force):
        return Report()
    return _pruned_report(io, prune.prune_containers(engine, filters=ns.filter))


@command("image prune")
def cmd_image_prune(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    from layerlab.engine import prune

    prune.prune_filter(ns.filter)
    warning = prune.ALL_IMAGES_WARNING if ns.all else prune.DANGLING_WARNING
    if not confirmed(io, warning, ns.force):
        return Report()
    return _pruned_report(io, prune.prune_images(engine, all=ns.all, filters=ns.filter))


@command("system prune")
def cmd_system_prune(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    from layerlab.engine import prune

    prune.prune_filter(ns.filter)
    if not confirmed(io, prune.system_warning(ns.all), ns.force):
        return Report()
    pruned = prune.prune_containers(engine, filters=ns.filter)
    pruned = prune.prune_images(engine, all=ns.all, result=pruned, filters=ns.filter)
    return _pruned_report(io, pruned)


@command("system df")
def cmd_system_df(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    from layerlab.engine import sysinfo
    from layerlab.presentation import listing

    usage = sysinfo.disk_usage(engine)
    if ns.verbose and ns.format in (None, "", "table"):
        io.out.write(sysinfo.df_verbose_text(usage))
        return Report()
    if ns.verbose:
        from layerlab.commands.handlers.images import image_contexts
        from layerlab.commands.handlers.ps import ps_contexts
        from layerlab.commands.observe import df_verbose_formatted

        tagged = [(i["refs"][0], i["image"]) for i in usage["images"].values()]
        contexts = (
            image_contexts(tagged, no_trunc=True),
            ps_contexts(engine, [c for c, _ in usage["containers"]], True, False),
            listing.volume_contexts([v for v, _, _ in usage["volumes"]]),
        )
        return write_listing(io, lambda: df_verbose_formatted(ns.format, usage, *contexts))
    rows = sysinfo.df_rows(usage)
    context = "*formatter.diskUsageImagesContext"
    return write_listing(io, lambda: listing.render_rows(
        ns.format, sysinfo.DF_DEFAULT, rows, sysinfo.DF_TITLES, context
    ))  # fmt: skip


@command("system check")
def cmd_system_check(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    """One line per problem (file: reason); exit 1 while any is left unrepaired."""
    from layerlab.engine import fsck

    problems = fsck.check(engine, repair=ns.repair)
    for problem in problems:
        print(problem.line(), file=io.out)
    left = [p for p in problems if not p.repaired]
    if not problems:
        print("the store is consistent", file=io.out)
    return Report(code=1 if left else 0)


@command("events")
def cmd_events(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    from layerlab.commands.events import cmd_events as events  # its own module: the journal's

    return events(engine, ns, io)
