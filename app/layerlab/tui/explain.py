"""One or two sentences on what a command did to the union filesystem.

The article's point is that every command is a small, exact operation on
layers and process spaces; the explainer says which one, with this store's
real names and counts, after each command. It reads the command's `Report`
(what it made, removed, worked on) and a few targeted reads taken right after
it (`Outcome`); it never parses what the command printed.
"""

from __future__ import annotations

import argparse
import re
import shlex
import signal
from dataclasses import dataclass
from typing import TYPE_CHECKING

from layerlab.errors import LayerlabError
from layerlab.layerfs.unionfs import Change
from layerlab.presentation.humanize import parse_rfc3339, plural
from layerlab.report import BuildStep, Report
from layerlab.storage.reference import short_id
from layerlab.storage.snapshot import Subject
from layerlab.tui.outside import written_outside

if TYPE_CHECKING:  # the panels import this module before the first frame; the engine waits
    from layerlab.storage.containers import Container

DEFAULT_STOP_SECONDS = 10  # `stop`'s grace time without -t (the engine's DEFAULT_STOP_TIMEOUT)
TWO_IDS = (
    "IMAGE ID is an image id (the hash of its config): what `rmi` takes, or a name; the "
    "layer stack shows layer ids (chain ids), another kind: a layer is not an image."
)
READ_ONLY = {
    "ps": "ps read the containers' metadata; -a also lists the ones that are not running.",
    "images": "images lists top-level images (tagged, or used by a container); each hides a "
    "stack of read-only layers (pick one in the subjects list, F2, to see them). " + TWO_IDS,
    "images -a": "images -a also lists the intermediate images a build leaves, one per step "
    "(<none>): each is its parent plus that step, and stands for the layers up to it; they "
    "go when the image on top is removed. " + TWO_IDS,
    "history": "history listed the image's layers, newest first.",
    "inspect": "inspect printed metadata from the store (the inspect tab shows it too); "
    "nothing changed.",
    "logs": "logs read the container's json log file; nothing changed.",
    "top": "top listed the processes in the container's cgroup.",
    "stats": "stats read each container's cgroup counters (CPU, memory, pids, block I/O) "
    "and its network namespace's; nothing changed.",
    "diff": "diff read the container's writable layer: A added, C changed, D deleted "
    "(a whiteout hides the file below).",
    "wait": "wait blocked until the container stopped.",
    "events": "events read the store's journal of what the engine did; nothing changed.",
    "port": "port read the container's published ports: each host port is held by a "
    "layerlab-proxy process (the container's shim started it) that forwards what arrives "
    "to the container's address; nothing changed.",
}
# Commands whose exit code is their container's: any other non-zero code is their own failure.
CONTAINER_CODE = {"run", "start", "exec", "attach", "build"}
# A word as the bar splits it, quotes and all (each is one word of `shlex.split`).
RAW_WORD = re.compile(r"""(?:[^\s'"\\]+|'[^']*'|"(?:\\.|[^"\\])*"|\\.)+""")
# What a shell would have taken for itself: a redirection, a pipe, a list.
SHELL_OPERATOR = re.compile(r"[0-9]?(?:>>?|<)(?:&[0-9])?\S*|&>\S*|\|\|?|&&?|;")
NO_IMAGES = (
    "images listed nothing: this store has no image yet. busybox is made on first use "
    "(`history busybox`, `run busybox ...`), as `docker run` pulls; then it is listed here and "
    "in the subjects list."
)
CANCELLED = {
    "logs": "logs stopped following the container's log; the container keeps running.",
    "wait": "wait stopped waiting; the container keeps running.",
    "events": "events stopped following the journal of what the engine did; nothing changed.",
}


@dataclass(frozen=True)
class ImageFacts:
    """The image an explanation speaks of, as the panels name it."""

    name: str
    layers: int


@dataclass(frozen=True)
class HistoryFacts:
    """An image's history, counted: what `history`'s explanation says about its rows."""

    name: str
    rows: int
    empty: int  # entries with `empty_layer`: config-only steps, 0B, no layer
    missing: int  # rows whose step has no local image: `<missing>`


