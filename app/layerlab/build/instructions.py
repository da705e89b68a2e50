"""Dockerfile instructions that only change an image's config: shared by `commit -c`,
`import -c` and `build`.

Docker applies the same rules in all three places, so they live here once:
among them that ENTRYPOINT clears `Cmd` unless a CMD came earlier in the same
set of changes (moby's dispatchEntrypoint), and how HEALTHCHECK's flags and
durations read. Values may be large and are untrusted: every reading is linear,
and an error quotes only a short prefix of what it was given.
"""

from __future__ import annotations

import json
import re
from typing import Any

from layerlab.build.lexer import Lexer, clip, go_list, go_quote, go_quote_rune, parse_words
from layerlab.errors import LayerlabError

CONFIG_INSTRUCTIONS = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "USER", "WORKDIR",
                       "STOPSIGNAL", "VOLUME", "SHELL", "HEALTHCHECK", "ONBUILD")  # fmt: skip
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
    except (ValueError, RecursionError):  # `[[[[...` too deep is no JSON form either
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
                f'Syntax error - can\'t find = in "{clip(word)}". Must be of the form: name=value'
            )
        if not key:
            raise LayerlabError(f"{instruction} names can not be blank")
        pairs.append((key, value))
    return pairs


def parse_key_values(
    value: str, instruction: str, env: dict[str, str] | None = None
) -> list[tuple[str, str]]:
    """`K=V K2="v 2"` pairs, or the legacy single `K V` form, quotes and escapes removed.

    Words split as Docker's parseWords splits them, then each is expanded by the
    shell lexer in `env` (for a change: the image's own Env, as Docker's
    commit/import dispatch it). Linear.
    """
    lexer = Lexer()
    pairs = name_values(parse_words(value, lexer.escape), value, instruction)
    env = env or {}
    try:
        return [(lexer.word(k, env), lexer.word(v, env)) for k, v in pairs]
    except LayerlabError as exc:
        raise LayerlabError(f"{instruction} {clip(value)}: {exc}") from None


def _env_of(config: dict[str, Any]) -> dict[str, str]:
    return {k: v for k, _, v in (e.partition("=") for e in config.get("Env") or [])}


def set_env(config: dict[str, Any], pairs: list[tuple[str, str]]) -> None:
    """ENV: set (or replace, in place) each variable of the config's `Env`."""
    env = _env_of(config)
    env.update(pairs)
    config["Env"] = [f"{k}={v}" for k, v in env.items()]


def set_labels(config: dict[str, Any], pairs: list[tuple[str, str]]) -> None:
    labels = dict(config.get("Labels") or {})
    labels.update(pairs)
    config["Labels"] = labels


# --- HEALTHCHECK and ONBUILD --------------------------------------------------------------

