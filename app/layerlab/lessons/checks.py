"""Declarative checks, implemented once against the real engine's read API.

A lesson file names a check and its arguments (`container_state: {container:
demo, state: running}`); `CHECKS` says which arguments each kind takes, so the
loader can validate a file without running anything, and `evaluate` turns a
check into a `CheckResult`: pass or fail, the goal, and what is there now
(`container demo is running — now: exited (137)`), for a face to show live.

Checks read through `Engine` (`container`, `snapshot`, `diff`), the
kernel's process table (`procs`) and the lesson's work folder (`file_has`),
never the store's files. A check about the last command never passes on a
failure it did not ask for: output is a successful command's stdout.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from layerlab.commands.grammar import COMMANDS, parse
from layerlab.errors import LayerlabError
from layerlab.lessons.model import Check, split_command
from layerlab.presentation.humanize import plural
from layerlab.storage.containers import STATES
from layerlab.storage.reference import normalize_ref, strip_digest

if TYPE_CHECKING:
    from layerlab.engine import Engine
    from layerlab.lessons.registry import LessonRegistry
    from layerlab.runtime.cgroups import Limits
    from layerlab.storage.containers import Container
    from layerlab.storage.images import Image


@dataclass(frozen=True)
class Param:
    name: str
    type: type  # str or int
    required: bool = True
    choices: tuple[str, ...] = ()
    minimum: int | None = None


@dataclass(frozen=True)
class Outcome:
    """The last command a learner (or the runner) ran: what `exit_code` and `output_has` see."""

    line: str
    code: int
    out: str
    err: str

    @property
    def output(self) -> str:
        return self.out + self.err


@dataclass
class Baseline:
    """What the store held when a step began: `image_gained` counts from here."""

    layers: dict[str, int] = field(default_factory=dict)  # `name:tag` -> number of layers
    registry_log: int = 0  # how much the lesson's registry had logged: what travelled since


@dataclass(frozen=True)
class Context:
    engine: Engine
    last: Outcome | None = None
    baseline: Baseline = field(default_factory=Baseline)
    workdir: Path | None = None  # the lesson's work folder: what `save -o`, `cp` write to
    registry: LessonRegistry | None = None  # the lesson's own registry, if it has one


@dataclass(frozen=True)
class CheckResult:
    check: Check
    ok: bool
    goal: str  # `container demo is running`
    now: str  # `exited (137)`

    def __str__(self) -> str:
        return f"{self.goal} — now: {self.now}"


Evaluate = Callable[[Context, dict[str, str | int]], tuple[bool, str, str]]


@dataclass(frozen=True)
class Kind:
    params: tuple[Param, ...]
    evaluate: Evaluate
    help: str

    @property
    def shorthand(self) -> Param | None:
        """The parameter a bare scalar fills (`image_exists: busybox`): the only required one."""
        required = [p for p in self.params if p.required]
        return required[0] if len(required) == 1 else None


CHECKS: dict[str, Kind] = {}


def check(name: str, help: str, *params: Param) -> Callable[[Evaluate], Evaluate]:
    def register(fn: Evaluate) -> Evaluate:
        CHECKS[name] = Kind(params, fn, help)
        return fn

    return register


def evaluate(check_: Check, ctx: Context) -> CheckResult:
    """Run one check now. A check never raises: an engine error is a failure, said as `now`."""
    kind = CHECKS[check_.kind]
    try:
        ok, goal, now = kind.evaluate(ctx, check_.args)
    except (LayerlabError, OSError) as exc:
        ok, goal, now = False, describe(check_), f"error: {exc}"
    return CheckResult(check_, ok, goal, now)


def evaluate_all(checks: tuple[Check, ...] | list[Check], ctx: Context) -> list[CheckResult]:
    return [evaluate(c, ctx) for c in checks]


def describe(check_: Check) -> str:
    args = ", ".join(f"{k}={v}" for k, v in check_.args.items())
    return f"{check_.kind}({args})"


def take_baseline(engine: Engine, registry: LessonRegistry | None = None) -> Baseline:
    snap = engine.snapshot()
    layers = {ref: len(image.layers) for ref, image in snap.images if "<none>" not in ref}
    return Baseline(layers, registry.log_size() if registry is not None else 0)


# --- reading ----------------------------------------------------------------------
def _container(ctx: Context, ref: str) -> Container | None:
    with contextlib.suppress(LayerlabError):
        return ctx.engine.container(ref)
    return None


def _image(ctx: Context, ref: str) -> Image | None:
    """The image `ref` names (a tag or an id prefix) without creating one (unlike `image`)."""
    want = normalize_ref(ref)
    rows = ctx.engine.snapshot().images
    for tag, image in rows:
        if tag == want:
            return image
    bare = strip_digest(ref)
    if len(bare) >= 4 and all(ch in "0123456789abcdef" for ch in bare):
        for _, image in rows:
            if strip_digest(image.id).startswith(bare):
                return image
    return None


def _state_word(container: Container) -> str:
    status = container.status
    if status == "exited":
        return f"exited ({container.state.get('ExitCode', 0)})"
    return status


def _paths(ctx: Context, ref: str) -> tuple[Container | None, dict[str, str]]:
    container = _container(ctx, ref)
    if container is None:
        return None, {}
    return container, {c.path: c.kind for c in ctx.engine.diff(container.id)}


def _abs(path: str | int) -> str:
    return "/" + str(path).strip("/")


# --- the checks -----------------------------------------------------------------
@check("container_exists", "a container of this name (or id) exists", Param("container", str))
def _container_exists(ctx: Context, a: dict[str, str | int]) -> tuple[bool, str, str]:
    c = _container(ctx, str(a["container"]))
    return (
        c is not None,
        f"container {a['container']} exists",
        (_state_word(c) if c else "no such container"),
    )


@check("container_gone", "no container of this name (or id)", Param("container", str))
def _container_gone(ctx: Context, a: dict[str, str | int]) -> tuple[bool, str, str]:
    c = _container(ctx, str(a["container"]))
    return (
        c is None,
        f"container {a['container']} is gone",
        (f"it exists ({_state_word(c)})" if c else "gone"),
    )


@check(
    "container_state",
    "a container is in this state (Docker's words), optionally with this exit code",
    Param("container", str),
    Param("state", str, choices=STATES),
    Param("exit_code", int, required=False, minimum=0),
)
def _container_state(ctx: Context, a: dict[str, str | int]) -> tuple[bool, str, str]:
    goal = f"container {a['container']} is {a['state']}"
    if "exit_code" in a:
        goal += f" ({a['exit_code']})"
    c = _container(ctx, str(a["container"]))
    if c is None:
        return False, goal, "no such container"
    ok = c.status == a["state"]
    if ok and "exit_code" in a:
        ok = c.state.get("ExitCode") == a["exit_code"]
    return ok, goal, _state_word(c)


@check(
    "layer_has",
    "the container's writable layer holds this path, added (A) or changed (C)",
    Param("container", str),
    Param("path", str),
)
def _layer_has(ctx: Context, a: dict[str, str | int]) -> tuple[bool, str, str]:
    path = _abs(a["path"])
    goal = f"{path} is in {a['container']}'s writable layer"
    c, paths = _paths(ctx, str(a["container"]))
    if c is None:
        return False, goal, "no such container"
    kind = paths.get(path)
    if kind in ("A", "C"):
        return True, goal, f"{kind} {path}"
    return False, goal, ("a whiteout (D)" if kind == "D" else "not there")


@check(
    "layer_lacks",
    "the container's writable layer holds nothing added or changed at this path",
    Param("container", str),
    Param("path", str),
)
def _layer_lacks(ctx: Context, a: dict[str, str | int]) -> tuple[bool, str, str]:
    path = _abs(a["path"])
    goal = f"{path} is not in {a['container']}'s writable layer"
    c, paths = _paths(ctx, str(a["container"]))
    if c is None:
        return False, goal, "no such container"
    kind = paths.get(path)
    return kind not in ("A", "C"), goal, (f"{kind} {path}" if kind else "not there")


@check(
    "whiteout",
    "the container's writable layer holds a whiteout (D) hiding this path of the image",
    Param("container", str),
    Param("path", str),
)
def _whiteout(ctx: Context, a: dict[str, str | int]) -> tuple[bool, str, str]:
    path = _abs(a["path"])
    goal = f"a whiteout hides {path} in {a['container']}'s writable layer"
    c, paths = _paths(ctx, str(a["container"]))
    if c is None:
        return False, goal, "no such container"
    kind = paths.get(path)
    return kind == "D", goal, (f"{kind} {path}" if kind else "no entry")


@check(
    "opaque",
    "the container's writable layer holds this directory as opaque: the layers below are "
    "hidden there",
    Param("container", str),
    Param("path", str),
)
def _opaque(ctx: Context, a: dict[str, str | int]) -> tuple[bool, str, str]:
    path = _abs(a["path"])
    goal = f"{path} is an opaque directory in {a['container']}'s writable layer"
    c = _container(ctx, str(a["container"]))
    if c is None:
        return False, goal, "no such container"
    change = next((ch for ch in ctx.engine.diff(c.id) if ch.path == path), None)
    if change is None:
        return False, goal, "not there"
    return change.opaque, goal, f"{change}" + (" (opaque)" if change.opaque else "")


MB = 1000 * 1000  # Docker's humanized MB, as `ps -s` and `images` print sizes


def _within(size: int, a: dict[str, str | int]) -> tuple[bool, str]:
    """Whether `size` bytes lies within `min_mb`..`max_mb`, and that range in words."""
    low, high = int(a["min_mb"]), a.get("max_mb")
    ok = size >= low * MB and (high is None or size <= int(high) * MB)
    words = f"at least {low} MB" if high is None else f"{low} to {high} MB"
    return ok, words


@check(
    "layer_size",
    "the container's writable layer holds at least `min_mb` and at most `max_mb` (if given) MB "
    "(1 MB = 1000000 bytes, as `ps -s`)",
    Param("container", str),
    Param("min_mb", int, minimum=0),
    Param("max_mb", int, required=False, minimum=0),
)
def _layer_size(ctx: Context, a: dict[str, str | int]) -> tuple[bool, str, str]:
    c = _container(ctx, str(a["container"]))
    size = ctx.engine.container_sizes(c)[0] if c else 0
    ok, words = _within(size, a)
    goal = f"{a['container']}'s writable layer holds {words}"
    if c is None:
        return False, goal, "no such container"
    return ok, goal, f"{size / MB:.1f} MB"


@check(
    "image_size",
    "an image's layers hold at least `min_mb` and at most `max_mb` (if given) MB (1 MB = "
    "1000000 bytes, as `images`)",
    Param("image", str),
    Param("min_mb", int, minimum=0),
    Param("max_mb", int, required=False, minimum=0),
)
def _image_size(ctx: Context, a: dict[str, str | int]) -> tuple[bool, str, str]:
    image = _image(ctx, str(a["image"]))
    ok, words = _within(image.size if image else 0, a)
    goal = f"image {a['image']} holds {words}"
    if image is None:
        return False, goal, "no such image"
    return ok, goal, f"{image.size / MB:.1f} MB"


@check(
    "container_image",
    "a container was made from this image (name:tag or id)",
    Param("container", str),
    Param("image", str),
)
def _container_image(ctx: Context, a: dict[str, str | int]) -> tuple[bool, str, str]:
    goal = f"container {a['container']} is of image {a['image']}"
    c = _container(ctx, str(a["container"]))
    if c is None:
        return False, goal, "no such container"
    image = _image(ctx, str(a["image"]))
    return image is not None and c.data["Image"] == image.id, goal, f"of {c.image_ref}"


@check(
    "file_has",
    "a file in the lesson's work folder holds this text (a tar's member names and its small "
    "JSON files are text in it)",
    Param("file", str),
    Param("text", str),
)
def _file_has(ctx: Context, a: dict[str, str | int]) -> tuple[bool, str, str]:
    name, text = str(a["file"]), str(a["text"])
    goal = f"{name} holds {text!r}"
    if ctx.workdir is None:
        return False, goal, "no work folder"
    path = ctx.workdir / name
    if not path.resolve().is_relative_to(ctx.workdir.resolve()):  # the loader refused it
        return False, goal, "outside the work folder"
    if not path.is_file():
        return False, goal, "no such file"
    with open(path, "rb") as f:
        found = _contains(f, text.encode())
    return found, goal, f"{path.stat().st_size} bytes" + ("" if found else f", no {text!r}")


def _contains(f: BinaryIO, needle: bytes, chunk: int = 1 << 20) -> bool:
    """Whether a file holds `needle`, read a chunk at a time (an image archive is large)."""
    tail = b""
    while block := f.read(chunk):
        if needle in tail + block:
            return True
        tail = block[-len(needle) + 1 :] if len(needle) > 1 else b""
    return False


@check("image_exists", "an image of this name:tag (or id) exists", Param("image", str))
def _image_exists(ctx: Context, a: dict[str, str | int]) -> tuple[bool, str, str]:
    image = _image(ctx, str(a["image"]))
    now = (
        f"{plural(len(image.layers), 'layer')}, {strip_digest(image.id)[:12]}"
        if image
        else "no such image"
    )
    return image is not None, f"image {a['image']} exists", now


@check("tag_gone", "no image carries this name:tag any more", Param("tag", str))
def _tag_gone(ctx: Context, a: dict[str, str | int]) -> tuple[bool, str, str]:
    want = normalize_ref(str(a["tag"]))
    present = any(tag == want for tag, _ in ctx.engine.snapshot().images)
    return not present, f"tag {want} is gone", ("still there" if present else "gone")


@check(
    "image_layers",
    "an image has exactly this many read-only layers",
    Param("image", str),
    Param("count", int, minimum=0),
)
def _image_layers(ctx: Context, a: dict[str, str | int]) -> tuple[bool, str, str]:
    goal = f"image {a['image']} has {plural(int(a['count']), 'layer')}"
    image = _image(ctx, str(a["image"]))
    if image is None:
        return False, goal, "no such image"
    return len(image.layers) == a["count"], goal, plural(len(image.layers), "layer")


@check(
    "image_gained",
    "an image has this many more layers than `than` has now, or than it had when the step began",
    Param("image", str),
    Param("layers", int, minimum=0),
    Param("than", str, required=False),
)
def _image_gained(ctx: Context, a: dict[str, str | int]) -> tuple[bool, str, str]:
    gained = int(a["layers"])
    if "than" in a:
        goal = f"image {a['image']} has {plural(gained, 'more layer')} than {a['than']}"
        base_image = _image(ctx, str(a["than"]))
        if base_image is None:
            return False, goal, f"no image {a['than']}"
        base = len(base_image.layers)
    else:
        goal = f"image {a['image']} gained {plural(gained, 'layer')} in this step"
        known = ctx.baseline.layers.get(normalize_ref(str(a["image"])))
        if known is None:
            return False, goal, f"{a['image']} did not exist when the step began"
        base = known
    image = _image(ctx, str(a["image"]))
    if image is None:
        return False, goal, "no such image"
    now = len(image.layers) - base
    return (
        now == gained,
        goal,
        f"{now:+d} layer{'' if abs(now) == 1 else 's'} ({len(image.layers)} in all)",
    )


@check(
    "process_runs",
    "a process of this name runs in the container (frozen ones count: they still exist)",
    Param("container", str),
    Param("name", str),
)
def _process_runs(ctx: Context, a: dict[str, str | int]) -> tuple[bool, str, str]:
    from layerlab.runtime import procs  # the kernel's process table, read on use

    goal = f"{a['name']} runs in {a['container']}"
    c = _container(ctx, str(a["container"]))
    if c is None:
        return False, goal, "no such container"
    pid = int(c.state.get("Pid") or 0)
    if not c.running or pid <= 0:
        return False, goal, f"the container is {_state_word(c)}"
    found: list[str] = []
    stack = procs.processes(pid)
    while stack:
        p = stack.pop()
        stack.extend(p.children)
        argv0 = p.command.split(" ", 1)[0]
        found.append(f"{argv0.rsplit('/', 1)[-1]} ({p.state})")
    names = [f.split(" ", 1)[0] for f in found]
    return str(a["name"]) in names, goal, (", ".join(sorted(found)) or "no processes")


@check("exit_code", "the last command exited with this code", Param("code", int, minimum=0))
def _exit_code(ctx: Context, a: dict[str, str | int]) -> tuple[bool, str, str]:
    goal = f"the last command exited {a['code']}"
    if ctx.last is None:
        return False, goal, "no command yet"
    return ctx.last.code == a["code"], goal, f"exited {ctx.last.code}"


@check(
    "exit_code_not",
    "the last command did not exit with this code (`exit_code_not: 0`: it failed)",
    Param("code", int, minimum=0),
)
def _exit_code_not(ctx: Context, a: dict[str, str | int]) -> tuple[bool, str, str]:
    goal = (
        "the last command failed"
        if a["code"] == 0
        else f"the last command did not exit {a['code']}"
    )
    if ctx.last is None:
        return False, goal, "no command yet"
    return ctx.last.code != a["code"], goal, f"exited {ctx.last.code}"


@check(
    "last_command",
    "the last command was this one of Docker's (`container diff` is `diff`, `image ls` is "
    "`images`), whatever it printed",
    Param("command", str, choices=tuple(COMMANDS)),
)
def _last_command(ctx: Context, a: dict[str, str | int]) -> tuple[bool, str, str]:
    goal = f"the last command was {a['command']}"
    if ctx.last is None:
        return False, goal, "no command yet"
    command = _command_of(ctx.last.line)
    return command == a["command"], goal, (command or "not a command")


def _command_of(line: str) -> str | None:
    """The Docker command a line runs, as the CLI's grammar reads it (None: none it takes)."""
    try:
        words = split_command(line)
        if any(w.split("=", 1)[0] in ("-h", "--help", "--version") for w in words):
            return None  # argparse would print its help
        return str(parse(words).cmd or "") or None
    except (ValueError, LayerlabError, SystemExit):
        return None


