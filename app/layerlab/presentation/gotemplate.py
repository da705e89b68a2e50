"""Go's text/template, as Docker's `--format` flags use it.

Docker formats output with Go templates, and scripts depend on the exact bytes, so this
follows Go: literal text, `{{.}}`, field paths, variables (`$`, `$x := ...`, `$x = ...`),
pipelines (`|`) and parenthesised ones, `{{if}}`/`{{else if}}`/`{{else}}`, `{{with}}`,
`{{range}}` (with `$i, $e :=`, `{{else}}`, `{{break}}`, `{{continue}}`), `{{-`/`-}}`
trimming; Go's builtins (`and or not eq ne lt le gt ge index len slice print printf
println html js urlquery`) and Docker's (`json join split title lower upper pad truncate`).
Errors are worded like Go's: parse errors `template: NAME:LINE: ...` (`inspect` exits 64),
execution errors `template: NAME:LINE:COL: executing "NAME" at <NODE>: ...` (exit 1);
each command puts its own words before them (`listing`, `cli.handlers`).

The data is JSON-like (dicts, lists, str, int, float, bool, None). Go's data is typed,
so two of its rules are approximated from the shape: a missing key is an error in a
struct-like map (one holding a non-string value; Docker: `map has no entry for key`) and
`<no value>` in a string map (labels); a null under a name Docker types as a slice or a
map prints `[]` or `map[]`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

PARSE_EXIT_CODE = 64  # Docker's exit code for a template that does not parse
EXEC_EXIT_CODE = 1  # ... and for one that fails while executing

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
_CONTROL = frozenset("if else end range with break continue".split())
_UNSUPPORTED = frozenset("define template block".split())
# Docker's typed fields that print `[]` / `map[]` when null (Go prints nil slices so).
_NIL_SLICES = frozenset(
    "Args Binds CapAdd CapDrop Cmd Devices Dns DnsOptions DnsSearch Entrypoint Env ExecIDs "
    "ExtraHosts GroupAdd Links Mounts OnBuild RepoDigests RepoTags SecurityOpt Shell "
    "Layers".split()
)
_NIL_MAPS = frozenset(
    "ExposedPorts Labels Options Ports Sysctls Tmpfs Volumes StorageOpt Status".split()
)


class _NilSlice(list[Any]):
    """A typed field that is null: `%v` prints `[]`, but `json` marshals it as `null`."""


class _NilMap(dict[str, Any]):
    """A typed map field that is null: `%v` prints `map[]`, `json` gives `null`."""


class Context(dict[str, Any]):
    """A listing row (`ps`, `images`, `volume ls` ...): the dot of one of Docker's formatter
    contexts, a struct whose MarshalJSON is Go's json.Marshal of a map of its fields. So
    `{{json .}}` sorts the keys, escapes `<`, `>`, `&` (`\u003c`) and leaves methods out,
    while `{{json .Field}}` goes through Docker's non-escaping encoder."""


class Struct(dict[str, Any]):
    """One of Docker's inspect structs: JSON leaves its empty `omitempty` fields out, while a
    template still reads them (`{{.Config.Shell}}` is `[]`, a bind's `{{.Name}}` is empty)
    and `%v` prints every field in order (`{{.HostConfig.RestartPolicy}}` is `{no 0}`)."""

    def __init__(self, fields: dict[str, Any], omitted: frozenset[str]) -> None:
        super().__init__({k: v for k, v in fields.items() if k not in omitted})
        self.fields = fields


class TemplateError(ValueError):
    """A template that cannot be parsed or executed; the message is one line."""

    def __init__(self, message: str, exit_code: int = EXEC_EXIT_CODE) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.partial = ""  # what an execution wrote before it failed (`version` prints it)


class _CallError(Exception):
    """A template function's complaint, reported by the caller with its location."""


class _Missing:
    """A map key that is not there: Go prints `<no value>` and passes on nil."""

    def __repr__(self) -> str:
        return "<no value>"


_MISSING = _Missing()


