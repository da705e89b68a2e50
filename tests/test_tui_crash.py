"""A crash of the TUI exits non-zero, with one line naming the file that holds its traceback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from layerlab import tui
from layerlab.tui.app import LayerlabApp, run_app

pytestmark = pytest.mark.system


class Broken(LayerlabApp):
    """The app with a bug in the handler that runs after the first frame."""

    CSS_PATH = str(Path(tui.__file__).parent / "app.tcss")  # not beside this test

    def _after_first_frame(self) -> None:
        raise RuntimeError("a bug [/] in a handler")


def test_a_crash_exits_1_and_leaves_its_traceback_in_the_file_it_names(
    root: Path, state_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_app(Broken(root), headless=True)
    err = capsys.readouterr().err
    assert code == 1
    found = re.fullmatch(
        r"layerlab crashed: RuntimeError: a bug \[/\] in a handler; traceback in (\S+)\n", err
    )
    assert found, err
    where = Path(found[1])
    assert where.parent == state_home / "layerlab" and where.name.startswith("crash-")
    text = where.read_text()
    assert "Traceback (most recent call last)" in text and "_after_first_frame" in text
    assert text.rstrip().endswith("RuntimeError: a bug [/] in a handler")
