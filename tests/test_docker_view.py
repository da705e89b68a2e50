"""How a Docker daemon's records are read for `tui --docker`: where its layers' files are."""

from __future__ import annotations

from pathlib import Path

import pytest

from layerlab.docker_daemon.events import changes_records
from layerlab.docker_daemon.reader import overlay_folders, saved_reason

pytestmark = pytest.mark.unit

ROOT = "/var/lib/docker/overlay2"


def image(upper: str, *lowers: str) -> dict[str, object]:
    data = {"UpperDir": upper, "MergedDir": upper.replace("/diff", "/merged")}
    if lowers:
        data["LowerDir"] = ":".join(lowers)
    return {"GraphDriver": {"Name": "overlay2", "Data": data}}


def test_overlay2_folders_are_the_layers_bottom_first() -> None:
    attrs = image(f"{ROOT}/top/diff", f"{ROOT}/mid/diff", f"{ROOT}/base/diff")
    assert overlay_folders(attrs, 3) == [Path(ROOT, name) for name in ("base", "mid", "top")]
    assert overlay_folders(image(f"{ROOT}/only/diff"), 1) == [Path(ROOT, "only")]


def test_folders_that_do_not_match_the_layers_are_not_used() -> None:
    assert overlay_folders(image(f"{ROOT}/top/diff", f"{ROOT}/base/diff"), 3) is None
    assert overlay_folders(image(f"{ROOT}/top/merged"), 1) is None  # not a layer's diff/
    assert overlay_folders({"GraphDriver": {"Name": "vfs", "Data": {}}}, 1) is None


def test_why_the_layers_come_from_docker_save() -> None:
    assert saved_reason("overlay2", [["Backing Filesystem", "extfs"]]) is None
    assert saved_reason("vfs", []) == "the daemon's storage driver is vfs, not overlay2"
    containerd = [["driver-type", "io.containerd.snapshotter.v1"]]
    assert "containerd image store" in str(saved_reason("overlayfs", containerd))


def test_a_process_run_in_a_container_changes_no_record() -> None:
    """A health check every few seconds is an exec: no read of the daemon follows it."""
    assert not changes_records({"Type": "container", "Action": "exec_start: sh -c true"})
    assert not changes_records({"Type": "container", "Action": "exec_die"})
    assert changes_records({"Type": "container", "Action": "start"})
    assert changes_records({"Type": "image", "Action": "tag"})
