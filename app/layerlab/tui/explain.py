"""One or two sentences on what a command did to the union filesystem.

The article's point is that every command is a small, exact operation on
layers and process spaces; the explainer says which one, with this store's
real names and counts, after each command. It reads the command's `Report`
(what it made, removed, worked on) and a few targeted reads taken right after
it (`Outcome`); it never parses what the command printed.
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass

from layerlab.containers import Container
from layerlab.report import Report
from layerlab.snapshot import Subject
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
CANCELLED = {
    "logs": "logs stopped following the container's log; the container keeps running.",
    "wait": "wait stopped waiting; the container keeps running.",
}


@dataclass(frozen=True)
class ImageFacts:
    """The image an explanation speaks of, as the panels name it."""

    name: str
    layers: int


@dataclass(frozen=True)
class Outcome:
    """A finished command: its report, its subject, and what was read right after it."""

    line: str
    ns: argparse.Namespace
    code: int
    error: str
    report: Report
    subject: Subject | None
    cancelled: bool = False  # ended by the TUI (quit, or the worker cancelled): not a failure
    container: Container | None = None  # the subject container, read after the command
    created: bool = False  # the command made the subject container
    image: ImageFacts | None = None  # the subject's image (a container's, or the image itself)
    removed: tuple[str, ...] = ()  # names of the containers it removed
    changes_before: tuple[Change, ...] = ()  # the subject's writable layer, when a process ran
    changes_after: tuple[Change, ...] = ()
    writable_entries: int = 0  # entries in the subject container's writable layer, after


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _delta(outcome: Outcome) -> str:
    old = {c.path: c.kind for c in outcome.changes_before}
    new = [str(c) for c in outcome.changes_after if old.get(c.path) != c.kind]
    if not new:
        return "nothing changed in its writable layer"
    shown = ", ".join(new[:3]) + (f" and {len(new) - 3} more" if len(new) > 3 else "")
    return f"its writable layer now shows {shown}"


def explain(outcome: Outcome) -> str:
    ns, code = outcome.ns, outcome.code
    if outcome.cancelled:
        return CANCELLED.get(
            ns.cmd, f"{ns.cmd} stopped waiting for the container; the container keeps running."
        )
    if outcome.error:
        return f"{ns.cmd} failed: {outcome.error.rstrip('.')}. The store is as it was."
    if ns.cmd in READ_ONLY:
        return READ_ONLY[ns.cmd]
    after = outcome.container
    if ns.cmd in ("create", "run", "start") and after is not None:
        return _started(outcome, after)
    if after is not None:
        name = after.name
        writable = f"its writable layer ({plural(outcome.writable_entries, 'entry')}) stays"
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


def _started(outcome: Outcome, after: Container) -> str:
    ns, facts = outcome.ns, outcome.image
    image = facts.name if facts else after.image_ref
    layers = plural(facts.layers if facts else 0, "read-only layer")
    if outcome.created and not after.running and after.status == "created":
        return (
            f"create added an empty writable layer on top of {image}'s {layers}; nothing is "
            f"running. The container {after.name} is the image plus that layer."
        )
    made = "a new writable layer on" if outcome.created else f"{after.name}'s writable layer and"
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
    ns, report = outcome.ns, outcome.report
    if ns.cmd == "run" and ns.rm and not ns.detach:
        return (
            f"run put a writable layer on {ns.image}, ran `{shlex.join(ns.command) or 'its CMD'}` "
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
        return f"rmi deleted {deleted} and the read-only layers no other image used" + (
            f" (untagged {names})." if names else "."
        )
    return f"{ns.cmd} finished with exit code {code}."
