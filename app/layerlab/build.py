"""`build`: a Dockerfile becomes layers - Docker's legacy builder loop, made real.

"docker build repeatedly executes commands from a Dockerfile: it runs,
modifies, and commits, creating a new layer at each step." Here each step
works on the image the previous step left behind:

- RUN creates a container from it, starts it attached (its output streams into
  the build output), checks the exit code and commits the writable layer;
- COPY/ADD create a container (a writable layer, no process), mount its union
  and copy the files into the merged view, unmount, commit - Docker copies into
  a fresh writable layer the same way and, like it, prints no container lines;
- WORKDIR creates its directory in a container the same way and commits it;
- config steps (ENV, CMD, LABEL, ...) create a container and commit it
  unchanged, with the new config.

A commit whose writable layer is untouched adds a history entry with
`empty_layer` and no layer, as Docker's. Every step leaves an untagged
intermediate image whose parent is the previous step's image, so `images -a`
lists them, `history` names them, and a rebuild finds each step again: a step
is reused when an image already has the same parent, the same `created_by`
(which for COPY/ADD carries a hash of the copied content) and the same
resulting config. A cached step starts no container.

Parsing is dockerfile-parse's (continuations, comments, the escape directive).
Word expansion ($VAR, ${VAR:-x}, quotes) follows Docker's shell lexer and
.dockerignore follows Docker's pattern matcher; both are small and written out
here because their exact semantics decide which files and values a build sees.
Context files are untrusted: every source path is resolved inside the context
(symlinks followed only within it), and files reach the container as a tar
stream through the store's safe extractor (layers.extract_layer_tar), which
never writes outside its target.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import os
import posixpath
import re
import shlex
import stat
import subprocess
import sys
import tarfile
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO, TextIO

from dockerfile_parse import DockerfileParser

from layerlab import images as imagelib
from layerlab import layers, unionfs
from layerlab.containers import CreateOptions, parse_signal
from layerlab.dockerignore import IgnoreMatcher
from layerlab.errors import BuildError, LayerlabError
from layerlab.instructions import DEFAULT_SHELL, apply_change, parse_command
from layerlab.reference import normalize_ref, short_id, validate_reference
from layerlab.store import read_json

if TYPE_CHECKING:
    from layerlab.engine import Engine

NOP = "#(nop) "
KNOWN = frozenset(
    "FROM RUN CMD ENTRYPOINT ENV ARG WORKDIR COPY ADD LABEL USER EXPOSE VOLUME STOPSIGNAL "
    "SHELL MAINTAINER HEALTHCHECK ONBUILD".split()
)
UNSUPPORTED = frozenset({"HEALTHCHECK", "ONBUILD"})
# Docker's predefined ARGs: usable without an ARG line, kept out of the cache key.
BUILTIN_ARGS = frozenset(
    f"{name}_PROXY" if upper else f"{name.lower()}_proxy"
    for name in ("HTTP", "HTTPS", "FTP", "NO", "ALL")
    for upper in (True, False)
)
STAGE_NAME_RE = re.compile(r"^[a-z][a-z0-9-_.]*$")
PORT_RE = re.compile(r"^\d{1,5}(-\d{1,5})?(/(tcp|udp|sctp))?$")
_CHUNK = 1 << 20
_WILDCARD = re.compile(r"(?<!\\)[*?\[]")


@dataclass
class BuildOptions:
    """`docker build`'s flags; `out` gets the step lines, `run_output` the RUN output."""

    tags: list[str] = field(default_factory=list)
    dockerfile: str | None = None  # -f, relative to the current directory
    dockerfile_text: bytes | None = None  # -f - (read from stdin by the caller)
    no_cache: bool = False
    build_args: list[str] = field(default_factory=list)  # K=V, or K to take $K
    quiet: bool = False
    remove: bool = True  # --rm: remove each step's container
    force_remove: bool = False  # --force-rm: ... also when the step fails
    target: str | None = None
    out: TextIO | None = None  # default sys.stdout
    err: TextIO | None = None  # default sys.stderr: where -q dumps the output of a failed build
    run_output: int | IO[Any] | None = None  # a RUN's stdout+stderr; None = our stdout


# --- the Dockerfile -------------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str  # upper-case
    args: str  # the arguments as written, continuation lines joined
    original: str  # what `Step N/M :` prints
    line: int  # 1-based

    def error(self, message: str) -> BuildError:
        return BuildError(f"Dockerfile:{self.line}: {message}")


@dataclass
class Stage:
    index: int
    base: str
    name: str | None
    source: Instruction
    steps: list[Instruction] = field(default_factory=list)


@dataclass
class Dockerfile:
    meta_args: list[Instruction]
    stages: list[Stage]
    escape: str


_ESCAPE_DIRECTIVE = re.compile(r"^\s*#\s*escape\s*=\s*(\\|`)\s*$", re.I)
_DIRECTIVE = re.compile(r"^\s*#\s*[a-z][a-z0-9]*\s*=", re.I)


def _escape_token(lines: list[str]) -> str:
    for line in lines:
        match = _ESCAPE_DIRECTIVE.match(line)
        if match:
            return match.group(1)
        if not _DIRECTIVE.match(line):
            break
    return "\\"


