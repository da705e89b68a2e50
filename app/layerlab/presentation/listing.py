"""Docker's `--format` for listings (`ps`, `images`, `history`, `volume ls`, `system df`).

A format is a Go template run once per row; `table TEMPLATE` adds a header row (the same
template run on the column titles) and aligns the cells with Docker's tabwriter; a bare
`table` is the default table, `json` is `{{json .}}`. `\\t` and `\\n` typed in the format
are a tab and a newline, as in Docker.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from layerlab.presentation.table import tabwrite

if TYPE_CHECKING:
    from layerlab.presentation.records import VolumeFacts

PS_DEFAULT = (
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
)
PS_TITLES = {
    "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS",
    "Size": "SIZE", "Names": "NAMES", "Labels": "LABELS", "Mounts": "MOUNTS",
    "Networks": "NETWORKS", "LocalVolumes": "LOCAL VOLUMES", "Platform": "PLATFORM",
}  # fmt: skip
IMAGES_DEFAULT = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
IMAGES_DIGESTS = (
    "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
)
IMAGES_TITLES = {
    "ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
    "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
    "Containers": "CONTAINERS", "VirtualSize": "VIRTUAL SIZE", "SharedSize": "SHARED SIZE",
    "UniqueSize": "UNIQUE SIZE",
}  # fmt: skip
HISTORY_DEFAULT = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
HISTORY_RAW = "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
HISTORY_TITLES = {
    "ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
    "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT",
}  # fmt: skip
VOLUMES_DEFAULT = "table {{.Driver}}\t{{.Name}}"
VOLUMES_TITLES = {
    "Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT",
    "Labels": "LABELS", "Links": "LINKS", "Size": "SIZE",
}  # fmt: skip
SEARCH_DEFAULT = (
    "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}\t{{.IsAutomated}}"
)
SEARCH_TITLES = {
    "Name": "NAME", "Description": "DESCRIPTION", "StarCount": "STARS",
    "IsOfficial": "OFFICIAL", "IsAutomated": "AUTOMATED",
}  # fmt: skip

CONTAINER_CONTEXT = "*formatter.ContainerContext"
IMAGE_CONTEXT = "*formatter.imageContext"
HISTORY_CONTEXT = "*image.historyContext"
VOLUME_CONTEXT = "*formatter.volumeContext"
SEARCH_CONTEXT = "*registry.searchContext"

# Docker's words before a --format that fails to parse, and one that fails to run (exit 1
# both, unlike `inspect`'s 64): `ps` has its own, the other listings share the formatter's.
PS_ERRORS = ("failed to parse template", "failed to execute template")
LISTING_ERRORS = ("template parsing error", "template parsing error")


def render_rows(
    fmt: str | None,
    default: str,
    rows: Sequence[dict[str, Any]],
    headers: dict[str, str],
    context: str,
    errors: tuple[str, str] = LISTING_ERRORS,
) -> str:
    """The listing's text: `fmt` (or the default table) for each row, as Docker prints it.

    A template that fails raises `TemplateError` worded as the command's `errors` say,
    exit code 1: the face prints it as it is, as Docker does (no "Error:").
    """
    from layerlab.presentation.gotemplate import Context, TemplateError, check, render

    fmt = default if fmt in (None, "", "table") else fmt
    if fmt == "json":
        fmt = "{{json .}}"
    table = fmt.startswith("table")
    template = fmt[len("table") :].lstrip(" ") if table else fmt
    template = template.replace("\\t", "\t").replace("\\n", "\n")
    try:
        check(template)
    except TemplateError as exc:
        raise TemplateError(f"{errors[0]}: {exc}") from None
    out = []
    try:
        if table:
            # A `.Label "k"` column is headed by its key, as in Docker.
            out.append(render(template, headers | {"Label": lambda key: key}) + "\n")
        if not rows:  # a field the row type lacks is an error even with no rows, as in Docker
            blank = Context(dict.fromkeys(headers, "") | {"Label": lambda *_: ""})
            render(template, blank, struct=context)
        for row in rows:
            out.append(render(template, Context(row), struct=context) + "\n")
    except TemplateError as exc:
        raise TemplateError(f"{errors[1]}: {exc}") from None
    text = "".join(out)
    return tabwrite(text) if table else text


def volume_contexts(volumes: Sequence[VolumeFacts]) -> list[dict[str, Any]]:
    """Docker 20.10's volumeContext fields for `volume ls --format`: a listed volume has no
    size or links to show (`N/A`; `system df -v` has them)."""
    contexts: list[dict[str, Any]] = []
    for v in volumes:
        labels = v.labels or {}
        contexts.append({
            "Name": v.name, "Driver": "local", "Scope": "local", "Mountpoint": str(v.mountpoint),
            "Labels": ",".join(f"{k}={labels[k]}" for k in sorted(labels)),
            "Label": lambda key, labels=labels: labels.get(key, ""),
            **dict.fromkeys(("Links", "Size"), "N/A"),
        })  # fmt: skip
    return contexts


def go_time(ts: float) -> str:
    """Go's time.String() in local time: `2026-12-01 14:45:57 +0000 UTC`, Docker's CreatedAt."""
    local = datetime.fromtimestamp(int(ts)).astimezone()
    return local.strftime("%Y-%m-%d %H:%M:%S %z ") + (local.tzname() or "UTC")


def local_rfc3339(ts: float) -> str:
    """`2026-12-01T14:42:50Z` (or with an offset): history's CREATED AT without -H."""
    local = datetime.fromtimestamp(int(ts)).astimezone()
    text = local.isoformat()
    return text.replace("+00:00", "Z")


def now() -> float:
    return time.time()
