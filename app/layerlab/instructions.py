"""Dockerfile instructions that only change an image's config: shared by `commit -c`,
`import -c` and `build`.

Docker applies the same rules in all three places, so they live here once.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from layerlab.errors import LayerlabError

CONFIG_INSTRUCTIONS = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "USER", "WORKDIR",
                       "STOPSIGNAL", "VOLUME", "SHELL")  # fmt: skip
DEFAULT_SHELL = ["/bin/sh", "-c"]


def split_change(change: str) -> tuple[str, str]:
    """`'CMD ["sh"]'` -> ("CMD", '["sh"]')."""
    keyword, _, value = change.strip().partition(" ")
    if not keyword:
        raise LayerlabError("empty change instruction")
    return keyword.upper(), value.strip()


def json_array(text: str) -> list[str] | None:
    """The JSON form of an argument (`["a", "b"]`): its strings, or None if it is not one.

    Docker tries it first wherever an instruction has an exec/JSON form (CMD,
    ENTRYPOINT, SHELL, VOLUME, COPY/ADD) and falls back to the shell form.
    """
    if not text.startswith("["):
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    if isinstance(parsed, list) and all(isinstance(p, str) for p in parsed):
        return parsed
    return None


def parse_command(value: str, shell: list[str] | None = None) -> list[str]:
    """Exec form (a JSON array) as is; shell form wrapped in the shell, as Docker does."""
    parsed = json_array(value)
    if parsed is not None:
        return parsed
    return [*(shell or DEFAULT_SHELL), value]


def name_values(words: list[str], raw: str, instruction: str) -> list[tuple[str, str]]:
    """ENV/LABEL pairs as Docker's parseNameVal makes them, from the arguments' words.

    `K=V K2=V2` (every word holds a `=`), or the legacy `K some value`: the
    first word of `raw` is the name, the rest of the line, as written, the value.
    """
    if not words:
        raise LayerlabError(f"{instruction} requires at least one argument")
    if "=" not in words[0]:
        parts = re.split(r"\s+", raw.strip(), maxsplit=1)
        if len(parts) < 2:
            raise LayerlabError(f"{instruction} must have two arguments")
        return [(parts[0], parts[1])]
    pairs = []
    for word in words:
        key, sep, value = word.partition("=")
        if not sep:
            raise LayerlabError(
                f'Syntax error - can\'t find = in "{word}". Must be of the form: name=value'
            )
        if not key:
            raise LayerlabError(f"{instruction} names can not be blank")
        pairs.append((key, value))
    return pairs


def parse_key_values(value: str, instruction: str) -> list[tuple[str, str]]:
    """`K=V K2="v 2"` pairs (shell-quoted words), or the legacy single `K V` form."""
    try:
        words = shlex.split(value, posix=True)
    except ValueError as exc:  # an unclosed quote
        raise LayerlabError(f"{instruction} {value}: {exc}") from None
    return name_values(words, value, instruction)


def apply_change(config: dict[str, Any], change: str) -> None:
    """Apply one config instruction (`CMD`, `ENV`, ...) to an OCI image `config` in place."""
    keyword, value = split_change(change)
    if keyword not in CONFIG_INSTRUCTIONS:
        raise LayerlabError(f"{keyword} is not a valid change command")
    shell = config.get("Shell") or DEFAULT_SHELL
    if keyword == "CMD":
        config["Cmd"] = parse_command(value, shell)
    elif keyword == "ENTRYPOINT":
        config["Entrypoint"] = parse_command(value, shell)
    elif keyword == "ENV":
        env = {k: v for k, _, v in (e.partition("=") for e in config.get("Env") or [])}
        env.update(parse_key_values(value, keyword))
        config["Env"] = [f"{k}={v}" for k, v in env.items()]
    elif keyword == "LABEL":
        labels = dict(config.get("Labels") or {})
        labels.update(parse_key_values(value, keyword))
        config["Labels"] = labels
    elif keyword == "EXPOSE":
        ports = dict(config.get("ExposedPorts") or {})
        for port in value.split():
            ports[port if "/" in port else f"{port}/tcp"] = {}
        config["ExposedPorts"] = ports
    elif keyword == "VOLUME":
        volumes = dict(config.get("Volumes") or {})
        paths = json_array(value)
        if paths is None:
            paths = value.split()
        volumes.update({p: {} for p in paths})
        config["Volumes"] = volumes
    elif keyword == "USER":
        config["User"] = value
    elif keyword == "WORKDIR":
        base = config.get("WorkingDir") or "/"
        config["WorkingDir"] = value if value.startswith("/") else f"{base.rstrip('/')}/{value}"
    elif keyword == "STOPSIGNAL":
        config["StopSignal"] = value
    elif keyword == "SHELL":
        parsed = json_array(value)
        if parsed is None:
            raise LayerlabError("SHELL requires the arguments to be in JSON form")
        config["Shell"] = parsed
