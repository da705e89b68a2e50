"""A lesson's own registry: started with its sandbox on loopback, named `$REGISTRY` in its
commands, ended by its pid with the lesson; and the checks that ask it what it serves and
which blobs travelled (its access log), driven here by plain HTTP uploads to the real
docker-registry, so no client's words are the proof."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import psutil
import pytest
import requests

from layerlab.commands.handlers import dispatch
from layerlab.lessons.checks import CheckResult
from layerlab.lessons.loader import read_lesson
from layerlab.lessons.registry import BINARY
from layerlab.lessons.runner import LessonRun, Sandbox

from .test_lessons import problems_of

pytestmark = [
    pytest.mark.system,
    pytest.mark.skipif(not BINARY.exists(), reason="no docker-registry (Debian's package)"),
]

LESSON = """\
title: A registry of its own
registry: true
steps:
  - prose: Name busybox for the registry.
    commands:
      - tag busybox $REGISTRY/box:1
    checks:
      - registry_serves: box:1
      - blobs_uploaded: 2
      - blobs_mounted: 1
"""
CONFIG_TYPE = "application/vnd.docker.container.image.v1+json"
LAYER_TYPE = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def upload(host: str, repository: str, data: bytes) -> None:
    """A blob upload as a client makes one: POST, then PUT with its digest."""
    started = requests.post(f"http://{host}/v2/{repository}/blobs/uploads/", timeout=10)
    location = started.headers["Location"]
    joiner = "&" if "?" in location else "?"
    done = requests.put(f"{location}{joiner}digest={digest(data)}", data=data, timeout=10)
    assert done.status_code == 201, done.text


def mount(host: str, repository: str, blob: str, source: str) -> None:
    url = f"http://{host}/v2/{repository}/blobs/uploads/?mount={blob}&from={source}"
    assert requests.post(url, timeout=10).status_code == 201


def put_manifest(host: str, repository: str, tag: str, config: bytes, layer: bytes) -> None:
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": CONFIG_TYPE, "size": len(config), "digest": digest(config)},
        "layers": [{"mediaType": LAYER_TYPE, "size": len(layer), "digest": digest(layer)}],
    }
    response = requests.put(
        f"http://{host}/v2/{repository}/manifests/{tag}",
        data=json.dumps(manifest),
        headers={"Content-Type": manifest["mediaType"]},
        timeout=10,
    )
    assert response.status_code == 201, response.text


def verdicts(run: LessonRun) -> dict[str, bool]:
    results: list[CheckResult] = run.results()
    return {r.check.kind: r.ok for r in results}


def test_the_registry_comes_and_goes_with_the_lesson(tmp_path: Path) -> None:
    path = tmp_path / "01-reg.yaml"
    path.write_text(LESSON)
    lesson, problems = read_lesson(path)
    assert lesson is not None and lesson.registry, problems
    with Sandbox(dispatch, tmp_path) as sandbox:
        run = LessonRun(lesson, sandbox)
        assert run.start() is None
        registry = sandbox.registry
        assert registry is not None and registry.host.startswith("127.0.0.1:")
        assert requests.get(f"http://{registry.host}/v2/", timeout=10).status_code == 200
        pid = registry._proc.pid if registry._proc else 0
        assert psutil.Process(pid).name() == "docker-registry"
        outcome = run.type("tag busybox $REGISTRY/box:1")
        assert outcome.code == 0, outcome.output
        assert sandbox.engine.find_image_id(f"{registry.host}/box:1") is not None
    assert not psutil.pid_exists(pid)  # ended, and reaped, with the sandbox


def test_the_checks_ask_the_registry(tmp_path: Path) -> None:
    path = tmp_path / "01-reg.yaml"
    path.write_text(LESSON)
    lesson, _ = read_lesson(path)
    assert lesson is not None
    with Sandbox(dispatch, tmp_path) as sandbox:
        run = LessonRun(lesson, sandbox)
        assert run.start() is None
        assert sandbox.registry is not None
        host = sandbox.registry.host
        run.type("tag busybox $REGISTRY/box:1")
        image = sandbox.engine.image(f"{host}/box:1")
        config = sandbox.engine.store.image_path(image.id).read_bytes()
        layer = b"a layer's compressed bytes"
        assert verdicts(run) == {
            "registry_serves": False, "blobs_uploaded": False, "blobs_mounted": False,
        }  # fmt: skip
        upload(host, "box", layer)
        upload(host, "box", b"another config")
        put_manifest(host, "box", "1", b"another config", layer)  # another image under box:1
        assert not verdicts(run)["registry_serves"]
        upload(host, "box", config)  # a third blob: one too many
        put_manifest(host, "box", "1", config, layer)
        assert verdicts(run) == {
            "registry_serves": True, "blobs_uploaded": False, "blobs_mounted": False,
        }  # fmt: skip
        run.begin(0)  # the step again: what travelled before it does not count
        upload(host, "other", layer)
        upload(host, "other", config)
        mount(host, "other", digest(layer), "box")  # already in `box`: shared, not sent
        assert verdicts(run) == {
            "registry_serves": True, "blobs_uploaded": True, "blobs_mounted": True,
        }  # fmt: skip


def test_registry_must_be_true_or_false(tmp_path: Path) -> None:
    found = problems_of(tmp_path, LESSON.replace("registry: true", "registry: please"))
    assert found == [f"{tmp_path / '01-demo.yaml'}:2: registry must be true or false"]
