"""Go's exec.go: the tree run against the data, with Go's rules for fields, variables,
pipelines and calls, and its execution errors' line:column and node."""

from __future__ import annotations

from typing import Any

from layerlab.presentation.gotemplate.funcs import FUNCTIONS, truth
from layerlab.presentation.gotemplate.lex import Token
from layerlab.presentation.gotemplate.parse import Action, Branch, Pipeline
from layerlab.presentation.gotemplate.values import (
    MISSING,
    CallError,
    Struct,
    TemplateError,
    go_type,
    go_value,
    struct_like,
    typed_nil,
)


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class Exec:
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
            elif isinstance(node, Action):
                value = self.pipeline(node.pipeline, dot, variables)
                if not node.pipeline.decl:
                    self.out.append(go_value(value))
            elif isinstance(node, Branch):
                self.branch(node, dot, variables)
            else:
                raise _Break() if node.keyword == "break" else _Continue()
        del variables[mark:]

    def branch(self, node: Branch, dot: Any, variables: list[tuple[str, Any]]) -> None:
        mark = len(variables)
        try:
            if node.keyword == "range":
                self.range(node, dot, variables)
                return
            value = self.pipeline(node.pipeline, dot, variables)
            if truth(value):
                self.run(node.body, value if node.keyword == "with" else dot, variables)
            else:
                self.run(node.otherwise, dot, variables)
        finally:
            del variables[mark:]

    def range(self, node: Branch, dot: Any, variables: list[tuple[str, Any]]) -> None:
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
        elif value is None or value is MISSING:
            pairs = []
        else:
            raise self.fail(node.pipeline.pos, node.pipeline.text,
                            f"range can't iterate over {go_value(value)}")  # fmt: skip
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

    def pipeline(self, pipe: Pipeline, dot: Any, variables: list[tuple[str, Any]]) -> Any:
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
        command: list[Token],
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

    def operand(self, token: Token, dot: Any, variables: list[tuple[str, Any]]) -> Any:
        if token.kind == "field":
            return self.field(token, dot, token.value)
        if token.kind == "variable":
            name, *names = token.value
            value = next(v for n, v in reversed(variables) if n == name)
            return self.field(token, value, tuple(names)) if names else value
        if token.kind == "pipeline":
            return self.pipeline(token.value, dot, variables)
        return token.value

    def field(self, token: Token, value: Any, names: tuple[str, ...]) -> Any:
        """Follow `.A.B.C` through maps, as Go does with Docker's `missingkey` rules."""
        if not names:
            return value
        # Go reports a chain at its second element, `{{.State.Foo}}` at 1:8.
        first = len(names[0]) + 1 if token.kind == "field" else len(token.value[0])
        pos = token.pos + first if len(token.value) > 1 + (token.kind == "variable") else token.pos
        if token.kind == "variable":
            pos = token.pos + first
        for name in names:
            if value is MISSING:
                return MISSING
            if isinstance(value, dict):
                fields = value.fields if isinstance(value, Struct) else value
                if name in fields:
                    value = typed_nil(name, fields[name])
                    continue
                if value is self.root and self.struct:
                    problem = f"can't evaluate field {name} in type {self.struct}"
                elif not struct_like(value):
                    value = MISSING
                    continue
                else:
                    problem = f'map has no entry for key "{name}"'
            elif value is None:
                problem = f"nil pointer evaluating interface {{}}.{name}"
            else:
                problem = f"can't evaluate field {name} in type {go_type(value)}"
            raise self.fail(pos, token.text, problem)
        return value

    def call(
        self,
        command: list[Token],
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
                if truth(value) != (name == "and") or (i == len(tokens) - 1 and not has_piped):
                    return value
            return piped
        function, want, variadic = FUNCTIONS[name]
        given = len(command) - 1 + has_piped  # Go counts them before it evaluates any
        if given < want or (given > want and not variadic):
            raise self.arity(head, name, want, variadic, given)
        args = [self.argument(token, dot, variables) for token in command[1:]]
        if has_piped:  # the previous stage's result is the last argument
            args.append(None if piped is MISSING else piped)
        try:
            return function(*args)
        except CallError as exc:
            node = " ".join(token.text for token in command)
            raise self.fail(head.pos, node, f"error calling {name}: {exc}") from None

    def arity(self, head: Token, name: str, want: int, variadic: bool, got: int) -> TemplateError:
        wanted = f"at least {want}" if variadic else str(want)
        problem = f"wrong number of args for {name}: want {wanted} got {got}"
        return self.fail(head.pos, name, problem)

    def argument(self, token: Token, dot: Any, variables: list[tuple[str, Any]]) -> Any:
        if token.kind == "ident":  # a function as an argument is called without arguments
            return self.call([token], dot, variables, None, False)
        value = self.value(token, dot, variables)
        return None if value is MISSING else value  # Go hands a function nil for it

    def value(self, token: Token, dot: Any, variables: list[tuple[str, Any]]) -> Any:
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
