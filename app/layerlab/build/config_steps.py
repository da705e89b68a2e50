"""The steps that change only the image's config (ENV, LABEL, ARG, CMD, ENTRYPOINT,
EXPOSE, USER, VOLUME, STOPSIGNAL, SHELL, HEALTHCHECK, ONBUILD, MAINTAINER), as Docker's
dispatchers make them: each changes the config and words the history comment Docker
writes for it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from layerlab.build.dockerfile import Instruction, parse_arg_words, parse_name_val, parse_trigger
from layerlab.build.instructions import (
    apply_change,
    healthcheck_comment,
    json_array,
    parse_healthcheck,
    set_env,
    set_labels,
)
from layerlab.build.lexer import Lexer, clip, go_list
from layerlab.build.state import BuildArgs, StageState
from layerlab.errors import BuildError, LayerlabError
from layerlab.storage.containers import parse_signal

PORT_RE = re.compile(r"^\d{1,5}(-\d{1,5})?(/(tcp|udp|sctp))?$")


def apply_config(
    inst: Instruction,
    state: StageState,
    config: dict[str, Any],
    lexer: Lexer,
    args: BuildArgs,
    say: Callable[[str], None],
) -> str:
    """Change `config` as the instruction says; return Docker's history comment for it.

    Words expand in the stage's environment (`args`); an ARG is declared in `state` and
    noted in `args`; `say` notes a HEALTHCHECK that replaces another."""
    keyword, escape = inst.keyword, lexer.escape
    env = args.env(state)
    try:
        if keyword in ("ENV", "LABEL"):
            pairs = [
                (lexer.word(k, env), lexer.word(v, env)) for k, v in parse_name_val(inst, escape)
            ]
            (set_env if keyword == "ENV" else set_labels)(config, pairs)
            return keyword + "".join(f" {k}={v}" for k, v in pairs)
        if keyword == "ARG":
            return _declare_args(inst, state, lexer, args, env)
        if keyword == "CMD":
            apply_change(config, f"CMD {inst.args}")
            state.cmd_set = state.cmd_set or bool(config["Cmd"])
            return f"CMD {go_list(config['Cmd'], quoted=True)}"
        if keyword == "ENTRYPOINT":
            apply_change(config, f"ENTRYPOINT {inst.args}", cmd_set=state.cmd_set)
            return f"ENTRYPOINT {go_list(config['Entrypoint'], quoted=True)}"
        if keyword == "EXPOSE":
            return _expose(inst, config, lexer, env)
        if keyword == "USER":
            user = lexer.word(inst.args, env)
            apply_change(config, f"USER {user}")
            return f"USER {user}"
        if keyword == "VOLUME":
            return _volume(inst, config, lexer, env)
        if keyword == "STOPSIGNAL":
            value = lexer.word(inst.args, env)
            parse_signal(value)
            apply_change(config, f"STOPSIGNAL {value}")
            return f"STOPSIGNAL {value}"
        if keyword == "SHELL":
            apply_change(config, f"SHELL {inst.args}")
            return f"SHELL {go_list(config['Shell'], quoted=False)}"
        if keyword == "HEALTHCHECK":
            old = (state.config.get("Healthcheck") or {}).get("Test") or []
            if old and old[0] != "NONE":
                say(f"Note: overriding previous HEALTHCHECK: {go_list(old, quoted=False)}")
            config["Healthcheck"] = parse_healthcheck(inst.args)
            return healthcheck_comment(config["Healthcheck"])
        if keyword == "ONBUILD":
            trigger = parse_trigger(inst)
            config["OnBuild"] = [*(config.get("OnBuild") or []), trigger]
            return f"ONBUILD {trigger}"
        if keyword == "MAINTAINER":
            state.maintainer = inst.args
            return f"MAINTAINER {inst.args}"
    except BuildError:
        raise
    except LayerlabError as exc:
        raise inst.error(str(exc)) from None
    raise inst.error(f"unknown instruction: {keyword}")  # parse_dockerfile lets none through


def _declare_args(
    inst: Instruction, state: StageState, lexer: Lexer, args: BuildArgs, env: dict[str, str]
) -> str:
    parts = []
    for key, value in parse_arg_words(inst, lexer.escape):
        if value is not None:
            value = lexer.word(value, env)
        state.args[key] = value
        args.referenced.add(key)
        parts.append(key if value is None else f"{key}={value}")
    return "ARG " + " ".join(parts)


def _expose(inst: Instruction, config: dict[str, Any], lexer: Lexer, env: dict[str, str]) -> str:
    ports = [p for word in inst.args.split() for p in lexer.words(word, env)]
    for port in ports:
        if not PORT_RE.match(port):
            raise inst.error(f"Invalid containerPort: {clip(port)}")
    apply_change(config, "EXPOSE " + " ".join(ports))
    return "EXPOSE " + " ".join(ports)


def _volume(inst: Instruction, config: dict[str, Any], lexer: Lexer, env: dict[str, str]) -> str:
    volumes = json_array(inst.args)
    if volumes is None:
        volumes = inst.args.split()
    volumes = [lexer.word(v, env) for v in volumes]
    if not volumes or any(not v for v in volumes):
        raise inst.error("VOLUME specified can not be an empty string")
    apply_change(config, "VOLUME " + json.dumps(volumes))
    return f"VOLUME {go_list(volumes, quoted=False)}"
