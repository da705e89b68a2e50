"""The run/create flags read on the client side, as the docker CLI reads them:
`--env-file`, `--label-file`/`-l`, `--cidfile`, `-a/--attach`."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence

from layerlab.errors import LayerlabError
from layerlab.runtime.launch import Stdio

STREAMS = ("stdin", "stdout", "stderr")


def _lines(path: str) -> list[str]:
    """Docker's env/label file: `#` comments and blank lines skipped, `KEY=VALUE` or `KEY`."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except FileNotFoundError:
        raise LayerlabError(f"open {path}: no such file or directory") from None
    except IsADirectoryError:
        raise LayerlabError(f"read {path}: is a directory") from None
    found = []
    for raw in text.splitlines():
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        key = line.partition("=")[0]
        if any(ch.isspace() for ch in key):
            raise LayerlabError(f"variable '{key}' contains whitespaces")
        found.append(line)
    return found


def read_env_files(paths: Sequence[str]) -> list[str]:
    """The `--env-file` entries, before any `-e` (which override them, as in Docker)."""
    return [line for path in paths for line in _lines(path)]


def labels(files: Sequence[str], flags: Sequence[str]) -> dict[str, str]:
    """`--label-file` entries, then `-l` ones: `KEY=VALUE`, or `-l KEY` for an empty value.

    Docker 28 drops a bare `KEY` line of a label file (a `-l KEY` flag keeps it)."""
    found: dict[str, str] = {}
    from_files = [line for path in files for line in _lines(path) if "=" in line]
    for item in from_files + list(flags):
        key, _, value = item.partition("=")
        found[key] = value
    return found


def attach_streams(values: Sequence[str], detach: bool) -> set[str]:
    """`-a stdout -a stderr` as a set; Docker's words for a bad stream or `-d` with `-a`."""
    streams = set()
    for value in values:
        if value.lower() not in STREAMS:
            raise LayerlabError(
                f'invalid argument "{value}" for "-a, --attach" flag: valid streams are '
                "STDIN, STDOUT and STDERR"
            )
        streams.add(value.lower())
    if streams and detach:
        raise LayerlabError("conflicting options: cannot specify both --attach and --detach")
    return streams


def only_streams(stdio: Stdio, streams: set[str]) -> Stdio:
    """The attach targets with the streams not asked for sent nowhere (still logged)."""
    stdin, out, err = stdio
    return (
        stdin if "stdin" in streams else subprocess.DEVNULL,
        out if "stdout" in streams else subprocess.DEVNULL,
        err if "stderr" in streams else subprocess.DEVNULL,
    )


def check_cidfile(path: str | None) -> None:
    """Docker refuses before creating anything when the file is there already."""
    if path and os.path.exists(path):
        raise LayerlabError(
            f"container ID file found, make sure the other container isn't running or delete {path}"
        )


def write_cidfile(path: str | None, cid: str) -> None:
    if not path:
        return
    try:
        with open(path, "x") as f:
            f.write(cid)
    except OSError as exc:
        raise LayerlabError(f"failed to create the container ID file: {exc.strerror}") from None
