"""The registry verbs: `pull`, `login`, `logout` (push's home too), on `registry/`.

The machinery is `registry/` (client, manifests, the pull itself); this module gives it the
store, turns `--platform` and a login server into what it takes, and journals the event
Docker's daemon emits (`image pull NAME:TAG`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from layerlab.errors import LayerlabError
from layerlab.storage import events as journal

if TYPE_CHECKING:
    from layerlab.engine.context import Context
    from layerlab.registry.pull import Observer, Pulled, Say


def pull(
    ctx: Context,
    name: str,
    all_tags: bool = False,
    platform: str | None = None,
    say: Say | None = None,
    observe: Observer | None = None,
) -> Pulled:
    """`docker pull NAME[:TAG|@DIGEST]`: the image whole, or nothing in the store."""
    from layerlab.registry import manifest
    from layerlab.registry.pull import pull as pull_image

    wanted = manifest.parse_platform(platform) if platform else None
    pulled = pull_image(ctx.store, name, all_tags, wanted, say or (lambda line: None), observe)
    for reference, repository in pulled.references:
        journal.image(ctx.store.root, reference, "pull", name=repository)
    return pulled


def server_host(server: str | None) -> str:
    """`login`/`logout`'s SERVER as a registry host: a URL's host, Docker Hub by default."""
    from layerlab.registry import hosts

    text = (server or hosts.DOCKER_HUB).strip()
    host = text.removeprefix("https://").removeprefix("http://").split("/", 1)[0]
    if host in {"index.docker.io", "registry-1.docker.io", ""}:
        return hosts.DOCKER_HUB
    return host


def login(ctx: Context, server: str | None, user: str, password: str) -> Path:
    """Check the credentials against the registry's `/v2/`, then store them (mode 0600);
    the file they are in. Nothing is stored when the registry refuses them."""
    from layerlab.registry import hosts
    from layerlab.registry.client import RegistryClient

    if not user:
        raise LayerlabError("Non-null Username Required")
    host = server_host(server)
    with RegistryClient(host, ctx.store.root, credentials=(user, password)) as client:
        client.login()
    return hosts.store_credentials(host, user, password)


def logout(ctx: Context, server: str | None) -> tuple[str, bool]:
    """Forget a registry's credentials: (Docker's name for it, whether any were stored)."""
    from layerlab.registry import hosts

    host = server_host(server)
    return hosts.auth_key(host), hosts.remove_credentials(host)