def parse_dockerfile(data: bytes, name: str = "Dockerfile") -> Dockerfile:
    """Bytes -> stages of instructions, every syntax error found before any step runs."""
    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        if b"\0" in data:
            raise UnicodeDecodeError("utf-8", data, 0, 1, "NUL byte")
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BuildError(f"the Dockerfile ({name}) is not a text file") from None
    lines = text.splitlines()
    if not any(line.strip() and not line.lstrip().startswith("#") for line in lines):
        raise BuildError(f"the Dockerfile ({name}) cannot be empty")
    escape = _escape_token(lines)
    parser = DockerfileParser(fileobj=io.BytesIO(text.encode()), env_replace=False)
    found: list[tuple[int, str, dict[str, Any] | None]] = []
    covered: set[int] = set()
    for item in parser.structure:
        covered.update(range(item["startline"], item["endline"] + 1))
        if item["instruction"] != "COMMENT":
            found.append((item["startline"], item["instruction"], item))
    for number, line in enumerate(lines):
        if number not in covered and line.strip():  # a keyword without arguments
            found.append((number, line.split()[0].upper(), None))
    found.sort(key=lambda entry: entry[0])

    meta_args: list[Instruction] = []
    stages: list[Stage] = []
    for number, keyword, item in found:
        if item is None:
            if keyword in KNOWN:
                raise BuildError(
                    f"Dockerfile:{number + 1}: {keyword} requires at least one argument"
                )
            raise BuildError(f"Dockerfile:{number + 1}: unknown instruction: {keyword}")
        written = item["content"].lstrip().split(None, 1)[0]
        value = item["value"].strip()
        inst = Instruction(keyword, value, f"{written} {value}", number + 1)
        if keyword not in KNOWN:
            raise inst.error(f"unknown instruction: {keyword}")
        if not value:
            raise inst.error(f"{keyword} requires at least one argument")
        if keyword in UNSUPPORTED:
            raise inst.error(f"{keyword} is not supported by layerlab's builder")
        if keyword == "FROM":
            stages.append(_parse_from(inst, len(stages), stages))
        elif not stages:
            if keyword != "ARG":
                raise inst.error(
                    f"{keyword} before the first FROM: no build stage in current context"
                )
            _parse_arg_words(inst, escape)
            meta_args.append(inst)
        else:
            _validate(inst, escape)
            stages[-1].steps.append(inst)
    if not stages:
        raise BuildError(f"the Dockerfile ({name}) has no FROM: no build stage")
    return Dockerfile(meta_args, stages, escape)


def _parse_from(inst: Instruction, index: int, earlier: list[Stage]) -> Stage:
    words = [w for w in inst.args.split() if not w.startswith("--platform=")]
    if len(words) not in (1, 3) or (len(words) == 3 and words[1].lower() != "as"):
        raise inst.error("FROM requires either one or three arguments")
    name = words[2].lower() if len(words) == 3 else None
    if name is not None:
        if not STAGE_NAME_RE.match(name):
            raise inst.error(
                f'invalid name for build stage: "{words[2]}", name can\'t start with a number '
                "or contain symbols"
            )
        if any(stage.name == name for stage in earlier):
            raise inst.error(f"duplicate name {name}")
    return Stage(index, words[0], name, inst)


def _validate(inst: Instruction, escape: str) -> None:
    """Syntax checks that need no state, so a typo fails the build before step 1."""
    keyword = inst.keyword
    if keyword in ("ENV", "LABEL"):
        parse_name_val(inst, escape)
    elif keyword == "ARG":
        _parse_arg_words(inst, escape)
    elif keyword in ("COPY", "ADD"):
        _split_copy_args(inst)
    elif keyword == "SHELL":
        parsed = parse_command(inst.args, shell=["<not json>"])
        if parsed[:1] == ["<not json>"]:
            raise inst.error("SHELL requires the arguments to be in JSON form")


def parse_words(rest: str, escape: str) -> list[str]:
    """Docker's parseWords: split on blanks outside quotes; quotes and escapes stay in."""
    words: list[str] = []
    word = ""
    quote = ""
    in_word = blank_ok = False
    i = 0
    while i < len(rest):
        ch = rest[i]
        if quote:
            if ch == quote:
                quote = ""
            elif ch == escape and quote != "'" and i + 1 < len(rest):
                word += ch
                i += 1
                ch = rest[i]
            word += ch
        elif ch.isspace():
            if in_word and (blank_ok or word):
                words.append(word)
            word, in_word, blank_ok = "", False, False
        else:
            in_word = True
            if ch in "'\"":
                quote, blank_ok = ch, True
            elif ch == escape:
                if i + 1 == len(rest):
                    break
                word += ch
                i += 1
                ch = rest[i]
            word += ch
        i += 1
    if in_word and (blank_ok or word):
        words.append(word)
    return words


def parse_name_val(inst: Instruction, escape: str) -> list[tuple[str, str]]:
    """ENV/LABEL arguments: `K=V K2="v 2"`, or the legacy `K some value` (raw, not split)."""
    words = parse_words(inst.args, escape)
    if not words:
        raise inst.error(f"{inst.keyword} requires at least one argument")
    if "=" not in words[0]:
        parts = re.split(r"\s+", inst.args.strip(), maxsplit=1)
        if len(parts) < 2:
            raise inst.error(f"{inst.keyword} must have two arguments")
        return [(parts[0], parts[1])]
    pairs = []
    for word in words:
        key, sep, value = word.partition("=")
        if not sep:
            raise inst.error(
                f'Syntax error - can\'t find = in "{word}". Must be of the form: name=value'
            )
        if not key:
            raise inst.error(f"{inst.keyword} names can not be blank")
        pairs.append((key, value))
    return pairs


def _parse_arg_words(inst: Instruction, escape: str) -> list[tuple[str, str | None]]:
    pairs: list[tuple[str, str | None]] = []
    for word in parse_words(inst.args, escape):
        key, sep, value = word.partition("=")
        if not key:
            raise inst.error("ARG names can not be blank")
        pairs.append((key, value if sep else None))
    if not pairs:
        raise inst.error("ARG requires at least one argument")
    return pairs


def _split_copy_args(inst: Instruction) -> tuple[dict[str, str], list[str]]:
    """`[--chown=u:g] [--from=x] src... dest`, the shell or the JSON form."""
    rest = inst.args
    flags: dict[str, str] = {}
    while rest.startswith("--"):
        flag, _, rest = rest.partition(" ")
        rest = rest.lstrip()
        name, sep, value = flag[2:].partition("=")
        allowed = ("chown", "from") if inst.keyword == "COPY" else ("chown",)
        if name == "chmod":
            raise inst.error("the --chmod option requires BuildKit")
        if name not in allowed or not sep:
            raise inst.error(
                f"Unknown flag: {name}" if name not in allowed else f"--{name} needs a value"
            )
        flags[name] = value
    words: list[str] | None = None
    if rest.startswith("["):
        with contextlib.suppress(ValueError):
            parsed = json.loads(rest)
            if isinstance(parsed, list) and all(isinstance(w, str) for w in parsed):
                words = parsed
    if words is None:
        words = rest.split()
    if len(words) < 2:
        raise inst.error(
            f"{inst.keyword} requires at least two arguments, but only one was provided. "
            "Destination could not be determined."
        )
    return flags, words


