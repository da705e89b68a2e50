"""Go's parse/lex.go: a template as text and actions (`{{-`/`-}}` trimmed), each action
as tokens (fields, variables, strings with Go's escapes, numbers, words, punctuation)."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from layerlab.presentation.gotemplate.values import PARSE_EXIT_CODE, TemplateError

_LEFT_TRIM = r"-[ \t\r\n]"
_TOKEN = r"""(?P<variable>\$\w*(?:\.\w+)*)
    | (?P<field>(?:\.\w+)+|\.)
    | (?P<string>"(?:[^"\\\n]|\\.)*"|`[^`]*`)
    | (?P<number>-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?)(?![\w.])
    | (?P<ident>[A-Za-z_]\w*)
    | (?P<declare>:=)
    | (?P<assign>=)
    | (?P<comma>,)
    | (?P<pipe>\|)
    | (?P<lparen>\()
    | (?P<rparen>\))"""


_GO_ESCAPES = (
    r'(?:[^\\]|\\(?:[abfnrtv\\"]|x[0-9a-fA-F]{2}|[0-7]{3}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}))*'
)


class Token(NamedTuple):
    kind: str  # variable, field, string, number, ident, bool, nil, or pipeline
    text: str  # as written, for error messages
    pos: int  # offset in the template, for Go's line:col
    value: Any  # field names, decoded string, number, function name, nested pipeline


class Lexer:
    """A template's text and actions, and each action's tokens; `error` words a parse
    error as Go does (`template: NAME:LINE: ...`)."""

    def __init__(self, src: str, name: str = "") -> None:
        self.src = src
        self.name = name

    def error(self, pos: int, message: str) -> TemplateError:
        line = self.src.count("\n", 0, pos) + 1
        return TemplateError(f"template: {self.name}:{line}: {message}", PARSE_EXIT_CODE)

    def actions(self) -> list[tuple[str, Any, int]]:
        """The template as ("text", str) and ("action", tokens) items, trimmed."""
        src = self.src
        items: list[tuple[str, Any, int]] = []
        pos, trim_next = 0, False
        while (start := src.find("{{", pos)) >= 0:
            text = src[pos:start]
            pos = start + 2
            if re.compile(_LEFT_TRIM).match(src, pos):
                text, pos = text.rstrip(" \t\r\n"), pos + 1
            items.append(("text", text.lstrip(" \t\r\n") if trim_next else text, start))
            tokens, pos, trim_next = self.tokens(pos, start)
            items.append(("action", tokens, start))
        items.append(("text", src[pos:].lstrip(" \t\r\n") if trim_next else src[pos:], pos))
        return items

    def tokens(self, pos: int, start: int) -> tuple[list[Token], int, bool]:
        src, found = self.src, list[Token]()
        while True:
            after = pos
            while after < len(src) and src[after] in " \t\r\n":
                after += 1
            spaced, pos = after > pos, after
            if src.startswith("}}", pos):
                return found, pos + 2, False
            if spaced and src.startswith("-}}", pos):
                return found, pos + 3, True
            match = re.compile(_TOKEN, re.VERBOSE).match(src, pos)
            if match is None:
                if pos == len(src):
                    raise self.error(start, "unclosed action")
                if src[pos] in '"`':
                    raise self.error(pos, "unterminated quoted string")
                raise self.error(pos, f'unexpected "{src[pos]}" in command')
            found.append(self.token(match))
            pos = match.end()

    def token(self, match: re.Match[str]) -> Token:
        kind, text, pos = match.lastgroup or "", match.group(), match.start()
        value: Any = text
        if kind == "field":
            value = tuple(text.split(".")[1:]) if text != "." else ()
        elif kind == "variable":
            value = tuple(text.split("."))  # ("$x", "A", "B")
        elif kind == "number":
            value = int(text) if re.fullmatch(r"-?\d+", text) else float(text)
            if isinstance(value, int) and not -(2**63) <= value < 2**64:  # int64 or uint64
                raise self.error(pos, f'integer overflow: "{text}"')
        elif kind == "ident" and text in ("true", "false"):
            kind, value = "bool", text == "true"
        elif kind == "ident" and text == "nil":
            kind, value = "nil", None
        elif kind == "string" and text[0] == "`":
            value = text[1:-1]
        elif kind == "string":
            body = text[1:-1]
            if not re.fullmatch(_GO_ESCAPES, body):
                raise self.error(pos, f"invalid syntax: {text}")
            try:
                value = body.encode("latin-1", "backslashreplace").decode("unicode_escape")
            except UnicodeDecodeError:
                raise self.error(pos, f"invalid syntax: {text}") from None
        return Token(kind, text, pos, value)
