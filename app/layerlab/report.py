"""What a command did, as a typed record: the faces read this, never the printed text.

Every CLI handler returns a `Report`; the TUI follows and explains a command
from it (the container it made, the image it committed, the images `rmi`
deleted) instead of diffing the store around it or parsing what was printed.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class BuildStep:
    """One Dockerfile step as the builder did it: what `build`'s explanation is told."""

    instruction: str  # as written: `RUN echo hi > /greeting`
    keyword: str  # FROM, RUN, COPY, ADD, WORKDIR, ENV, CMD, ...
    cached: bool = False  # "Using cache": an image made by this very step was reused
    container: str = ""  # the step's container (full id); "" when cached or FROM
    layer: str = ""  # the new read-only layer's chain id; "" for an empty layer (config only)
    image: str = ""  # the image the step left behind (sha256:…)


@dataclass
class Report:
    """One command's exit code and the ids it touched, most specific first."""

    code: int = 0
    containers: list[str] = field(default_factory=list)  # made or worked on (full ids)
    images: list[str] = field(default_factory=list)  # made or worked on (sha256:… ids)
    created_containers: list[str] = field(default_factory=list)
    created_images: list[str] = field(default_factory=list)
    removed_containers: list[str] = field(default_factory=list)
    removed_images: list[str] = field(default_factory=list)  # deleted image ids
    untagged: list[str] = field(default_factory=list)  # `name:tag` references removed
    volumes: list[str] = field(default_factory=list)  # volume names made, used or removed
    created_volumes: list[str] = field(default_factory=list)
    removed_volumes: list[str] = field(default_factory=list)
    build_steps: list[BuildStep] = field(default_factory=list)  # `build`: each step, in order
    errors: list[str] = field(default_factory=list)  # items that failed (multi-item commands)

    def merge(self, other: Report) -> None:
        """Fold a sub-step's report into this one (multi-container commands)."""
        self.code = other.code or self.code
        for name in (
            "containers", "images", "created_containers", "created_images",
            "removed_containers", "removed_images", "untagged",
            "volumes", "created_volumes", "removed_volumes", "errors",
        ):  # fmt: skip
            getattr(self, name).extend(getattr(other, name))


@dataclass
class ImageRemoval:
    """What `Engine.rmi` did to one reference: Docker prints `Untagged:` and `Deleted:` from it."""

    image: str  # the image the reference named (sha256:…)
    untagged: list[str] = field(default_factory=list)  # `name:tag` references removed
    deleted: list[str] = field(default_factory=list)  # Docker's order: image id, its layers, …
    deleted_images: list[str] = field(default_factory=list)  # the image ids among `deleted`
