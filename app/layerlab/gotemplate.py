"""A small subset of Go's text/template, for `inspect --format` and `ps --format`.

Docker formats output with Go templates, and scripts depend on the exact bytes, so what
is implemented follows Go and Docker's template functions: literal text, `{{.}}`, field
paths, pipelines (`|`), `json`, `index`, `join`, `len`, `upper`, `lower`, `println`, and
`{{-`/`-}}` trimming. Control actions (`if`, `range`, ...) fail with a clear error rather
than print something wrong. Errors are worded like Go's, prefixed `template: :LINE`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any, NamedTuple

# Patterns are compiled on first use (re caches them): the CLI imports this module for
# every command, and most never format anything.
_LEFT_TRIM = r"-[ \t\r\n]"
_TOKEN = r"""(?P<field>(?:\.\w+)+|\.)
    | (?P<string>"(?:[^"\\\n]|\\.)*"|`[^`]*`)
    | (?P<number>-?\d+)(?![\w.])
    | (?P<ident>[A-Za-z_]\w*)
    | (?P<pipe>\|)"""
_GO_ESCAPES = (
    r'(?:[^\\]|\\(?:[abfnrtv\\"]|x[0-9a-fA-F]{2}|[0-7]{3}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}))*'
)
_KEYWORDS = frozenset("if else end range with define template block break continue".split())


class TemplateError(ValueError):
    """A template that cannot be parsed or executed; the message is one line."""


class TemplateParseError(TemplateError):
    """A template that does not parse (Docker exits 64; 1 for one that fails executing)."""


class _CallError(Exception):
    """A template function's complaint, reported by the caller with its location."""


class _Missing:
    """A map key that is not there: Go prints `<no value>` and passes on nil."""


_MISSING = _Missing()


class _Token(NamedTuple):
    kind: str  # field, string, number or ident
    text: str  # as written, for error messages
    pos: int  # offset in the template, for Go's line:col
    value: Any  # field names, decoded string, int or function name


_Command = tuple[_Token, ...]
_Pipeline = tuple[_Command, ...]


def render(template: str, data: Any) -> str:
    """Execute `template` against JSON-like `data` as Go's text/template would."""
    parts = _parse(template)  # every parse error comes before any output, as in Go
    return "".join(p if isinstance(p, str) else _go_value(_run(template, p, data)) for p in parts)


# Parsing


def _parse(src: str) -> list[str | _Pipeline]:
    parts: list[str | _Pipeline] = []
    pos, trim_next = 0, False
    while (start := src.find("{{", pos)) >= 0:
        text = src[pos:start]
        pos = start + 2
        if re.compile(_LEFT_TRIM).match(src, pos):
            text, pos = text.rstrip(" \t\r\n"), pos + 1
        parts.append(text.lstrip(" \t\r\n") if trim_next else text)
        pipeline, pos, trim_next = _parse_action(src, pos, start)
        parts.append(pipeline)
    parts.append(src[pos:].lstrip(" \t\r\n") if trim_next else src[pos:])
    return parts


def _parse_action(src: str, pos: int, start: int) -> tuple[_Pipeline, int, bool]:
    """The pipeline of the action at `pos`, where the action ends, and if it trims after."""
    commands: list[list[_Token]] = [[]]
    while True:
        after = pos
        while after < len(src) and src[after] in " \t\r\n":
            after += 1
        spaced, pos = after > pos, after
        if src.startswith("}}", pos):
            end, trim = pos + 2, False
            break
        if spaced and src.startswith("-}}", pos):
            end, trim = pos + 3, True
            break
        match = re.compile(_TOKEN, re.VERBOSE).match(src, pos)
        if match is None:
            if pos == len(src):
                raise _parse_error(src, start, "unclosed action")
            if src[pos] in '"`':
                raise _parse_error(src, pos, "unterminated quoted string")
            raise _parse_error(src, pos, f'unexpected "{src[pos]}" in command')
        if match.lastgroup == "pipe":
            commands.append([])
        else:
            commands[-1].append(_token(src, match))
        pos = match.end()
    for stage, command in enumerate(commands):
        if not command:
            raise _parse_error(src, start, "missing value for command")
        for token in command:
            if token.kind == "ident" and token.value in _KEYWORDS:
                raise _parse_error(src, token.pos, f"{{{{{token.value}}}}} is not supported")
            if token.kind == "ident" and token.value not in _FUNCTIONS:
                raise _parse_error(src, token.pos, f'function "{token.value}" not defined')
        head = command[0]
        if head.kind != "ident" and (len(command) > 1 or stage > 0):
            raise _parse_error(src, head.pos, f"can't give argument to non-function {head.text}")
    return tuple(tuple(c) for c in commands), end, trim


