"""`pull docker-daemon:NAME[:TAG]` against a real Docker 20.10 daemon, and `save` back into it:
the same image id and diff_ids on both sides, and each side runs the other's image."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from layerlab.storage.store import Store

from .conftest import CLI
from .docker_side import Daemon
from .test_archive import listing

pytestmark = pytest.mark.system


def ids(inspect: str) -> tuple[str, list[str]]:
    """(Id, RootFS.Layers) from `inspect -f '{{.Id}} {{json .RootFS.Layers}}'`'s output."""
    image_id, _, layers = inspect.strip().partition(" ")
    return image_id, layers.strip("[]").replace('"', "").split(",")


ID_FORMAT = "{{.Id}} {{json .RootFS.Layers}}"


def docker_ids(daemon: Daemon, ref: str) -> tuple[str, list[str]]:
    shown = daemon("image", "inspect", "-f", ID_FORMAT, ref)
    assert shown.code == 0, shown.err
    return ids(shown.out)


def our_ids(cli: CLI, ref: str) -> tuple[str, list[str]]:
    shown = cli("inspect", "-f", ID_FORMAT, ref)
    assert shown.code == 0, shown.err
    return ids(shown.out)


def test_busybox_pulled_from_docker_keeps_its_ids_and_runs(
    real_docker: Daemon, cli: CLI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", real_docker.host)  # as the docker CLI finds its daemon
    pulled = cli("pull", "docker-daemon:busybox")
    assert pulled.code == 0, pulled.err
    assert pulled.out.splitlines()[-1] == "docker-daemon:busybox:latest"
    assert our_ids(cli, "busybox:latest") == docker_ids(real_docker, "busybox:latest")
    ran = cli("run", "--rm", "busybox", "echo", "from docker")
    assert (ran.code, ran.out) == (0, "from docker\n")
    again = cli("pull", "docker-daemon:busybox:latest")
    assert "Status: Image is up to date for busybox:latest" in again.out


def test_an_image_docker_built_round_trips(real_docker: Daemon, cli: CLI, tmp_path: Path) -> None:
    """Layers Docker wrote (a COPY of a folder, a RUN deleting a file: a whiteout) come in with
    their diff_ids; `save` of them loads back into Docker as the same image, which runs."""
    context = tmp_path / "context"
    (context / "data").mkdir(parents=True)
    payload = os.urandom(300_000)
    (context / "data" / "x.bin").write_bytes(payload)
    (context / "a.txt").write_text("hello\n")
    (context / "Dockerfile").write_text(
        "FROM busybox\nCOPY a.txt /a.txt\nCOPY data/ /data/\nRUN rm /a.txt && echo made > /made\n"
    )
    built = real_docker("build", "--network", "none", "-q", "-t", "dkpull-multi:v1", str(context))
    assert built.code == 0, built.err
    expected = docker_ids(real_docker, "dkpull-multi:v1")
    assert len(expected[1]) == 4

    pulled = cli("pull", "--host", real_docker.host, "docker-daemon:dkpull-multi:v1")
    assert pulled.code == 0, pulled.err
    assert our_ids(cli, "dkpull-multi:v1") == expected
    ran = cli(
        "run", "--rm", "dkpull-multi:v1", "sh", "-c", "cat /made; ls /a.txt; wc -c /data/x.bin"
    )
    assert ran.out.splitlines() == ["made", f"{len(payload)} /data/x.bin"], ran.err
    assert "No such file" in ran.err

    archive = tmp_path / "saved.tar"
    assert cli("save", "-o", str(archive), "dkpull-multi:v1").code == 0
    assert real_docker("rmi", "dkpull-multi:v1").code == 0
    loaded = real_docker("load", "-i", str(archive))
    assert loaded.out == "Loaded image: dkpull-multi:v1\n", loaded.err
    assert docker_ids(real_docker, "dkpull-multi:v1") == expected
    ran = real_docker("run", "--rm", "--network", "none", "dkpull-multi:v1", "cat", "/made")
    assert (ran.code, ran.out) == (0, "made\n"), ran.err


def test_an_image_layerlab_built_loads_into_docker_and_runs(
    real_docker: Daemon, cli: CLI, tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\nRUN echo ours > /ours\nRUN rm /ours && echo second > /second\n"
    )
    assert cli("build", "-q", "-t", "dkpull-ours:v1", str(tmp_path)).code == 0
    archive = tmp_path / "ours.tar"
    assert cli("save", "-o", str(archive), "dkpull-ours:v1").code == 0
    loaded = real_docker("load", "-i", str(archive))
    assert loaded.code == 0, loaded.err
    assert docker_ids(real_docker, "dkpull-ours:v1") == our_ids(cli, "dkpull-ours:v1")
    ran = real_docker(
        "run", "--rm", "--network", "none", "dkpull-ours:v1", "sh", "-c", "cat /second; ls /ours"
    )
    assert (ran.code, ran.out) == (1, "second\n")


def test_a_missing_image_is_docker_s_error_and_changes_nothing(
    real_docker: Daemon, cli: CLI, root: Path
) -> None:
    assert cli("tag", "busybox", "mine:v1").code == 0  # a store with busybox in it
    before = listing(Store(root))
    missing = cli("pull", "--host", real_docker.host, "docker-daemon:busybox:nope")
    assert (missing.code, missing.out) == (1, "")
    assert missing.err == "Error response from daemon: No such image: busybox:nope\n"
    assert listing(Store(root)) == before


def test_a_dead_daemon_is_docker_s_error_and_changes_nothing(
    cli: CLI, root: Path, tmp_path: Path
) -> None:
    assert cli("tag", "busybox", "mine:v1").code == 0
    before = listing(Store(root))
    host = f"unix://{tmp_path}/no-daemon.sock"
    dead = cli("pull", "--host", host, "docker-daemon:busybox")
    assert (dead.code, dead.out) == (1, "")
    assert (
        dead.err
        == f"Cannot connect to the Docker daemon at {host}. Is the docker daemon running?\n"
    )
    assert listing(Store(root)) == before
