"""A real Docker daemon as the faces read it (`tui --docker`): the daemon's records through
`docker_daemon`, and a running container's processes and namespaces from the kernel, read as
layerlab's own containers' are (its cgroup, its `/proc/PID/ns`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from layerlab.docker_daemon.reader import DaemonReader

if TYPE_CHECKING:
    from layerlab.registry.transfers import Transfer
    from layerlab.runtime.namespaces import Namespace
    from layerlab.runtime.procs import Proc
    from layerlab.storage.images import Image


class DaemonSource(DaemonReader):
    """The daemon's images and containers, with their processes as the kernel has them."""

    def processes(self, pid: int) -> list[Proc]:
        """The process forest of the container whose process `pid` is: its cgroup's."""
        from layerlab.runtime import procs

        return procs.processes(pid)

    def namespaces(self, ref: str) -> tuple[Namespace, ...]:
        """A running container's namespaces beside the host's; () when it does not run."""
        from layerlab.runtime.namespaces import of_container

        return of_container(self.container(ref).state)

    def image_manifest(self, image: Image) -> dict[str, Any]:
        """The manifest a push would send, with the daemon's `RepoDigests`; its blobs'
        digests and the config's size are the daemon's own, not read here."""
        from layerlab.registry.as_registry import NOT_RECORDED, as_registry

        digests = list(self.image_inspect(image).get("RepoDigests") or [])
        manifest = as_registry(image, 0, lambda _diff_id: [], digests)
        manifest["config"]["size"] = NOT_RECORDED
        return manifest

    def transfers(self) -> list[Transfer]:
        """layerlab's pulls and pushes: none on a Docker daemon."""
        return []
