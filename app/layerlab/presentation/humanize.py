"""Docker's human-readable durations and sizes (docker/go-units) and its RFC 3339 timestamps.

`docker ps` and `docker images` print these strings, and people read and grep them, so
they follow go-units to the letter, including Go's truncating integer division.
"""

from __future__ import annotations

import math
import re
import time

_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\d)[Tt](\d\d:\d\d:\d\d)(\.\d+)?([Zz]|[+-]\d\d:\d\d)")
_DECIMAL_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def plural(n: int, word: str) -> str:
    """`1 layer`, `2 layers`, `3 entries`: never `1 layers`."""
    if n == 1:
        return f"{n} {word}"
    return f"{n} {word[:-1]}ies" if word.endswith("y") else f"{n} {word}s"


def human_duration(seconds: float) -> str:
    """go-units HumanDuration: `Less than a second`, `3 seconds`, `About a minute`, ..."""
    s = int(seconds)  # Go's int() truncates toward zero, like Python's
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = math.floor(seconds / 3600 + 0.5)  # d.Round(time.Hour): halves round up
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"  # unrounded hours, as go-units has it


def ago(ts: float, now: float | None = None) -> str:
    """Docker's CREATED column: `5 seconds ago`."""
    return human_duration((time.time() if now is None else now) - ts) + " ago"


def _scaled(size: float, base: float, units: tuple[str, ...], precision: int) -> str:
    i = 0
    while size >= base and i < len(units) - 1:
        size /= base
        i += 1
    return f"{size:.{precision}g}{units[i]}"  # Python's %g prints what Go's %g does here


def human_size(size: float, precision: int = 4) -> str:
    """go-units HumanSizeWithPrecision; HumanSize is precision 4 (`4.2MB`, `1.234kB`, `0B`).

    `docker images` and `docker history` print sizes with precision 3 (`77.8MB`).
    """
    return _scaled(float(size), 1000.0, _DECIMAL_UNITS, precision)


def bytes_size(size: float) -> str:
    """go-units BytesSize: binary units, 4 significant digits (`1.5MiB`)."""
    return _scaled(float(size), 1024.0, _BINARY_UNITS, 4)


def rfc3339_nano(ts: float) -> str:
    """Docker's timestamp, UTC with nine fractional digits: `2026-11-28T11:17:02.123456000Z`.

    A float holds microseconds at best, so the last three digits are zeros. The fixed
    width keeps the strings sorting chronologically.
    """
    whole, micros = divmod(round(ts * 1_000_000), 1_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))  # no datetime: see below
    return f"{stamp}.{micros:06d}000Z"


def parse_rfc3339(text: str) -> float:
    """Seconds since the epoch of an RFC 3339 timestamp: any fraction digits, `Z` or offset."""
    match = _RFC3339.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    # Imported on use: datetime's import would cost every `run` (which only writes stamps).
    from datetime import datetime

    date, clock, fraction, zone = match.groups()
    offset = "+00:00" if zone in ("Z", "z") else zone
    return datetime.fromisoformat(f"{date}T{clock}{offset}").timestamp() + float(fraction or 0)