@dataclass(frozen=True)
class Outcome:
    """A finished command: its report, its subject, and what was read right after it."""

    line: str
    ns: argparse.Namespace
    code: int
    error: str
    report: Report
    subject: Subject | None
    said: str = ""  # the error as the CLI prints it: "Error: …", or a client's words bare
    cancelled: bool = False  # ended by the TUI (quit, or the worker cancelled): not a failure
    container: Container | None = None  # the subject container, read after the command
    created: bool = False  # the command made the subject container
    image: ImageFacts | None = None  # the subject's image (a container's, or the image itself)
    removed: tuple[str, ...] = ()  # names of the containers it removed
    changes_before: tuple[Change, ...] = ()  # the subject's writable layer, when a process ran
    changes_after: tuple[Change, ...] = ()
    writable_entries: int = 0  # entries in the subject container's writable layer, after
    started: float = 0.0  # when the command began (time.time()): `stop` tells the wait from it
    history: HistoryFacts | None = None  # `history`: the image's rows, counted
    images: int | None = None  # `images`: how many images the store has, after it


def _delta(outcome: Outcome) -> str:
    old = {c.path: c.kind for c in outcome.changes_before}
    new = [str(c) for c in outcome.changes_after if old.get(c.path) != c.kind]
    if not new:
        return "nothing changed in its writable layer"
    shown = ", ".join(new[:3]) + (f" and {len(new) - 3} more" if len(new) > 3 else "")
    return f"its writable layer now shows {shown}"


def typed(line: str, words: int) -> str:
    """The last `words` words of `line` as they were typed, quotes and all ("" if none)."""
    raw = list(RAW_WORD.finditer(line))
    if not 0 < words <= len(raw):
        return ""
    return line[raw[-words].start() :].rstrip()


def command_typed(outcome: Outcome) -> str:
    """The command given to the container (`run`, `create`, `exec`) as typed in the bar."""
    words = getattr(outcome.ns, "command", None) or []
    return typed(outcome.line, len(words)) or shlex.join(words)


def container_command(after: Container) -> str:
    """Pid 1's command line, quoted as a shell would need it (so a quoted script shows)."""
    return shlex.join([after.data["Path"], *after.data["Args"]])


def shell_note(outcome: Outcome) -> str:
    """`>`, `|`, `&&` typed after the image reach the container as plain words: say so, and
    give the `sh -c '…'` line that lets the container's shell read them."""
    ns = outcome.ns
    words = getattr(ns, "command", None) or []
    if ns.cmd not in ("run", "create", "exec") or not words:
        return ""
    raw = [m.group() for m in RAW_WORD.finditer(outcome.line)][-len(words) :]
    operators = [word for word in raw if SHELL_OPERATOR.fullmatch(word)]
    if not operators:
        return ""
    head = outcome.line[: len(outcome.line) - len(typed(outcome.line, len(words)))]
    head = head.rstrip()
    script = raw[2:] if words[:2] == ["sh", "-c"] and len(raw) > 2 else raw  # the shell's
    fixed = f"{head} sh -c {shlex.quote(' '.join(script))}"
    said = ", ".join(dict.fromkeys(f"`{word}`" for word in operators))
    passed = "was passed to" if said.count("`") == 2 else "were passed to"
    plain = "a plain argument" if said.count("`") == 2 else "plain arguments"
    return (
        f" Note: {said} {passed} `{words[0]}` as {plain}: no shell stands between the bar and "
        f"the container to read it. For the container's shell to read it: {fixed}"
    )


def explain(outcome: Outcome) -> str:
    """What the command did, and a note when shell syntax reached it as plain words."""
    return _explain(outcome) + shell_note(outcome)


