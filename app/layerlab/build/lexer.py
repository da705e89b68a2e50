"""Docker's shell lexer (buildkit's shell.Lex) and Go's string quoting, written out.

Which values a build sees is decided by the exact rules of word expansion
($VAR, ${VAR:-x}, quotes, the escape token), and what `history` shows by how
Go prints a []string; both are small enough to write out and too subtle to
approximate with shlex or repr.

Dockerfiles are untrusted, so the scan is linear in its input: runs of plain
text are taken by one regular-expression match, never a character at a time
into a growing string, and `${a:-${b:-...}}` may nest only MAX_NESTING deep
(Docker's Go lexer has no limit; ours would otherwise hit Python's recursion
limit).
"""

from __future__ import annotations

import re

from layerlab.errors import BuildError

MAX_NESTING = 100  # levels of ${VAR:-${...}} inside one another
_SPACE = re.compile(r"\s+")
_NAME = re.compile(r"\d+|[@*#?\-$!]|\w*")
_PLAIN: dict[tuple[str, str], re.Pattern[str]] = {}
_QUOTED: dict[str, re.Pattern[str]] = {}


def _plain(escape: str, stop: str) -> re.Pattern[str]:
    """A run of characters with no meaning to the lexer: no quote, `$`, escape, blank or stop."""
    key = (escape, stop)
    if key not in _PLAIN:
        _PLAIN[key] = re.compile(r"[^\s'\"$" + re.escape(escape + stop) + "]+")
    return _PLAIN[key]


def _quoted(escape: str) -> re.Pattern[str]:
    """A run inside double quotes that holds no `"`, `$` or escape."""
    if escape not in _QUOTED:
        _QUOTED[escape] = re.compile(r"[^\"$" + re.escape(escape) + "]+")
    return _QUOTED[escape]


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
        self.depth = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next(self) -> str:
        ch = self.peek()
        self.pos += 1 if ch else 0
        return ch

    def process(self, stop: str = "") -> tuple[str, list[str]]:
        """(the word, the words it splits into): both built in one pass, in linear time."""
        text, escape = self.text, self.escape
        plain = _plain(escape, stop)
        result: list[str] = []
        words: list[str] = []
        word: list[str] = []
        in_word = False

        def add_split(value: str) -> None:
            """An unquoted expansion: its blanks end words, as the shell splits fields."""
            nonlocal in_word
            pieces = _SPACE.split(value)
            for index, piece in enumerate(pieces):
                if index and in_word:
                    words.append("".join(word))
                    word.clear()
                    in_word = False
                if piece:
                    word.append(piece)
                    in_word = True

        while self.pos < len(text):
            match = plain.match(text, self.pos)
            if match:
                chunk = match.group()
                self.pos = match.end()
                result.append(chunk)
                word.append(chunk)
                in_word = True
                continue
            ch = text[self.pos]
            if stop and ch == stop:
                self.pos += 1
                return "".join(result), words + (["".join(word)] if in_word else [])
            if ch == "'":
                chunk = self.single_quote()
                word.append(chunk)
                in_word = True
            elif ch == '"':
                chunk = self.double_quote()
                word.append(chunk)
                in_word = True
            elif ch == "$":
                chunk = self.dollar()
                add_split(chunk)
            elif ch == escape:
                self.pos += 1
                chunk = self.next()
                if not chunk:
                    break
                word.append(chunk)
                in_word = True
            else:  # a blank
                self.pos += 1
                chunk = ch
                if in_word:
                    words.append("".join(word))
                    word.clear()
                    in_word = False
            result.append(chunk)
        if stop:
            raise BuildError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words + (["".join(word)] if in_word else [])

    def single_quote(self) -> str:
        start = self.pos + 1
        end = self.text.find("'", start)
        if end < 0:
            raise BuildError("unexpected end of statement while looking for matching single-quote")
        self.pos = end + 1
        return self.text[start:end]

    def double_quote(self) -> str:
        self.next()
        text, escape = self.text, self.escape
        quoted = _quoted(escape)
        out: list[str] = []
        while True:
            match = quoted.match(text, self.pos)
            if match:
                out.append(match.group())
                self.pos = match.end()
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
            self.next()  # the escape token
            following = self.peek()
            if not following:
                continue
            if following in ('"', "$", escape):
                ch = self.next()
            out.append(ch)

    def name(self) -> str:
        match = _NAME.match(self.text, self.pos)
        assert match is not None  # `\w*` matches the empty string
        self.pos = match.end()
        return match.group()

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
            if self.depth >= MAX_NESTING:
                raise BuildError(
                    f"syntax error: substitutions nested more than {MAX_NESTING} levels deep"
                )
            self.depth += 1
            word, _ = self.process(stop="}")
            self.depth -= 1
            value = self.env.get(name, "")
            if modifier == "+":
                return word if value else ""
            if modifier == "-":
                return value or word
            if modifier == "?":
                if name not in self.env:
                    raise BuildError(f"{name}: {clip(word) or 'is not allowed to be unset'}")
                return value
            raise BuildError(f"unsupported modifier ({clip(modifier)}) in substitution")
        if not ch:
            raise BuildError("syntax error: missing '}'")
        raise BuildError("missing ':' in substitution")