class _Token(NamedTuple):
    kind: str  # variable, field, string, number, ident, bool, nil, or pipeline
    text: str  # as written, for error messages
    pos: int  # offset in the template, for Go's line:col
    value: Any  # field names, decoded string, number, function name, nested pipeline


@dataclass
class _Pipeline:
    commands: list[list[_Token]]
    decl: list[str] = field(default_factory=list)  # `$x :=` / `$i, $e :=`
    assign: bool = False  # `$x = ...`
    pos: int = 0
    text: str = ""


@dataclass
class _Action:
    pipeline: _Pipeline


@dataclass
class _Branch:
    keyword: str  # if, with or range
    pipeline: _Pipeline
    body: list[Any] = field(default_factory=list)
    otherwise: list[Any] = field(default_factory=list)


@dataclass
class _Jump:
    keyword: str  # break or continue


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


def render(template: str, data: Any, *, struct: str | None = None, name: str = "") -> str:
    """Execute `template` against JSON-like `data` as Go's text/template would.

    `struct` names the Go type Docker formats when `data` stands for a struct (a listing
    row: `*formatter.ContainerContext`): a missing field is then Go's "can't evaluate
    field" error, and a callable value is a method taking arguments (`{{.Label "k"}}`).
    `name` is the template's name in its errors (`docker version`'s is "version").
    """
    nodes = _Parser(template, name).parse()  # every parse error comes before any output
    out: list[str] = []
    try:
        _Exec(template, out, data, struct, name).run(nodes, data, [("$", data)])
    except TemplateError as exc:
        exc.partial = "".join(out)
        raise
    return "".join(out)


def check(template: str, name: str = "") -> None:
    """Parse only: raise the parse error Docker would, before anything runs."""
    _Parser(template, name).parse()


# Parsing


