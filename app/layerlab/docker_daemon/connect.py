"""Reaching a Docker daemon through the Docker SDK: where, and the one line when it is not there."""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

from layerlab.errors import ClientError

if TYPE_CHECKING:
    import docker

DEFAULT_HOST = "unix:///var/run/docker.sock"
TIMEOUT = 60  # seconds for one request: a hang guard on a busy daemon, never hit by a reply


def daemon_host(host: str | None = None) -> str:
    """`--host`, else DOCKER_HOST, else Docker's default socket, as the docker CLI picks."""
    return host or os.environ.get("DOCKER_HOST") or DEFAULT_HOST


def docker_cli(host: str) -> list[str] | None:
    """The docker CLI talking to the daemon at `host` (`docker --host HOST`), None if there is
    none: Debian's /usr/bin/docker first, else the one on PATH."""
    found = "/usr/bin/docker" if os.access("/usr/bin/docker", os.X_OK) else shutil.which("docker")
    return [found, "--host", host] if found else None


def cannot_connect(host: str) -> ClientError:
    """The docker CLI's words (bare, exit code 1) for a daemon that does not answer."""
    return ClientError(
        f"Cannot connect to the Docker daemon at {host}. Is the docker daemon running?"
    )


def api_client(host: str) -> docker.APIClient:
    """A low-level client of the daemon at `host`, its API version agreed with it (one ping)."""
    import docker  # the SDK only for `tui --docker` and `pull docker-daemon:`
    import requests

    try:
        return docker.APIClient(base_url=host, version="auto", timeout=TIMEOUT)
    except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
        raise cannot_connect(host) from exc
