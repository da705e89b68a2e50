"""What every verb module is given: the store, the runtime, and the records as they truly are.

`Engine` (facade.py) is a `Context` with the verbs. A verb module takes a `Context`
and asks it only this public API - never the façade, never a private name: the verb
modules import one another and this module, none of them the façade (which imports
them all), so no import goes in a circle.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

from layerlab.engine import recovery
from layerlab.errors import ClientError, Conflict, LayerlabError, NotFound
from layerlab.layerfs import base_image
from layerlab.layerfs.unionfs import WritableLayer
from layerlab.runtime.runc import Runtime
from layerlab.storage import images as imagelib
from layerlab.storage.containers import Container, broken_record
from layerlab.storage.reference import normalize_ref
from layerlab.storage.store import Corrupted, Store, read_json


class Context:
    """One store and its runtime; reads settle what a killed process left (recovery.py)."""

    def __init__(self, root: Path | None = None) -> None:
        self.store = Store(root)

    @cached_property
    def runtime(self) -> Runtime:
        return Runtime.for_store(self.store.root)

    # --- containers ------------------------------------------------------------------
    def container(self, ref: str) -> Container:
        cid = self.store.resolve_container(ref)
        try:
            return self.settled(cid)
        except FileNotFoundError:  # removed since it was resolved
            raise NotFound(f"No such container: {ref}") from None

    def containers(self, all: bool = False) -> list[Container]:
        """Newest first, as `ps` lists them; only running ones unless `all`."""
        found = []
        for cid in self.store.container_ids():
            with contextlib.suppress(FileNotFoundError):
                found.append(self.settled(cid))
        found.sort(key=lambda c: c.data["Created"], reverse=True)
        return [c for c in found if all or c.running]

    def settled(self, cid: str) -> Container:
        """Container `cid`'s record, settled (`recovery.settle`); FileNotFoundError once it
        is gone. One that cannot be read is listed as Dead: only it is affected."""
        try:
            data = self.store.read_container(cid)
        except Corrupted as exc:
            if not self.store.container_dir(cid).is_dir():
                raise FileNotFoundError(cid) from None
            return Container(broken_record(cid, self.store.container_dir(cid), str(exc)))
        recovery.settle(self, data)
        return Container(data)

    def require_running(self, cid: str, action: str = "") -> Container:
        """The container, or Docker's `is not running` (with `Cannot <action>` if given)."""
        container = self.settled(cid)
        if not container.running:
            prefix = f"Cannot {action} container: {container.name}: " if action else ""
            raise Conflict(f"{prefix}Container {cid} is not running")
        return container

    def update_record(self, cid: str, change: Callable[[dict[str, Any]], None]) -> Container:
        """The record after `change` is applied to it under the store lock."""
        return Container(self.store.update_container(cid, change))

    @staticmethod
    def writable(container: Container) -> WritableLayer:
        """The container's writable layer, from its record's paths."""
        return WritableLayer.from_graph_driver(container.data["GraphDriver"]["Data"])

    def container_sizes(self, container: Container) -> tuple[int, int]:
        """(SizeRw, SizeRootFs): the writable layer's bytes, and those plus the image's
        (`ps -s`, `inspect -s`)."""
        rw, _ = self.writable(container).size()
        try:
            image_size = imagelib.read_image(self.store, container.data["Image"]).size
        except (NotFound, FileNotFoundError):
            image_size = 0
        return rw, rw + image_size

    def bundle_spec(self, ref: str) -> dict[str, Any] | None:
        """The OCI runtime config.json handed to runc, once the container was started; else None."""
        cid = self.store.resolve_container(ref)
        try:
            spec: dict[str, Any] = read_json(
                self.store.container_dir(cid) / "bundle" / "config.json"
            )
        except FileNotFoundError:
            return None
        return spec

    # --- images ----------------------------------------------------------------------
    def image(self, ref: str) -> imagelib.Image:
        """The image `ref` names (busybox is made on its first use)."""
        return base_image.resolve(self.store, ref)

    def image_or_pull(self, ref: str, pull: Callable[[str], None] | None = None) -> imagelib.Image:
        """The image a container or a build stage is made from (`run`, `create`, `FROM`):
        the local one, busybox made on first use; else, as Docker does, pulled from the
        registry its name names or the store's daemon.json puts in Docker Hub's place
        (`pull`: the face's, printing Docker's lines; else quietly); else, with no registry
        to pull from, one line saying how to get an image."""
        try:
            return self.image(ref)
        except NotFound:
            if ref.startswith("sha256:") or self.find_image_id(ref) is not None:
                raise  # an id Docker would not pull either; or removed while being read
        from layerlab.registry import hosts
        from layerlab.registry.client import parse_reference

        if parse_reference(ref).host == hosts.DOCKER_HUB and not hosts.hub_stand_in(
            self.store.root
        ):
            raise ClientError(
                f"Unable to find image '{normalize_ref(ref)}' locally: no registry is configured;"
                " use busybox, or make the image with load, import or build"
            )
        (pull or self._pull_quietly)(ref)
        return self.image(ref)

    def _pull_quietly(self, ref: str) -> None:
        from layerlab.registry.pull import pull
        from layerlab.storage import events as journal

        for reference, repository in pull(self.store, ref).references:
            journal.image(self.store.root, reference, "pull", name=repository)

    def find_image_id(self, ref: str) -> str | None:
        """The id of the image `ref` names now, or None; never makes busybox (for listings)."""
        try:
            return self.store.find_image(ref)
        except LayerlabError:
            return None

    def images(self, all: bool = False) -> list[tuple[str, imagelib.Image]]:
        """(`name:tag` or `<none>:<none>`, image) newest first; intermediates only with `all`.

        An image removed by another process during the listing is left out.
        """
        return imagelib.list_images(self.store, all)
