"""Lesson files: read, validated against the schema, every problem reported as `file:line`.

A lesson file is YAML (see `lessons/README.md`). It is untrusted: it is read
with a size limit, must be UTF-8 text, and is walked as a YAML node tree
(PyYAML's `compose`, which keeps each node's line) - never constructed, so no
tag can run code, and anchors/aliases are refused. Paths it names stay inside
the lesson's own work folder. Every problem is collected, not just the first:
`check_paths` returns them all, `load_lesson` raises `LessonError` with them.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import yaml

from layerlab.errors import LayerlabError
from layerlab.lessons import (
    net_checks,  # noqa: F401 - registers the network's checks
    registry_checks,  # noqa: F401 - registers the registry's checks
)
from layerlab.lessons.checks import CHECKS, Kind
from layerlab.lessons.model import (
    Check,
    Command,
    Lesson,
    NearMiss,
    Problem,
    Step,
    split_command,
)

MAX_BYTES = 64 * 1024
MAX_STEPS = 50
MAX_FILE_BYTES = 16 * 1024  # one file a step writes into the work folder
SUFFIXES = (".yaml", ".yml")
NAME_RE = re.compile(r"^(?:\d+[-_])?(?P<name>[a-z0-9][a-z0-9_-]*)$")
LESSON_KEYS = {"title", "summary", "requires", "registry", "files", "setup", "steps"}
STEP_KEYS = {"prose", "commands", "checks", "hints", "solution", "files", "near_misses"}
# Commands a lesson may not type: they leave the lesson's store or need a terminal of their own.
FORBIDDEN_COMMANDS = {"tui", "lesson", "lessons", "demo", "serve"}
FORBIDDEN_WORDS = {"--root", "--help", "--version"}
# Namespace fields that are paths, anchored in the lesson's work folder by the runner.
PATH_FIELDS = {
    "save": ("output",),
    "export": ("output",),
    "load": ("input",),
    "import": ("file",),
    "build": ("context", "file"),
    "cp": ("source", "dest"),  # the side that is not `CONTAINER:PATH`
}
_LOADER = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
STR_TAG = "tag:yaml.org,2002:str"
INT_TAG = "tag:yaml.org,2002:int"
PLAIN_TAGS = {
    STR_TAG, INT_TAG, "tag:yaml.org,2002:null", "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:float", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq",
}  # fmt: skip


class LessonError(LayerlabError):
    """A lesson file (or folder) with problems; the message lists each as `file:line: message`."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems), exit_code=1)
        self.problems = problems


def default_dir() -> Path:
    """The course: the checkout's top-level `lessons/` folder."""
    return Path(__file__).resolve().parents[3] / "lessons"


def lesson_files(directory: Path) -> list[Path]:
    return sorted(
        p for p in directory.iterdir() if p.suffix in SUFFIXES and not p.name.startswith(".")
    )


def lesson_name(path: Path) -> str | None:
    match = NAME_RE.match(path.stem)
    return match["name"] if match else None


