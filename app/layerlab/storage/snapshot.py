"""What the faces list, read at one moment: the store's containers and images.

A `Snapshot` is frozen, so a worker thread can read it and hand it to a UI
thread that only renders. A `Subject` is what the panels follow: one container
or one image, by full id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from layerlab.storage.reference import short_id

if TYPE_CHECKING:  # the TUI's first frame imports this module, and no store machinery
    from layerlab.storage.containers import Container
    from layerlab.storage.images import Image

NONE_REF = "<none>:<none>"


@dataclass(frozen=True)
class Subject:
    """What the panels follow: one container or one image, by full id."""

    kind: Literal["container", "image"]
    id: str


@dataclass(frozen=True)
class Snapshot:
    """The store's containers and images, newest first, as `ps -a` and `images -a` see them."""

    containers: tuple[Container, ...]
    images: tuple[tuple[str, Image], ...]  # (name:tag or <none>:<none>, image)

    def container(self, cid: str) -> Container | None:
        return next((c for c in self.containers if c.id == cid), None)

    def image(self, image_id: str) -> Image | None:
        return next((i for _, i in self.images if i.id == image_id), None)

    def image_name(self, image_id: str) -> str:
        """Its first tag in name order (as the panels name it), else its short id."""
        tags = sorted(ref for ref, i in self.images if i.id == image_id and ref != NONE_REF)
        return tags[0] if tags else short_id(image_id)

    def names(self) -> list[str]:
        """Every name and short id a command may refer to: what the command bar completes."""
        found: list[str] = []
        for c in self.containers:
            found += [c.name, c.short_id]
        for ref, image in self.images:
            if ref != NONE_REF:
                found += [ref, ref.removesuffix(":latest")]
            found.append(short_id(image.id))
        return list(dict.fromkeys(found))
