"""Watching containers: `stats` (a table of what each uses, redrawn live as docker/cli's
cli/command/container/stats.go draws it) and the details `logs --details` puts before
each line (moby's api/server/httputils/write_log_stream.go)."""

from __future__ import annotations

import argparse
import functools
import threading
import urllib.parse
from collections.abc import Callable
from typing import Any

from layerlab.commands.stdio import IO
from layerlab.engine import Engine
from layerlab.errors import NotFound
from layerlab.presentation.humanize import bytes_size, human_size
from layerlab.report import Report
from layerlab.runtime.usage import Sample

STATS_DEFAULT = (
    "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t"
    "{{.BlockIO}}\t{{.PIDs}}"
)
STATS_TITLES = {
    "Container": "CONTAINER", "Name": "NAME", "ID": "CONTAINER ID", "CPUPerc": "CPU %",
    "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
    "BlockIO": "BLOCK I/O", "PIDs": "PIDS",
}  # fmt: skip
STATS_CONTEXT = "*container.statsContext"
INTERVAL = 1.0  # seconds between two readings: the daemon's collector's
CLEAR = "\033[2J\033[H"  # what docker stats writes before each table


def stats_row(
    shown_as: str, now: Sample | None, before: Sample | None, trunc: bool
) -> dict[str, Any]:
    """One container's line (formatter_stats.go's statsContext); `now` None: it could not
    be read (gone), every figure `--`."""
    if now is None:
        figures = dict.fromkeys(("CPUPerc", "MemPerc", "NetIO", "BlockIO", "PIDs"), "--")
        return {"Container": shown_as, "Name": "--", "ID": "", "MemUsage": "-- / --"} | figures
    return {
        "Container": shown_as,
        "Name": now.name or "--",
        "ID": now.id[:12] if trunc else now.id,
        "CPUPerc": f"{now.cpu_percent(before):.2f}%",
        "MemUsage": f"{bytes_size(now.memory)} / {bytes_size(now.memory_limit)}",
        "MemPerc": f"{now.memory_percent():.2f}%",
        "NetIO": f"{human_size(now.net_rx, 3)} / {human_size(now.net_tx, 3)}",
        "BlockIO": f"{human_size(now.block_read, 3)} / {human_size(now.block_write, 3)}",
        "PIDs": str(now.pids),
    }


def _read(engine: Engine, ref: str) -> Sample | None:
    try:
        return engine.stats(ref)
    except NotFound:  # never there, or removed meanwhile
        return None


def _watched(engine: Engine, ns: argparse.Namespace) -> list[str]:
    """The containers shown, as the table's CONTAINER column names them: those named, else
    every running one (every one with -a) by short id, listed anew for each table."""
    if ns.containers:
        return list(dict.fromkeys(ns.containers))  # each once, as Docker's list
    return [c.short_id for c in engine.containers(all=ns.all)]


def stats(
    engine: Engine,
    ns: argparse.Namespace,
    io: IO,
    listed: Callable[[IO, Callable[[], str]], Report],
) -> Report:
    """`docker stats`: a reading, another a second later (CPU % is the share between them),
    then the table; live (on a terminal of the CLI) a new table each second until Ctrl-C.
    `listed` writes a rendered table, or the template's error, as every listing does."""
    from layerlab.presentation import listing

    missing = [ref for ref in dict.fromkeys(ns.containers) if _read(engine, ref) is None]
    for ref in missing:
        print(f"Error: No such container: {ref}", file=io.err)
    if missing:
        return Report(code=1)
    live = not ns.no_stream and io.interactive
    stop = io.cancel or threading.Event()
    before = {ref: _read(engine, ref) for ref in _watched(engine, ns)}
    while not stop.wait(INTERVAL):
        now = {ref: _read(engine, ref) for ref in _watched(engine, ns)}
        rows = [stats_row(ref, now[ref], before.get(ref), not ns.no_trunc) for ref in now]
        if live:
            io.out.write(CLEAR)
        render = functools.partial(
            listing.render_rows, ns.format, STATS_DEFAULT, rows, STATS_TITLES, STATS_CONTEXT
        )
        report = listed(io, render)
        io.out.flush()
        if report.code or not live:
            return report
        before = now
    return Report()


def log_details(record: dict[str, Any]) -> str:
    """What `logs --details` puts before each line: the attributes the json-file driver
    keeps (`--log-opt labels=K,…` and `env=K,…`), `k=v` sorted by key and URL-escaped,
    comma-joined, then a space (a lone space when there are none)."""
    options = record.get("HostConfig", {}).get("LogConfig", {}).get("Config") or {}
    config = record.get("Config") or {}
    labels = config.get("Labels") or {}
    env = dict(e.split("=", 1) for e in config.get("Env") or [] if "=" in e)
    attrs = {k: labels[k] for k in (options.get("labels") or "").split(",") if k in labels}
    attrs |= {k: env[k] for k in (options.get("env") or "").split(",") if k in env}
    quote = urllib.parse.quote_plus
    return ",".join(f"{quote(k)}={quote(v)}" for k, v in sorted(attrs.items())) + " "


DISK_USAGE_CONTEXT = "*formatter.diskUsageContext"


def df_verbose_formatted(
    fmt: str,
    usage: dict[str, Any],
    images: list[dict[str, Any]],
    containers: list[dict[str, Any]],
    volumes: list[dict[str, Any]],
) -> str:
    """`system df -v --format`: the template runs once, on Docker's diskUsageContext (its
    `.Images`, `.Containers`, `.Volumes`, `.BuildCache`, each a listing's contexts, with the
    sizes and counts `df` knows), and nothing follows it, not even a newline
    (cli/command/formatter/disk_usage.go, verboseWrite)."""
    from layerlab.presentation.gotemplate import Context, TemplateError, check, render

    for context, image in zip(images, usage["images"].values(), strict=True):
        shared, size = image["shared"], image["image"].size
        context.update(
            Containers=str(usage["used_by"].get(image["image"].id, 0)), Digest="",
            SharedSize=human_size(shared), UniqueSize=human_size(size - shared),
            VirtualSize=human_size(size),
        )  # fmt: skip
    for context, (_, size) in zip(containers, usage["containers"], strict=True):
        context.pop("Platform", None)  # a later Docker's
        context["Size"] = human_size(size)
    for context, (_, links, size) in zip(volumes, usage["volumes"], strict=True):
        context.update(Links=str(links), Size=human_size(size))
    data = {
        "Images": [Context(c) for c in images],
        "Containers": [Context(c) for c in containers],
        "Volumes": [Context(c) for c in volumes],
        "BuildCache": [],
    }
    template = (fmt.removeprefix("table") if fmt.startswith("table") else fmt).strip(" ")
    template = template.replace("\\t", "\t").replace("\\n", "\n")  # formatter.preFormat
    try:
        check(template)
    except TemplateError as exc:
        raise TemplateError(f"template parsing error: {exc}") from None
    return render(template, data, struct=DISK_USAGE_CONTEXT)  # its failure has no prefix
