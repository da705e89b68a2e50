"""What Docker's presentation reads of the store's records, as duck types.

Presentation sits below the store (ARCHITECTURE.md), so filters and listings name the few
facts they read, and `storage`'s `Container`, `Image` and `Volume` have them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, TypeVar


class ContainerFacts(Protocol):
    """A container record (`storage.containers.Container`): `ps -f` reads these."""

    @property
    def data(self) -> dict[str, Any]: ...
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def state(self) -> dict[str, Any]: ...
    @property
    def status(self) -> str: ...
    @property
    def created(self) -> float: ...


class ImageFacts(Protocol):
    """An image (`storage.images.Image`): `images -f` reads its config and creation time."""

    @property
    def config(self) -> dict[str, Any]: ...
    @property
    def created(self) -> float: ...


class VolumeFacts(Protocol):
    """A volume (`storage.volumes.Volume`): `volume ls -f` and `--format` read these."""

    @property
    def name(self) -> str: ...
    @property
    def mountpoint(self) -> Path: ...
    @property
    def labels(self) -> dict[str, str] | None: ...


ImageT = TypeVar("ImageT", bound=ImageFacts)
VolumeT = TypeVar("VolumeT", bound=VolumeFacts)
