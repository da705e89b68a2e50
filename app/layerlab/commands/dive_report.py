"""`analyze`'s report and CI gate, as dive prints and judges them: Rich renderables (text
from outside as `Text`, never markup), dive's `--json` keys, and its rules' words."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from layerlab.commands.image_tools import BAD_USAGE
from layerlab.errors import LayerlabError
from layerlab.presentation.humanize import human_size

if TYPE_CHECKING:
    import argparse

    from layerlab.engine.layer_report import Analysis

# go-humanize's ParseBytes (dive reads --highest-wasted-bytes with it): SI and IEC units.
_SIZE = re.compile(r"\s*([0-9]*\.?[0-9]+)\s*([kmgtpe]?)(i?)b?\s*", re.IGNORECASE)
_POWERS = "kmgtpe"


def parse_size(text: str, flag: str) -> int:
    """`20MB` = 20,000,000; `20MiB` = 20 x 2^20; `1000` bytes (go-humanize's ParseBytes)."""
    match = _SIZE.fullmatch(text)
    if not match:
        raise _bad(text, flag, "not a size (20MB, 1.5GiB, 1000)")
    number, unit, binary = match.groups()
    power = _POWERS.index(unit.lower()) + 1 if unit else 0
    return int(float(number) * (1024 if binary else 1000) ** power)


def _ratio(text: str, flag: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise _bad(text, flag, "not a ratio from 0 to 1 (0.9 is 90%)")
    return value


def _bad(text: str, flag: str, why: str) -> LayerlabError:
    return LayerlabError(f'invalid argument "{text}" for "--{flag}" flag: {why}', BAD_USAGE)


@dataclass(frozen=True)
class Verdict:
    """One rule of the gate, judged (dive's words)."""

    name: str
    passed: bool
    message: str = ""


Rule = Callable[["Analysis"], Verdict]


def gate(ns: argparse.Namespace) -> list[Rule]:
    """The rules the flags name, their values read first: a bad one is exit 2, unanalysed."""
    rules: list[Rule] = []
    if ns.lowest_efficiency is not None:
        least = _ratio(ns.lowest_efficiency, "lowest-efficiency")
        rules.append(lambda a: Verdict(
            "lowestEfficiency", a.efficiency.score >= least,
            f"image efficiency is too low (efficiency={a.efficiency.score:.4f} < "
            f"threshold={least})",
        ))  # fmt: skip
    if ns.highest_wasted_bytes is not None:
        most = parse_size(ns.highest_wasted_bytes, "highest-wasted-bytes")
        rules.append(lambda a: Verdict(
            "highestWastedBytes", a.efficiency.wasted <= most,
            f"too many bytes wasted (wasted-bytes={a.efficiency.wasted} > threshold={most})",
        ))  # fmt: skip
    if ns.highest_user_wasted_percent is not None:
        ratio = _ratio(ns.highest_user_wasted_percent, "highest-user-wasted-percent")
        rules.append(lambda a: Verdict(
            "highestUserWastedPercent", a.efficiency.user_wasted_ratio <= ratio,
            "too many bytes wasted, relative to the user bytes added "
            f"(%-user-wasted-bytes={a.efficiency.user_wasted_ratio:.4f} > threshold={ratio})",
        ))  # fmt: skip
    return rules


def analysis_json(analysis: Analysis, verdicts: list[Verdict]) -> dict[str, Any]:
    """dive's `--json` export (its keys), with the user bytes and the rules judged."""
    eff = analysis.efficiency
    return {
        "layer": [
            {
                "index": i,
                "id": layer.chain_id,
                "digestId": layer.diff_id,
                "sizeBytes": size,
                "command": layer.created_by,
            }
            for i, (layer, size) in enumerate(
                zip(analysis.image.layers, eff.layer_sizes, strict=True)
            )
        ],
        "image": {
            "sizeBytes": eff.size,
            "inefficientBytes": eff.wasted,
            "efficiencyScore": eff.score,
            "userSizeBytes": eff.user_size,
            "userWastedPercent": eff.user_wasted_ratio,
            "fileReference": [
                {"count": p.count, "sizeBytes": p.cumulative, "file": p.path}
                for p in eff.inefficient
            ],
        },
        "rules": [{"name": v.name, "passed": v.passed, "message": v.message} for v in verdicts],
    }


def analysis_report(analysis: Analysis, verdicts: list[Verdict]) -> RenderableType:
    """dive's image details (sizes, wasted space, score, the inefficient files) and, when
    rules were given, each one's result."""
    eff = analysis.efficiency
    facts = Table.grid(padding=(0, 1))
    for label, value in (
        ("Image name:", analysis.name),
        ("Total Image size:", human_size(eff.size)),
        ("Potential wasted space:", human_size(eff.wasted)),
        ("Image efficiency score:", f"{int(100 * eff.score)} %"),
    ):
        facts.add_row(Text(label, style="bold"), Text(value))
    files = Table(box=None, padding=(0, 2, 0, 0), show_edge=False)
    for column, justify in (("Count", "right"), ("Total Space", "right"), ("Path", "left")):
        files.add_column(column, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for p in eff.inefficient:
        files.add_row(Text(str(p.count)), Text(human_size(p.cumulative)), Text(p.path))
    parts: list[RenderableType] = [facts, Text(), files]
    if verdicts:
        parts.append(Text("\nResults:", style="bold"))
        for v in verdicts:
            line = Text(
                "  PASS: " if v.passed else "  FAIL: ", style="green" if v.passed else "red"
            )
            parts.append(line.append(v.name if v.passed else f"{v.name}: {v.message}"))
    return Group(*parts)
