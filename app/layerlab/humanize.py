"""Docker's human-readable times and sizes (go-units), and its RFC 3339 timestamps."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def human_duration(seconds: float) -> str:
    """go-units HumanDuration: `Less than a second`, `3 seconds`, `About a minute`, ..."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = s // 3600
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
    return f"{hours // 24 // 365} years"


def ago(ts: float, now: float | None = None) -> str:
    return human_duration((time.time() if now is None else now) - ts) + " ago"


def human_size(n: float) -> str:
    """go-units HumanSize: decimal units, 4 significant digits (`4.2MB`, `0B`)."""
    units = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
    size = float(n)
    i = 0
    while size >= 1000 and i < len(units) - 1:
        size /= 1000
        i += 1
    return f"{size:.4g}{units[i]}"


def bytes_size(n: float) -> str:
    """go-units BytesSize: binary units (`1.5MiB`)."""
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"]
    size = float(n)
    i = 0
    while size >= 1024 and i < len(units) - 1:
        size /= 1024
        i += 1
    return f"{size:.4g}{units[i]}"


def rfc3339_nano(ts: float) -> str:
    """Docker's timestamps: UTC with nine fractional digits, `2026-11-28T11:17:02.123456789Z`."""
    whole, micros = divmod(round(ts * 1_000_000), 1_000_000)
    return datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{micros:06d}000Z"


def parse_rfc3339(text: str) -> float:
    """Parse Docker/OCI timestamps back: any number of fractional digits, `Z` or an offset."""
    s = text.strip()
    frac = 0.0
    if "." in s:
        head, rest = s.split(".", 1)
        digits = ""
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        frac = float("0." + digits) if digits else 0.0
        s = head + rest
    s = s.replace("Z", "+00:00")
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp() + frac
