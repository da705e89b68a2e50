"""A real Docker daemon as the faces read it (`tui --docker`): the daemon's records through
`docker_daemon`, and a running container's processes and namespaces from the kernel, read as
layerlab's own containers' are (its cgroup, its `/proc/PID/ns`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from layerlab.docker_daemon.reader import DaemonReader

if TYPE_CHECKING:
    from layerlab.runtime.namespaces import Namespace
    from layerlab.runtime.procs import Proc


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