@dataclass
class _Reader:
    """Walks one file's node tree, collecting problems instead of stopping at the first."""

    file: Path
    problems: list[Problem] = field(default_factory=list)

    def problem(self, node: yaml.Node | int, message: str) -> None:
        line = node if isinstance(node, int) else node.start_mark.line + 1
        self.problems.append(Problem(self.file, line, message))

    def visit(self, node: yaml.Node) -> None:
        """Refuse tags beyond plain YAML, everywhere (aliases were refused before)."""
        if node.tag not in PLAIN_TAGS:
            self.problem(node, f"tag {node.tag} is not allowed in a lesson file")
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                self.visit(key)
                self.visit(value)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                self.visit(item)

    def mapping(
        self, node: yaml.Node, what: str, allowed: set[str], required: Iterable[str] = ()
    ) -> dict[str, yaml.Node] | None:
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, f"{what} must be a mapping of keys to values")
            return None
        found: dict[str, yaml.Node] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else None
            if not isinstance(name, str) or key.tag != STR_TAG:
                self.problem(key, f"{what}: keys must be words")
                continue
            if name in found:
                self.problem(key, f"{what}: {name!r} is given twice")
            elif name not in allowed:
                known = ", ".join(sorted(allowed))
                self.problem(key, f"{what}: unknown field {name!r} (known: {known})")
            found[name] = value
        for name in required:
            if name not in found:
                self.problem(node, f"{what}: missing field {name!r}")
        return found

    def text(self, node: yaml.Node | None, what: str, required: bool = True) -> str:
        if node is None:
            return ""
        if isinstance(node, yaml.MappingNode):
            self.problem(node, f"{what} must be text (quote it: YAML reads ': ' as a mapping)")
            return ""
        if not isinstance(node, yaml.ScalarNode) or node.tag != STR_TAG:
            self.problem(node, f"{what} must be text")
            return ""
        if required and not node.value.strip():
            self.problem(node, f"{what} is empty")
        return str(node.value)

    def flag(self, node: yaml.Node | None, what: str) -> bool:
        """`true` or `false` (absent: false)."""
        if node is None:
            return False
        if not isinstance(node, yaml.ScalarNode) or node.tag != "tag:yaml.org,2002:bool":
            self.problem(node, f"{what} must be true or false")
            return False
        return node.value.lower() in ("true", "yes", "on")

    def texts(self, node: yaml.Node | None, what: str, required: bool = True) -> list[yaml.Node]:
        """A list of text items (a single text counts as a list of one)."""
        if node is None:
            return []
        if isinstance(node, yaml.ScalarNode) and node.tag == STR_TAG:
            return [node]
        if not isinstance(node, yaml.SequenceNode):
            self.problem(node, f"{what} must be a list")
            return []
        if required and not node.value:
            self.problem(node, f"{what} is empty")
        items = []
        for item in node.value:
            if self.text(item, f"{what} item"):
                items.append(item)
        return items

    # --- the parts --------------------------------------------------------------
    def files(self, node: yaml.Node | None, what: str) -> tuple[tuple[str, str], ...]:
        if node is None:
            return ()
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, f"{what} must map file names to their text")
            return ()
        out = []
        for key, value in node.value:
            name = self.text(key, f"{what}: a file name")
            if not name:
                continue
            if error := unsafe_path(name) or (None if PurePosixPath(name).parts else "is a folder"):
                self.problem(key, f"{what}: {name!r} {error}")
                continue
            body = self.text(value, f"{what}: {name}", required=False)
            if len(body.encode()) > MAX_FILE_BYTES:
                self.problem(value, f"{what}: {name} is larger than {MAX_FILE_BYTES} bytes")
                continue
            out.append((name, body))
        return tuple(out)

    def commands(self, node: yaml.Node | None, what: str, parse: bool) -> tuple[Command, ...]:
        """Command lines; `parse`: each must be one the grammar takes (a near miss need not)."""
        found = []
        for item in self.texts(node, what):
            line = item.start_mark.line + 1
            text = str(item.value).strip()
            if "\n" in text:
                self.problem(item, f"{what}: one command a line, as a list item each")
                continue
            error = command_problem(text, parse=parse)
            if error:
                self.problem(item, f"{what}: {error}")
                continue
            found.append(Command(text, line))
        return tuple(found)

    def near_misses(self, node: yaml.Node | None, number: int) -> tuple[NearMiss, ...]:
        """Each a command, a list of commands, or `{commands: ..., skip: N | [N, ...]}`."""
        what = f"step {number}: near_misses"
        if node is None:
            return ()
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            self.problem(node, f"{what} must be a list of at least one near miss")
            return ()
        found = []
        for item in node.value:
            skip: list[int] = []
            commands_node: yaml.Node | None = item
            if isinstance(item, yaml.MappingNode):
                fields = self.mapping(item, f"{what} item", {"commands", "skip"}, ["commands"])
                if fields is None:
                    continue
                commands_node = fields.get("commands")
                skip = self.skips(fields.get("skip"), what, number)
            commands = self.commands(commands_node, f"{what} item", parse=False)
            if commands:
                found.append(NearMiss(commands, item.start_mark.line + 1, tuple(skip)))
        return tuple(found)

    def skips(self, node: yaml.Node | None, what: str, number: int) -> list[int]:
        """Earlier steps, numbered from 1 in the file, as 0-based indexes."""
        nodes = node.value if isinstance(node, yaml.SequenceNode) else [node] if node else []
        found = []
        for item in nodes:
            value = item.value if isinstance(item, yaml.ScalarNode) else None
            if item.tag != INT_TAG or not isinstance(value, str) or not value.isdigit():
                self.problem(item, f"{what}: skip takes step numbers")
            elif not 1 <= int(value) < number:
                self.problem(item, f"{what}: skip {value}: only a step before step {number}")
            else:
                found.append(int(value) - 1)
        return found

    def check(self, node: yaml.Node) -> Check | None:
        line = node.start_mark.line + 1
        if not isinstance(node, yaml.MappingNode) or len(node.value) != 1:
            self.problem(
                node, "a check is one `kind: arguments` pair, e.g. `image_exists: busybox`"
            )
            return None
        key, value = node.value[0]
        kind_name = key.value if isinstance(key, yaml.ScalarNode) else None
        kind = CHECKS.get(kind_name) if isinstance(kind_name, str) else None
        if kind is None:
            self.problem(key, f"unknown check {kind_name!r} (known: {', '.join(sorted(CHECKS))})")
            return None
        args = self.check_args(kind_name or "", kind, value)
        return None if args is None else Check(kind_name or "", args, self.file, line)

    def check_args(self, name: str, kind: Kind, node: yaml.Node) -> dict[str, str | int] | None:
        params = {p.name: p for p in kind.params}
        pairs: list[tuple[str, yaml.Node]] = []
        if isinstance(node, yaml.ScalarNode):
            if kind.shorthand is None:
                wanted = ", ".join(params)
                self.problem(node, f"check {name} takes a mapping of {wanted}")
                return None
            pairs = [(kind.shorthand.name, node)]
        else:
            fields = self.mapping(node, f"check {name}", set(params), [])
            if fields is None:
                return None
            pairs = list(fields.items())
            for param in kind.params:
                if param.required and param.name not in fields:
                    self.problem(node, f"check {name}: missing argument {param.name!r}")
        args: dict[str, str | int] = {}
        ok = True
        for arg, value in pairs:
            p = params.get(arg)
            if p is None:
                ok = False
                continue
            if not isinstance(value, yaml.ScalarNode) or value.tag not in (STR_TAG, INT_TAG):
                self.problem(value, f"check {name}: {arg} must be a {p.type.__name__}")
                ok = False
                continue
            if p.type is int:
                if value.tag != INT_TAG or not re.fullmatch(r"[0-9]+", value.value):
                    self.problem(value, f"check {name}: {arg} must be a whole number, not "
                                 f"{value.value!r}")  # fmt: skip
                    ok = False
                    continue
                number = int(value.value)
                if p.minimum is not None and number < p.minimum:
                    self.problem(value, f"check {name}: {arg} must be at least {p.minimum}")
                    ok = False
                    continue
                args[arg] = number
                continue
            text = str(value.value)
            if not text.strip():
                self.problem(value, f"check {name}: {arg} is empty")
                ok = False
            elif p.name == "file" and (error := unsafe_path(text)):
                self.problem(value, f"check {name}: {arg} {text!r} {error}")
                ok = False
            elif p.choices and text not in p.choices:
                self.problem(value, f"check {name}: {arg} must be one of {', '.join(p.choices)}, "
                             f"not {text!r}")  # fmt: skip
                ok = False
            else:
                args[arg] = text
        return args if ok and all(p.name in args for p in kind.params if p.required) else None

    def step(self, node: yaml.Node, number: int, parse: bool) -> Step | None:
        what = f"step {number}"
        fields = self.mapping(node, what, STEP_KEYS, ["prose", "commands", "checks"])
        if fields is None:
            return None
        prose = self.text(fields.get("prose"), f"{what}: prose")
        commands = self.commands(fields.get("commands"), f"{what}: commands", parse)
        checks_node = fields.get("checks")
        checks: list[Check] = []
        if checks_node is not None:
            if not isinstance(checks_node, yaml.SequenceNode) or not checks_node.value:
                self.problem(checks_node, f"{what}: checks must be a list of at least one check")
            else:
                checks = [c for n in checks_node.value if (c := self.check(n)) is not None]
        hints = [str(n.value) for n in self.texts(fields.get("hints"), f"{what}: hints", False)]
        solution = self.text(fields.get("solution"), f"{what}: solution", required=False)
        if not solution.strip() and commands:
            solution = "\n".join(f"    {c.text}" for c in commands)
        files = self.files(fields.get("files"), f"{what}: files")
        near_misses = self.near_misses(fields.get("near_misses"), number)
        return Step(
            prose, commands, tuple(checks), tuple(hints), solution,
            node.start_mark.line + 1, files, near_misses,
        )  # fmt: skip


