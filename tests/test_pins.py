"""Installs are pinned: the venv has the versions `constraints.txt` names, which `make venv`
installs and the suite passed with (README, Development)."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

CONSTRAINTS = Path(__file__).resolve().parent.parent / "constraints.txt"


def test_the_venv_runs_the_pinned_versions() -> None:
    pins = [
        line.split("==")
        for line in CONSTRAINTS.read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert any(name == "textual" for name, _ in pins)
    installed = {name: importlib.metadata.version(name) for name, _ in pins}
    assert installed == dict(pins)  # upgraded on purpose? `make constraints` (README)
