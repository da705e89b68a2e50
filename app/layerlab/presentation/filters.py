"""Docker's `--filter` and time arguments: `ps -f`, `images -f`, `volume ls -f`,
`logs --since/--until`.

Filters with the same key are alternatives (OR), different keys must all hold (AND), as
in Docker. Unknown keys and values are refused with the daemon's words
(`Invalid filter 'bogus'`, exit 1); a word without `=` is a usage error (125).
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING

from layerlab.errors import NOT_STARTED, LayerlabError
from layerlab.presentation.humanize import parse_rfc3339
from layerlab.presentation.ports import matches as ports_match

if TYPE_CHECKING:
    from layerlab.presentation.records import ContainerFacts, ImageT, VolumeT

Filters = dict[str, list[str]]

PS_KEYS = frozenset(
    "id name label exited status ancestor before since volume network publish expose health "
    "isolation is-task".split()
)
IMAGE_KEYS = frozenset("dangling label before since reference until".split())
VOLUME_KEYS = frozenset("dangling driver label name".split())
STATUSES = frozenset("created restarting running removing paused exited dead".split())


def parse_filters(values: Sequence[str], allowed: frozenset[str] | None) -> Filters:
    """`["status=exited", "name=web"]` -> {"status": ["exited"], "name": ["web"]}; any key
    when `allowed` is None (`events`: Docker's daemon ignores the keys it does not know)."""
    found: Filters = {}
    for value in values:
        key, sep, arg = value.partition("=")
        if not sep:
            raise LayerlabError(
                f'invalid argument "{value}" for "-f, --filter" flag: bad format of filter '
                "(expected name=value)",
                exit_code=NOT_STARTED,  # cobra's flag parsing: a usage error
            )
        key = key.strip().lower()
        if allowed is not None and key not in allowed:
            raise LayerlabError(f"Invalid filter '{key}'", exit_code=1)
        found.setdefault(key, []).append(arg)
    return found


def _name_matches(pattern: str, name: str) -> bool:
    try:
        return re.search(pattern, "/" + name) is not None
    except re.error:
        return pattern in name


def _labels_match(wanted: list[str], labels: dict[str, str]) -> bool:
    """Every `key` or `key=value` given must hold (Docker ANDs label filters)."""
    for item in wanted:
        key, sep, value = item.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


def container_filter(
    filters: Filters,
    image_of: Callable[[str], set[str]],
    created_of: Callable[[str], float],
) -> Callable[[ContainerFacts], bool]:
    """A predicate for `ps -f`. `image_of(ref)` gives the image ids an `ancestor` names
    (the image and its descendants); `created_of(ref)` a container's creation time."""
    for status in filters.get("status", []):
        if status not in STATUSES:
            raise LayerlabError(f"Invalid filter 'status={status}'", exit_code=1)
    for code in filters.get("exited", []):
        if not code.lstrip("-").isdigit():
            raise LayerlabError(f"invalid filter 'exited={code}'", exit_code=1)
    ancestors: set[str] = set()
    for ref in filters.get("ancestor", []):
        with contextlib.suppress(LayerlabError):  # Docker: an unknown ancestor matches nothing
            ancestors |= image_of(ref)
    before = [created_of(ref) for ref in filters.get("before", [])]
    since = [created_of(ref) for ref in filters.get("since", [])]

    def keep(c: ContainerFacts) -> bool:
        checks = {
            "id": lambda v: c.id.startswith(v),
            "name": lambda v: _name_matches(v, c.name),
            "status": lambda v: c.status == v,
            "exited": lambda v: c.status == "exited" and c.state.get("ExitCode") == int(v),
        }
        for key, check in checks.items():
            if key in filters and not any(check(v) for v in filters[key]):
                return False
        labels = c.data["Config"].get("Labels") or {}
        if "label" in filters and not _labels_match(filters["label"], labels):
            return False
        if "ancestor" in filters and c.data["Image"] not in ancestors:
            return False
        if any(c.created >= t for t in before) or any(c.created <= t for t in since):
            return False
        if "volume" in filters and not set(filters["volume"]) & _mount_keys(c):
            return False
        if ("publish" in filters or "expose" in filters) and not _ports_match(filters, c):
            return False
        if "network" in filters and not any(_on_network(c, v) for v in filters["network"]):
            return False
        unsupported = {"health", "isolation"}
        return not any(key in filters for key in unsupported)  # nothing has those here

    return keep


def _ports_match(filters: Filters, c: ContainerFacts) -> bool:
    return ports_match(filters.get("publish", []), filters.get("expose", []), c.data)


def _on_network(c: ContainerFacts, ref: str) -> bool:
    """`ps -f network=`: a network the container joined, by name or id (or its start)."""
    joined = (c.data.get("NetworkSettings") or {}).get("Networks") or {}
    return any(
        name == ref or (len(ref) >= 12 and (e.get("NetworkID") or "").startswith(ref))
        for name, e in joined.items()
    )


def _mount_keys(c: ContainerFacts) -> set[str]:
    """What `ps -f volume=` matches, as moby: a mount's destination, its volume's name (or,
    for a bind mount, its host path)."""
    keys = set()
    for m in c.data.get("Mounts") or []:
        keys |= {m.get("Destination", ""), m.get("Name") or m.get("Source", "")}
    return keys


def _path_match(pattern: str, text: str) -> bool:
    """Go's path.Match: `*` and `?` never cross a `/`."""
    out, i = "", 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        elif ch == "[" and "]" in pattern[i + 1 :]:
            end = pattern.index("]", i + 1)
            body = pattern[i + 1 : end]
            out += "[" + ("^" + body[1:] if body.startswith("^") else body) + "]"
            i = end
        else:
            out += re.escape(ch)
        i += 1
    return re.fullmatch(out, text) is not None


def reference_matches(pattern: str, ref: str) -> bool:
    """Docker's `reference=` filter (FamiliarMatch): a glob on `name:tag`, else on the name."""
    return _path_match(pattern, ref) or _path_match(pattern, ref.rpartition(":")[0])


def dangling_value(values: list[str]) -> bool | None:
    if not values:
        return None
    for value in values:
        if value.lower() not in ("true", "false", "1", "0"):
            raise LayerlabError(f"Invalid filter 'dangling=[{value}]'", exit_code=1)
    return values[-1].lower() in ("true", "1")


def image_filter(
    rows: list[tuple[str, ImageT]],
    created_of: Callable[[str], float],
    reference: str | None,
    values: Sequence[str],
    all: bool,
) -> list[tuple[str, ImageT]]:
    """`images [REPO[:TAG]] -f ...`: the rows Docker keeps, in the same order.
    `created_of(ref)` gives an image's creation time (`before=`, `since=`)."""
    filters = parse_filters(values, IMAGE_KEYS)
    dangling = dangling_value(filters.get("dangling", []))
    patterns = list(filters.get("reference", []))
    if reference:
        patterns.append(reference)
    before = [created_of(ref) for ref in filters.get("before", [])]
    since = [created_of(ref) for ref in filters.get("since", [])]
    until = [docker_time(v, "until") for v in filters.get("until", [])]
    kept = []
    for ref, image in rows:
        untagged = ref == "<none>:<none>"
        if dangling is not None and untagged != dangling:
            continue
        if patterns and (untagged or not any(reference_matches(p, ref) for p in patterns)):
            continue
        labels = (image.config.get("config") or {}).get("Labels") or {}
        if "label" in filters and not _labels_match(filters["label"], labels):
            continue
        if any(image.created >= t for t in before) or any(image.created <= t for t in since):
            continue
        if any(image.created > t for t in until):
            continue
        kept.append((ref, image))
    return kept


def volume_filter(
    values: Sequence[str], found: list[VolumeT], in_use: Callable[[str], bool]
) -> list[VolumeT]:
    """`volume ls -f`: `dangling=` (used by no container, running or not), `name=` (a regular
    expression searched in the name), `driver=` (exactly), `label=KEY[=VALUE]`."""
    filters = parse_filters(values, VOLUME_KEYS)
    dangling = None
    if "dangling" in filters:  # as moby: any true wins; neither true nor false is refused
        given = filters["dangling"]
        if {"true", "1"} & set(given):
            dangling = True
        elif {"false", "0"} & set(given):
            dangling = False
        else:
            raise LayerlabError(f"Invalid filter 'dangling=[{' '.join(given)}]'", exit_code=1)
    kept = []
    for volume in found:
        names = filters.get("name", [])
        if names and not any(_searches(pattern, volume.name) for pattern in names):
            continue
        if "driver" in filters and "local" not in filters["driver"]:
            continue
        if "label" in filters and not _labels_match(filters["label"], volume.labels or {}):
            continue
        if dangling is not None and in_use(volume.name) == dangling:
            continue
        kept.append(volume)
    return kept


def _searches(pattern: str, text: str) -> bool:
    """Go's regexp.MatchString: a pattern that does not compile matches nothing."""
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return False


# Docker's time arguments


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
_LAYOUTS = (
    "%Y-%m-%dT%H:%M:%S.%f%z",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M%z",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%dT%H",
    "%Y-%m-%d",
)


def go_duration(text: str) -> float | None:
    """Go's time.ParseDuration, in seconds; None when `text` is not a duration."""
    sign, body = (-1, text[1:]) if text.startswith("-") else (1, text.lstrip("+"))
    if body == "0":
        return 0.0
    pos, total = 0, 0.0
    while pos < len(body):
        match = _DURATION_PART.match(body, pos)
        if match is None:
            return None
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    return sign * total if body else None


def docker_time(value: str, arg: str, now: float | None = None) -> float:
    """Docker's `--since`/`--until` value as unix seconds: a duration before now (`10m`),
    unix seconds (`1700000000[.5]`), or an RFC 3339 date or time (local time if no zone)."""
    now = time.time() if now is None else now
    duration = go_duration(value)
    if duration is not None and value != "0":  # "0" is the epoch (moby's timetypes)
        return now - duration
    if re.fullmatch(r"\d+(\.\d{1,9})?", value):
        return float(value)
    text = value.replace("Z", "+0000").replace("z", "+0000")
    text = re.sub(r"([+-]\d\d):(\d\d)$", r"\1\2", text)
    for layout in _LAYOUTS:
        with contextlib.suppress(ValueError):
            parsed = datetime.strptime(text, layout)
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=_local_zone())
            return parsed.timestamp()
    raise LayerlabError(
        f'invalid value for "{arg}": failed to parse value as time or duration: "{value}"',
        exit_code=1,
    )


def _local_zone() -> timezone:
    offset = datetime.now().astimezone().utcoffset() or timedelta(0)
    return timezone(offset) if offset else UTC


def entry_time(stamp: str) -> float:
    """A json-file log entry's time (RFC 3339 with nanoseconds)."""
    return parse_rfc3339(stamp)