def unsafe_path(name: str) -> str | None:
    """Why a path a lesson names would leave its work folder, or None if it stays inside."""
    p = PurePosixPath(name)
    if p.is_absolute():
        return "must be a relative path"
    if ".." in p.parts:
        return "must not climb out with '..'"
    if "\0" in name or not name.strip():
        return "is not a file name"
    return None


def parse_command(text: str) -> argparse.Namespace:
    """A lesson's command as the CLI parses it; raises `LayerlabError` (a `UsageError`)."""
    from layerlab.commands.grammar import parse

    try:
        words = split_command(text)
    except ValueError as exc:
        raise LayerlabError(f"cannot split {text!r}: {exc}") from None
    try:
        return parse(words)
    except SystemExit:  # argparse's own exits (--help) are refused before; belt and braces
        raise LayerlabError(f"{text!r} is not a command a lesson can run") from None


def command_problem(text: str, parse: bool = True) -> str | None:
    """Why a lesson may not run this command line, or None."""
    try:
        words = split_command(text)
    except ValueError as exc:
        return f"cannot split {text!r}: {exc}"
    if not words:
        return "an empty command"
    if words[0] in FORBIDDEN_COMMANDS:
        return f"{words[0]!r} cannot run inside a lesson"
    for word in words:
        if word.split("=", 1)[0] in FORBIDDEN_WORDS:
            return f"{word!r} is not allowed: a lesson runs in its own store"
    if not parse:
        return None
    try:
        ns = parse_command(text)
    except LayerlabError as exc:
        return str(exc)
    return parsed_problem(ns)


