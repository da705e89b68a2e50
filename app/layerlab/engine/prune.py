"""`container prune`, `image prune [-a]` and `system prune`: what goes, and the bytes freed.

Everything is removed by the engine's own `rm` and `rmi`, so the store's rules hold: a
running container stays, an image a container uses stays, a parent goes with its last
child. Something another process removed meanwhile is skipped, never an error.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from layerlab.engine.images import rmi
from layerlab.engine.lifecycle import rm
from layerlab.errors import Conflict, LayerlabError, NotFound
from layerlab.storage import volumes as volumelib

if TYPE_CHECKING:
    from layerlab.engine.context import Context
    from layerlab.storage.images import Image
    from layerlab.storage.volumes import Volume

CONTAINERS_WARNING = "WARNING! This will remove all stopped containers."
DANGLING_WARNING = "WARNING! This will remove all dangling images."
ALL_IMAGES_WARNING = (
    "WARNING! This will remove all images without at least one container associated to them."
)


def system_warning(all_images: bool) -> str:
    """Docker's `system prune` warning (no networks or build cache here, but Docker's words)."""
    images = (
        "all images without at least one container associated to them"
        if all_images
        else "all dangling images"
    )
    cache = "all build cache" if all_images else "unused build cache"
    return (
        "WARNING! This will remove:\n"
        "  - all stopped containers\n"
        "  - all networks not used by at least one container\n"
        f"  - {images}\n"
        f"  - {cache}\n"
    )


@dataclass
class Pruned:
    containers: list[str] = field(default_factory=list)  # removed container ids
    untagged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)  # Docker's `deleted:` lines
    deleted_images: list[str] = field(default_factory=list)
    reclaimed: int = 0  # bytes


PRUNE_KEYS = frozenset({"until", "label", "label!"})


def prune_filter(
    values: list[str], allowed: frozenset[str] = PRUNE_KEYS
) -> Callable[[float, dict[str, str]], bool]:
    """`--filter until=TIME|label=K[=V]|label!=K[=V]`: which (created, labels) may go.

    `allowed`: the keys the command takes (`volume prune`: no `until`, as Docker)."""
    from layerlab.presentation.filters import docker_time, parse_filters

    filters = parse_filters(values, allowed)
    until = []
    for value in filters.get("until", []):
        try:
            until.append(docker_time(value, "until"))
        except LayerlabError:
            raise LayerlabError(
                f'failed to parse value as time or duration: "{value}"', exit_code=1
            ) from None

    def has(labels: dict[str, str], item: str) -> bool:
        key, sep, value = item.partition("=")
        return key in labels and (not sep or labels[key] == value)

    def keep(created: float, labels: dict[str, str]) -> bool:
        if any(created >= t for t in until):
            return False
        if not all(has(labels, item) for item in filters.get("label", [])):
            return False
        return not any(has(labels, item) for item in filters.get("label!", []))

    return keep


def prune_containers(
    ctx: Context, result: Pruned | None = None, filters: list[str] | None = None
) -> Pruned:
    """Remove every container that is not running (created, exited, dead)."""
    result = result or Pruned()
    may_go = prune_filter(filters or [])
    for container in ctx.containers(all=True):
        labels = container.data["Config"].get("Labels") or {}
        if container.running or not may_go(container.created, labels):
            continue
        with contextlib.suppress(LayerlabError):
            size, _ = ctx.container_sizes(container)
            rm(ctx, container.id)
            result.containers.append(container.id)
            result.reclaimed += size
    return result


def prune_images(
    ctx: Context, all: bool, result: Pruned | None = None, filters: list[str] | None = None
) -> Pruned:
    """Dangling images (untagged, no child), or with `all` every image no container uses."""
    result = result or Pruned()
    may_go = prune_filter(filters or [])
    used = {c.data["Image"] for c in ctx.containers(all=True)}
    candidates: list[Image] = []
    for ref, image in ctx.images(all=all):
        if image.id in used or image.id in (c.id for c in candidates):
            continue
        if not may_go(image.created, image.run_config.get("Labels") or {}):
            continue
        if all or ref == "<none>:<none>":
            candidates.append(image)
    for image in candidates:  # newest first: children go before their parents
        sizes = {layer.chain_id: layer.size for layer in image.layers}
        try:
            removal = rmi(ctx, image.id, force=True)
        except LayerlabError:  # gone meanwhile, or a child still needs it
            continue
        result.untagged += removal.untagged
        result.deleted += removal.deleted
        result.deleted_images += removal.deleted_images
        result.reclaimed += sum(sizes.get(item, 0) for item in removal.deleted)
    return result


def prune_volumes(
    ctx: Context, records: list[dict[str, Any]], may_go: Callable[[Volume], bool] | None = None
) -> tuple[list[str], int]:
    """Remove every volume no container (`records`) uses (Docker 20.10: named ones too) that
    `may_go` lets go (`volume prune --filter label=...`): (names, bytes they held)."""
    from layerlab.layerfs.layers import dir_bytes  # tarfile's module: prunes only

    deleted, reclaimed = [], 0
    for volume in volumelib.listing(ctx.store):
        if may_go is not None and not may_go(volume):
            continue
        with contextlib.suppress(NotFound, Conflict):
            size = dir_bytes(volume.mountpoint)
            volumelib.remove(ctx.store, volume.name, records)
            deleted.append(volume.name)
            reclaimed += size
    return deleted, reclaimed


def remove_store(ctx: Context) -> None:
    """The end of a throwaway store (a lesson's): every container removed, killing what
    runs, what is still mounted under the store unmounted, and the store deleted."""
    from layerlab.engine.fsck import mounts_under
    from layerlab.layerfs import unionfs
    from layerlab.storage.store import remove_tree

    with contextlib.suppress(LayerlabError, OSError):
        for container in ctx.containers(all=True):
            with contextlib.suppress(LayerlabError, OSError):
                rm(ctx, container.id, force=True)
    with contextlib.suppress(OSError):
        for point in mounts_under(ctx.store.root):
            with contextlib.suppress(OSError):
                unionfs.unmount(Path(point))
    remove_tree(ctx.store.root)