class _Parser:
    def __init__(self, src: str, name: str = "") -> None:
        self.src = src
        self.name = name
        self.scopes: list[set[str]] = [{"$"}]

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

    def tokens(self, pos: int, start: int) -> tuple[list[_Token], int, bool]:
        src, found = self.src, list[_Token]()
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

    def token(self, match: re.Match[str]) -> _Token:
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
        return _Token(kind, text, pos, value)

    def parse(self) -> list[Any]:
        items = self.actions()
        # A stack of (node list being filled, the branch that owns it or None, in range?).
        root: list[Any] = []
        stack: list[tuple[list[Any], _Branch | None, int]] = [(root, None, 0)]
        loops = 0
        for kind, value, start in items:
            target = stack[-1][0]
            if kind == "text":
                if value:
                    target.append(value)
                continue
            tokens: list[_Token] = value
            head = tokens[0] if tokens else None
            word = head.value if head is not None and head.kind == "ident" else ""
            if word in _UNSUPPORTED:
                raise self.error(head.pos if head else start, f"{{{{{word}}}}} is not supported")
            if word in ("if", "with", "range"):
                self.scopes.append(set())
                branch = _Branch(word, self.pipeline(tokens[1:], start, word, head))
                target.append(branch)
                loops += word == "range"
                stack.append((branch.body, branch, 0))
            elif word == "else":
                owner = stack[-1][1]
                if owner is None or stack[-1][0] is owner.otherwise:
                    if owner is None:
                        raise self.error(start, "unexpected {{else}}")
                    raise self.error(start, "expected end; found {{else}}")
                self.scopes[-1] = set()
                rest = tokens[1:]
                if rest and rest[0].kind == "ident" and rest[0].value in ("if", "with"):
                    if rest[0].value != owner.keyword:  # Go allows `else with` in with only
                        raise self.error(start, "expected end; found {{else}}")
                    inner = _Branch(owner.keyword, self.pipeline(rest[1:], start, owner.keyword))
                    owner.otherwise.append(inner)
                    stack[-1] = (owner.otherwise, owner, 0)
                    # The inner branch ends with the outer one's {{end}}: count it as nested.
                    stack.append((inner.body, inner, 1))
                    continue
                if rest:
                    raise self.error(start, f"unexpected {rest[0].text} in else")
                stack[-1] = (owner.otherwise, owner, stack[-1][2])
            elif word == "end":
                if len(tokens) > 1:
                    raise self.error(start, f"unexpected {tokens[1].text} in end")
                if len(stack) == 1:
                    raise self.error(start, "unexpected {{end}}")
                while True:
                    _, owner, chained = stack.pop()
                    self.scopes.pop()
                    if owner is not None and owner.keyword == "range":
                        loops -= 1
                    if not chained:
                        break
            elif word in ("break", "continue"):
                if not loops:
                    raise self.error(start, f"{{{{{word}}}}} outside {{{{range}}}}")
                if len(tokens) > 1:
                    raise self.error(start, f"unexpected {tokens[1].text} in {{{{{word}}}}}")
                target.append(_Jump(word))
            else:
                target.append(_Action(self.pipeline(tokens, start, "command")))
        if len(stack) > 1:
            raise self.error(len(self.src), "unexpected EOF")
        return root

    def pipeline(
        self, tokens: list[_Token], start: int, context: str, head: _Token | None = None
    ) -> _Pipeline:
        decl, assign = [], False
        if len(tokens) >= 2 and tokens[0].kind == "variable" and len(tokens[0].value) == 1:
            names = [tokens[0]]
            rest = tokens[1:]
            if rest[0].kind == "comma" and len(rest) >= 2 and rest[1].kind == "variable":
                names.append(rest[1])
                rest = rest[2:]
            if rest and rest[0].kind == "declare":
                if len(names) == 2 and context != "range":
                    raise self.error(start, f"too many declarations in {context}")
                decl, tokens = [n.text for n in names], rest[1:]
            elif rest and rest[0].kind == "assign" and len(names) == 1:
                self.variable(names[0])
                decl, assign, tokens = [names[0].text], True, rest[1:]
        if not tokens:
            raise self.error(start, f"missing value for {context}")
        pipe = _Pipeline(self.commands(tokens, start), pos=tokens[0].pos)
        pipe.decl, pipe.assign = decl, assign
        pipe.text = self.src[tokens[0].pos : tokens[-1].pos + len(tokens[-1].text)]
        if decl and not assign:
            self.scopes[-1].update(decl)
        return pipe

    def variable(self, token: _Token) -> None:
        name = token.value[0]
        if not any(name in scope for scope in self.scopes):
            raise self.error(token.pos, f'undefined variable "{name}"')

    def commands(self, tokens: list[_Token], start: int) -> list[list[_Token]]:
        commands: list[list[_Token]] = [[]]
        i = 0
        while i < len(tokens):
            token = tokens[i]
            if token.kind == "pipe":
                commands.append([])
            elif token.kind == "lparen":
                depth, j = 1, i + 1
                while j < len(tokens) and depth:
                    depth += {"lparen": 1, "rparen": -1}.get(tokens[j].kind, 0)
                    j += 1
                if depth:
                    raise self.error(token.pos, "unclosed left paren")
                inner = _Pipeline(self.commands(tokens[i + 1 : j - 1], start), pos=token.pos)
                inner.text = self.src[token.pos : tokens[j - 1].pos + 1]
                commands[-1].append(_Token("pipeline", inner.text, token.pos, inner))
                i = j
                continue
            elif token.kind == "rparen":
                raise self.error(token.pos, "unexpected right paren")
            elif token.kind in ("declare", "assign", "comma"):
                raise self.error(token.pos, f'unexpected "{token.text}" in command')
            else:
                if token.kind == "variable":
                    self.variable(token)
                if token.kind == "ident" and token.value in _CONTROL | _UNSUPPORTED:
                    raise self.error(token.pos, f"unexpected <{token.value}> in command")
                if token.kind == "ident" and token.value not in _FUNCTIONS:
                    raise self.error(token.pos, f'function "{token.value}" not defined')
                commands[-1].append(token)
            i += 1
        for stage, command in enumerate(commands):
            if not command:
                raise self.error(start, "missing value for command")
            first = command[0]
            method = first.kind == "field" and first.value[-1:] == ("Label",)  # ps's method
            called = len(command) > 1 or stage > 0
            if first.kind not in ("ident", "pipeline") and called and not method:
                raise self.error(first.pos, f"can't give argument to non-function {first.text}")
        return commands