_DURATION_UNITS = {"ns": 1, "us": 1_000, "\u00b5s": 1_000, "\u03bcs": 1_000, "ms": 1_000_000,
                   "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}  # fmt: skip
_DURATION_PART = re.compile(r"(\d*)(?:\.(\d*))?([a-z\u00b5\u03bc]+)")
MINIMUM_DURATION = 1_000_000  # Docker's container.MinimumDuration: 1ms


def parse_go_duration(text: str) -> int:
    """Go's time.ParseDuration (`1m30s`, `1.5h`, `300ms`), in nanoseconds."""
    rest, sign = text, 1
    if rest[:1] in ("-", "+"):
        sign, rest = (-1 if rest[0] == "-" else 1), rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise LayerlabError(f'time: invalid duration "{clip(text)}"')
    total, pos = 0, 0
    while pos < len(rest):
        match = _DURATION_PART.match(rest, pos)
        if match is None or not (match.group(1) or match.group(2)):
            if re.fullmatch(r"[\d.]+", rest[pos:]) and rest[pos:] != ".":
                raise LayerlabError(f'time: missing unit in duration "{clip(text)}"')
            raise LayerlabError(f'time: invalid duration "{clip(text)}"')
        whole, frac, unit = match.groups()
        if unit not in _DURATION_UNITS:
            raise LayerlabError(f'time: unknown unit "{clip(unit)}" in duration "{clip(text)}"')
        scale = _DURATION_UNITS[unit]
        total += int(whole or "0") * scale
        if frac:
            total += int(frac) * scale // 10 ** len(frac)
        pos = match.end()
    if total > (1 << 63) - 1:
        raise LayerlabError(f'time: invalid duration "{clip(text)}"')
    return sign * total


def go_duration(ns: int) -> str:
    """Go's Duration.String(): `0s`, `1.5s`, `5m0s`, `1h0m0s`, `300ms`."""
    if ns == 0:
        return "0s"
    sign, u = ("-" if ns < 0 else ""), abs(ns)

    def frac(value: int, unit: int) -> str:
        whole, rem = divmod(value, unit)
        digits = len(str(unit)) - 1
        return str(whole) + ("." + f"{rem:0{digits}d}".rstrip("0") if rem else "")

    if u < 1_000:
        return f"{sign}{u}ns"
    if u < 1_000_000:
        return f"{sign}{frac(u, 1_000)}\u00b5s"
    if u < 1_000_000_000:
        return f"{sign}{frac(u, 1_000_000)}ms"
    secs, rem = divmod(u, 1_000_000_000)
    hours, secs = divmod(secs, 3600)
    minutes, secs = divmod(secs, 60)
    text = frac(secs * 1_000_000_000 + rem, 1_000_000_000) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{text}"
    return f"{sign}{minutes}m{text}" if minutes else sign + text


def builder_flags(value: str, allowed: tuple[str, ...]) -> tuple[dict[str, str], str]:
    """The `--name=value` flags that lead an instruction's arguments (extractBuilderFlags)."""
    flags: dict[str, str] = {}
    rest = value
    while rest.startswith("--"):
        flag, _, rest = rest.partition(" ")
        rest = rest.lstrip()
        if flag == "--":
            break
        name, sep, val = flag[2:].partition("=")
        if name not in allowed:
            raise LayerlabError(f"Unknown flag: {clip(name)}")
        if not sep:
            raise LayerlabError(f"Missing a value on flag: --{name}")
        if name in flags:
            raise LayerlabError(f"Duplicate flag specified: {name}")
        flags[name] = val
    return flags, rest


def parse_healthcheck(value: str) -> dict[str, Any]:
    """HEALTHCHECK [--interval=D --timeout=D --start-period=D --retries=N] CMD ... | NONE.

    Returns the config's `Healthcheck` as Docker stores it: `Test`, then the
    durations in nanoseconds and `Retries`, each left out when zero.
    """
    flags, rest = builder_flags(value, ("interval", "timeout", "start-period", "retries"))
    kind, _, command = rest.partition(" ")
    kind, command = kind.upper(), command.strip()
    if not kind:
        raise LayerlabError("HEALTHCHECK requires at least one argument")
    if kind == "NONE":
        if command:
            raise LayerlabError("HEALTHCHECK NONE takes no arguments")
        return {"Test": ["NONE"]}
    if kind != "CMD":
        raise LayerlabError(f'Unknown type "{clip(kind)}" in HEALTHCHECK (try CMD)')
    exec_form = json_array(command)
    if exec_form is not None:
        test = ["CMD", *exec_form]
    elif command:
        test = ["CMD-SHELL", command]
    else:
        test = []
    if len(test) < 2:
        raise LayerlabError("Missing command after HEALTHCHECK CMD")
    health: dict[str, Any] = {"Test": test}
    for flag, key in (("interval", "Interval"), ("timeout", "Timeout"),
                      ("start-period", "StartPeriod")):  # fmt: skip
        text = flags.get(flag, "")
        if not text:
            continue
        duration = parse_go_duration(text)
        if duration < MINIMUM_DURATION:
            raise LayerlabError(f'Interval "{flag}" cannot be less than 1ms')
        health[key] = duration
    if flags.get("retries"):
        try:
            retries = int(flags["retries"], 10)
        except ValueError:
            raise LayerlabError(
                f'strconv.ParseInt: parsing "{clip(flags["retries"])}": invalid syntax'
            ) from None
        if retries < 1:
            raise LayerlabError(f"--retries must be at least 1 (not {retries})")
        health["Retries"] = retries
    return health


def healthcheck_comment(health: dict[str, Any]) -> str:
    """What Docker's history says: Go's `%q` of the *HealthConfig, as dispatchHealthcheck."""
    durations = " ".join(
        go_quote(go_duration(health.get(key, 0))) for key in ("Interval", "Timeout", "StartPeriod")
    )
    retries = go_quote_rune(health.get("Retries", 0))
    return f"HEALTHCHECK &{{{go_list(health['Test'], quoted=True)} {durations} {retries}}}"


def parse_onbuild(value: str) -> str:
    """ONBUILD's trigger, as stored in `OnBuild`: the instruction as written after ONBUILD."""
    trigger = value.strip()
    keyword = trigger.split(None, 1)[0].upper() if trigger else ""
    if not keyword:
        raise LayerlabError("ONBUILD requires at least one argument")
    if keyword == "ONBUILD":
        raise LayerlabError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if keyword in ("MAINTAINER", "FROM"):
        raise LayerlabError(f"{keyword} isn't allowed as an ONBUILD trigger")
    return trigger


def apply_changes(config: dict[str, Any], changes: list[str]) -> None:
    """Apply `-c` changes in order, as Docker dispatches them: one CMD keeps a later ENTRYPOINT
    from clearing `Cmd`."""
    cmd_set = False
    for change in changes:
        apply_change(config, change, cmd_set=cmd_set)
        cmd_set = cmd_set or (split_change(change)[0] == "CMD" and bool(config.get("Cmd")))


def apply_change(config: dict[str, Any], change: str, *, cmd_set: bool = False) -> None:
    """Apply one config instruction (`CMD`, `ENV`, ...) to an OCI image `config` in place.

    ENTRYPOINT clears `Cmd` unless `cmd_set` (a CMD came first in the same
    changes or build stage), as moby's dispatchEntrypoint does.
    """
    keyword, value = split_change(change)
    if keyword not in CONFIG_INSTRUCTIONS:
        raise LayerlabError(f"{keyword} is not a valid change command")
    shell = config.get("Shell") or DEFAULT_SHELL
    if keyword == "CMD":
        config["Cmd"] = parse_command(value, shell)
    elif keyword == "ENTRYPOINT":
        config["Entrypoint"] = parse_command(value, shell)
        if not cmd_set:
            config["Cmd"] = None
    elif keyword == "ENV":
        set_env(config, parse_key_values(value, keyword, _env_of(config)))
    elif keyword == "LABEL":
        set_labels(config, parse_key_values(value, keyword, _env_of(config)))
    elif keyword == "HEALTHCHECK":
        config["Healthcheck"] = parse_healthcheck(value)
    elif keyword == "ONBUILD":
        config["OnBuild"] = [*(config.get("OnBuild") or []), parse_onbuild(value)]
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
