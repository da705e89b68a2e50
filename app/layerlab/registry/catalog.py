"""`search`: the repositories a registry lists in its catalog (`GET /v2/_catalog`) whose name
contains the term.

Docker's `search` asks Docker Hub's search service, which a registry of one's own does not
run; a registry that offers the catalog answers the same question. Its repositories have no
description, stars or automated builds, so those columns stay empty or zero. The registry is
named as Docker names a search index: `search HOST[:PORT]/TERM`, else the default registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from layerlab.registry import hosts
from layerlab.registry.client import RegistryClient, RegistryError, registry_errors

MAX_LIMIT = 100
_FILTERS = ("stars", "is-automated", "is-official")


@dataclass(frozen=True)
class Found:
    """One search result, with the fields of Docker's `registry.SearchResult`."""

    name: str
    description: str = ""
    star_count: int = 0
    is_official: bool = False
    is_automated: bool = False


def split_term(text: str, default_host: str) -> tuple[str, str]:
    """(registry host, term) as Docker's splitReposSearchTerm splits `[HOST/]TERM`."""
    first, slash, rest = text.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return default_host, text


def search(
    root: Path, text: str, limit: int, filters: list[str], default_host: str = hosts.DOCKER_HUB
) -> list[Found]:
    """The catalog's repositories whose name contains the term, at most `limit`."""
    if not 1 <= limit <= MAX_LIMIT:
        raise RegistryError(f"Limit {limit} is outside the range of [1, {MAX_LIMIT}]")
    keep = _filter(filters)
    host, term = split_term(text, default_host)
    with RegistryClient(host, root) as client:
        names = _catalog(client)
    shown = (_shown(host, name) for name in names)
    found = [Found(name) for name in shown if term.lower() in name.lower()]
    return [f for f in found if keep(f)][:limit]


def _shown(host: str, name: str) -> str:
    """A repository as `pull` takes it: `HOST/NAME`, or Docker Hub's familiar name (its
    stand-in's, `default-registry`: `ubuntu` for `library/ubuntu`)."""
    if host != hosts.DOCKER_HUB:
        return f"{host}/{name}"
    return name.removeprefix("library/") if name.count("/") == 1 else name


def _catalog(client: RegistryClient) -> list[str]:
    """Every repository the registry lists (`GET /v2/_catalog`, page after page)."""
    client.ping()
    names: list[str] = []
    url = f"{client.base}/v2/_catalog?n={MAX_LIMIT}"
    while url:
        response = client.request("GET", "", url)
        if response.status_code != 200:
            found = registry_errors(response)
            why = f"{found[0][0].lower().replace('_', ' ')}: {found[0][1]}" if found else ""
            status = f"{response.status_code} {response.reason}"
            raise RegistryError(f"the registry refused its catalog: {why or status}")
        names.extend(str(n) for n in response.json().get("repositories") or [])
        following = response.links.get("next", {}).get("url", "")
        url = f"{client.base}{following}" if following.startswith("/") else following
    return names


def _filter(filters: list[str]) -> Callable[[Found], bool]:
    """Docker's search filters: `stars=N` (at least), `is-official=BOOL`, `is-automated=BOOL`;
    its words for one it does not know or cannot read."""
    stars, official, automated = 0, None, None
    for item in filters:
        key, sep, value = item.partition("=")
        if not sep or key not in _FILTERS:
            raise RegistryError(f"Invalid filter '{key}'")
        try:
            if key == "stars":
                stars = int(value)
            elif key == "is-official":
                official = _bool(value)
            else:
                automated = _bool(value)
        except ValueError:
            raise RegistryError(f"Invalid filter '{item}'") from None
    return lambda f: (
        f.star_count >= stars
        and official in (None, f.is_official)
        and automated in (None, f.is_automated)
    )


def _bool(value: str) -> bool:
    """Go's strconv.ParseBool."""
    if value in {"1", "t", "T", "true", "TRUE", "True"}:
        return True
    if value in {"0", "f", "F", "false", "FALSE", "False"}:
        return False
    raise ValueError(value)