def _explain(outcome: Outcome) -> str:
    ns, code = outcome.ns, outcome.code
    if outcome.cancelled:
        return CANCELLED.get(
            ns.cmd, f"{ns.cmd} stopped waiting for the container; the container keeps running."
        )
    if outcome.error:
        return f"{ns.cmd} failed: {outcome.error.rstrip('.')}. The store is as it was."
    if code and ns.cmd not in CONTAINER_CODE:  # its errors went to the output, one per item
        changed = "nothing changed" if ns.cmd in READ_ONLY else "the rest was done"
        return f"{ns.cmd} failed (exit code {code}): the output says why; {changed}."
    if ns.cmd == "images" and outcome.images == 0:
        return NO_IMAGES
    if ns.cmd == "images" and getattr(ns, "all", False):
        return READ_ONLY["images -a"]
    if ns.cmd == "history" and outcome.history is not None:
        return _history(outcome.history)
    if ns.cmd in READ_ONLY:
        return READ_ONLY[ns.cmd]
    if ns.cmd == "build":
        return _build(outcome)
    if ns.cmd == "save":
        return _save(outcome)
    after = outcome.container
    if ns.cmd in ("create", "run", "start") and after is not None:
        return _started(outcome, after)
    if after is not None:
        name = after.name
        writable = f"its writable layer ({plural(outcome.writable_entries, 'entry')}) stays"
        if ns.cmd == "exec":
            from layerlab.engine import mounts_of  # loaded by then: the command ran through it

            return (
                f"exec ran `{command_typed(outcome)}` as a new process in {name}'s process space; "
                f"{_delta(outcome)}.{written_outside(mounts_of(after.data))}"
            )
        if ns.cmd == "stop":
            return _stop(outcome, after, writable)
        if ns.cmd == "kill":
            return _kill(outcome, after, writable)
        if ns.cmd == "export":
            return _export(outcome, after)
        if ns.cmd == "pause":
            return (
                f"pause froze every process of {name} with the cgroup freezer: no signal is "
                "sent (not even SIGTSTP), so they cannot notice; the filesystem is untouched."
            )
        if ns.cmd == "unpause":
            return f"unpause thawed {name}'s processes; they carry on where they were frozen."
        if ns.cmd == "rename":
            return f"rename changed only the container's metadata; it is now {name}."
    return _image_command(outcome, code)


def _started(outcome: Outcome, after: Container) -> str:
    ns, facts = outcome.ns, outcome.image
    image = facts.name if facts else after.image_ref
    layers = plural(facts.layers if facts else 0, "read-only layer")
    command = command_typed(outcome) if getattr(ns, "command", None) else container_command(after)
    if outcome.created and not after.running and after.status == "created":
        return (
            f"create added an empty writable layer on top of {image}'s {layers}; nothing is "
            f"running. The container {after.name} is the image plus that layer."
        )
    made = "a new writable layer on" if outcome.created else f"{after.name}'s writable layer and"
    union = f"mounted {made} {image}'s {layers} as one union"
    if after.running:
        return f"{ns.cmd} {union} and gave it an isolated process space: `{command}` runs as pid 1."
    return (
        f"{ns.cmd} {union}; `{command}` ran in its own process space and exited with "
        f"code {outcome.code}; {_delta(outcome)}."
    )


def _image_command(outcome: Outcome, code: int) -> str:
    ns, report = outcome.ns, outcome.report
    if ns.cmd == "run" and ns.rm and not ns.detach:
        return (
            f"run put a writable layer on {ns.image}, ran `{command_typed(outcome) or 'its CMD'}` "
            f"(exit code {code}), and --rm deleted the container and its writable layer again."
        )
    if ns.cmd in ("rm", "run") and outcome.removed:
        image = f"{outcome.image.name}'s" if outcome.image else "the image's"
        return (
            f"{ns.cmd} deleted {outcome.removed[0]}'s writable layer and its metadata; "
            f"{image} read-only layers are untouched."
        )
    if ns.cmd == "commit" and report.created_images and outcome.image is not None:
        return (
            f"commit copied {ns.container}'s writable layer into a new read-only layer: image "
            f"{outcome.image.name} has {plural(outcome.image.layers, 'layer')}, one more than "
            "the container's image. The container keeps its writable layer."
        )
    if ns.cmd == "tag":
        return f"tag gave the image the name {ns.target}; no layer was copied."
    if ns.cmd == "rmi":
        names = ", ".join(report.untagged)
        if not report.removed_images:
            return (
                f"rmi removed the name {names or ns.images[0]}; the image stays while another "
                "name or a container uses it."
            )
        deleted = plural(len(report.removed_images), "image")
        return (
            f"rmi deleted {deleted} and the read-only layers no other image used"
            + (f" (untagged {names})" if names else "")
            + ". It takes image ids (IMAGE ID in `images`) or names, never layer ids."
        )
    return f"{ns.cmd} finished with exit code {code}."


