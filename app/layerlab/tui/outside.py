"""How the panels name what is mounted over a container's union: volumes, binds, tmpfs.

They sit outside the layer stack, so what a container writes there is in no
layer: not in `diff`, not in what `commit` makes, not in `export`. The layer
stack and the picture both list them under the layers in these words.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import TYPE_CHECKING

from layerlab.storage.reference import short_id

if TYPE_CHECKING:
    from layerlab.engine import Mounted

NOTE = "outside the layers: not in diff, not committed"


def _volume_name(name: str) -> str:
    """An anonymous volume's name is 64 hex digits: shortened as ids are."""
    if len(name) == 64 and set(name) <= set(string.hexdigits):
        return short_id(name) + "…"
    return name


def what(mount: Mounted) -> str:
    """What is mounted: `volume data`, `bind /srv/site`, `tmpfs` (memory)."""
    if mount.type == "volume":
        return f"volume {_volume_name(mount.source)}"
    return f"{mount.type} {mount.source}".rstrip()


def target(mount: Mounted) -> str:
    """What is mounted where: `data → /data`, `/srv/site → /mnt`, `/run` (a tmpfs is memory)."""
    source = mount.source if mount.type == "bind" else _volume_name(mount.source)
    where = f"{source} → {mount.destination}" if source else mount.destination
    return where + (" (read-only)" if mount.read_only else "")


def describe(mount: Mounted) -> str:
    """`volume data → /data`, `bind /srv/site → /mnt`, `tmpfs /run`."""
    return f"{mount.type} {target(mount)}"


def written_outside(mounts: Sequence[Mounted]) -> str:
    """After a process ran: where its writes bypassed the writable layer, as a sentence."""
    if not mounts:
        return ""
    points = [m.destination for m in mounts]
    where = points[0] if len(points) == 1 else ", ".join(points[:-1]) + " or " + points[-1]
    kinds = ", ".join(what(m) for m in mounts)
    return (
        f" What it wrote under {where} went to what is mounted there ({kinds}), "
        "outside the layers: in no diff, in no commit."
    )