def _first_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return "no output"
    head = lines[0] if len(lines[0]) <= 60 else lines[0][:59] + "…"
    return head + (f" (+{len(lines) - 1} lines)" if len(lines) > 1 else "")


def _failed(last: Outcome) -> str:
    """`now` for an output check after a failed command: its exit code and first error line."""
    return f"exited {last.code}: {_first_line(last.err or last.out)}"


@check(
    "output_has",
    "the last command succeeded (exit 0) and printed this text (its stdout)",
    Param("text", str),
)
def _output_has(ctx: Context, a: dict[str, str | int]) -> tuple[bool, str, str]:
    goal = f"the output shows {a['text']!r}"
    if ctx.last is None:
        return False, goal, "no command yet"
    if ctx.last.code != 0:
        return False, goal, _failed(ctx.last)
    return str(a["text"]) in ctx.last.out, goal, _first_line(ctx.last.out)


@check(
    "output_lacks",
    "the last command succeeded (exit 0) and did not print this text (its stdout)",
    Param("text", str),
)
def _output_lacks(ctx: Context, a: dict[str, str | int]) -> tuple[bool, str, str]:
    goal = f"the output does not show {a['text']!r}"
    if ctx.last is None:
        return False, goal, "no command yet"
    if ctx.last.code != 0:
        return False, goal, _failed(ctx.last)
    return str(a["text"]) not in ctx.last.out, goal, _first_line(ctx.last.out)


