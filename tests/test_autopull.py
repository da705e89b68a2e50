"""`run`, `create` and `build FROM` meet an image the store lacks: Docker's `Unable to find
image 'x:latest' locally`, then a pull when a registry is named or configured (the store's
daemon.json); with none, one line that says how to get an image, and Docker's exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from . import registry_side
from .conftest import CLI
from .registry_side import Registry, oci_layout, push_layout

registry, registry_config = registry_side.registry, registry_side.registry_config  # fixtures

pytestmark = pytest.mark.system

HOW = (
    "locally: no registry is configured; use busybox, or make the image with load, import or build"
)


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if "tmp" not in p.parts)


@pytest.mark.parametrize(
    ("args", "code", "name"),
    [
        (["run", "ubuntu", "true"], 125, "ubuntu:latest"),
        (["run", "--rm", "-d", "alice/app:v2"], 125, "alice/app:v2"),
        (["create", "--name", "c1", "ubuntu:22.04"], 125, "ubuntu:22.04"),
        (["container", "create", "team/x"], 125, "team/x:latest"),
    ],
)
def test_offline_run_and_create_say_how_to_get_an_image(
    cli: CLI, root: Path, args: list[str], code: int, name: str
) -> None:
    cli("create", "--name", "keep", "busybox")
    before = _files(root)
    r = cli(*args)
    assert (r.code, r.out) == (code, ""), r
    assert r.err == f"Unable to find image '{name}' {HOW}\n"
    assert _files(root) == before


@pytest.mark.parametrize(
    "dockerfile",
    ["FROM ubuntu\nRUN true\n", "FROM busybox\nCOPY --from=ubuntu /etc/hostname /x\n"],
)
def test_offline_build_from_says_how_to_get_an_image(
    cli: CLI, root: Path, tmp_path: Path, dockerfile: str
) -> None:
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(dockerfile)
    cli("images")  # busybox made first, so the store is compared after
    before = _files(root)
    r = cli("build", str(context))
    assert r.code == 1, r
    error = r.err.strip().splitlines()[-1]  # after the steps, as Docker's build prints them
    assert error.endswith(f"Unable to find image 'ubuntu:latest' {HOW}"), r
    assert "Traceback" not in r.err
    assert _files(root) == before


def test_other_verbs_keep_dockers_no_such_image(cli: CLI) -> None:
    """`rmi`, `history`, `tag` and a missing id say Docker's plain words: nothing to pull."""
    for args in (["rmi", "ubuntu"], ["history", "ubuntu"], ["tag", "ubuntu", "x"]):
        r = cli(*args)
        assert (r.code, r.err) == (1, "Error: No such image: ubuntu:latest\n"), (args, r)
    missing = "sha256:" + "ab" * 32
    r = cli("run", missing)
    assert (r.code, r.err) == (125, f"Error: No such image: {missing}\n"), r


def _serve(registry: Registry, tmp_path: Path, name: str) -> None:
    """An image in the registry as `name`: busybox's files and `/hello`."""
    layout = oci_layout(
        tmp_path / name.replace("/", "-").replace(":", "-"), [{"hello": b"pulled\n"}], cmd=["sh"]
    )
    push_layout(registry, layout, name)


def test_run_pulls_from_the_registry_mirror(
    cli: CLI, root: Path, registry: Registry, tmp_path: Path
) -> None:
    """daemon.json's `registry-mirrors` stands in for Docker Hub: `run ubuntu` pulls
    `library/ubuntu` from it, Docker's lines on stderr, then runs it."""
    _serve(registry, tmp_path, "library/ubuntu:latest")
    root.mkdir(parents=True, exist_ok=True)
    (root / "daemon.json").write_text(json.dumps({"registry-mirrors": [registry.url]}))
    r = cli("run", "--rm", "ubuntu", "cat", "/hello")
    assert (r.code, r.out) == (0, "pulled\n"), r
    lines = r.err.splitlines()
    assert lines[0] == "Unable to find image 'ubuntu:latest' locally", r.err
    assert lines[1] == "latest: Pulling from library/ubuntu", r.err
    assert lines[-1] == "Status: Downloaded newer image for ubuntu:latest", r.err
    assert "ubuntu" in cli("images", "--format", "{{.Repository}}").out.split()
    again = cli("run", "--rm", "ubuntu", "cat", "/hello")  # here now: nothing pulled
    assert (again.code, again.out, again.err) == (0, "pulled\n", ""), again


def test_create_and_build_pull_from_the_default_registry(
    cli: CLI, root: Path, registry: Registry, tmp_path: Path
) -> None:
    """layerlab's `default-registry` does the same; `build`'s FROM pulls with its lines in
    the build's output, as Docker's builder does."""
    _serve(registry, tmp_path, "alice/app:v2")
    _serve(registry, tmp_path, "library/debian:latest")
    root.mkdir(parents=True, exist_ok=True)
    (root / "daemon.json").write_text(json.dumps({"default-registry": registry.host}))
    made = cli("create", "alice/app:v2")
    assert made.code == 0, made
    assert made.err.startswith("Unable to find image 'alice/app:v2' locally\n"), made.err
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM debian\nRUN cat /hello\n")
    built = cli("build", "-t", "mine", str(context))
    assert built.code == 0, built
    assert "Step 1/2 : FROM debian\nlatest: Pulling from library/debian\n" in built.out, built
    assert "Status: Downloaded newer image for debian:latest\n" in built.out, built
    assert "Unable to find image" not in built.out + built.err
    found = cli("search", "--format", "{{.Name}}", "a")  # the stand-in's catalog
    assert found.out.split() == ["alice/app", "debian"], found


def test_a_registry_named_in_the_image_is_pulled_from_without_configuration(
    cli: CLI, registry: Registry, tmp_path: Path
) -> None:
    _serve(registry, tmp_path, "tools:1")
    r = cli("run", "--rm", f"{registry.host}/tools:1", "cat", "/hello")
    assert (r.code, r.out) == (0, "pulled\n"), r
    missing = cli("run", "--rm", f"{registry.host}/nothing:1")
    assert missing.code == 125, missing
    lines = missing.err.splitlines()
    assert lines[0] == f"Unable to find image '{registry.host}/nothing:1' locally", missing
    assert len(lines) == 2 and "nothing" in lines[1], missing
