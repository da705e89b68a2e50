"""Go's text/template, as Docker's `--format` flags use it.

Docker formats output with Go templates, and scripts depend on the exact bytes, so this
follows Go: literal text, `{{.}}`, field paths, variables (`$`, `$x := ...`, `$x = ...`),
pipelines (`|`) and parenthesised ones, `{{if}}`/`{{else if}}`/`{{else}}`, `{{with}}`,
`{{range}}` (with `$i, $e :=`, `{{else}}`, `{{break}}`, `{{continue}}`), `{{-`/`-}}`
trimming; Go's builtins (`and or not eq ne lt le gt ge index len slice print printf
println html js urlquery`) and Docker's (`json join split title lower upper pad truncate`).
Errors are worded like Go's: parse errors `template: NAME:LINE: ...` (`inspect` exits 64),
execution errors `template: NAME:LINE:COL: executing "NAME" at <NODE>: ...` (exit 1);
each command puts its own words before them (`listing`, `commands.handlers`).

Split as Go splits text/template: `lex` (text and actions, then tokens), `parse` (the
tree), `exec` (running it against the data), `funcs` (the builtins and Docker's), and
`values` (the data's Go types: how Go prints them, and the errors).

The data is JSON-like (dicts, lists, str, int, float, bool, None). Go's data is typed,
so two of its rules are approximated from the shape: a missing key is an error in a
struct-like map (one holding a non-string value; Docker: `map has no entry for key`) and
`<no value>` in a string map (labels); a null under a name Docker types as a slice or a
map prints `[]` or `map[]`.
"""

from __future__ import annotations

from typing import Any

from layerlab.presentation.gotemplate.exec import Exec
from layerlab.presentation.gotemplate.parse import Parser
from layerlab.presentation.gotemplate.values import (
    EXEC_EXIT_CODE,
    PARSE_EXIT_CODE,
    Context,
    Marshaled,
    Struct,
    TemplateError,
)

__all__ = [
    "EXEC_EXIT_CODE",
    "PARSE_EXIT_CODE",
    "Context",
    "Marshaled",
    "Struct",
    "TemplateError",
    "check",
    "render",
]


def render(template: str, data: Any, *, struct: str | None = None, name: str = "") -> str:
    """Execute `template` against JSON-like `data` as Go's text/template would.

    `struct` names the Go type Docker formats when `data` stands for a struct (a listing
    row: `*formatter.ContainerContext`): a missing field is then Go's "can't evaluate
    field" error, and a callable value is a method taking arguments (`{{.Label "k"}}`).
    `name` is the template's name in its errors (`docker version`'s is "version").
    """
    nodes = Parser(template, name).parse()  # every parse error comes before any output
    out: list[str] = []
    try:
        Exec(template, out, data, struct, name).run(nodes, data, [("$", data)])
    except TemplateError as exc:
        exc.partial = "".join(out)
        raise
    return "".join(out)


def check(template: str, name: str = "") -> None:
    """Parse only: raise the parse error Docker would, before anything runs."""
    Parser(template, name).parse()
