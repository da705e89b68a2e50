"""Where a push, a search and an auto-pull go: the registry a name or a search term names,
Docker Hub's stand-in from the store's daemon.json, and search's filters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from layerlab.registry import hosts
from layerlab.registry.catalog import Found, result_filter, split_term
from layerlab.registry.client import RegistryError

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("busybox", ("docker.io", "busybox")),
        ("team/app", ("docker.io", "team/app")),
        ("127.0.0.1:5000/app", ("127.0.0.1:5000", "app")),
        ("localhost/app", ("localhost", "app")),
        ("registry.example.com/", ("registry.example.com", "")),
    ],
)
def test_a_search_term_names_its_registry_as_dockers_does(text: str, want: tuple[str, str]) -> None:
    assert split_term(text, hosts.DOCKER_HUB) == want


@pytest.mark.parametrize(
    ("daemon", "stand_in"),
    [
        ({}, None),
        ({"registry-mirrors": ["http://127.0.0.1:5000/"]}, "127.0.0.1:5000"),
        ({"default-registry": "localhost:5001"}, "localhost:5001"),
        ({"default-registry": "a:1", "registry-mirrors": ["https://b:2"]}, "a:1"),
        ({"registry-mirrors": []}, None),
    ],
)
def test_docker_hubs_stand_in_comes_from_daemon_json(
    tmp_path: Path, daemon: dict[str, object], stand_in: str | None
) -> None:
    (tmp_path / "daemon.json").write_text(json.dumps(daemon))
    assert hosts.hub_stand_in(tmp_path) == stand_in
    assert hosts.api_host("docker.io", tmp_path) == (stand_in or hosts.HUB_API)
    assert hosts.api_host("127.0.0.1:9/x", tmp_path) == "127.0.0.1:9/x"


def test_search_filters_are_dockers() -> None:
    official = Found("a", is_official=True, star_count=3)
    plain = Found("b")
    keep = result_filter(["is-official=true", "stars=2"])
    assert (keep(official), keep(plain)) == (True, False)
    assert result_filter([])(plain)
    for bad, words in (
        ("nope=1", "Invalid filter 'nope'"),
        ("stars=x", "Invalid filter 'stars=x'"),
        ("is-automated=maybe", "Invalid filter 'is-automated=maybe'"),
    ):
        with pytest.raises(RegistryError, match=words):
            result_filter([bad])