# --- Docker's shell lexer: $VAR, ${VAR}, ${VAR:-word}, ${VAR:+word}, quotes -------------------


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


# --- paths inside a root: the context, an image, a container's merged view ------------------------


def scoped_resolve(root: Path, path: str) -> str:
    """Resolve `path` as if `root` were `/`: symlinks are followed but never out of `root`.

    Returns the path relative to `root`, with no symlink among its existing
    components (Docker's FollowSymlinkInScope).
    """
    pending = [p for p in path.split("/") if p not in ("", ".")]
    pending.reverse()
    resolved: list[str] = []
    links = 0
    while pending:
        part = pending.pop()
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        try:
            st = os.lstat(candidate)
        except (FileNotFoundError, NotADirectoryError):
            resolved.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > 255:
                raise BuildError(f"{path}: too many levels of symbolic links")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            pending.extend(reversed([p for p in target.split("/") if p not in ("", ".")]))
            continue
        resolved.append(part)
    return "/".join(resolved)


def _ensure_dir(root: Path, rel: str, uid: int, gid: int) -> Path:
    """mkdir -p root/rel, new directories 0755 and owned by uid:gid; never through a symlink."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    done: list[str] = []
    try:
        for part in [p for p in rel.split("/") if p]:
            done.append(part)
            try:
                child = os.open(part, flags, dir_fd=fd)
            except FileNotFoundError:
                os.mkdir(part, 0o755, dir_fd=fd)
                os.chown(part, uid, gid, dir_fd=fd, follow_symlinks=False)
                os.chmod(part, 0o755, dir_fd=fd)
                child = os.open(part, flags, dir_fd=fd)
            except OSError:
                raise BuildError(f"mkdir /{'/'.join(done)}: not a directory") from None
            os.close(fd)
            fd = child
    finally:
        os.close(fd)
    return root.joinpath(rel) if rel else root


@dataclass
class Entry:
    rel: str  # below the source directory ("" for the source itself)
    path: str  # on the host
    st: os.stat_result


@dataclass
class Source:
    """One thing a COPY/ADD copies: a file or a directory tree, and its content hash."""

    name: str  # the base name as written (a symlink's own name, not its target's)
    path: Path
    is_dir: bool
    entries: list[Entry]  # for a directory: its contents, parents first
    hash: str


class SourceRoot:
    """Where COPY reads from: the build context (with .dockerignore) or an image's rootfs."""

    def __init__(self, root: Path, ignore: IgnoreMatcher | None, label: str) -> None:
        self.root = root
        self.ignore = ignore
        self.label = label

    def _hidden(self, rel: str) -> bool:
        return self.ignore is not None and self.ignore.excluded(rel)

    def walk(self, rel: str) -> list[Entry]:
        """Everything below root/rel that the context holds, sorted, never following symlinks."""
        found: list[Entry] = []
        base = self.root.joinpath(rel) if rel else self.root
        self._walk_into(base, rel, "", found)
        return found

    def _walk_into(self, directory: Path, ctx_rel: str, rel: str, found: list[Entry]) -> bool:
        try:
            with os.scandir(directory) as it:
                children = sorted(it, key=lambda e: os.fsencode(e.name))
        except OSError as exc:
            raise BuildError(
                f"{self.label}: cannot read {ctx_rel or '.'}: {exc.strerror}"
            ) from None
        any_kept = False
        for child in children:
            child_ctx = f"{ctx_rel}/{child.name}" if ctx_rel else child.name
            child_rel = f"{rel}/{child.name}" if rel else child.name
            st = child.stat(follow_symlinks=False)
            hidden = self._hidden(child_ctx)
            if stat.S_ISDIR(st.st_mode):
                if hidden and not (self.ignore and self.ignore.has_exceptions):
                    continue
                mark = len(found)
                found.append(Entry(child_rel, child.path, st))
                kept = self._walk_into(Path(child.path), child_ctx, child_rel, found)
                if hidden and not kept:
                    del found[mark:]
                    continue
            elif hidden:
                continue
            else:
                found.append(Entry(child_rel, child.path, st))
            any_kept = True
        return any_kept

    def source(self, written: str, keyword: str) -> Source:
        """A named source (no wildcards): resolved inside the root, symlinks followed in scope."""
        clean = posixpath.normpath(written.lstrip("/") or ".")
        if clean == ".." or clean.startswith("../"):
            raise BuildError(
                f"{keyword} failed: forbidden path outside the build context: {written}"
            )
        rel = scoped_resolve(self.root, clean)
        missing = BuildError(
            f"{keyword} failed: file not found in build context or excluded by .dockerignore: "
            f"stat {written}: file does not exist"
        )
        path = self.root.joinpath(rel) if rel else self.root
        try:
            st = os.lstat(path)
        except OSError:
            raise missing from None
        # an ignored directory is still there if an exception pattern keeps something in it
        hidden = self._hidden(clean) or self._hidden(rel)
        if hidden and (not stat.S_ISDIR(st.st_mode) or not self.walk(rel)):
            raise missing
        name = posixpath.basename(clean) or posixpath.basename(rel)
        return self._make(name, path, rel, st)

    def glob(self, pattern: str, keyword: str) -> list[Source]:
        """Sources matching a wildcard path (Go's filepath.Match, per path component)."""
        clean = posixpath.normpath(pattern.lstrip("/"))
        if clean == ".." or clean.startswith("../"):
            raise BuildError(
                f"{keyword} failed: forbidden path outside the build context: {pattern}"
            )
        wanted = clean.split("/")
        matched: list[Source] = []
        skip: str | None = None
        for entry in self.walk(""):
            if skip is not None and entry.rel.startswith(skip + "/"):
                continue
            parts = entry.rel.split("/")
            if len(parts) != len(wanted) or not all(
                _match_component(p, w) for p, w in zip(parts, wanted, strict=True)
            ):
                continue
            if stat.S_ISLNK(entry.st.st_mode):
                matched.append(self.source(entry.rel, keyword))
            else:
                matched.append(self._make(parts[-1], Path(entry.path), entry.rel, entry.st))
            if stat.S_ISDIR(entry.st.st_mode):
                skip = entry.rel
        return matched

    def _make(self, name: str, path: Path, rel: str, st: os.stat_result) -> Source:
        if stat.S_ISDIR(st.st_mode):
            entries = self.walk(rel)
            digest = hashlib.sha256()
            for entry in entries:
                digest.update(
                    os.fsencode(entry.rel) + b"\0" + _entry_digest(entry).encode() + b"\n"
                )
            return Source(name, path, True, entries, "dir:" + digest.hexdigest())
        entry = Entry("", str(path), st)
        return Source(name, path, False, [entry], "file:" + _entry_digest(entry))