def signal_name(value: str | int | None, default: str = "SIGTERM") -> str:
    """`TERM`, `15` or `SIGTERM` as `SIGTERM`; what cannot be read stays as written."""
    from layerlab.storage.containers import parse_signal

    try:
        return signal.Signals(parse_signal(value if value is not None else default)).name
    except (LayerlabError, ValueError):
        return str(value)


def _signum(name: str) -> int:
    from layerlab.storage.containers import parse_signal

    try:
        return parse_signal(name)
    except (LayerlabError, ValueError):
        return 0


def _exit(code: int) -> str:
    """`exit code 137 = 128 + 9 (SIGKILL)`: a code above 128 names the signal that ended it."""
    try:
        name = signal.Signals(code - 128).name if code > 128 else ""
    except ValueError:
        name = ""
    return f"exit code {code} = 128 + {code - 128} ({name})" if name else f"exit code {code}"


def _took(outcome: Outcome, after: Container) -> float | None:
    """Seconds from the command's start to the container's recorded exit; None: unknown."""
    finished = after.state.get("FinishedAt") or ""
    if not outcome.started or not finished or finished.startswith("0001-"):
        return None
    try:
        return parse_rfc3339(finished) - outcome.started
    except (ValueError, LayerlabError):
        return None


def _stop(outcome: Outcome, after: Container, writable: str) -> str:
    ns, name = outcome.ns, after.name
    config = after.data.get("Config") or {}
    sig = signal_name(ns.signal or config.get("StopSignal") or "SIGTERM")
    grace = DEFAULT_STOP_SECONDS if ns.time is None else max(ns.time, 0)
    stays = f"The process space is gone, but {writable}: a stopped container is still a container."
    if after.running:
        return f"stop sent {sig} to {name}, but it is still running."
    took = _took(outcome, after)
    if took is not None and took < -0.5:
        return f"{name} was not running: stop sent no signal. {writable.capitalize()}."
    code = int(after.state.get("ExitCode") or 0)
    pid1 = f"{name}'s pid 1 (`{after.command}`)"
    timing = f" ({took:.1f} s in all)" if took is not None else ""
    if code > 128 and code - 128 == _signum(sig):
        return f"stop sent {sig} to {pid1}, and it ended at once{timing}: {_exit(code)}. {stays}"
    if code == 128 + signal.SIGKILL and (took is None or took >= grace - 0.5):
        return (
            f"stop sent {sig} to {pid1}, which ignored it: pid 1 gets only the signals it has "
            f"a handler for. After the {grace} s grace time (-t) stop sent SIGKILL, which cannot "
            f"be ignored{timing}: {_exit(code)}. {stays}"
        )
    if code == 128 + signal.SIGKILL:
        return (
            f"stop sent {sig} to {pid1}; SIGKILL ended it before the {grace} s grace time ran "
            f"out{timing}: {_exit(code)}. {stays}"
        )
    return (
        f"stop sent {sig} to {pid1}; it handled the signal (a trap) and exited with its own "
        f"{_exit(code)}{timing}, within the {grace} s grace time: no SIGKILL. {stays}"
    )


def _kill(outcome: Outcome, after: Container, writable: str) -> str:
    ns, name = outcome.ns, after.name
    sig = signal_name(ns.signal, "KILL")
    if after.running:
        return (
            f"kill sent {sig} to {name}'s pid 1 (`{after.command}`), and it was still running "
            f"right after: pid 1 ignores a signal it has no handler for (SIGKILL always works)."
        )
    code = int(after.state.get("ExitCode") or 0)
    how = (
        "at once, with no grace time: SIGKILL cannot be caught or ignored"
        if sig == "SIGKILL"
        else "and it ended"
    )
    return (
        f"kill sent {sig} to {name}'s processes {how}; {_exit(code)}. The process space is "
        f"gone, but {writable}."
    )


