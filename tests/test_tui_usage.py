"""A usage error reads as Docker's CLI prints it, in every face: the command bar's output
and a lesson's sandbox print what the terminal prints, with no "Error:" before it."""

from __future__ import annotations

import asyncio

import pytest

from layerlab.commands.handlers import dispatch
from layerlab.engine import Engine
from layerlab.lessons.runner import Sandbox
from layerlab.tui.app import LayerlabApp
from layerlab.tui.output_log import OutputLog
from layerlab.tui.settle import settled
from tests.conftest import CLI

pytestmark = pytest.mark.system

BAD = ("ps", "--bogus")  # cobra's flag error: exit 125, "unknown flag: --bogus", no "Error:"


def test_the_bar_prints_a_usage_error_as_the_cli_does(engine: Engine, cli: CLI) -> None:
    said = cli(*BAD)
    assert said.code == 125 and said.err.startswith("unknown flag: --bogus")
    printed = said.err.splitlines()

    async def main() -> list[str]:
        app = LayerlabApp(engine.store.root)
        async with app.run_test(size=(100, 32)) as pilot:

            def lines() -> list[str]:
                return [line.text for line in app.query_one(OutputLog).lines]

            await settled(pilot)
            await pilot.press(*" ".join(BAD), "enter")
            await settled(pilot, until=lambda: printed[-1] in lines())
            return lines()

    shown = asyncio.run(main())
    assert shown[-len(printed) :] == printed
    assert not any(line.startswith("Error") for line in shown)


def test_a_lessons_sandbox_prints_a_usage_error_as_the_cli_does(cli: CLI) -> None:
    with Sandbox(dispatch) as sandbox:
        outcome = sandbox.run(" ".join(BAD))
    assert (outcome.code, outcome.err) == (125, cli(*BAD).err)