# Execution


class _Exec:
    def __init__(
        self, src: str, out: list[str], root: Any, struct: str | None, name: str = ""
    ) -> None:
        self.src = src
        self.name = name
        self.out = out
        self.root = root
        self.struct = struct

    def run(self, nodes: list[Any], dot: Any, variables: list[tuple[str, Any]]) -> None:
        mark = len(variables)
        for node in nodes:
            if isinstance(node, str):
                self.out.append(node)
            elif isinstance(node, _Action):
                value = self.pipeline(node.pipeline, dot, variables)
                if not node.pipeline.decl:
                    self.out.append(_go_value(value))
            elif isinstance(node, _Branch):
                self.branch(node, dot, variables)
            else:
                raise _Break() if node.keyword == "break" else _Continue()
        del variables[mark:]

    def branch(self, node: _Branch, dot: Any, variables: list[tuple[str, Any]]) -> None:
        mark = len(variables)
        try:
            if node.keyword == "range":
                self.range(node, dot, variables)
                return
            value = self.pipeline(node.pipeline, dot, variables)
            if _truth(value):
                self.run(node.body, value if node.keyword == "with" else dot, variables)
            else:
                self.run(node.otherwise, dot, variables)
        finally:
            del variables[mark:]

    def range(self, node: _Branch, dot: Any, variables: list[tuple[str, Any]]) -> None:
        decl, node.pipeline.decl = node.pipeline.decl, []  # range binds them itself
        try:
            value = self.pipeline(node.pipeline, dot, variables)
        finally:
            node.pipeline.decl = decl
        if isinstance(value, dict):
            pairs: list[tuple[Any, Any]] = [(k, value[k]) for k in sorted(value)]
        elif isinstance(value, list | tuple):
            pairs = list(enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            pairs = [(i, i) for i in range(value)]
        elif value is None or value is _MISSING:
            pairs = []
        else:
            raise self.fail(node.pipeline.pos, node.pipeline.text,
                            f"range can't iterate over {_go_value(value)}")  # fmt: skip
        if not pairs:
            self.run(node.otherwise, dot, variables)
            return
        mark = len(variables)
        for key, element in pairs:
            if len(decl) == 1:
                variables.append((decl[0], element))
            elif len(decl) == 2:
                variables += [(decl[0], key), (decl[1], element)]
            try:
                self.run(node.body, element, variables)
            except _Break:
                break
            except _Continue:
                pass
            finally:
                del variables[mark:]

    def pipeline(self, pipe: _Pipeline, dot: Any, variables: list[tuple[str, Any]]) -> Any:
        value: Any = None
        for stage, command in enumerate(pipe.commands):
            head = command[0]
            if head.kind != "ident":
                if len(command) > 1 or stage > 0:  # a method: `{{.Label "k"}}`
                    value = self.method(command, dot, variables, value, stage > 0)
                    continue
                if head.kind == "nil":
                    raise self.fail(head.pos, "nil", "nil is not a command")
                value = self.value(head, dot, variables)
                continue
            value = self.call(command, dot, variables, value if stage > 0 else None, stage > 0)
        if pipe.decl:
            name = pipe.decl[-1]
            if pipe.assign:
                for i in range(len(variables) - 1, -1, -1):
                    if variables[i][0] == name:
                        variables[i] = (name, value)
                        break
            else:
                variables.append((name, value))
        return value

    def method(
        self,
        command: list[_Token],
        dot: Any,
        variables: list[tuple[str, Any]],
        piped: Any,
        has_piped: bool,
    ) -> Any:
        head = command[0]
        function = self.operand(head, dot, variables)
        if not callable(function):
            problem = f"can't give argument to non-function {head.text}"
            raise self.fail(head.pos, head.text, problem)
        args = [self.argument(token, dot, variables) for token in command[1:]]
        return function(*args, *([piped] if has_piped else []))

    def operand(self, token: _Token, dot: Any, variables: list[tuple[str, Any]]) -> Any:
        if token.kind == "field":
            return self.field(token, dot, token.value)
        if token.kind == "variable":
            name, *names = token.value
            value = next(v for n, v in reversed(variables) if n == name)
            return self.field(token, value, tuple(names)) if names else value
        if token.kind == "pipeline":
            return self.pipeline(token.value, dot, variables)
        return token.value

    def field(self, token: _Token, value: Any, names: tuple[str, ...]) -> Any:
        """Follow `.A.B.C` through maps, as Go does with Docker's `missingkey` rules."""
        if not names:
            return value
        # Go reports a chain at its second element, `{{.State.Foo}}` at 1:8.
        first = len(names[0]) + 1 if token.kind == "field" else len(token.value[0])
        pos = token.pos + first if len(token.value) > 1 + (token.kind == "variable") else token.pos
        if token.kind == "variable":
            pos = token.pos + first
        for name in names:
            if value is _MISSING:
                return _MISSING
            if isinstance(value, dict):
                fields = value.fields if isinstance(value, Struct) else value
                if name in fields:
                    value = _typed_nil(name, fields[name])
                    continue
                if value is self.root and self.struct:
                    problem = f"can't evaluate field {name} in type {self.struct}"
                elif not _struct_like(value):
                    value = _MISSING
                    continue
                else:
                    problem = f'map has no entry for key "{name}"'
            elif value is None:
                problem = f"nil pointer evaluating interface {{}}.{name}"
            else:
                problem = f"can't evaluate field {name} in type {_go_type(value)}"
            raise self.fail(pos, token.text, problem)
        return value

    def call(
        self,
        command: list[_Token],
        dot: Any,
        variables: list[tuple[str, Any]],
        piped: Any,
        has_piped: bool,
    ) -> Any:
        head = command[0]
        name = head.value
        if name in ("and", "or"):  # Go evaluates these lazily, left to right
            tokens = command[1:]
            if len(tokens) + has_piped < 1:
                raise self.arity(head, name, 1, True, 0)
            value: Any = None
            for i, token in enumerate(tokens):
                value = self.argument(token, dot, variables)
                if _truth(value) != (name == "and") or (i == len(tokens) - 1 and not has_piped):
                    return value
            return piped
        function, want, variadic = _FUNCTIONS[name]
        given = len(command) - 1 + has_piped  # Go counts them before it evaluates any
        if given < want or (given > want and not variadic):
            raise self.arity(head, name, want, variadic, given)
        args = [self.argument(token, dot, variables) for token in command[1:]]
        if has_piped:  # the previous stage's result is the last argument
            args.append(None if piped is _MISSING else piped)
        try:
            return function(*args)
        except _CallError as exc:
            node = " ".join(token.text for token in command)
            raise self.fail(head.pos, node, f"error calling {name}: {exc}") from None

    def arity(self, head: _Token, name: str, want: int, variadic: bool, got: int) -> TemplateError:
        wanted = f"at least {want}" if variadic else str(want)
        problem = f"wrong number of args for {name}: want {wanted} got {got}"
        return self.fail(head.pos, name, problem)

    def argument(self, token: _Token, dot: Any, variables: list[tuple[str, Any]]) -> Any:
        if token.kind == "ident":  # a function as an argument is called without arguments
            return self.call([token], dot, variables, None, False)
        value = self.value(token, dot, variables)
        return None if value is _MISSING else value  # Go hands a function nil for it

    def value(self, token: _Token, dot: Any, variables: list[tuple[str, Any]]) -> Any:
        """An operand used as a value: a method (`.Label`) is then called with no argument."""
        value = self.operand(token, dot, variables)
        if callable(value):
            name = token.text.rpartition(".")[2]
            raise self.fail(token.pos, token.text, f"wrong number of args for {name}: want 1 got 0")
        return value

    def fail(self, pos: int, node: str, problem: str) -> TemplateError:
        src = self.src
        line_start = src.rfind("\n", 0, pos) + 1
        line, column = src.count("\n", 0, pos) + 1, len(src[line_start:pos].encode())
        name = self.name
        return TemplateError(
            f'template: {name}:{line}:{column}: executing "{name}" at <{node}>: {problem}'
        )


def _typed_nil(name: str, value: Any) -> Any:
    """A null under a name Docker types as a slice or a map: Go's empty one of that type."""
    if value is None and name in _NIL_SLICES:
        return _NilSlice()
    if value is None and name in _NIL_MAPS:
        return _NilMap()
    return value


def _struct_like(value: dict[str, Any]) -> bool:
    """A map Docker types as a struct (a missing key is an error), not a string map."""
    return any(not isinstance(v, str) for v in value.values())


def _truth(value: Any) -> bool:
    if value is _MISSING or value is None:
        return False
    if isinstance(value, bool | int | float | str | list | tuple | dict):
        return bool(value)
    return True


# Functions: Go's builtins and Docker's.


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


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _CallError(f"wrong type for value; expected int; got {_go_type(value)}")
    return value


def _println(*args: Any) -> str:
    return " ".join(_go_value(arg) for arg in args) + "\n"


def _print(*args: Any) -> str:
    """Go's fmt.Sprint: a space between operands when neither is a string."""
    out = ""
    for i, arg in enumerate(args):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out += " "
        out += _go_value(arg)
    return out


def _title(value: Any) -> str:
    """Go's strings.Title: upper-case each letter that follows a separator."""
    out, previous = [], " "
    for ch in _string(value):
        separator = not (previous.isalnum() or previous == "_")
        out.append(ch.upper() if separator else ch)
        previous = ch
    return "".join(out)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    return "invalid" if value is None else "other"


def _eq(first: Any, *others: Any) -> bool:
    if not others:
        raise _CallError("missing argument for comparison")
    for other in others:
        k1, k2 = _kind(first), _kind(other)
        if k1 != k2:
            if k1 == "invalid" or k2 == "invalid":
                continue  # nil equals nothing but does not fail
            raise _CallError("incompatible types for comparison")
        if k1 == "other":
            raise _CallError("invalid type for comparison")
        if first == other:
            return True
    return False


def _less(first: Any, second: Any) -> bool:
    k1, k2 = _kind(first), _kind(second)
    if k1 in ("bool", "other", "invalid") or k2 in ("bool", "other", "invalid"):
        if k1 != k2 and "invalid" not in (k1, k2) and "other" not in (k1, k2):
            raise _CallError("incompatible types for comparison")
        raise _CallError("invalid type for comparison")
    if k1 != k2:
        raise _CallError("incompatible types for comparison")
    return bool(first < second)


def _printf(fmt: Any, *args: Any) -> str:
    return go_sprintf(_string(fmt), args)


_VERB = re.compile(r"%([-+# 0]*)(\*|\d+)?(?:\.(\*|\d*))?([a-zA-Z%])")


def go_sprintf(fmt: str, args: tuple[Any, ...]) -> str:
    """Go's fmt.Sprintf for the verbs templates use: v s q d x X o b c e E f F g G t T %."""
    out, used, pos = [], 0, 0
    for match in _VERB.finditer(fmt):
        out.append(fmt[pos : match.start()])
        pos = match.end()
        flags, width, precision, verb = match.groups()
        if verb == "%":
            out.append("%")
            continue
        if used >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[used]
        used += 1
        out.append(_format_one(arg, flags, width, precision, verb))
    out.append(fmt[pos:])
    if used < len(args):
        extra = ", ".join(f"{_go_type_name(a)}={_go_value(a)}" for a in args[used:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _go_type_name(value: Any) -> str:
    return {"nil": "<nil>"}.get(_go_type(value), _go_type(value))


def _format_one(arg: Any, flags: str, width: str | None, precision: str | None, verb: str) -> str:
    kind = _kind(arg)
    bad = False
    if verb == "v":
        text = _go_value(arg)
    elif verb == "T":
        text = _go_type_name(arg)
    elif verb == "s":
        if kind == "string":
            text = arg
        elif isinstance(arg, list | tuple):
            text = "[" + " ".join(_format_one(a, "", None, None, "s") for a in arg) + "]"
        else:
            bad = True
    elif verb == "q":
        if kind == "string":
            text = json.dumps(arg, ensure_ascii=False)
        elif isinstance(arg, list | tuple):
            text = "[" + " ".join(_format_one(a, "", None, None, "q") for a in arg) + "]"
        else:
            bad = True
    elif verb == "t":
        bad = kind != "bool"
        text = "true" if arg is True else "false"
    elif verb in "dxXobc" and kind == "int":
        spec = {"d": "d", "x": "x", "X": "X", "o": "o", "b": "b"}.get(verb)
        text = chr(arg) if verb == "c" else format(arg, spec or "d")
        if verb == "d" and "+" in flags and arg >= 0:
            text = "+" + text
    elif verb in "xX" and kind == "string":
        text = arg.encode().hex()
        text = text.upper() if verb == "X" else text
    elif verb in "eEfFgG" and kind in ("float", "int"):
        value = float(arg)
        if verb in "gG" and precision is None:
            text = _go_float(value, json_style=False)
        else:
            digits = 6 if precision in (None, "") else int(precision)
            text = format(value, f".{digits}{verb}")
    else:
        bad = True
    if bad:
        return f"%!{verb}({_go_type_name(arg)}={_go_value(arg)})"
    if precision not in (None, "") and verb in "sq" and kind == "string":
        text = text[: int(precision)]
    if width and width != "*":
        size = int(width)
        if "-" in flags:
            text = text.ljust(size)
        elif "0" in flags and verb in "dxXobeEfFgG":
            sign = text[0] if text[:1] in "+-" else ""
            text = sign + text[len(sign) :].rjust(size - len(sign), "0")
        else:
            text = text.rjust(size)
    return text


def _pad(value: Any, before: Any, after: Any) -> str:
    return " " * _int(before) + _string(value) + " " * _int(after)


def _html(*args: Any) -> str:
    """Go's `html`: HTMLEscapeString of the arguments printed as `print` does."""
    text = _print(*args).replace("\0", "\ufffd")
    for plain, escaped in (("&", "&amp;"), ("'", "&#39;"), ("<", "&lt;"), (">", "&gt;"),
                           ('"', "&#34;")):  # fmt: skip
        text = text.replace(plain, escaped)
    return text


def _js(*args: Any) -> str:
    """Go's `js`: JSEscapeString (quotes and backslash escaped, `<>&=` and controls as \\uXXXX)."""
    out = []
    for ch in _print(*args):
        if ch in "\\'\"":
            out.append("\\" + ch)
        elif ch in "<>&=" or ord(ch) < 0x20 or not ch.isprintable():
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)


def _urlquery(*args: Any) -> str:
    from urllib.parse import quote_plus  # Go's url.QueryEscape

    return quote_plus(_print(*args), safe="-_.~")


def _slice(item: Any, *indexes: Any) -> Any:
    """Go's `slice x 1 2`: x[1:2] of a string or a list (a third index: the capacity)."""
    if not isinstance(item, str | list):
        raise _CallError(f"can't slice item of type {_go_type(item)}")
    if len(indexes) > 3 or (isinstance(item, str) and len(indexes) > 2):
        raise _CallError(f"too many slice indexes: {len(indexes)}")
    bounds = [_int(i) for i in indexes]
    for bound in bounds:
        if not 0 <= bound <= len(item):
            raise _CallError(f"index out of range: {bound}")
    if len(bounds) >= 2 and bounds[0] > bounds[1]:
        raise _CallError(f"invalid slice index: {bounds[0]} > {bounds[1]}")
    start = bounds[0] if bounds else 0
    end = bounds[1] if len(bounds) >= 2 else len(item)
    return item[start:end]


def _truncate(value: Any, length: Any) -> str:
    text, size = _string(value), _int(length)
    return text if len(text) < size else text[:size]


def _split(value: Any, separator: Any) -> list[str]:
    text, sep = _string(value), _string(separator)
    return list(text) if sep == "" else text.split(sep)


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
    if isinstance(value, Struct):  # Go's `{a b}`: every field, in order
        return "{" + " ".join(_go_value(_typed_nil(k, v)) for k, v in value.fields.items()) + "}"
    if isinstance(value, dict):
        keys = sorted((k for k in value if not callable(value[k])), key=str)  # no methods
        pairs = (f"{k}:{_go_value(value[k])}" for k in keys)
        return "map[" + " ".join(pairs) + "]"
    return str(value)


def _go_json(value: Any) -> str:
    """Go's json encoding without HTML escaping, as Docker's `json` function does it; a
    `Context` is its own MarshalJSON's bytes (json.Marshal: escaped, keys sorted)."""
    if isinstance(value, Context):
        fields = {k: value[k] for k in sorted(value) if not callable(value[k])}
        return _html_escape(_go_json(fields))
    if isinstance(value, _NilSlice | _NilMap):
        return "null"
    if isinstance(value, dict):
        keys = sorted(value, key=str) if _go_map(value) else list(value)
        pairs = (f"{_go_json(str(k))}:{_go_json(value[k])}" for k in keys)
        return "{" + ",".join(pairs) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_go_json(v) for v in value) + "]"
    if isinstance(value, float):
        return _go_float(value, json_style=True)
    text = json.dumps(value, ensure_ascii=False)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")  # as Go does


def _go_map(value: dict[str, Any]) -> bool:
    """A dict Docker types as a Go map (Labels, ExposedPorts: json sorts its keys), not a
    struct (its fields keep their order): all strings, or all empty sets (`{"80/tcp":{}}`)."""
    return not _struct_like(value) or all(v == {} for v in value.values())


def _html_escape(text: str) -> str:
    """json.Marshal's HTMLEscape: `<`, `>`, `&` can only be inside strings of JSON text."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


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
    use_exp = exp < low or exp >= high
    if use_exp:
        text = digits[0] + ("." + digits[1:] if digits[1:] else "")
        text += f"e{exp:+d}" if json_style else f"e{exp:+03d}"  # json writes e-7, %v e-07
    elif point <= 0:
        text = "0." + "0" * -point + digits
    else:
        text = digits[:point].ljust(point, "0") + ("." + digits[point:] if digits[point:] else "")
    return ("-" if value < 0 else "") + text


_FUNCTIONS: dict[str, tuple[Callable[..., Any], int, bool]] = {
    "and": (lambda *a: a[-1], 1, True),  # evaluated lazily by the executor
    "or": (lambda *a: a[-1], 1, True),
    "not": (lambda value: not _truth(value), 1, False),
    "eq": (_eq, 1, True),
    "ne": (lambda a, b: not _eq(a, b), 2, False),
    "lt": (_less, 2, False),
    "le": (lambda a, b: _less(a, b) or _eq(a, b), 2, False),
    "gt": (lambda a, b: not (_less(a, b) or _eq(a, b)), 2, False),
    "ge": (lambda a, b: not _less(a, b), 2, False),
    "index": (_index, 1, True),
    "len": (_length, 1, False),
    "print": (_print, 0, True),
    "printf": (_printf, 1, True),
    "println": (_println, 0, True),
    "json": (_go_json, 1, False),
    "join": (_join, 2, False),
    "split": (_split, 2, False),
    "title": (_title, 1, False),
    "lower": (lambda value: _string(value).lower(), 1, False),
    "upper": (lambda value: _string(value).upper(), 1, False),
    "pad": (_pad, 3, False),
    "truncate": (_truncate, 2, False),
    "html": (_html, 0, True),
    "js": (_js, 0, True),
    "urlquery": (_urlquery, 0, True),
    "slice": (_slice, 1, True),
}