def clip(text: str, limit: int = 60) -> str:
    """At most a short prefix of untrusted text, for an error message: one line, never a book."""
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "..."


# --- Docker's parseWords: the words of ENV, LABEL and ARG, before expansion -------------


_WORD_RUNS: dict[str, tuple[re.Pattern[str], re.Pattern[str]]] = {}


def _word_runs(escape: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Runs with nothing special in them: outside quotes, and inside double quotes."""
    if escape not in _WORD_RUNS:
        esc = re.escape(escape)
        _WORD_RUNS[escape] = (re.compile(r"[^\s'\"" + esc + "]+"), re.compile(r'[^"' + esc + "]+"))
    return _WORD_RUNS[escape]


def parse_words(rest: str, escape: str) -> list[str]:
    """Docker's parseWords: split on blanks outside quotes; quotes and escapes stay in.

    Linear: plain runs are taken by one match each and a word is joined once.
    """
    plain, in_double = _word_runs(escape)
    words: list[str] = []
    word: list[str] = []
    quote = ""
    in_word = blank_ok = False
    i, end = 0, len(rest)
    while i < end:
        if quote:
            if quote == '"':
                match = in_double.match(rest, i)
            else:
                stop = rest.find("'", i)
                match = None
                if stop != i:
                    stop = end if stop < 0 else stop
                    word.append(rest[i:stop])
                    i = stop
                    continue
            if match:
                word.append(match.group())
                i = match.end()
                continue
            ch = rest[i]
            if ch == quote:
                quote = ""
            elif ch == escape and quote != "'":
                if i + 1 == end:  # an escape at the very end is dropped
                    i += 1
                    continue
                word.append(ch)
                i += 1
                ch = rest[i]
            word.append(ch)
            i += 1
            continue
        match = plain.match(rest, i)
        if match:
            word.append(match.group())
            in_word = True
            i = match.end()
            continue
        ch = rest[i]
        if ch.isspace():
            if in_word and (blank_ok or word):
                words.append("".join(word))
            word, in_word, blank_ok = [], False, False
        else:
            in_word = True
            if ch in "'\"":
                quote, blank_ok = ch, True
            elif ch == escape:
                if i + 1 == end:
                    break
                word.append(ch)
                i += 1
                ch = rest[i]
            word.append(ch)
        i += 1
    if in_word and (blank_ok or word):
        words.append("".join(word))
    return words


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


def go_quote_rune(value: int) -> str:
    """Go's %q for an integer: a quoted rune literal (`'\\x03'` for 3, `'A'` for 65)."""
    escapes = {7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r",
               0x27: "\\'", 0x5C: "\\\\"}  # fmt: skip
    if value in escapes:
        return f"'{escapes[value]}'"
    if not 0 <= value <= 0x10FFFF or 0xD800 <= value <= 0xDFFF:
        return "'\ufffd'"
    ch = chr(value)
    if value < 0x20 or value == 0x7F:
        return f"'\\x{value:02x}'"
    if ch.isprintable():
        return f"'{ch}'"
    return f"'\\u{value:04x}'" if value <= 0xFFFF else f"'\\U{value:08x}'"


def go_list(items: list[str] | None, quoted: bool) -> str:
    """Go's %q / %v of a []string: `["sh" "-c"]` / `[/data /logs]`."""
    return "[" + " ".join(go_quote(i) if quoted else i for i in items or []) + "]"