def _token(src: str, match: re.Match[str]) -> _Token:
    kind, text, pos = match.lastgroup or "", match.group(), match.start()
    value: Any = text
    if kind == "field":
        value = tuple(text.split(".")[1:]) if text != "." else ()
    elif kind == "number":
        value = int(text)
    elif kind == "string" and text[0] == "`":
        value = text[1:-1]
    elif kind == "string":
        body = text[1:-1]
        if not re.fullmatch(_GO_ESCAPES, body):
            raise _parse_error(src, pos, f"invalid syntax: {text}")
        try:
            value = body.encode("latin-1", "backslashreplace").decode("unicode_escape")
        except UnicodeDecodeError:
            raise _parse_error(src, pos, f"invalid syntax: {text}") from None
    return _Token(kind, text, pos, value)


def _parse_error(src: str, pos: int, message: str) -> TemplateError:
    line = src.count("\n", 0, pos) + 1
    return TemplateParseError(f"template: :{line}: {message}")


# Execution


def _run(src: str, pipeline: _Pipeline, dot: Any) -> Any:
    value: Any = None
    for stage, command in enumerate(pipeline):
        head = command[0]
        if head.kind != "ident":  # parsing allows an operand only alone and first
            value = _operand(src, head, dot)
            continue
        args = [_argument(src, token, dot) for token in command[1:]]
        if stage > 0:  # the previous stage's result is the last argument
            args.append(None if value is _MISSING else value)
        value = _call(src, command, args)
    return value


def _operand(src: str, token: _Token, dot: Any) -> Any:
    if token.kind == "field":
        return _field(src, token, dot)
    return token.value


def _argument(src: str, token: _Token, dot: Any) -> Any:
    if token.kind == "ident":  # a function as an argument is called without arguments
        return _call(src, (token,), [])
    value = _operand(src, token, dot)
    return None if value is _MISSING else value  # Go hands a function nil for it


def _field(src: str, token: _Token, dot: Any) -> Any:
    """Follow `.A.B.C` through maps; only the last key may be missing (`<no value>`)."""
    names: tuple[str, ...] = token.value
    # Go reports a chain at its second element, `{{.State.Foo}}` at 1:8.
    pos = token.pos + len(names[0]) + 1 if len(names) > 1 else token.pos
    value = dot
    for i, name in enumerate(names):
        if isinstance(value, dict):
            if name in value:
                value = value[name]
                continue
            if i == len(names) - 1:
                return _MISSING
            problem = f'map has no entry for key "{name}"'
        elif value is None:
            problem = f"nil pointer evaluating interface {{}}.{name}"
        else:
            problem = f"can't evaluate field {name} in type {_go_type(value)}"
        raise _exec_error(src, pos, token.text, problem)
    return value


def _call(src: str, command: _Command, args: list[Any]) -> Any:
    head = command[0]
    name = head.value
    function, want, variadic = _FUNCTIONS[name]
    if len(args) < want or (len(args) > want and not variadic):
        wanted = f"at least {want}" if variadic else str(want)
        problem = f"wrong number of args for {name}: want {wanted} got {len(args)}"
        raise _exec_error(src, head.pos, name, problem)
    try:
        return function(*args)
    except _CallError as exc:
        node = " ".join(token.text for token in command)
        raise _exec_error(src, head.pos, node, f"error calling {name}: {exc}") from None


def _exec_error(src: str, pos: int, node: str, problem: str) -> TemplateError:
    line_start = src.rfind("\n", 0, pos) + 1
    line, column = src.count("\n", 0, pos) + 1, len(src[line_start:pos].encode())
    return TemplateError(f'template: :{line}:{column}: executing "" at <{node}>: {problem}')


# Functions: Go's builtins `index`, `len`, `println` and Docker's `json`, `join`, `upper`,
# `lower`.


