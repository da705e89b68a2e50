"""`analyze IMAGE`: dive's wasted bytes and efficiency of a real image, every number worked
out here from the files the test wrote; its CI gate's exit codes (0, 1, 2)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import NamedTuple

import pytest

from layerlab.presentation.humanize import human_size

from .conftest import CLI

pytestmark = pytest.mark.system

SIZES = {"big.bin": 2_000_000, "data/a.bin": 100_000, "data/b.bin": 50_000, "gone.bin": 30_000}
BIG_AGAIN = 3_000_000
BASE_FILES = ("/bin/busybox", "/etc/passwd", "/etc/group")  # busybox's regular files


class Wasteful(NamedTuple):
    ref: str
    busybox: int  # the base layer's bytes


@pytest.fixture
def wasteful(cli: CLI, tmp_path: Path) -> Wasteful:
    """busybox + a layer of files + a layer overwriting the big one + a layer deleting a
    folder and a file."""
    base = cli("run", "--rm", "busybox", "stat", "-c", "%s", *BASE_FILES)
    assert base.code == 0, base.err
    busybox = sum(int(size) for size in base.out.split())  # dive counts no symlink's bytes
    for name, size in SIZES.items():
        path = tmp_path / "files" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))
    (tmp_path / "big2.bin").write_bytes(os.urandom(BIG_AGAIN))
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\nCOPY files/ /\nCOPY big2.bin /big.bin\nRUN rm -r /data /gone.bin\n"
    )
    built = cli("build", "-q", "-t", "wasteful:v1", str(tmp_path))
    assert built.code == 0, built.err
    return Wasteful("wasteful:v1", busybox)


def expected(busybox: int) -> dict[str, object]:
    """dive's numbers for `wasteful`: /big.bin's two copies and /gone.bin's one are all
    wasted (dive counts every copy of an inefficient path); /data's whiteout weighs the
    folder it deletes, met once, so not wasted."""
    user = sum(SIZES.values()) + BIG_AGAIN
    big = SIZES["big.bin"] + BIG_AGAIN
    data = SIZES["data/a.bin"] + SIZES["data/b.bin"]
    wasted = big + SIZES["gone.bin"]
    smallest = busybox + SIZES["big.bin"] + 0 + data + data  # the files, then /data's whiteout
    every = busybox + big + SIZES["gone.bin"] + data + data
    return {
        "sizeBytes": busybox + user,
        "inefficientBytes": wasted,
        "efficiencyScore": smallest / every,
        "userSizeBytes": user,
        "userWastedPercent": wasted / user,
        "fileReference": [
            {"count": 2, "sizeBytes": big, "file": "/big.bin"},
            {"count": 2, "sizeBytes": SIZES["gone.bin"], "file": "/gone.bin"},
        ],
    }


def test_analyze_counts_wasted_bytes_as_dive_does(cli: CLI, wasteful: Wasteful) -> None:
    shown = cli("analyze", "--json", wasteful.ref)
    assert shown.code == 0, shown.err
    report = json.loads(shown.out)
    image = report["image"]
    want = expected(wasteful.busybox)
    assert image.pop("efficiencyScore") == pytest.approx(want.pop("efficiencyScore"))
    assert image == want
    sizes = [layer["sizeBytes"] for layer in report["layer"]]
    assert sizes == [wasteful.busybox, sum(SIZES.values()), BIG_AGAIN, 0]
    assert report["rules"] == []


def test_the_report_reads_as_dive_s(cli: CLI, wasteful: Wasteful) -> None:
    shown = cli("analyze", wasteful.ref)
    assert shown.code == 0, shown.err
    want = expected(wasteful.busybox)
    assert shown.out.splitlines() == [
        "Image name:             wasteful:v1",
        f"Total Image size:       {human_size(wasteful.busybox + sum(SIZES.values()) + BIG_AGAIN)}",
        f"Potential wasted space: {human_size(SIZES['big.bin'] + BIG_AGAIN + SIZES['gone.bin'])}",
        f"Image efficiency score: {int(100 * float(want['efficiencyScore']))} %",  # type: ignore[arg-type]
        "",
        "Count  Total Space  Path",
        f"    2  {human_size(SIZES['big.bin'] + BIG_AGAIN):>11}  /big.bin",
        f"    2  {human_size(SIZES['gone.bin']):>11}  /gone.bin",
    ]


@pytest.mark.parametrize(
    ("flags", "code", "failed"),
    [
        (["--lowest-efficiency", "0.5"], 0, []),
        (["--lowest-efficiency", "0.9"], 1, ["lowestEfficiency"]),
        (["--highest-wasted-bytes", "6MB"], 0, []),
        (["--highest-wasted-bytes", "5MB"], 1, ["highestWastedBytes"]),
        (["--highest-wasted-bytes", "5MiB"], 0, []),  # 5,242,880 > 5,030,000
        (["--highest-user-wasted-percent", "0.99"], 0, []),
        (
            ["--highest-user-wasted-percent", "0.5", "--highest-wasted-bytes", "1000"],
            1,
            ["highestWastedBytes", "highestUserWastedPercent"],
        ),
    ],
)
def test_the_ci_gate_passes_or_fails_each_rule(
    cli: CLI, wasteful: Wasteful, flags: list[str], code: int, failed: list[str]
) -> None:
    judged = cli("analyze", *flags, wasteful.ref)
    assert judged.code == code, judged.err
    failing = [line.split(":")[1].strip() for line in judged.out.splitlines() if "FAIL:" in line]
    assert failing == failed
    report = json.loads(cli("analyze", "--json", *flags, wasteful.ref).out)
    assert [r["name"] for r in report["rules"] if not r["passed"]] == failed


@pytest.mark.parametrize(
    ("flags", "error"),
    [
        (
            ["--highest-wasted-bytes", "20XB"],
            'invalid argument "20XB" for "--highest-wasted-bytes"',
        ),
        (["--lowest-efficiency", "most"], 'invalid argument "most" for "--lowest-efficiency"'),
        (["--highest-user-wasted-percent", "2"], "not a ratio from 0 to 1"),
        (["--bogus"], "unknown flag: --bogus"),
        ([], '"layerlab analyze" requires exactly 1 argument.'),
    ],
)
def test_bad_usage_is_exit_2(cli: CLI, flags: list[str], error: str) -> None:
    refused = cli("analyze", *flags, *(["busybox"] if flags else []))
    assert refused.code == 2
    assert error in refused.err
    assert refused.out == ""


def test_the_exit_codes_are_in_the_help(cli: CLI) -> None:
    shown = cli("analyze", "--help")
    assert "Exit status: 0 the rules pass (or none given), 1 a rule failed" in shown.out
    assert "2 bad usage" in shown.out