def parsed_problem(ns: argparse.Namespace) -> str | None:
    """Why a lesson may not run this parsed command (a path out of its work folder), or None."""
    if ns.cmd is None:
        return "no command"
    for value in host_paths(ns):
        if error := unsafe_path(value):
            return f"{value!r} {error}: a lesson writes and reads in its own work folder"
    return mount_problem(ns)


def mount_problem(ns: argparse.Namespace) -> str | None:
    """A bind mount of a host folder (`-v /etc:/x`, `--mount type=bind`): not in a lesson."""
    for spec in _list(getattr(ns, "volumes", None)):
        source, sep, _ = spec.partition(":")
        if sep and source.startswith(("/", ".", "~")):
            return f"-v {spec}: a lesson mounts volumes, never the host's folders"
    for spec in _list(getattr(ns, "mounts", None)):
        if "type=bind" in spec.replace(" ", ""):
            return f"--mount {spec}: a lesson mounts volumes, never the host's folders"
    return None


def _list(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def host_paths(ns: argparse.Namespace) -> list[str]:
    """The host paths a parsed command names (`save -o FILE`, `cp C:/x FILE`), `-` aside."""
    found = []
    for attr in PATH_FIELDS.get(ns.cmd, ()):
        value = getattr(ns, attr, None)
        if (
            isinstance(value, str)
            and value != "-"
            and not (ns.cmd == "cp" and _in_container(value))
        ):
            found.append(value)
    return found


def _in_container(arg: str) -> bool:
    """Docker's `cp` rule: `NAME:PATH` names a container's path; `/x`, `./x:y` are local."""
    if arg.startswith(("/", ".")):
        return False
    head, sep, _ = arg.partition(":")
    return bool(sep) and "/" not in head


def missing_requirements(requires: Iterable[str]) -> list[str]:
    """Which of `requires` (a command, or a command and a flag: `run -v`) the CLI lacks now."""
    from layerlab.commands.grammar import build_parser

    parser = build_parser()
    sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
    choices: dict[str, argparse.ArgumentParser] = dict(sub.choices) if sub is not None else {}
    missing = []
    for need in requires:
        words = need.split()
        command = choices.get(words[0]) if words else None
        if command is None or any(w not in command._option_string_actions for w in words[1:]):
            missing.append(need)
    return missing


def _compose(reader: _Reader, data: bytes) -> yaml.Node | None:
    if len(data) > MAX_BYTES:
        reader.problem(1, f"larger than {MAX_BYTES} bytes: not a lesson file")
        return None
    if b"\0" in data:
        reader.problem(data[: data.index(b"\0")].count(b"\n") + 1, "a binary file (NUL byte)")
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        reader.problem(line, "a binary file (not UTF-8 text)")
        return None
    if not text.strip():
        reader.problem(1, "an empty file")
        return None
    if not text.endswith("\n"):
        reader.problem(text.count("\n") + 1, "the file does not end with a newline: cut off?")
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        message = f"not valid YAML (cut off?): {exc.problem or exc.context}"
        if exc.context and exc.context_mark is not None and exc.problem:
            message += f" {exc.context} that started at line {exc.context_mark.line + 1}"
        reader.problem(line, message)
        return None
    except yaml.YAMLError as exc:
        reader.problem(1, f"not valid YAML: {exc}")
        return None
    for event in yaml.parse(text, Loader=_LOADER):  # parsed already: this cannot fail now
        if isinstance(event, yaml.AliasEvent):
            line = event.start_mark.line + 1 if event.start_mark is not None else 1
            reader.problem(line, "anchors and aliases are not allowed")
    if any(p.message.startswith("anchors") for p in reader.problems):
        return None  # an alias bomb is never walked
    if node is None:
        reader.problem(1, "an empty file")
    return node


def read_lesson(path: Path, data: bytes | None = None) -> tuple[Lesson | None, list[Problem]]:
    """One lesson file: the lesson (None when it has problems) and every problem found."""
    reader = _Reader(path)
    name = lesson_name(path)
    if name is None:
        reader.problem(1, "the file name must be [NN-]name.yaml, in lower case")
    if data is None:
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_BYTES + 1)
        except OSError as exc:
            return None, [Problem(path, 1, f"cannot read: {exc.strerror}")]
    root = _compose(reader, data)
    if root is None:
        return None, sorted(reader.problems, key=lambda p: p.line)
    reader.visit(root)
    fields = reader.mapping(root, "lesson", LESSON_KEYS, ["title", "steps"])
    if fields is None:
        return None, reader.problems
    title = reader.text(fields.get("title"), "title")
    summary = reader.text(fields.get("summary"), "summary", required=False)
    requires = [str(n.value).strip() for n in reader.texts(fields.get("requires"), "requires")]
    missing = missing_requirements(requires)
    parse = not missing  # a lesson waiting for a command: its commands are checked once it exists
    registry = reader.flag(fields.get("registry"), "registry")
    files = reader.files(fields.get("files"), "files")
    setup = reader.commands(fields.get("setup"), "setup", parse)
    steps: list[Step] = []
    steps_node = fields.get("steps")
    if steps_node is not None:
        if not isinstance(steps_node, yaml.SequenceNode) or not steps_node.value:
            reader.problem(steps_node, "steps must be a list of at least one step")
        elif len(steps_node.value) > MAX_STEPS:
            reader.problem(steps_node, f"more than {MAX_STEPS} steps")
        else:
            for number, node in enumerate(steps_node.value, 1):
                if (step := reader.step(node, number, parse)) is not None:
                    steps.append(step)
    if reader.problems:
        return None, sorted(reader.problems, key=lambda p: p.line)
    lesson = Lesson(
        name=name or path.stem, title=title.strip(), file=path, steps=tuple(steps),
        summary=summary.strip(), requires=tuple(requires), setup=setup, files=files,
        registry=registry, line=root.start_mark.line + 1, order=path.stem,
    )  # fmt: skip
    return lesson, []


