"""Docker's own daemon and client, for side-by-side tests: a daemon the tests start in their
own folder (never the host's), with a busybox made as layerlab makes its own."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

from layerlab.layerfs.base_image import busybox_applets

from .conftest import Result


def words(err: str) -> str:
    """An error's own words, without each program's framing: Docker's `Error response from
    daemon: ` or `docker: ... .` and its `See 'docker run --help'.`, layerlab's `Error: `."""
    lines = [line for line in err.splitlines() if not line.startswith("See '")]
    text = " ".join(lines)
    for frame in ("docker: ", "Error response from daemon: ", "Error: "):
        text = text.removeprefix(frame)
    return text.removesuffix(".")


class Docker:
    """`docker ARGS...` (the client), answering as the CLI fixture does."""

    def __init__(self, docker: str) -> None:
        self.docker = docker

    def __call__(self, *args: str, input: str | None = None, timeout: float = 120) -> Result:
        done = subprocess.run(
            [self.docker, *args], capture_output=True, text=True, timeout=timeout, input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
        )  # fmt: skip
        return Result(done.returncode, done.stdout, done.stderr)


@dataclass
class Daemon:
    """A Docker daemon the tests started: its own data and exec roots, its socket, no bridge
    and no iptables (nothing of it reaches the host's network or /var/lib/docker)."""

    host: str  # `unix:///.../docker.sock`, for DOCKER_HOST, the SDK's base_url and `--host`
    data_root: Path
    cli: Docker  # `docker ARGS...` on this daemon

    def __call__(self, *args: str, input: str | None = None, timeout: float = 120) -> Result:
        return self.cli("--host", self.host, *args, input=input, timeout=timeout)

    @property
    def argv(self) -> list[str]:
        """The command line that starts `docker` on this daemon (for a Popen of one's own)."""
        return [self.cli.docker, "--host", self.host]


def start_daemon(
    folder: Path, driver: str = "overlay2"
) -> tuple[Daemon, subprocess.Popen[bytes]] | None:
    """Docker 20.10's daemon (Debian's docker.io) started in `folder` on the storage `driver`,
    with `busybox:latest` imported from the same static busybox and applets layerlab's own
    busybox has; None when dockerd is not installed. The caller ends it (`stop_daemon`)."""
    dockerd, client = shutil.which("dockerd"), "/usr/bin/docker"
    if dockerd is None or not Path(client).exists():
        return None
    sock = folder / "docker.sock"
    proc = subprocess.Popen(
        [dockerd, "--data-root", str(folder / "data"), "--exec-root", str(folder / "exec"),
         "--host", f"unix://{sock}", "--pidfile", str(folder / "dockerd.pid"),
         "--bridge=none", "--iptables=false", "--ip6tables=false", f"--storage-driver={driver}"],
        stdin=subprocess.DEVNULL, stdout=(folder / "dockerd.log").open("wb"),
        stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    daemon = Daemon(f"unix://{sock}", folder / "data", Docker(client))
    deadline = time.monotonic() + 60  # a hang guard: the daemon answers in about a second
    while daemon("version", "-f", "{{.Server.Version}}", timeout=30).code != 0:
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_daemon(proc)
            log = (folder / "dockerd.log").read_text(errors="replace")[-2000:]
            raise AssertionError(f"dockerd did not answer:\n{log}")
        time.sleep(0.1)
    rootfs = folder / "busybox-rootfs"
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy2("/bin/busybox", rootfs / "bin/busybox")
    for applet in busybox_applets():
        target = rootfs / applet
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink("/bin/busybox", target)
    archive = folder / "busybox.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(rootfs, ".")
    made = daemon("import", "-c", 'CMD ["sh"]', str(archive), "busybox:latest")
    assert made.code == 0, made.err
    return daemon, proc


def stop_daemon(proc: subprocess.Popen[bytes]) -> None:
    """End the daemon the tests started, by its pid: it stops its containers and its own
    containerd and unmounts its layers before it exits."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
