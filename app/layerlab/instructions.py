"""Dockerfile instructions that only change an image's config: shared by `commit -c`,
`import -c` and `build`.

Docker applies the same rules in all three places, so they live here once.
"""

from __future__ import annotations

import json
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


def parse_command(value: str, shell: list[str] | None = None) -> list[str]:
    """Exec form (a JSON array) as is; shell form wrapped in the shell, as Docker does."""
    if value.startswith("["):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, list) and all(isinstance(p, str) for p in parsed):
            return parsed
    return [*(shell or DEFAULT_SHELL), value]


def parse_key_values(value: str, instruction: str) -> list[tuple[str, str]]:
    """`K=V K2="v 2"` pairs, or the legacy single `K V` form."""
    words = shlex.split(value, posix=True)
    if words and "=" not in words[0]:
        if len(words) < 2 and instruction == "ENV":
            raise LayerlabError(f"{instruction} requires a value: {value}")
        return [(words[0], value.split(None, 1)[1] if len(words) > 1 else "")]
    pairs = []
    for word in words:
        key, sep, val = word.partition("=")
        if not sep or not key:
            raise LayerlabError(f"{instruction} names can not be blank: {word}")
        pairs.append((key, val))
    return pairs


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
        paths = json.loads(value) if value.startswith("[") else value.split()
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
        parsed = parse_command(value, shell=["<not json>"])
        if parsed[:1] == ["<not json>"]:
            raise LayerlabError("SHELL requires the arguments to be in JSON form")
        config["Shell"] = parsed