def _index(item: Any, *keys: Any) -> Any:
    for key in keys:
        if item is None or isinstance(item, dict):
            if not isinstance(key, str):
                raise _CallError(f"value has type {_go_type(key)}; should be string")
            entries = item or {}
            if key in entries:
                item = entries[key]
            else:  # Go gives the element type's zero value: "" for Labels-like string maps
                item = "" if all(isinstance(v, str) for v in entries.values()) else None
        elif isinstance(item, list):
            if not isinstance(key, int) or isinstance(key, bool):
                raise _CallError(f"cannot index slice/array with type {_go_type(key)}")
            if not 0 <= key < len(item):
                raise _CallError(f"index out of range: {key}")
            item = item[key]
        else:
            raise _CallError(f"can't index item of type {_go_type(item)}")
    return item


def _join(items: Any, separator: Any) -> str:
    if not isinstance(items, list | None):
        raise _CallError(f"wrong type for value; expected []string; got {_go_type(items)}")
    return _string(separator).join(_go_value(item) for item in items or ())


def _length(item: Any) -> int:
    if item is None:
        raise _CallError("len of nil pointer")
    if not isinstance(item, str | list | dict):
        raise _CallError(f"len of type {_go_type(item)}")
    return len(item if not isinstance(item, str) else item.encode())  # Go counts bytes


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise _CallError(f"wrong type for value; expected string; got {_go_type(value)}")
    return value


def _println(*args: Any) -> str:
    return " ".join(_go_value(arg) for arg in args) + "\n"


# Go's ways of printing values


_GO_TYPES = {
    type(None): "nil",
    bool: "bool",
    int: "int",
    float: "float64",
    str: "string",
    list: "[]interface {}",
    dict: "map[string]interface {}",
}


def _go_type(value: Any) -> str:
    """The Go type a JSON-decoded value would have, for error messages."""
    return _GO_TYPES.get(type(value), type(value).__name__)


def _go_value(value: Any) -> str:
    """Go's `%v` of a JSON-decoded value: `<nil>`, `true`, `[a b]`, `map[k:v]` (keys sorted)."""
    if value is _MISSING:
        return "<no value>"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value, json_style=False)
    if isinstance(value, list | tuple):
        return "[" + " ".join(_go_value(v) for v in value) + "]"
    if isinstance(value, dict):
        pairs = (f"{k}:{_go_value(value[k])}" for k in sorted(value, key=str))
        return "map[" + " ".join(pairs) + "]"
    return str(value)


def _go_json(value: Any) -> str:
    """Go's json.Marshal without HTML escaping, as Docker's `json` function does it."""
    if isinstance(value, dict):
        pairs = (f"{_go_json(str(k))}:{_go_json(v)}" for k, v in value.items())
        return "{" + ",".join(pairs) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_go_json(v) for v in value) + "]"
    if isinstance(value, float):
        return _go_float(value, json_style=True)
    text = json.dumps(value, ensure_ascii=False)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")  # as Go does


def _go_float(value: float, *, json_style: bool) -> str:
    """A float with Go's shortest digits: `%v` (`1e+06`) or encoding/json (`1000000`)."""
    if not math.isfinite(value):
        text = "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
        if json_style:
            raise _CallError(f"json: unsupported value: {text}")
        return text
    if value == 0:
        return "-0" if math.copysign(1, value) < 0 else "0"
    mantissa, _, exponent = repr(abs(value)).partition("e")  # repr: shortest round-trip
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    point = len(whole) + int(exponent or 0) - (len(whole + fraction) - len(digits))
    digits = digits.rstrip("0")
    exp = point - 1
    low, high = (-6, 21) if json_style else (-4, 6)
    if exp < low or exp >= high:
        text = digits[0] + ("." + digits[1:] if digits[1:] else "")
        text += f"e{exp:+d}" if json_style else f"e{exp:+03d}"  # json writes e-7, %v e-07
    elif point <= 0:
        text = "0." + "0" * -point + digits
    else:
        text = digits[:point].ljust(point, "0") + ("." + digits[point:] if digits[point:] else "")
    return ("-" if value < 0 else "") + text


_FUNCTIONS: dict[str, tuple[Callable[..., Any], int, bool]] = {
    "index": (_index, 1, True),
    "join": (_join, 2, False),
    "json": (_go_json, 1, False),
    "len": (_length, 1, False),
    "lower": (lambda value: _string(value).lower(), 1, False),
    "println": (_println, 0, True),
    "upper": (lambda value: _string(value).upper(), 1, False),
}