@check(
    "error_has",
    "the last command failed (exit not 0) and its error (stderr) says this text",
    Param("text", str),
)
def _error_has(ctx: Context, a: dict[str, str | int]) -> tuple[bool, str, str]:
    goal = f"the command fails saying {a['text']!r}"
    if ctx.last is None:
        return False, goal, "no command yet"
    if ctx.last.code == 0:
        return False, goal, f"it succeeded: {_first_line(ctx.last.out)}"
    return str(a["text"]) in ctx.last.err, goal, _failed(ctx.last)


@check(
    "build_cache",
    "the last command was a build that succeeded and took this many steps from the cache",
    Param("cached", int, minimum=0),
)
def _build_cache(ctx: Context, a: dict[str, str | int]) -> tuple[bool, str, str]:
    steps = "step" if a["cached"] == 1 else "steps"
    goal = f"the build took {a['cached']} {steps} from the cache"
    if ctx.last is None:
        return False, goal, "no command yet"
    if _command_of(ctx.last.line) != "build":  # `image build` too, as the grammar reads it
        return False, goal, f"the last command was no build: {ctx.last.line}"
    if ctx.last.code != 0:
        return False, goal, _failed(ctx.last)
    cached = ctx.last.out.splitlines().count(" ---> Using cache")
    return cached == a["cached"], goal, f"{cached} from the cache"