def _match_component(name: str, pattern: str) -> bool:
    """Go's filepath.Match for one path component (`[^...]` negates, `\\` escapes)."""
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "[":
            end = pattern.find("]", i + 2)
            if end < 0:
                return False
            body = pattern[i + 1 : end]
            if body.startswith("^"):
                body = "^" + body[1:].replace("\\", "\\\\")
            else:
                body = body.replace("\\", "\\\\").replace("^", "\\^")
            out.append(f"[{body}]")
            i = end
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    try:
        return re.fullmatch("".join(out), name, re.S) is not None
    except re.error:
        return False


def _entry_digest(entry: Entry) -> str:
    """A copied entry's identity: type, mode, size, content or link target (no owner, no mtime)."""
    st = entry.st
    digest = hashlib.sha256(f"{stat.S_IFMT(st.st_mode)}:{stat.S_IMODE(st.st_mode):o}:".encode())
    if stat.S_ISREG(st.st_mode):
        digest.update(f"{st.st_size}:".encode())
        fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with open(fd, "rb", buffering=0) as f:
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                digest.update(chunk)
    elif stat.S_ISLNK(st.st_mode):
        digest.update(os.fsencode(os.readlink(entry.path)))
    return digest.hexdigest()


def _is_archive(path: Path) -> bool:
    """ADD extracts a local file when it is a tar (plain, gzip, bzip2 or xz), as Docker does."""
    try:
        with tarfile.open(path, "r|*") as tar:
            return tar.next() is not None
    except (tarfile.TarError, OSError, EOFError, ValueError):
        return False


def _write_tar(out: BinaryIO, entries: list[tuple[str, Entry]], owner: tuple[int, int]) -> None:
    """The entries as a tar with the given names, owned by `owner`, modes and mtimes kept."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for name, entry in entries:
            st = entry.st
            info = tarfile.TarInfo(name)
            info.mode = stat.S_IMODE(st.st_mode)
            info.uid, info.gid = owner
            info.mtime = int(st.st_mtime)
            if stat.S_ISREG(st.st_mode):
                info.size = st.st_size
                fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
                with open(fd, "rb") as data:
                    tar.addfile(info, data)
                continue
            if stat.S_ISDIR(st.st_mode):
                info.type = tarfile.DIRTYPE
            elif stat.S_ISLNK(st.st_mode):
                info.type, info.linkname = tarfile.SYMTYPE, os.readlink(entry.path)
            elif stat.S_ISFIFO(st.st_mode):
                info.type = tarfile.FIFOTYPE
            else:  # sockets and devices don't travel in a build context
                continue
            tar.addfile(info)


def _extract_stream(dest: Path, produce: Callable[[BinaryIO], None]) -> None:
    """Pipe what `produce` writes through the safe extractor into `dest`."""
    read_fd, write_fd = os.pipe()
    failure: list[BaseException] = []

    def writer() -> None:
        try:
            with os.fdopen(write_fd, "wb") as out:
                produce(out)
        except BaseException as exc:  # reported in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        with os.fdopen(read_fd, "rb") as source:
            try:
                layers.extract_layer_tar(source, dest)
            finally:
                while source.read(_CHUNK):  # let the writer finish whatever happened
                    pass
    except BaseException:
        thread.join()
        if failure:  # the writer's failure (a file that vanished...) is the real cause
            raise failure[0] from None
        raise
    thread.join()
    if failure:
        raise failure[0]


def _lookup_id(root: Path, table: str, name: str, what: str) -> int:
    if name.isdigit():
        return int(name)
    rel = scoped_resolve(root, f"etc/{table}")
    with contextlib.suppress(OSError):
        for line in root.joinpath(rel).read_text(errors="replace").splitlines():
            fields = line.split(":")
            if len(fields) > 2 and fields[0] == name and fields[2].isdigit():
                return int(fields[2])
    raise BuildError(
        f"unable to convert uid/gid chown string to host mapping: can't find {what} for "
        f"{'user' if what == 'uid' else 'group'} {name}: no such "
        f"{'user' if what == 'uid' else 'group'}: {name}"
    )


def _go_quote(text: str) -> str:
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


def _go_list(items: list[str] | None, quoted: bool) -> str:
    """Go's %q / %v of a []string: `["sh" "-c"]` / `[/data /logs]`."""
    return "[" + " ".join(_go_quote(i) if quoted else i for i in items or []) + "]"


def parse_build_args(values: list[str]) -> dict[str, str | None]:
    """`--build-arg K=V`; a bare `K` takes $K from our environment, or stays unset."""
    args: dict[str, str | None] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not key:
            raise BuildError(
                f'invalid argument "{value}" for "--build-arg" flag: '
                f"invalid environment variable: {value}",
                exit_code=125,
            )
        args[key] = val if sep else os.environ.get(key)
    return args


# --- the builder -----------------------------------------------------------------------------


@dataclass
class StageState:
    """What one stage has built so far: Docker's dispatchState."""

    image_id: str
    config: dict[str, Any]  # the image's run config ("config" in the OCI config)
    history_len: int
    args: dict[str, str | None] = field(default_factory=dict)  # ARGs declared in this stage
    cmd_set: bool = False
    busted: bool = False  # a cache miss: later steps of the stage can't hit
    maintainer: str = ""


