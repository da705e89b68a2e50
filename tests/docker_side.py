"""Docker's own client, for side-by-side tests: a daemon answering at an explicit DOCKER_HOST
(never the host's default), with a busybox made as layerlab makes its own."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

from .conftest import Result


class Docker:
    """`docker ARGS...` on the daemon at DOCKER_HOST, answering as the CLI fixture does."""

    def __init__(self, docker: str) -> None:
        self.docker = docker

    def __call__(self, *args: str, input: str | None = None, timeout: float = 120) -> Result:
        done = subprocess.run(
            [self.docker, *args], capture_output=True, text=True, timeout=timeout, input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
        )  # fmt: skip
        return Result(done.returncode, done.stdout, done.stderr)


def docker(tmp_path: Path) -> Docker | None:
    """Docker 20.10 (client and daemon: the client formats the listings), with busybox
    imported from the host's /bin/busybox; None when none answers."""
    if not os.environ.get("DOCKER_HOST"):
        return None
    binaries = {shutil.which("docker"), "/usr/bin/docker"} - {None}
    versions = "{{.Client.Version}} {{.Server.Version}}"
    found = next(
        (
            Docker(str(b))
            for b in sorted(binaries)
            if Path(str(b)).exists()
            and Docker(str(b))("version", "-f", versions).out.count("20.10.") == 2
        ),
        None,
    )
    if found is None:
        return None
    if found("image", "inspect", "busybox").code != 0:
        archive = tmp_path / "busybox.tar"
        with tarfile.open(archive, "w") as tar:
            tar.add("/bin/busybox", "bin/busybox")
        made = found("import", "-c", 'CMD ["sh"]', str(archive), "busybox:latest")
        assert made.code == 0, made.err
    return found
