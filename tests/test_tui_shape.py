"""The TUI's and the lessons' shape, read from the source: sizes within the limits, the
plain modules free of Textual, and no face importing another face."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).resolve().parent.parent / "app" / "layerlab"
LIMITS = {"module": 800, "class": 500, "function": 80}  # lines
# What runs a command and follows the store for the TUI, tested without Pilot.
PLAIN = ("outcome.py", "reconcile.py")


def _sources(*packages: str) -> list[Path]:
    return sorted(p for package in packages for p in (PACKAGE / package).rglob("*.py"))


def _too_long(path: Path) -> list[str]:
    source = path.read_text()
    found = []
    if (lines := len(source.splitlines())) > LIMITS["module"]:
        found.append(f"{path.name}: {lines} lines")
    for node in ast.walk(ast.parse(source)):
        kind = (
            "class" if isinstance(node, ast.ClassDef)
            else "function" if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            else None
        )  # fmt: skip
        if kind is not None and node.end_lineno is not None:
            lines = node.end_lineno - node.lineno + 1
            if lines > LIMITS[kind]:
                found.append(f"{path.name}: {kind} {node.name}, {lines} lines")
    return found


def _imported(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_no_module_class_or_function_over_the_limits() -> None:
    found = [problem for path in _sources("tui", "lessons") for problem in _too_long(path)]
    assert found == []


def test_running_a_command_and_following_the_store_have_no_textual() -> None:
    for name in PLAIN:
        imported = _imported(PACKAGE / "tui" / name)
        assert not {m for m in imported if m.split(".")[0] in ("textual", "rich")}, name


def test_the_tui_imports_no_other_face() -> None:
    for path in _sources("tui", "lessons"):
        assert "layerlab.main" not in _imported(path), path.name