def load_lesson(path: Path) -> Lesson:
    lesson, problems = read_lesson(path)
    if lesson is None:
        raise LessonError(problems)
    return lesson


def read_dir(directory: Path | None = None) -> tuple[list[Lesson], list[Problem]]:
    """Every lesson of a folder (the course by default) and every problem of every file."""
    directory = default_dir() if directory is None else directory
    if not directory.is_dir():
        return [], [Problem(directory, 1, "no such folder of lessons")]
    lessons: list[Lesson] = []
    problems: list[Problem] = []
    names: dict[str, Path] = {}
    base = directory.resolve()
    for path in lesson_files(directory):
        real = path.resolve()
        if not real.is_relative_to(base) or not real.is_file():
            problems.append(Problem(path, 1, "not a regular file inside the lesson folder"))
            continue
        lesson, found = read_lesson(path)
        problems += found
        if lesson is None:
            continue
        if lesson.name in names:
            problems.append(
                Problem(path, 1, f"lesson {lesson.name!r} is also {names[lesson.name]}")
            )
            continue
        names[lesson.name] = path
        lessons.append(lesson)
    if not lessons and not problems:
        problems.append(Problem(directory, 1, "no lesson files (*.yaml) here"))
    return lessons, problems


def load_course(directory: Path | None = None) -> list[Lesson]:
    """The lessons of a folder in order; raises `LessonError` listing every problem."""
    lessons, problems = read_dir(directory)
    if problems:
        raise LessonError(problems)
    return lessons


def find_lesson(lessons: list[Lesson], ref: str) -> Lesson:
    """A lesson by name (`images`), file stem (`01-images`) or number (`1`, `01`)."""
    for lesson in lessons:
        if ref in (lesson.name, lesson.order, lesson.file.name):
            return lesson
    if ref.isdigit():
        for lesson in lessons:
            prefix = lesson.order.split("-", 1)[0]
            if prefix.isdigit() and int(prefix) == int(ref):
                return lesson
    names = ", ".join(lesson.name for lesson in lessons)
    raise LayerlabError(f"no lesson {ref!r} (lessons: {names})")
