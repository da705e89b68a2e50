"""`docker events`: what the engine did, from its journal, printed and filtered as Docker's
CLI and daemon do it (docker/cli system/events.go, moby daemon/events/filter.go)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from layerlab.report import Report

if TYPE_CHECKING:
    from layerlab.commands.stdio import IO
    from layerlab.engine import Engine
    from layerlab.presentation.filters import Filters

Message = dict[str, Any]
# Filter keys that name an event's actor by id or name prefix (the daemon's fuzzyMatchName).
NAMED = ("container", "volume", "network", "plugin", "node", "service", "secret", "config")
# Docker's events whose action carries more after a colon (`exec_start: sh -c ...`).
PREFIXED = ("health_status", "exec_create", "exec_start")


def cmd_events(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    """The kept events within `--since`/`--until`, then each as it comes, until `--until`
    or Ctrl-C; those every `--filter` lets through, as `--format` says."""
    from layerlab.presentation.filters import docker_time, parse_filters

    since = docker_time(ns.since, "since") if ns.since else None
    until = docker_time(ns.until, "until") if ns.until else None
    filters = parse_filters(ns.filter, None)
    show: Callable[[Message], str] = _pretty
    if ns.format:
        from layerlab.presentation.gotemplate import TemplateError

        try:
            show = _templated(ns.format)
        except TemplateError as exc:  # Docker's CLI: checked on an empty message first
            print(f"Error parsing format: {exc}", file=io.err)
            return Report(code=64)
    for message in engine.events(since, until, io.cancel):
        if matches(filters, message):
            io.out.write(show(message))
            io.out.flush()
    return Report()


def _pretty(message: Message) -> str:
    """Docker's line: `TIME TYPE ACTION ID (key=value, ...)`, the attributes sorted."""
    actor = message.get("Actor") or {}
    line = f"{go_time_nano(int(message.get('timeNano') or 0))} {message.get('Type', '')} "
    line += f"{message.get('Action', '')} {actor.get('ID', '')}"
    attributes = actor.get("Attributes") or {}
    if attributes:
        line += " (" + ", ".join(f"{k}={attributes[k]}" for k in sorted(attributes)) + ")"
    return line + "\n"


def go_time_nano(nanos: int) -> str:
    """Go's RFC3339NanoFixed in local time: `2026-12-07T09:00:00.123456789Z`."""
    local = datetime.fromtimestamp(nanos // 1_000_000_000).astimezone()
    zone = local.strftime("%z")
    zone = "Z" if zone in ("+0000", "") else f"{zone[:3]}:{zone[3:]}"
    return f"{local.strftime('%Y-%m-%dT%H:%M:%S')}.{nanos % 1_000_000_000:09d}{zone}"


def _templated(template: str) -> Callable[[Message], str]:
    """`--format`: the template run on each message (Go's `events.Message`)."""
    from layerlab.presentation.gotemplate import render

    render(template, _fields({}), struct="*events.Message")  # a bad field fails here, once
    return lambda message: render(template, _fields(message), struct="*events.Message") + "\n"


def _fields(message: Message) -> Any:
    """The message as the template sees it (Go's field names), and `{{json .}}` its JSON
    (the json tags, empty `omitempty` fields left out, the attributes sorted)."""
    from layerlab.presentation.gotemplate import Marshaled

    actor = message.get("Actor") or {}
    attributes = dict(sorted((actor.get("Attributes") or {}).items()))
    actor = {"ID": actor.get("ID", ""), "Attributes": attributes}
    tagged = {k: message[k] for k in ("status", "id", "from") if message.get(k)}
    tagged |= {"Type": message.get("Type", ""), "Action": message.get("Action", "")}
    tagged |= {"Actor": actor, "scope": message.get("scope", "")}
    tagged |= {k: message[k] for k in ("time", "timeNano") if message.get(k)}
    fields = {
        "Status": message.get("status", ""), "ID": message.get("id", ""),
        "From": message.get("from", ""), "Type": tagged["Type"], "Action": tagged["Action"],
        "Actor": actor, "Scope": tagged["scope"], "Time": int(message.get("time") or 0),
        "TimeNano": int(message.get("timeNano") or 0),
    }  # fmt: skip
    return Marshaled(fields, json.dumps(tagged, ensure_ascii=False, separators=(",", ":")))


# --- the daemon's filter (moby daemon/events/filter.go) -----------------------------------
def matches(filters: Filters, message: Message) -> bool:
    """Whether every filter key lets `message` through (values of one key: any of them)."""
    actor = message.get("Actor") or {}
    ident, attributes = str(actor.get("ID", "")), actor.get("Attributes") or {}
    kind, action = str(message.get("Type", "")), str(message.get("Action", ""))

    def exact(key: str, *values: str) -> bool:
        return key not in filters or any(v in filters[key] for v in values)

    def prefix(key: str, *values: str) -> bool:
        return key not in filters or any(v.startswith(p) for p in filters[key] for v in values)

    fuzzy_event = any(p in filters.get("event", ()) for p in PREFIXED)
    image_name = str(attributes.get("name" if kind == "image" else "image", ""))
    return (
        (prefix if fuzzy_event else exact)("event", action)
        and exact("type", kind)
        and exact("scope", str(message.get("scope", "")))
        and all(prefix(key, ident, str(attributes.get("name", ""))) for key in NAMED)
        and prefix("daemon", ident, str(attributes.get("name", "")))
        and exact("image", ident, image_name, _strip_tag(ident), _strip_tag(image_name))
        and _labels_match(filters.get("label"), attributes)
    )


def _strip_tag(image: str) -> str:
    """`busybox:latest` -> `busybox` (an image id stays whole), as the daemon's stripTag."""
    if image.startswith("sha256:"):
        return image
    name = image.split("@")[0]
    head, sep, tag = name.rpartition(":")
    return head if sep and "/" not in tag else name


def _labels_match(wanted: list[str] | None, attributes: dict[str, str]) -> bool:
    """Go's `MatchKVList`: every `label=KEY` or `label=KEY=VALUE` holds."""
    if not wanted:
        return True
    for item in wanted:
        key, sep, value = item.partition("=")
        if key not in attributes or (sep and attributes[key] != value):
            return False
    return True