def _history(facts: HistoryFacts) -> str:
    text = f"history listed {facts.name}'s {plural(facts.rows, 'step')}, newest first"
    if facts.empty:
        text += (
            f"; {facts.empty} of them show 0B: config-only steps (ENV, CMD, ...) recorded as "
            "empty layers, with no files"
        )
    if facts.missing:
        return text + (
            f". {plural(facts.missing, 'row')} read <missing>: that step's image is not in this "
            "store (a pulled or loaded image brings its layers, not its intermediate images): "
            "layers are not images."
        )
    return text + ". Each IMAGE is the local image that step left (an intermediate image)."


def _save(outcome: Outcome) -> str:
    ns = outcome.ns
    where = ns.output or "standard output"
    what = " ".join(ns.images)
    return (
        f"save wrote {what} whole into {where}: each layer as its own tar with its json, the "
        "image config and a manifest, so its history survives; `load` brings it back as it was. "
        "(export, by contrast, flattens one container's files.)"
    )


def _export(outcome: Outcome, after: Container) -> str:
    ns, facts = outcome.ns, outcome.image
    where = ns.output or "standard output"
    layers = plural(facts.layers if facts else 0, "read-only layer")
    return (
        f"export flattened {after.name}'s merged filesystem (its image's {layers} plus its "
        f"writable layer) into one tar in {where}: no layers, no history, no config; `import` "
        "makes a one-layer image from it. (save, by contrast, keeps an image's layers.)"
    )


def _build(outcome: Outcome) -> str:
    steps = [s for s in outcome.report.build_steps if s.keyword != "FROM"]
    cached = sum(s.cached for s in steps)
    layered = sum(1 for s in steps if not s.cached and s.layer)
    empty = sum(1 for s in steps if not s.cached and not s.layer)
    parts = []
    if layered:
        kinds = sorted({s.keyword for s in steps if not s.cached and s.layer})
        parts.append(
            f"{layered} ({', '.join(kinds)}) changed files in a container's writable layer, "
            "each committed as a new read-only layer"
        )
    if empty:
        parts.append(f"{empty} changed only the config: an empty layer (0B) in history")
    if cached:
        parts.append(f"{cached} came from the cache: no container at all")
    done = "; ".join(parts) if parts else "no step after FROM"
    if outcome.code:
        return (
            f"build stopped with exit code {outcome.code} after {plural(len(steps), 'step')}: "
            f"{done}. The steps done stay as intermediate images (the cache); no image was "
            "tagged. The output pane lists each step."
        )
    image = f"image {outcome.image.name}" if outcome.image else "the image"
    return (
        f"build ran {plural(len(steps), 'step')} after FROM: {done}. Each step left an "
        f"intermediate image (`images -a`); {image} is the last. The output pane lists each step."
    )


def build_notes(steps: list[BuildStep]) -> list[str]:
    """A line per step, for the output pane: what the builder really did at it."""
    notes = []
    for number, step in enumerate(steps, 1):
        head = f"step {number} {step.instruction}: "
        image = f"image {short_id(step.image)}" if step.image else "an image"
        if step.keyword == "FROM":
            notes.append(head + f"start from {image}'s layers as they are: no container")
        elif step.cached:
            notes.append(
                head + f"Using cache: {image}, made by this very step before, is reused; "
                "no container, no new layer"
            )
        elif not step.layer:
            ran = f"container {short_id(step.container)}" if step.container else "a container"
            notes.append(
                head + f"{ran} committed unchanged, config only: an empty layer in history "
                f"(0B), {image}"
            )
        else:
            layer = f"layer {short_id(step.layer)}"
            ran = f"container {short_id(step.container)}" if step.container else "a container"
            how = (
                f"ran in {ran}; its writable layer's change was committed"
                if step.keyword == "RUN"
                else f"files written into {ran}'s writable layer (no process ran), committed"
            )
            notes.append(head + f"{how} as the new read-only {layer}, {image}")
    return notes
