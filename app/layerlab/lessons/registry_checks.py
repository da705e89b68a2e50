"""Checks on the lesson's own registry: what it serves, and which blobs travelled to it.

The registry is the referee. `registry_serves` asks it for a tag's manifest and compares
the config blob it names (whose digest is an image id) with the store's image;
`blobs_uploaded` and `blobs_mounted` count, in its access log since the step began, the
blob uploads it completed and the blobs it mounted from another of its repositories. What
the push printed is never the proof. Registered in `checks.CHECKS` when imported (the loader
imports this module).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from layerlab.lessons.checks import Context, Param, _image, check
from layerlab.presentation.humanize import plural

ACCEPT = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    ]
)
TIMEOUT = 5.0


def _served_config(host: str, repository: str, tag: str) -> tuple[str, str]:
    """The config digest the registry's manifest for `repository:tag` names, or '' and why."""
    request = urllib.request.Request(
        f"http://{host}/v2/{repository}/manifests/{tag}", headers={"Accept": ACCEPT}
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            manifest = json.loads(response.read(4 << 20))
    except urllib.error.HTTPError as exc:
        return "", "not served" if exc.code == 404 else f"the registry answered {exc.code}"
    except (OSError, ValueError) as exc:
        return "", f"no answer: {exc}"
    digest = (manifest.get("config") or {}).get("digest") if isinstance(manifest, dict) else None
    return (str(digest), "") if digest else ("", "a manifest without a config")


@check(
    "registry_serves",
    "the lesson's registry serves this `repository:tag`, and its manifest names the config "
    "of the store's image `$REGISTRY/repository:tag` (the same image id)",
    Param("tag", str),
)
def _registry_serves(ctx: Context, a: dict[str, str | int]) -> tuple[bool, str, str]:
    repository, _, tag = str(a["tag"]).rpartition(":")
    goal = f"the lesson's registry serves {a['tag']}, the image the store tags so"
    if ctx.registry is None:
        return False, goal, "the lesson has no registry"
    local = _image(ctx, f"{ctx.registry.host}/{a['tag']}")
    if local is None:
        return False, goal, f"no image $REGISTRY/{a['tag']} in the store"
    served, why = _served_config(ctx.registry.host, repository, tag)
    if not served:
        return False, goal, why
    if served != local.id:
        return False, goal, f"it serves another image ({served[:19]}…)"
    return True, goal, f"served, config {served[:19]}…"


def _travelled(ctx: Context, mounted: bool, count: int, goal: str) -> tuple[bool, str, str]:
    if ctx.registry is None:
        return False, goal, "the lesson has no registry"
    uploads, mounts = ctx.registry.travelled(ctx.baseline.registry_log)
    found = mounts if mounted else uploads
    now = f"{plural(len(uploads), 'blob')} uploaded, {len(mounts)} mounted since the step began"
    return len(found) == count, goal, now


@check(
    "blobs_uploaded",
    "since the step began, the lesson's registry received exactly this many blobs (layers "
    "and configs; a blob it had already, or mounted, did not travel)",
    Param("count", int, minimum=0),
)
def _blobs_uploaded(ctx: Context, a: dict[str, str | int]) -> tuple[bool, str, str]:
    count = int(a["count"])
    return _travelled(ctx, False, count, f"{plural(count, 'blob')} travelled to the registry")


@check(
    "blobs_mounted",
    "since the step began, the lesson's registry mounted exactly this many blobs from another "
    "of its repositories (`Mounted from`): shared, not sent",
    Param("count", int, minimum=0),
)
def _blobs_mounted(ctx: Context, a: dict[str, str | int]) -> tuple[bool, str, str]:
    count = int(a["count"])
    goal = f"{plural(count, 'blob')} mounted from another repository"
    return _travelled(ctx, True, count, goal)