@check(
    "oom_killed",
    "the kernel's OOM killer ended a process of the container (`State.OOMKilled`)",
    Param("container", str),
)
def _oom_killed(ctx: Context, a: dict[str, str | int]) -> tuple[bool, str, str]:
    goal = f"the OOM killer ended {a['container']}"
    c = _container(ctx, str(a["container"]))
    if c is None:
        return False, goal, "no such container"
    killed = bool(c.state.get("OOMKilled"))
    return killed, goal, _state_word(c) + (", OOMKilled" if killed else ", not OOMKilled")


def _limits(ctx: Context, ref: str) -> tuple[Limits | None, str]:
    """What the kernel enforces on a running container's cgroup, or why nothing is read."""
    from layerlab.runtime import cgroups

    c = _container(ctx, ref)
    if c is None:
        return None, "no such container"
    if not c.running:
        return None, f"the container is {_state_word(c)}"
    return cgroups.read_limits(cgroups.container_group(c.id)), ""


@check(
    "memory_limit",
    "the kernel holds the running container's cgroup to this memory limit, in MiB (`-m`)",
    Param("container", str),
    Param("mib", int, minimum=0),
)
def _memory_limit(ctx: Context, a: dict[str, str | int]) -> tuple[bool, str, str]:
    goal = f"{a['container']}'s memory limit is {a['mib']} MiB"
    limits, why = _limits(ctx, str(a["container"]))
    if limits is None:
        return False, goal, why
    memory = limits.memory
    now = f"{memory / (1 << 20):g} MiB" if memory else "no limit"
    return memory == int(a["mib"]) << 20, goal, now


