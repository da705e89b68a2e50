"""go-units durations and sizes, and Docker's RFC 3339 timestamps."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from layerlab.presentation.humanize import (
    ago,
    bytes_size,
    human_duration,
    human_size,
    parse_rfc3339,
    rfc3339_nano,
)

pytestmark = pytest.mark.unit

SECOND, MINUTE, HOUR = 1, 60, 3600
DAY, WEEK, MONTH, YEAR = 24 * HOUR, 7 * 24 * HOUR, 30 * 24 * HOUR, 365 * 24 * HOUR

# go-units' own TestHumanDuration table.
DURATIONS = [
    (0.45, "Less than a second"),
    (1 * SECOND, "1 second"),
    (45 * SECOND, "45 seconds"),
    (46 * SECOND, "46 seconds"),
    (59 * SECOND, "59 seconds"),
    (60 * SECOND, "About a minute"),
    (1 * MINUTE, "About a minute"),
    (3 * MINUTE, "3 minutes"),
    (35 * MINUTE, "35 minutes"),
    (35 * MINUTE + 40 * SECOND, "35 minutes"),
    (45 * MINUTE, "45 minutes"),
    (45 * MINUTE + 40 * SECOND, "45 minutes"),
    (46 * MINUTE, "46 minutes"),
    (59 * MINUTE, "59 minutes"),
    (1 * HOUR, "About an hour"),
    (1 * HOUR + 29 * MINUTE, "About an hour"),
    (1 * HOUR + 31 * MINUTE, "2 hours"),
    (1 * HOUR + 59 * MINUTE, "2 hours"),
    (3 * HOUR, "3 hours"),
    (3 * HOUR + 29 * MINUTE, "3 hours"),
    (3 * HOUR + 31 * MINUTE, "4 hours"),
    (3 * HOUR + 59 * MINUTE, "4 hours"),
    (3 * HOUR + 60 * MINUTE, "4 hours"),
    (24 * HOUR, "24 hours"),
    (1 * DAY + 12 * HOUR, "36 hours"),
    (2 * DAY, "2 days"),
    (7 * DAY, "7 days"),
    (13 * DAY + 5 * HOUR, "13 days"),
    (2 * WEEK, "2 weeks"),
    (2 * WEEK + 4 * DAY, "2 weeks"),
    (3 * WEEK, "3 weeks"),
    (4 * WEEK, "4 weeks"),
    (4 * WEEK + 3 * DAY, "4 weeks"),
    (1 * MONTH, "4 weeks"),
    (1 * MONTH + 2 * WEEK, "6 weeks"),
    (2 * MONTH, "2 months"),
    (2 * MONTH + 2 * WEEK, "2 months"),
    (3 * MONTH, "3 months"),
    (3 * MONTH + 1 * WEEK, "3 months"),
    (5 * MONTH + 2 * WEEK, "5 months"),
    (13 * MONTH, "13 months"),
    (23 * MONTH, "23 months"),
    (24 * MONTH, "24 months"),
    (24 * MONTH + 2 * WEEK, "2 years"),
    (3 * YEAR + 2 * MONTH, "3 years"),
]


@pytest.mark.parametrize(("seconds", "text"), DURATIONS)
def test_human_duration_matches_go_units(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_human_duration_edges() -> None:
    assert human_duration(0) == "Less than a second"
    assert human_duration(-5) == "Less than a second"  # a clock step back
    assert human_duration(1.999) == "1 second"  # truncated, as Go converts
    assert human_duration(119.9) == "About a minute"
    assert human_duration(90 * MINUTE) == "2 hours"  # a half rounds up
    assert human_duration(47 * HOUR + 29 * MINUTE) == "47 hours"
    assert human_duration(47 * HOUR + 30 * MINUTE) == "2 days"


def test_ago() -> None:
    assert ago(1000.0, now=1005.5) == "5 seconds ago"
    assert ago(0.0, now=3 * DAY) == "3 days ago"


# go-units' TestHumanSize and TestBytesSize tables.
@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0B"),
        (512, "512B"),
        (999, "999B"),
        (1000, "1kB"),
        (1024, "1.024kB"),
        (1230, "1.23kB"),
        (1_000_000, "1MB"),
        (1_048_576, "1.049MB"),
        (4_200_000, "4.2MB"),
        (2 * 1000**2, "2MB"),
        (3.42 * 1000**3, "3.42GB"),
        (5.372 * 1000**4, "5.372TB"),
        (2.22 * 1000**5, "2.22PB"),
        (10_000_000_000_000 * 1000**5, "1e+04YB"),
        (999_999, "1000kB"),  # Go's %.4g rounds after the unit is chosen
    ],
)
def test_human_size(size: float, text: str) -> None:
    assert human_size(size) == text


def test_human_size_with_docker_images_precision() -> None:
    assert human_size(77_812_345, precision=3) == "77.8MB"
    assert human_size(4_096, precision=3) == "4.1kB"


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0B"),
        (1024, "1KiB"),
        (1024 * 1024, "1MiB"),
        (1.5 * 1024 * 1024, "1.5MiB"),
        (3.42 * 1024**3, "3.42GiB"),
        (5.372 * 1024**4, "5.372TiB"),
        (2.22 * 1024**5, "2.22PiB"),
        (1024**5 * 1024**5, "1.049e+06YiB"),
    ],
)
def test_bytes_size(size: float, text: str) -> None:
    assert bytes_size(size) == text


def test_rfc3339_nano_is_dockers_style() -> None:
    assert rfc3339_nano(0) == "1970-01-01T00:00:00.000000000Z"
    assert rfc3339_nano(1_795_864_622.123456) == "2026-11-28T11:17:02.123456000Z"
    assert rfc3339_nano(1.9999999) == "1970-01-01T00:00:02.000000000Z"  # rounds into seconds
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", rfc3339_nano(1.7e9))


@pytest.mark.parametrize(
    ("text", "ts"),
    [
        ("2026-11-28T11:17:02.123456789Z", 1_795_864_622.123456789),
        ("2026-11-28T11:17:02Z", 1_795_864_622.0),
        ("2026-11-28T11:17:02.5Z", 1_795_864_622.5),
        ("2026-11-28T13:17:02.25+02:00", 1_795_864_622.25),
        ("2026-11-28T06:17:02-05:00", 1_795_864_622.0),
        ("2026-11-28t11:17:02z", 1_795_864_622.0),
        ("0001-01-01T00:00:00Z", -62_135_596_800.0),  # Go's zero time: "never"
    ],
)
def test_parse_rfc3339(text: str, ts: float) -> None:
    assert parse_rfc3339(text) == pytest.approx(ts, abs=1e-6)


@pytest.mark.parametrize("text", ["", "yesterday", "2026-11-28", "2026-11-28T11:17:02"])
def test_parse_rfc3339_rejects_what_is_not_rfc3339(text: str) -> None:
    with pytest.raises(ValueError, match="not an RFC 3339 timestamp"):
        parse_rfc3339(text)


@given(st.floats(min_value=-4e9, max_value=4e9, allow_nan=False))
def test_timestamps_round_trip_to_the_microsecond(ts: float) -> None:
    assert parse_rfc3339(rfc3339_nano(ts)) == pytest.approx(ts, abs=1e-6)
