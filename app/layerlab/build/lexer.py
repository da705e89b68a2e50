"""Docker's shell lexer (buildkit's shell.Lex) and Go's string quoting, written out.

Which values a build sees is decided by the exact rules of word expansion
($VAR, ${VAR:-x}, quotes, the escape token), and what `history` shows by how
Go prints a []string; both are small enough to write out and too subtle to
approximate with shlex or repr.
"""

from __future__ import annotations

from layerlab.errors import BuildError


class Lexer:
    """Docker's word processing (buildkit's shell.Lex) for the instructions that expand."""

    def __init__(self, escape: str = "\\") -> None:
        self.escape = escape

    def word(self, text: str, env: dict[str, str]) -> str:
        return _Scan(text, env, self.escape).process()[0]

    def words(self, text: str, env: dict[str, str]) -> list[str]:
        return _Scan(text, env, self.escape).process()[1]


class _Scan:
    def __init__(self, text: str, env: dict[str, str], escape: str) -> None:
        self.text, self.env, self.escape, self.pos = text, env, escape, 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next(self) -> str:
        ch = self.peek()
        self.pos += 1 if ch else 0
        return ch

    def process(self, stop: str = "") -> tuple[str, list[str]]:
        result: list[str] = []
        words: list[str] = []
        word: list[str] = []
        in_word = False

        def add(text: str, raw: bool) -> None:
            nonlocal in_word
            for ch in text:
                if not raw and ch.isspace():
                    if in_word:
                        words.append("".join(word))
                        word.clear()
                        in_word = False
                else:
                    word.append(ch)
                    in_word = True
            if raw:
                in_word = True

        while self.peek():
            ch = self.peek()
            if stop and ch == stop:
                self.next()
                return "".join(result), words + (["".join(word)] if in_word else [])
            if ch == "'":
                text = self.single_quote()
                add(text, raw=True)
            elif ch == '"':
                text = self.double_quote()
                add(text, raw=True)
            elif ch == "$":
                text = self.dollar()
                add(text, raw=False)
            else:
                self.next()
                if ch == self.escape:
                    ch = self.next()
                    if not ch:
                        break
                    add(ch, raw=True)
                else:
                    add(ch, raw=False)
                text = ch
            result.append(text)
        if stop:
            raise BuildError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words + (["".join(word)] if in_word else [])

    def single_quote(self) -> str:
        self.next()
        out: list[str] = []
        while True:
            ch = self.next()
            if not ch:
                raise BuildError(
                    "unexpected end of statement while looking for matching single-quote"
                )
            if ch == "'":
                return "".join(out)
            out.append(ch)

    def double_quote(self) -> str:
        self.next()
        out: list[str] = []
        while True:
            ch = self.peek()
            if not ch:
                raise BuildError(
                    "unexpected end of statement while looking for matching double-quote"
                )
            if ch == '"':
                self.next()
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            self.next()
            if ch == self.escape:
                following = self.peek()
                if not following:
                    continue
                if following in ('"', "$", self.escape):
                    ch = self.next()
            out.append(ch)

    def name(self) -> str:
        out: list[str] = []
        while self.peek():
            ch = self.peek()
            if not out and ch.isdigit():
                while self.peek().isdigit():
                    out.append(self.next())
                return "".join(out)
            if not out and ch in "@*#?-$!":
                return self.next()
            if not (ch.isalnum() or ch == "_"):
                break
            out.append(self.next())
        return "".join(out)

    def dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self.name()
            return self.env.get(name, "") if name else "$"
        self.next()
        if not self.peek():
            raise BuildError("syntax error: missing '}'")
        if self.peek() in "{}:":
            raise BuildError("syntax error: bad substitution")
        name = self.name()
        ch = self.next()
        if ch == "}":
            return self.env.get(name, "")
        if ch == ":":
            modifier = self.next()
            word, _ = self.process(stop="}")
            value = self.env.get(name, "")
            if modifier == "+":
                return word if value else ""
            if modifier == "-":
                return value or word
            if modifier == "?":
                if name not in self.env:
                    raise BuildError(f"{name}: {word or 'is not allowed to be unset'}")
                return value
            raise BuildError(f"unsupported modifier ({modifier}) in substitution")
        if not ch:
            raise BuildError("syntax error: missing '}'")
        raise BuildError("missing ':' in substitution")


# --- Go's %q and %v, for the history lines Docker writes -------------------------------------


def go_quote(text: str) -> str:
    """Go's %q for a string: Docker writes CMD/ENTRYPOINT history with it."""
    out = ['"']
    escapes = {'"': '\\"', "\\": "\\\\", "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n",
               "\r": "\\r", "\t": "\\t", "\v": "\\v"}  # fmt: skip
    for ch in text:
        if ch in escapes:
            out.append(escapes[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        elif not ch.isprintable():
            out.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
        else:
            out.append(ch)
    return "".join(out) + '"'


def go_list(items: list[str] | None, quoted: bool) -> str:
    """Go's %q / %v of a []string: `["sh" "-c"]` / `[/data /logs]`."""
    return "[" + " ".join(go_quote(i) if quoted else i for i in items or []) + "]"
