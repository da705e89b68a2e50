"""A small subset of Go's text/template, enough for `inspect -f` and `--format`.

Supported: literal text, `{{.}}`, field paths (`{{.State.Pid}}`), and the
functions `json`, `index`, `join`, `upper`, `lower`, `println`, with `{{-`/`-}}`
whitespace trimming - the forms Docker's documentation uses.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)


class TemplateError(ValueError):
    """A template that cannot be parsed or executed; one line, like Go's errors."""


def go_format(value: Any) -> str:
    """How Go's fmt prints a value decoded from JSON (`%v`)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return "[" + " ".join(go_format(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_format(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def _field(data: Any, path: str, source: str) -> Any:
    value = data
    for name in [p for p in path.split(".") if p]:
        if not isinstance(value, dict):
            raise TemplateError(
                f'executing "{source}" at <{path}>: can\'t evaluate field {name} in type '
                f"{type(value).__name__}"
            )
        if name not in value:
            return _MISSING
        value = value[name]
    return value


class _Missing:
    def __str__(self) -> str:
        return "<no value>"


_MISSING = _Missing()


def _argument(token: str, data: Any, source: str) -> Any:
    if token.startswith("."):
        return _field(data, token, source)
    if token.startswith('"') or token.startswith("`"):
        return token[1:-1]
    if re.fullmatch(r"-?\d+", token):
        return int(token)
    raise TemplateError(f'template: {source}: function "{token}" not defined')


def _call(name: str, args: list[Any], source: str) -> Any:
    if name == "json":
        return json.dumps(None if args[0] is _MISSING else args[0], separators=(",", ":"))
    if name == "index":
        value = args[0]
        for key in args[1:]:
            try:
                value = value[key]
            except (KeyError, IndexError, TypeError):
                return _MISSING if isinstance(value, dict) else None
        return value
    if name == "join":
        return args[1].join(go_format(a) for a in args[0] or [])
    if name in ("upper", "lower"):
        text = go_format(args[0])
        return text.upper() if name == "upper" else text.lower()
    if name == "println":
        return " ".join(go_format(a) for a in args) + "\n"
    raise TemplateError(f'template: {source}: function "{name}" not defined')


FUNCTIONS = {"json": 1, "index": -1, "join": 2, "upper": 1, "lower": 1, "println": -1}


def _evaluate(action: str, data: Any, source: str) -> str:
    try:
        tokens = shlex.split(action.strip(), posix=False)
    except ValueError as exc:
        raise TemplateError(f"template: {source}: {exc}") from None
    if not tokens:
        raise TemplateError(f"template: {source}: missing value for command")
    head, rest = tokens[0], tokens[1:]
    if head in FUNCTIONS:
        arity = FUNCTIONS[head]
        if arity >= 0 and len(rest) != arity:
            raise TemplateError(
                f"template: {source}: wrong number of args for {head}: want {arity} got {len(rest)}"
            )
        value = _call(head, [_argument(t, data, source) for t in rest], source)
    elif len(tokens) == 1:
        value = _argument(head, data, source)
    else:
        raise TemplateError(f"template: {source}: can't give argument to non-function {head}")
    return (
        value
        if isinstance(value, str)
        else go_format(value)
        if value is not _MISSING
        else "<no value>"
    )


def render(template: str, data: Any) -> str:
    """Execute `template` against `data` (a JSON-like dict), as Go's text/template would."""
    if template.count("{{") != template.count("}}"):
        raise TemplateError(f"template: {template}: unclosed action")
    out: list[str] = []
    pos = 0
    for match in ACTION.finditer(template):
        text = template[pos : match.start()]
        if match.group(1):
            text = text.rstrip()
        out.append(text)
        out.append(_evaluate(match.group(2), data, template))
        pos = match.end()
        if match.group(3):
            while pos < len(template) and template[pos].isspace():
                pos += 1
    out.append(template[pos:])
    return "".join(out)
