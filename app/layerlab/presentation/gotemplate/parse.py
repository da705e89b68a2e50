"""Go's parse/parse.go: the tree of actions, branches (`if`, `with`, `range`, each with
its `else`) and jumps, checked as Go checks it before anything runs (variables in scope,
functions defined, `{{break}}` inside a range)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from layerlab.presentation.gotemplate.funcs import FUNCTIONS
from layerlab.presentation.gotemplate.lex import Lexer, Token
from layerlab.presentation.gotemplate.values import TemplateError

_CONTROL = frozenset("if else end range with break continue".split())
_UNSUPPORTED = frozenset("define template block".split())


@dataclass
class Pipeline:
    commands: list[list[Token]]
    decl: list[str] = field(default_factory=list)  # `$x :=` / `$i, $e :=`
    assign: bool = False  # `$x = ...`
    pos: int = 0
    text: str = ""


@dataclass
class Action:
    pipeline: Pipeline


@dataclass
class Branch:
    keyword: str  # if, with or range
    pipeline: Pipeline
    body: list[Any] = field(default_factory=list)
    otherwise: list[Any] = field(default_factory=list)


@dataclass
class Jump:
    keyword: str  # break or continue


class Parser:
    """The tree of one template, read from its lexer's items (`parse`)."""

    def __init__(self, src: str, name: str = "") -> None:
        self.src = src
        self.lexer = Lexer(src, name)
        self.scopes: list[set[str]] = [{"$"}]

    def error(self, pos: int, message: str) -> TemplateError:
        return self.lexer.error(pos, message)

    def parse(self) -> list[Any]:
        items = self.lexer.actions()
        # A stack of (node list being filled, the branch that owns it or None, in range?).
        root: list[Any] = []
        stack: list[tuple[list[Any], Branch | None, int]] = [(root, None, 0)]
        loops = 0
        for kind, value, start in items:
            target = stack[-1][0]
            if kind == "text":
                if value:
                    target.append(value)
                continue
            tokens: list[Token] = value
            head = tokens[0] if tokens else None
            word = head.value if head is not None and head.kind == "ident" else ""
            if word in _UNSUPPORTED:
                raise self.error(head.pos if head else start, f"{{{{{word}}}}} is not supported")
            if word in ("if", "with", "range"):
                self.scopes.append(set())
                branch = Branch(word, self.pipeline(tokens[1:], start, word, head))
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
                    inner = Branch(owner.keyword, self.pipeline(rest[1:], start, owner.keyword))
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
                target.append(Jump(word))
            else:
                target.append(Action(self.pipeline(tokens, start, "command")))
        if len(stack) > 1:
            raise self.error(len(self.src), "unexpected EOF")
        return root

    def pipeline(
        self, tokens: list[Token], start: int, context: str, head: Token | None = None
    ) -> Pipeline:
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
        pipe = Pipeline(self.commands(tokens, start), pos=tokens[0].pos)
        pipe.decl, pipe.assign = decl, assign
        pipe.text = self.src[tokens[0].pos : tokens[-1].pos + len(tokens[-1].text)]
        if decl and not assign:
            self.scopes[-1].update(decl)
        return pipe

    def variable(self, token: Token) -> None:
        name = token.value[0]
        if not any(name in scope for scope in self.scopes):
            raise self.error(token.pos, f'undefined variable "{name}"')

    def commands(self, tokens: list[Token], start: int) -> list[list[Token]]:
        commands: list[list[Token]] = [[]]
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
                inner = Pipeline(self.commands(tokens[i + 1 : j - 1], start), pos=token.pos)
                inner.text = self.src[token.pos : tokens[j - 1].pos + 1]
                commands[-1].append(Token("pipeline", inner.text, token.pos, inner))
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
                if token.kind == "ident" and token.value not in FUNCTIONS:
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
