"""`run`, `create` and `build FROM` meet an image the store lacks: Docker's `Unable to find
image 'x:latest' locally`, then a pull when a registry is configured; with none, one line that
says how to get an image, and Docker's exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import CLI

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
        (["container", "create", "localhost/x"], 125, "localhost/x:latest"),
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