class Builder:
    def __init__(self, engine: Engine, context: Path, options: BuildOptions) -> None:
        self.engine = engine
        self.store = engine.store
        self.context_dir = Path(context)
        self.opts = options
        self.buffer: io.StringIO | None = io.StringIO() if options.quiet else None
        self.out: TextIO = self.buffer or options.out or sys.stdout
        self.build_args: dict[str, str | None] = {}
        self.referenced: set[str] = set()
        self.meta: dict[str, str | None] = {}
        self.lexer = Lexer()
        self.built: list[str] = []  # each finished stage's image, by index
        self.stage_names: dict[str, str] = {}  # ... by name
        self._children: dict[str, list[str]] | None = None
        self._sink: IO[bytes] | None = None

    # --- output ---
    def say(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()

    @contextlib.contextmanager
    def _run_stdio(self) -> Iterator[tuple[Any, Any, Any]]:
        """Where a RUN's stdout and stderr go: both into the build output, as Docker's."""
        if self.opts.quiet:  # kept aside, shown only if the build fails
            if self._sink is None:
                self._sink = tempfile.TemporaryFile()  # noqa: SIM115 - closed by run()
            yield (subprocess.DEVNULL, self._sink.fileno(), self._sink.fileno())
            self._collect_run_output()
            return
        target = self.opts.run_output
        if target is None:
            with contextlib.suppress(AttributeError, OSError, ValueError):
                target = self.out.fileno()
        if target is not None:
            yield (subprocess.DEVNULL, target, target)
            return
        read_fd, write_fd = os.pipe()  # a stream without a file descriptor: pump into it

        def pump() -> None:
            with os.fdopen(read_fd, "rb") as source:
                for chunk in iter(lambda: source.read1(_CHUNK), b""):
                    self.out.write(chunk.decode(errors="replace"))

        thread = threading.Thread(target=pump, daemon=True)
        thread.start()
        try:
            yield (subprocess.DEVNULL, write_fd, write_fd)
        except BaseException:
            os.close(write_fd)  # the pump ends once the step's container is gone
            raise
        os.close(write_fd)
        thread.join()

    def _collect_run_output(self) -> None:
        if self._sink is not None and self.buffer is not None:
            self._sink.seek(0)
            self.buffer.write(self._sink.read().decode(errors="replace"))
            self._sink.seek(0)
            self._sink.truncate()

    # --- the whole build ---
    def run(self) -> str:
        try:
            return self._build()
        except BaseException:
            if self.buffer is not None:  # -q: the output is shown only when the build fails
                err = self.opts.err or sys.stderr
                err.write(self.buffer.getvalue())
                err.flush()
            raise
        finally:
            if self._sink is not None:
                self._sink.close()

    def _build(self) -> str:
        tags = []
        for tag in self.opts.tags:
            try:
                validate_reference(tag)
            except LayerlabError as exc:
                raise BuildError(
                    f'invalid argument "{tag}" for "-t, --tag" flag: {exc}', 125
                ) from None
            tags.append(normalize_ref(tag))
        self.build_args = parse_build_args(self.opts.build_args)
        context = self._check_context()
        name, data = self._read_dockerfile(context)
        dockerfile = parse_dockerfile(data, name)
        self.lexer = Lexer(dockerfile.escape)
        stages = dockerfile.stages
        if self.opts.target is not None:
            wanted = self.opts.target.lower()
            index = next((s.index for s in stages if s.name == wanted), None)
            if index is None:
                raise BuildError(f"failed to reach build target {self.opts.target} in Dockerfile")
            stages = stages[: index + 1]
        # .dockerignore applies to the Dockerfile and itself too: the daemon drops them.
        ignore = IgnoreMatcher.read(context / ".dockerignore")
        self.context = SourceRoot(context, ignore, "build context")

        total = len(dockerfile.meta_args) + sum(1 + len(s.steps) for s in stages)
        number = 0

        def step(inst: Instruction) -> None:
            nonlocal number
            number += 1
            self.say(f"Step {number}/{total} : {inst.original}")

        for inst in dockerfile.meta_args:
            step(inst)
            for key, value in _parse_arg_words(inst, dockerfile.escape):
                if value is not None:
                    value = self.lexer.word(value, self._meta_env())
                override = self.build_args.get(key)
                self.meta[key] = override if override is not None else value
                self.referenced.add(key)

        built, names = self.built, self.stage_names
        for stage in stages:
            step(stage.source)
            state = self._begin_stage(stage, names)
            self.say(f" ---> {short_id(state.image_id)}")
            for inst in stage.steps:
                step(inst)
                self._dispatch(state, inst)
                self.say(f" ---> {short_id(state.image_id)}")
            built.append(state.image_id)
            if stage.name:
                names[stage.name] = state.image_id

        unused = sorted(
            k for k in self.build_args if k not in self.referenced and k not in BUILTIN_ARGS
        )
        if unused:
            self.say(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed")
        image_id = built[-1]
        self.say(f"Successfully built {short_id(image_id)}")
        with self.store.lock():
            for tag in tags:
                imagelib.tag_image(self.store, image_id, tag)
        for tag in tags:
            self.say(f"Successfully tagged {tag}")
        return image_id

    def _check_context(self) -> Path:
        context = self.context_dir
        if not context.exists():
            raise BuildError(f'unable to prepare context: path "{context}" not found')
        if not context.is_dir():
            raise BuildError(f"unable to prepare context: context must be a directory: {context}")
        return context.resolve()

    def _read_dockerfile(self, context: Path) -> tuple[str, bytes]:
        """(its name for messages, its bytes): -f is relative to the current directory."""
        if self.opts.dockerfile_text is not None:
            return "Dockerfile", self.opts.dockerfile_text
        if self.opts.dockerfile:
            path = Path(self.opts.dockerfile).absolute()
            name = self.opts.dockerfile
        else:
            path = context / "Dockerfile"
            if not path.exists() and (context / "dockerfile").exists():
                path = context / "dockerfile"
            name = path.name
        try:
            data = path.read_bytes()
        except IsADirectoryError:
            raise BuildError(f"the Dockerfile ({name}) is a directory") from None
        except OSError:
            raise BuildError(f"Cannot locate specified Dockerfile: {name}") from None
        return name, data

    # --- args and the environment words expand in ---
    def _meta_env(self) -> dict[str, str]:
        return {k: v for k, v in self.meta.items() if v is not None}

    def _arg_value(self, state: StageState, key: str) -> str | None:
        override = self.build_args.get(key)
        if override is not None:
            return override
        if key in state.args and state.args[key] is not None:
            return state.args[key]
        return self.meta.get(key)

    def _allowed_args(self, state: StageState) -> dict[str, str]:
        """Declared ARGs (and given predefined ones) with a value, not shadowed by ENV."""
        env_keys = {e.partition("=")[0] for e in state.config.get("Env") or []}
        allowed: dict[str, str] = {}
        for key in list(state.args) + [k for k in self.build_args if k in BUILTIN_ARGS]:
            value = self._arg_value(state, key)
            if value is not None and key not in env_keys:
                allowed[key] = value
        return allowed

    def _env(self, state: StageState) -> dict[str, str]:
        env = dict(self._allowed_args(state))
        for item in state.config.get("Env") or []:
            key, _, value = item.partition("=")
            env[key] = value
        return env

    # --- stages ---
    def _begin_stage(self, stage: Stage, names: dict[str, str]) -> StageState:
        base = self.lexer.word(stage.base, self._meta_env())
        if base.lower() in names:
            image = imagelib.read_image(self.store, names[base.lower()])
        elif base == "scratch":
            image = imagelib.read_image(self.store, self._scratch())
        else:
            try:
                image = self.engine.image(base)
            except LayerlabError as exc:
                raise BuildError(str(exc)) from None
        config = copy.deepcopy(image.run_config)
        return StageState(image.id, config, len(image.config.get("history") or []))

    def _scratch(self) -> str:
        """An image with no layers, for `FROM scratch`: the parent of a build's first step."""
        config = {
            "architecture": imagelib.docker_arch(),
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": []},
            "history": [],
        }
        with self.store.lock():
            self.store.ensure()
            return imagelib.write_image(self.store, config)

    # --- steps ---
    def _dispatch(self, state: StageState, inst: Instruction) -> None:
        try:
            if inst.keyword == "RUN":
                self._run_step(state, inst)
            elif inst.keyword in ("COPY", "ADD"):
                self._copy_step(state, inst)
            elif inst.keyword == "WORKDIR":
                self._workdir_step(state, inst)
            else:
                self._config_step(state, inst)
        except BuildError:
            raise
        except layers.UnsafeTarError as exc:
            raise BuildError(f"{inst.keyword} failed: {exc}") from None
        except LayerlabError as exc:
            raise BuildError(str(exc)) from None
        except OSError as exc:
            detail = exc.strerror or str(exc)
            if exc.filename:
                detail = f"{exc.filename}: {detail}"
            raise BuildError(f"{inst.keyword} failed: {detail}") from None

    def _cached(self, state: StageState, created_by: str, config: dict[str, Any]) -> bool:
        """Docker's cache probe: a child of this image made by this very step."""
        if self.opts.no_cache or state.busted:
            return False
        hit = self._find_child(state, created_by, config)
        if hit is None:
            state.busted = True
            return False
        self.say(" ---> Using cache")
        state.image_id, state.config = hit, config
        state.history_len += 1
        return True

    def _find_child(self, state: StageState, created_by: str, config: dict[str, Any]) -> str | None:
        if self._children is None:
            self._children = {}
            for image_id in self.store.image_ids():
                parent = imagelib.image_parent(self.store, image_id)
                if parent:
                    self._children.setdefault(parent, []).append(image_id)
        found: list[tuple[str, str]] = []
        for child in self._children.get(state.image_id, []):
            try:
                cfg = read_json(self.store.image_path(child))
                history = cfg.get("history") or []
                if (
                    len(history) == state.history_len + 1
                    and history[-1].get("created_by") == created_by
                    and (cfg.get("config") or {}) == config
                ):
                    found.append((cfg.get("created", ""), child))
            except (OSError, ValueError):
                continue
        for _, child in sorted(found, reverse=True):  # the newest whose layers are all there
            with contextlib.suppress(LayerlabError, OSError, ValueError):
                imagelib.read_image(self.store, child)
                return child
        return None

    def _create(self, state: StageState, command: list[str], env: list[str] | None = None) -> str:
        container = self.engine.create(
            state.image_id, CreateOptions(command=command, entrypoint="", env=env or [])
        )
        return container.id

    def _commit(self, state: StageState, cid: str, config: dict[str, Any], created_by: str) -> None:
        parent = state.image_id
        image_id = self.engine.commit(
            cid,
            author=state.maintainer,
            pause=False,
            run_config=config,
            created_by=created_by,
            empty_layer_if_unchanged=True,
        )
        if self._children is not None:
            self._children.setdefault(parent, []).append(image_id)
        state.image_id, state.config = image_id, config
        state.history_len += 1

    def _remove(self, cid: str, *, show: bool = True) -> None:
        """--rm (the default) removes a step's container, failed or not; --rm=false keeps it.

        (Docker keeps a failed step's container unless --force-rm; we always
        remove it with --rm.) COPY's container is never shown, and always goes.
        """
        if show and not (self.opts.remove or self.opts.force_remove):
            return
        with contextlib.suppress(LayerlabError):
            self.engine.rm(cid, force=True)
        if show:
            self.say(f"Removing intermediate container {short_id(cid)}")

    def _container_step(
        self,
        state: StageState,
        command: list[str],
        config: dict[str, Any],
        created_by: str,
        work: Callable[[str], None] | None = None,
        env: list[str] | None = None,
        show: bool = True,
    ) -> None:
        """Create a container from the current image, let `work` change it, commit, remove."""
        cid = self._create(state, command, env)
        if show:
            self.say(f" ---> Running in {short_id(cid)}")
        try:
            if work is not None:
                work(cid)
            self._commit(state, cid, config, created_by)
        finally:
            self._remove(cid, show=show)

    def _run_step(self, state: StageState, inst: Instruction) -> None:
        argv = parse_command(inst.args, state.config.get("Shell") or DEFAULT_SHELL)
        allowed = self._allowed_args(state)
        keyed = sorted(
            f"{k}={v}" for k, v in allowed.items() if k not in BUILTIN_ARGS or k in state.args
        )
        saved = [f"|{len(keyed)}", *keyed, *argv] if keyed else argv
        created_by = " ".join(saved)
        if self._cached(state, created_by, state.config):
            return

        def run(cid: str) -> None:
            self.out.flush()
            with self._run_stdio() as stdio:
                code = self.engine.start_attached(cid, stdio)
            if code != 0:
                raise BuildError(
                    f"The command '{' '.join(argv)}' returned a non-zero code: {code}", code
                )

        env = [f"{k}={v}" for k, v in allowed.items()]
        self._container_step(state, argv, state.config, created_by, run, env)

    def _workdir_step(self, state: StageState, inst: Instruction) -> None:
        requested = self.lexer.word(inst.args, self._env(state))
        if not requested:
            raise inst.error("WORKDIR requires exactly one argument")
        if not requested.startswith("/"):
            current = state.config.get("WorkingDir") or "/"
            requested = posixpath.normpath(posixpath.join("/", current, requested))
        config = copy.deepcopy(state.config)
        apply_change(config, f"WORKDIR {requested}")
        comment = f"WORKDIR {config['WorkingDir']}"
        created_by = f"/bin/sh -c {NOP}{comment}"
        if self._cached(state, created_by, config):
            return

        def mkdir(cid: str) -> None:
            with self._mounted(cid) as merged:
                _ensure_dir(merged, scoped_resolve(merged, config["WorkingDir"]), 0, 0)

        self._container_step(state, ["/bin/sh", "-c", NOP + comment], config, created_by, mkdir)

    def _config_step(self, state: StageState, inst: Instruction) -> None:
        config = copy.deepcopy(state.config)
        comment = self._apply_config(state, inst, config)
        # Docker joins ["/bin/sh", "-c", "#(nop) ", comment] with spaces: two after (nop).
        created_by = f"/bin/sh -c {NOP} {comment}"
        if self._cached(state, created_by, config):
            return
        self._container_step(state, ["/bin/sh", "-c", NOP, comment], config, created_by)

    def _apply_config(self, state: StageState, inst: Instruction, config: dict[str, Any]) -> str:
        """Change `config` as the instruction says; return Docker's history comment for it."""
        keyword, escape = inst.keyword, self.lexer.escape
        env = self._env(state)
        try:
            if keyword in ("ENV", "LABEL"):
                pairs = [
                    (self.lexer.word(k, env), self.lexer.word(v, env))
                    for k, v in parse_name_val(inst, escape)
                ]
                quoted = " ".join(f"{shlex.quote(k)}={shlex.quote(v)}" for k, v in pairs)
                apply_change(config, f"{keyword} {quoted}")
                return keyword + "".join(f" {k}={v}" for k, v in pairs)
            if keyword == "ARG":
                parts = []
                for key, value in _parse_arg_words(inst, escape):
                    if value is not None:
                        value = self.lexer.word(value, env)
                    state.args[key] = value
                    self.referenced.add(key)
                    parts.append(key if value is None else f"{key}={value}")
                return "ARG " + " ".join(parts)
            if keyword == "CMD":
                apply_change(config, f"CMD {inst.args}")
                state.cmd_set = state.cmd_set or bool(config["Cmd"])
                return f"CMD {_go_list(config['Cmd'], quoted=True)}"
            if keyword == "ENTRYPOINT":
                apply_change(config, f"ENTRYPOINT {inst.args}")
                if not state.cmd_set:
                    config["Cmd"] = None
                return f"ENTRYPOINT {_go_list(config['Entrypoint'], quoted=True)}"
            if keyword == "EXPOSE":
                ports = [p for word in inst.args.split() for p in self.lexer.words(word, env)]
                for port in ports:
                    if not PORT_RE.match(port):
                        raise inst.error(f"Invalid containerPort: {port}")
                apply_change(config, "EXPOSE " + " ".join(ports))
                return "EXPOSE " + " ".join(ports)
            if keyword == "USER":
                user = self.lexer.word(inst.args, env)
                apply_change(config, f"USER {user}")
                return f"USER {user}"
            if keyword == "VOLUME":
                volumes = _json_list(inst.args)
                if volumes is None:
                    volumes = inst.args.split()
                volumes = [self.lexer.word(v, env) for v in volumes]
                if not volumes or any(not v for v in volumes):
                    raise inst.error("VOLUME specified can not be an empty string")
                apply_change(config, "VOLUME " + json.dumps(volumes))
                return f"VOLUME {_go_list(volumes, quoted=False)}"
            if keyword == "STOPSIGNAL":
                value = self.lexer.word(inst.args, env)
                parse_signal(value)
                apply_change(config, f"STOPSIGNAL {value}")
                return f"STOPSIGNAL {value}"
            if keyword == "SHELL":
                apply_change(config, f"SHELL {inst.args}")
                return f"SHELL {_go_list(config['Shell'], quoted=False)}"
            if keyword == "MAINTAINER":
                state.maintainer = inst.args
                return f"MAINTAINER {inst.args}"
        except BuildError:
            raise
        except LayerlabError as exc:
            raise inst.error(str(exc)) from None
        raise inst.error(f"unknown instruction: {keyword}")  # parse_dockerfile lets none through

    # --- COPY and ADD ---
    def _copy_step(self, state: StageState, inst: Instruction) -> None:
        keyword = inst.keyword
        flags, words = _split_copy_args(inst)
        env = self._env(state)
        words = [self.lexer.word(w, env) for w in words]
        chown = self.lexer.word(flags["chown"], env) if "chown" in flags else ""
        *written_sources, dest_written = words
        if not dest_written:
            raise inst.error(f"{keyword} requires a destination")
        dest = dest_written
        if not dest.startswith("/"):  # relative to WORKDIR, a trailing slash kept
            joined = posixpath.normpath(
                posixpath.join("/", state.config.get("WorkingDir") or "/", dest)
            )
            dest = joined + "/" if dest.endswith("/") and joined != "/" else joined
        with contextlib.ExitStack() as stack:
            root = self.context
            if "from" in flags:
                root = stack.enter_context(self._from_root(flags["from"], env))
            sources: list[Source] = []
            for written in written_sources:
                if re.match(r"^[a-z][a-z0-9+.-]*://", written, re.I):
                    if keyword == "COPY":
                        raise BuildError(f"COPY failed: source can't be a URL for COPY: {written}")
                    raise BuildError(
                        f"ADD failed: adding a remote URL is not supported by layerlab's "
                        f"builder: {written} (download it into the context and COPY it)"
                    )
                if _WILDCARD.search(written):
                    sources.extend(root.glob(written, keyword))
                else:
                    sources.append(root.source(written, keyword))
            if not sources:
                raise BuildError(f"{keyword} failed: no source files were specified")
            if len(sources) > 1 and not dest.endswith("/"):
                raise BuildError(
                    f"When using {keyword} with more than one source file, the destination "
                    "must be a directory and end with a /"
                )
            if len(sources) == 1:
                source_hash = sources[0].hash
            else:
                hashes = ",".join(s.hash for s in sources).encode()
                source_hash = "multi:" + hashlib.sha256(hashes).hexdigest()
            chown_comment = f"--chown={chown}" if chown else ""
            # Docker writes no space between the --chown flag and the hash: kept as is.
            comment = f"{keyword} {chown_comment}{source_hash} in {dest} "
            created_by = f"/bin/sh -c {NOP}{comment}"
            if self._cached(state, created_by, state.config):
                return

            def copy_in(cid: str) -> None:
                with self._mounted(cid) as merged:
                    owner = (0, 0)
                    if chown:
                        user, _, group = chown.partition(":")
                        owner = (
                            _lookup_id(merged, "passwd", user, "uid"),
                            _lookup_id(merged, "group", group or user, "gid"),
                        )
                    for source in sources:
                        self._copy_source(merged, source, dest, owner, keyword)

            self._container_step(
                state, ["/bin/sh", "-c", NOP + comment], state.config, created_by, copy_in,
                show=False,
            )  # fmt: skip

    def _copy_source(
        self, merged: Path, source: Source, dest: str, owner: tuple[int, int], keyword: str
    ) -> None:
        """Write one source into the mounted union, as Docker's copier places it."""
        reserved = f"names starting with {layers.WHITEOUT_PREFIX} are reserved for layer whiteouts"
        for entry in source.entries:
            if posixpath.basename(entry.rel).startswith(layers.WHITEOUT_PREFIX):
                raise BuildError(f"{keyword} failed: {entry.rel}: {reserved}")
        target = scoped_resolve(merged, dest)
        if source.is_dir:
            directory = _ensure_dir(merged, target, *owner)
            named = [(e.rel, e) for e in source.entries]
            _extract_stream(directory, lambda out: _write_tar(out, named, owner))
            return
        if keyword == "ADD" and _is_archive(source.path):
            directory = _ensure_dir(merged, target, *owner)
            fd = os.open(source.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            with open(fd, "rb") as archive:
                layers.extract_layer_tar(archive, directory)
            return
        into_dir = dest.endswith("/") or stat.S_ISDIR(
            _lstat_mode(merged.joinpath(target) if target else merged)
        )
        if into_dir:
            parent, name = target, source.name
        else:
            parent, name = posixpath.dirname(target), posixpath.basename(target)
        if name.startswith(layers.WHITEOUT_PREFIX):
            raise BuildError(f"{keyword} failed: {name}: {reserved}")
        directory = _ensure_dir(merged, parent, *owner)
        single = [(name, source.entries[0])]
        _extract_stream(directory, lambda out: _write_tar(out, single, owner))

    @contextlib.contextmanager
    def _mounted(self, cid: str) -> Iterator[Path]:
        """The container's union, mounted while files are written into its merged view."""
        container = self.engine.container(cid)
        data = container.data["GraphDriver"]["Data"]
        merged = Path(data["MergedDir"])
        unionfs.mount_overlay(
            self.engine.lower_dirs(container), Path(data["UpperDir"]), Path(data["WorkDir"]), merged
        )
        try:
            yield merged
        finally:
            unionfs.unmount(merged)

    @contextlib.contextmanager
    def _from_root(self, ref: str, env: dict[str, str]) -> Iterator[SourceRoot]:
        """COPY --from=<stage name | stage index | image>: that image's files, read-only."""
        ref = self.lexer.word(ref, env)
        if ref.isdigit():
            if int(ref) >= len(self.built):
                raise BuildError(f"invalid from flag value {ref}: invalid stage index")
            image_id: str | None = self.built[int(ref)]
        else:
            image_id = self.stage_names.get(ref.lower())
        if image_id is None:
            try:
                image = self.engine.image(ref)
            except LayerlabError as exc:
                raise BuildError(f"invalid from flag value {ref}: {exc}") from None
        else:
            image = imagelib.read_image(self.store, image_id)
        scratch = self.store.make_tmp_dir("build-from-")
        rootfs = scratch / "rootfs"
        empty = scratch / "empty"
        rootfs.mkdir()
        empty.mkdir()
        mounted = False
        try:
            if image.layers:
                lowers = [layer.diff_path for layer in reversed(image.layers)] + [empty]
                unionfs.mount_readonly(lowers, rootfs)
                mounted = True
            yield SourceRoot(rootfs, None, f"image {ref}")
        finally:
            if mounted:
                unionfs.unmount(rootfs)
            self.store.discard(scratch)


def _lstat_mode(path: Path) -> int:
    try:
        return os.lstat(path).st_mode
    except OSError:
        return 0


def _json_list(text: str) -> list[str] | None:
    if not text.startswith("["):
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    if isinstance(parsed, list) and all(isinstance(p, str) for p in parsed):
        return parsed
    return None
