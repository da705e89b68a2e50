"""One or two sentences on what a command did to the union filesystem.

The article's point is that every command is a small, exact operation on
layers and process spaces; the explainer says which one, with this store's
real names and counts, after each command.
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass

from layerlab.containers import Container
from layerlab.tui.model import StoreSummary, Subject
from layerlab.unionfs import Change

READ_ONLY = {
    "ps": "ps read the containers' metadata; -a also lists the ones that are not running.",
    "images": "images lists top-level images; each hides a stack of read-only layers "
    "(pick one on the left to see them).",
    "history": "history listed the image's layers, newest first.",
    "inspect": "inspect printed metadata from the store; nothing changed.",
    "logs": "logs read the container's json log file; nothing changed.",
    "top": "top listed the processes in the container's cgroup.",
    "diff": "diff read the container's writable layer: A added, C changed, D deleted "
    "(a whiteout hides the file below).",
    "wait": "wait blocked until the container stopped.",
}


@dataclass(frozen=True)
class Outcome:
    """A finished command, with the store before and after it."""

    line: str
    ns: argparse.Namespace
    code: int
    error: str
    output: str
    before: StoreSummary
    after: StoreSummary
    subject: Subject | None
    changes_before: tuple[Change, ...]  # the subject container's writable layer, before
    changes_after: tuple[Change, ...]


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _layers(summary: StoreSummary, image_id: str) -> int:
    image = summary.image(image_id)
    return len(image.layers) if image else 0


def _delta(outcome: Outcome) -> str:
    old = {c.path: c.kind for c in outcome.changes_before}
    new = [str(c) for c in outcome.changes_after if old.get(c.path) != c.kind]
    if not new:
        return "nothing changed in its writable layer"
    shown = ", ".join(new[:3]) + (f" and {len(new) - 3} more" if len(new) > 3 else "")
    return f"its writable layer now shows {shown}"


def _container(outcome: Outcome) -> tuple[Container | None, Container | None]:
    if outcome.subject is None or outcome.subject.kind != "container":
        return None, None
    cid = outcome.subject.id
    return outcome.before.container(cid), outcome.after.container(cid)


def explain(outcome: Outcome) -> str:
    ns, code = outcome.ns, outcome.code
    if outcome.error:
        return f"{ns.cmd} failed: {outcome.error.rstrip('.')}. The store is as it was."
    if ns.cmd in READ_ONLY:
        return READ_ONLY[ns.cmd]
    before, after = _container(outcome)
    if ns.cmd in ("create", "run", "start") and after is not None:
        return _started(outcome, before, after)
    if after is not None:
        name, changes = after.name, len(outcome.changes_after)
        writable = f"its writable layer ({plural(changes, 'change')}) stays"
        if ns.cmd == "exec":
            return (
                f"exec ran `{shlex.join(ns.command)}` as a new process in {name}'s process space; "
                f"{_delta(outcome)}."
            )
        if ns.cmd in ("stop", "kill"):
            how = "SIGKILL ended" if ns.cmd == "kill" else "the stop signal ended"
            return (
                f"{how} {name}'s processes: the process space is gone, but {writable}: "
                "a stopped container is still a container."
            )
        if ns.cmd == "pause":
            return (
                f"pause froze every process of {name} with the cgroup freezer (no signal is "
                "sent); the filesystem is untouched."
            )
        if ns.cmd == "unpause":
            return f"unpause thawed {name}'s processes; they carry on where they were frozen."
        if ns.cmd == "rename":
            return f"rename changed only the container's metadata; it is now {name}."
    return _image_command(outcome, code)


def _started(outcome: Outcome, before: Container | None, after: Container) -> str:
    summary, ns = outcome.after, outcome.ns
    image = summary.image_name(after.data["Image"])
    layers = plural(_layers(summary, after.data["Image"]), "read-only layer")
    if before is None and not after.running and after.status == "created":
        return (
            f"create added an empty writable layer on top of {image}'s {layers}; nothing is "
            f"running. The container {after.name} is the image plus that layer."
        )
    made = "a new writable layer on" if before is None else f"{after.name}'s writable layer and"
    union = f"mounted {made} {image}'s {layers} as one union"
    if after.running:
        return (
            f"{ns.cmd} {union} and gave it an isolated process space: "
            f"`{after.command}` runs as pid 1."
        )
    return (
        f"{ns.cmd} {union}; `{after.command}` ran in its own process space and exited with "
        f"code {outcome.code}; {_delta(outcome)}."
    )


def _image_command(outcome: Outcome, code: int) -> str:
    ns = outcome.ns
    if ns.cmd == "run" and ns.rm and not ns.detach:
        return (
            f"run put a writable layer on {ns.image}, ran `{shlex.join(ns.command) or 'its CMD'}` "
            f"(exit code {code}), and --rm deleted the container and its writable layer again."
        )
    gone = [c for c in outcome.before.containers if outcome.after.container(c.id) is None]
    if ns.cmd in ("rm", "run") and gone:
        image = outcome.after.image_name(gone[0].data["Image"])
        return (
            f"{ns.cmd} deleted {gone[0].name}'s writable layer and its metadata; "
            f"{image}'s read-only layers are untouched."
        )
    if ns.cmd == "commit" and outcome.subject is not None:
        image_id = outcome.subject.id
        n = _layers(outcome.after, image_id)
        return (
            f"commit copied {ns.container}'s writable layer into a new read-only layer: image "
            f"{outcome.after.image_name(image_id)} has {plural(n, 'layer')}, one more than the "
            "container's "
            "image. The container keeps its writable layer."
        )
    if ns.cmd == "tag":
        return f"tag gave the image the name {ns.target}; no layer was copied."
    if ns.cmd == "rmi":
        deleted = sum(line.startswith("Deleted: ") for line in outcome.output.splitlines())
        if not deleted:
            return "rmi removed a name; the image stays while another name or a container uses it."
        return (
            f"rmi deleted the image and {plural(max(deleted - 1, 0), 'read-only layer')} "
            "that no other image used."
        )
    return f"{ns.cmd} finished with exit code {code}."
