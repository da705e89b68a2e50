"""One command run for the TUI, and what it did read back: no Textual here.

`execute` runs a parsed command line through the commands' own dispatch, as the
terminal does, and returns an `Outcome`: the command's `Report` and a few targeted
reads right after it through the engine's read API (the subject the panels follow
next, its container and image, the writable layer around a process it ran). It
never reads the whole store and never parses what the command printed. The app
calls it in a worker; the tests call it directly.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from layerlab.errors import Cancelled, LayerlabError, NotFound, printed
from layerlab.layerfs import analysis
from layerlab.layerfs.unionfs import Change
from layerlab.report import Report
from layerlab.storage.reference import short_id
from layerlab.storage.snapshot import Snapshot, Subject
from layerlab.tui import model
from layerlab.tui.explain import HistoryFacts, ImageFacts, Outcome

if TYPE_CHECKING:
    from layerlab.commands.stdio import IO
    from layerlab.engine import Engine
    from layerlab.storage.containers import Container

# Commands that run a process in a container: the explanation says what it changed in the
# writable layer, so only these read it (before, for a container that already existed).
RUNS_A_PROCESS = {"exec", "start", "run"}


def needs_terminal(ns: argparse.Namespace) -> bool:
    """`run -it`, `exec -it`, `start -ai`: the container reads the keyboard, so it gets it."""
    if ns.cmd not in ("run", "exec", "start") or getattr(ns, "detach", False):
        return False
    return bool(ns.interactive)


def execute(
    engine: Engine,
    line: str,
    ns: argparse.Namespace,
    cio: IO,
    before: Snapshot | None,
    prepare: Callable[[argparse.Namespace], None] | None = None,
) -> Outcome:
    """Run one command through the commands' own dispatch; its report says what it touched.

    `before` is the store as the panels show it; `prepare` adjusts the command first
    (a lesson anchors relative paths in its work folder). The writable layer is read
    around the command only when it runs a process in an existing container.
    """
    from layerlab.commands import handlers  # the engine's verbs: not before the first line

    ran_in = existing_container(engine, ns) if ns.cmd in RUNS_A_PROCESS else None
    changes_before = changes(engine, ran_in)
    error, said, cancelled, report = "", "", False, Report()
    started = time.time()  # wall clock, as the container's FinishedAt
    try:
        if prepare is not None:
            prepare(ns)
        report = handlers.dispatch(engine, ns, cio)
    except Cancelled as exc:  # the app quits, or the command was cancelled: no failure
        cancelled, report = True, Report(code=exc.exit_code)
    except LayerlabError as exc:
        error, said, report = str(exc), printed(exc), Report(code=exc.exit_code)
    except Exception as exc:  # an engine bug or OS failure: one line, as the CLI does
        error, report = f"{type(exc).__name__}: {exc}", Report(code=125)
    if report.errors and not report.containers:  # every item failed (`start nosuch`)
        error, said = "; ".join(report.errors), ""
    outcome = Outcome(line=line, ns=ns, code=report.code, error=error, report=report,
                      subject=None, cancelled=cancelled, started=started,
                      said=said or (f"Error: {error}" if error else ""))  # fmt: skip
    if error or cancelled:
        return outcome
    return read_outcome(engine, outcome, before, ran_in, changes_before)


def existing_container(engine: Engine, ns: argparse.Namespace) -> str | None:
    """The container `exec`/`start` runs a process in, if it exists before the command."""
    if ns.cmd == "run":
        return None  # its container is new: an empty writable layer before
    refs = ns.containers[:1] if ns.cmd == "start" else [ns.container]
    subject = engine.resolve(refs[0]) if refs else None
    return subject.id if subject is not None and subject.kind == "container" else None


def read_outcome(
    engine: Engine,
    outcome: Outcome,
    before: Snapshot | None,
    ran_in: str | None,
    changes_before: tuple[Change, ...],
) -> Outcome:
    """The subject from the report, and targeted reads of it (no full-store read)."""
    report, ns = outcome.report, outcome.ns
    subject = subject_of(engine, report, ns, before)
    container = (
        read_container(engine, subject.id) if subject and subject.kind == "container" else None
    )
    removed = tuple(removed_name(cid, before) for cid in report.removed_containers)
    image_id = (
        container.data["Image"] if container is not None
        else subject.id if subject is not None and subject.kind == "image"
        else None
    )  # fmt: skip
    changes_after: tuple[Change, ...] = ()
    entries = 0
    if container is not None and (
        ns.cmd == "exec" or (ns.cmd in RUNS_A_PROCESS and not container.running)
    ):
        changes_after = changes(engine, container.id)  # exec, or a process that ran and ended
    elif container is not None and ns.cmd in ("stop", "kill"):
        entries = writable_entries(engine, container.id)
    return replace(
        outcome,
        subject=subject,
        container=container,
        created=container is not None and container.id in report.created_containers,
        image=image_facts(engine, image_id),
        removed=removed,
        changes_before=changes_before if container is not None and container.id == ran_in else (),
        changes_after=changes_after,
        writable_entries=entries,
        history=history_facts(engine, ns.image) if ns.cmd == "history" else None,
        images=len(engine.image_ids()) if ns.cmd == "images" else None,
    )


def subject_of(
    engine: Engine, report: Report, ns: argparse.Namespace, before: Snapshot | None
) -> Subject | None:
    """What the panels follow after a command, from its report, most specific first.

    The container it made; else the image it made; else, after `rm`, the removed
    container's image; else the first container or image it names that is still
    there; else what the command line names (`run --rm`). None: nothing to follow (`ps`).
    """
    removed = set(report.removed_containers)
    made = [cid for cid in report.created_containers if cid not in removed]
    if made:
        return Subject("container", made[0])
    if report.created_images:
        return Subject("image", report.created_images[0])
    for cid in report.removed_containers:
        was = before.container(cid) if before is not None else None
        if was is not None:
            return Subject("image", was.data["Image"])
    gone = set(report.removed_images)
    for cid in report.containers:
        if cid not in removed:
            return Subject("container", cid)
    for image_id in report.images:
        if image_id not in gone:
            return Subject("image", image_id)
    for ref in model.command_refs(ns):
        subject = engine.resolve(ref)
        if subject is not None:
            return subject
    return None


def read_container(engine: Engine, cid: str) -> Container | None:
    try:
        return engine.container(cid)
    except NotFound:  # removed meanwhile (another terminal, `--rm`)
        return None


def image_facts(engine: Engine, image_id: str | None) -> ImageFacts | None:
    if image_id is None:
        return None
    try:
        image = engine.image(image_id)
        tags = engine.image_inspect(image)["RepoTags"]
    except (NotFound, *analysis.GONE):
        return None
    return ImageFacts(model.image_name(tags, image.id), len(image.layers))


def history_facts(engine: Engine, ref: str) -> HistoryFacts | None:
    try:
        image = engine.image(ref)
        rows = engine.history(image.id)
        tags = engine.image_inspect(image)["RepoTags"]
    except (NotFound, *analysis.GONE):
        return None
    entries = image.config.get("history") or []
    return HistoryFacts(
        name=model.image_name(tags, image.id),
        rows=len(rows),
        empty=sum(1 for entry in entries if entry.get("empty_layer")),
        missing=sum(1 for row in rows if row.image_id == "<missing>"),
    )


def removed_name(cid: str, before: Snapshot | None) -> str:
    """A removed container's name as the panels knew it, else its short id."""
    was = before.container(cid) if before is not None else None
    return was.name if was is not None else short_id(cid)


def changes(engine: Engine, cid: str | None) -> tuple[Change, ...]:
    """The container's writable layer, A/C/D; nothing when there is none (or it went)."""
    if cid is None:
        return ()
    try:  # a running container may delete files while we read: read again, else nothing
        return analysis.reread(lambda: tuple(engine.diff(cid)), ())
    except LayerlabError:
        return ()


def writable_entries(engine: Engine, cid: str) -> int:
    try:
        layer = engine.writable_layer(cid)
    except LayerlabError:
        return 0
    return analysis.reread(layer.size, (0, 0))[1]