@check(
    "cpu_limit",
    "the kernel holds the running container's cgroup to this CPU quota, in thousandths of a "
    "CPU (`--cpus 0.5` is 500)",
    Param("container", str),
    Param("millicpus", int, minimum=0),
)
def _cpu_limit(ctx: Context, a: dict[str, str | int]) -> tuple[bool, str, str]:
    goal = f"{a['container']}'s CPU quota is {int(a['millicpus']) / 1000:g} CPUs"
    limits, why = _limits(ctx, str(a["container"]))
    if limits is None:
        return False, goal, why
    cpus = limits.nano_cpus
    now = f"{cpus / 1e9:g} CPUs" if cpus else "no quota"
    return cpus == int(a["millicpus"]) * 1_000_000, goal, now


NAMESPACES = ("cgroup", "ipc", "mnt", "net", "pid", "uts")


@check(
    "namespace",
    "the running container's pid 1 is in a namespace of this kind of its own, not the host's",
    Param("container", str),
    Param("kind", str, choices=NAMESPACES),
)
def _namespace(ctx: Context, a: dict[str, str | int]) -> tuple[bool, str, str]:
    goal = f"{a['container']} has a {a['kind']} namespace of its own"
    c = _container(ctx, str(a["container"]))
    if c is None:
        return False, goal, "no such container"
    pid = int(c.state.get("Pid") or 0)
    if not c.running or pid <= 0:
        return False, goal, f"the container is {_state_word(c)}"
    theirs = os.readlink(f"/proc/{pid}/ns/{a['kind']}")
    ours = os.readlink(f"/proc/self/ns/{a['kind']}")
    return theirs != ours, goal, (theirs if theirs != ours else f"the host's, {ours}")
