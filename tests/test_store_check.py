"""`system check` finds each kind of store damage, `--repair` mends it, and a command that
meets it fails in one line naming the file (real store, real runc)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from layerlab.engine import Engine
from tests.conftest import CLI

pytestmark = pytest.mark.system

REPAIR = "run `layerlab system check --repair`"


def _fails_naming(cli: CLI, path: Path, *args: str) -> None:
    """The command fails in one line that names the damaged file and the cure."""
    result = cli(*args)
    assert result.code != 0, result
    assert result.err.count("\n") == 1 and str(path) in result.err and REPAIR in result.err
    assert "Traceback" not in result.err


def _found_then_repaired(cli: CLI, path: Path, finding: str) -> str:
    """`system check` reports `path: finding` (exit 1); `--repair` mends it; `run` works
    and a second check is clean. Returns the repair's line."""
    check = cli("system", "check")
    assert check.code == 1 and check.out.startswith(f"{path}: {finding}"), check
    assert check.out.count("\n") == 1, check.out
    repair = cli("system", "check", "--repair")
    assert repair.code == 0 and "(repaired" in repair.out, repair
    assert cli("run", "--rm", "busybox", "true").code == 0
    assert cli("system", "check").out == "the store is consistent\n"
    return repair.out


def test_a_tag_naming_a_missing_image_is_dropped(cli: CLI, root: Path) -> None:
    assert cli("tag", "busybox", "kept:v1").code == 0
    repos = root / "repositories.json"
    data = json.loads(repos.read_text())
    data["Repositories"]["gone"] = {"gone:v1": "sha256:" + "ab" * 32}
    repos.write_text(json.dumps(data))
    _fails_naming(cli, repos, "run", "--rm", "gone:v1", "true")
    out = _found_then_repaired(cli, repos, "tag gone:v1 names image sha256:abab")
    assert "tag removed" in out
    tags = cli("images", "--format", "{{.Repository}}:{{.Tag}}").out.split()
    assert sorted(tags) == ["busybox:latest", "kept:v1"]


def test_a_truncated_tag_index_is_quarantined(cli: CLI, root: Path) -> None:
    assert cli("tag", "busybox", "kept:v1").code == 0
    repos = root / "repositories.json"
    whole = repos.read_bytes()
    repos.write_bytes(whole[: len(whole) // 2])
    out = _found_then_repaired(cli, repos, "corrupted tag index")
    (kept,) = (root / "quarantine" / "repositories").iterdir()
    assert kept.read_bytes() == whole[: len(whole) // 2] and str(kept) in out


def test_a_garbage_layer_json_is_rebuilt_from_its_image(
    cli: CLI, engine: Engine, root: Path
) -> None:
    assert cli("run", "--name", "src", "busybox", "sh", "-c", "echo hi > /made").code == 0
    assert cli("commit", "src", "mine").code == 0
    layer = engine.image("mine").layers[-1]
    meta = layer.path / "json"
    whole = meta.read_text()
    meta.write_text("garbage{")
    _fails_naming(cli, meta, "run", "--rm", "mine", "cat", "/made")
    _fails_naming(cli, meta, "history", "mine")
    images = cli("images")
    assert images.code == 0 and str(meta) in images.err and REPAIR in images.err
    _found_then_repaired(cli, meta, "corrupted layer metadata (not JSON")
    assert json.loads(meta.read_text()) == json.loads(whole)
    (kept,) = (root / "quarantine" / "layers" / layer.chain_id[7:]).iterdir()
    assert kept.read_text() == "garbage{"
    assert cli("run", "--rm", "mine", "cat", "/made").out == "hi\n"


def test_a_garbage_daemon_json_is_moved_aside(cli: CLI, root: Path) -> None:
    assert cli("run", "--rm", "busybox", "true").code == 0
    daemon = root / "daemon.json"
    daemon.write_text('{"default-memory": ')
    _fails_naming(cli, daemon, "run", "--rm", "busybox", "true")
    out = _found_then_repaired(cli, daemon, "unusable store defaults")
    (kept,) = (root / "quarantine" / "daemon").iterdir()
    assert kept.read_text() == '{"default-memory": ' and f"moved to {kept}" in out
    assert "no store defaults" in out and not daemon.exists()
