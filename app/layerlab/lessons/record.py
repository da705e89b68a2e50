"""`layerlab lesson record NAME`: the level builder - a sandbox session becomes a lesson file.

A plain line-by-line session (not the TUI: one command a line on standard
input, so a script or a teacher at a terminal can record alike) in a
throwaway store. `step` ends a step; `done`, `quit` or end of input ends the
lesson. Each step's checks are drawn from the state the step left, compared
with the state it began in: each container it made or changed and its state
(with the exit code once it exited), each container it removed, each image
tag it made or changed and its number of layers, each tag it removed, the
leaf paths it added or changed in a writable layer and the whiteouts it made,
and the exit code of its last command. The file is written as YAML and loaded
back through the loader, so it is a lesson `lesson check` and `--auto` accept.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

from layerlab.errors import LayerlabError
from layerlab.hostfile import write_text
from layerlab.lessons.loader import LessonError, command_problem, lesson_name, read_lesson
from layerlab.lessons.runner import Dispatch, Sandbox
from layerlab.storage.reference import normalize_ref

END_STEP = {"step", "---"}
END_LESSON = {"done", "quit", "exit"}
PATHS_PER_CONTAINER = 3  # a step that wrote a thousand files is checked on a few of them


@dataclass(frozen=True)
class State:
    """What checks can be drawn from: containers, image tags, writable-layer entries."""

    containers: dict[str, tuple[str, int | None]]  # name -> (state, exit code once exited)
    tags: dict[str, int]  # name:tag -> number of layers
    entries: dict[str, dict[str, str]]  # container name -> path -> A/C/D


def read_state(sandbox: Sandbox) -> State:
    engine = sandbox.engine
    snapshot = engine.snapshot()
    containers: dict[str, tuple[str, int | None]] = {}
    entries: dict[str, dict[str, str]] = {}
    for c in snapshot.containers:
        code = c.state.get("ExitCode") if c.status == "exited" else None
        containers[c.name] = (c.status, code if isinstance(code, int) else None)
        try:
            entries[c.name] = {ch.path: ch.kind for ch in engine.diff(c.id)}
        except LayerlabError:
            entries[c.name] = {}
    tags = {ref: len(image.layers) for ref, image in snapshot.images if not ref.startswith("<")}
    return State(containers, tags, entries)


def leaves(paths: Iterable[str]) -> list[str]:
    """Paths that no other path is below: the files a step wrote, not their folders."""
    ordered = sorted(paths)
    return [
        p for i, p in enumerate(ordered) if not any(q.startswith(p + "/") for q in ordered[i + 1 :])
    ]


def draw_checks(before: State, after: State, last_code: int | None) -> list[Any]:
    checks: list[Any] = []
    for name, (state, code) in after.containers.items():
        changed = before.containers.get(name) != (state, code) or before.entries.get(
            name
        ) != after.entries.get(name)
        if changed:
            args: dict[str, Any] = {"container": name, "state": state}
            if code is not None:
                args["exit_code"] = code
            checks.append({"container_state": args})
        new = {
            p: k for p, k in after.entries.get(name, {}).items()
            if before.entries.get(name, {}).get(p) != k
        }  # fmt: skip
        added = leaves(p for p, k in new.items() if k in ("A", "C"))
        for path in added[:PATHS_PER_CONTAINER]:
            checks.append({"layer_has": {"container": name, "path": path}})
        gone = sorted(p for p, k in new.items() if k == "D")
        for path in gone[:PATHS_PER_CONTAINER]:
            checks.append({"whiteout": {"container": name, "path": path}})
    for name in before.containers.keys() - after.containers.keys():
        checks.append({"container_gone": name})
    for ref, layers in after.tags.items():
        if before.tags.get(ref) != layers:
            checks.append({"image_exists": ref})
            checks.append({"image_layers": {"image": ref, "count": layers}})
    for ref in sorted(before.tags.keys() - after.tags.keys()):
        checks.append({"tag_gone": normalize_ref(ref)})
    if last_code is not None:
        checks.append({"exit_code": last_code})
    return checks


@dataclass
class Recording:
    name: str
    steps: list[dict[str, Any]] = field(default_factory=list)

    def document(self, title: str) -> dict[str, Any]:
        return {
            "title": title,
            "summary": f"recorded with `layerlab lesson record {self.name}`",
            "steps": self.steps,
        }


def record(
    name: str,
    lines: Iterable[str],
    dispatch: Dispatch,
    out: TextIO,
    target: Path,
    title: str | None = None,
    parent: Path | None = None,
    prompt: bool = False,
) -> Path:
    """Run the typed lines in a sandbox, step by step; write the lesson to `target`."""
    if lesson_name(target) is None:
        raise LayerlabError(f"{target.name}: a lesson file is named NN-name.yaml or name.yaml")
    recording = Recording(name)
    with Sandbox(dispatch, parent) as sandbox:
        print(
            f"recording lesson {name} in a throwaway store: one command a line; "
            "`step` ends a step, `done` (or end of input) ends the lesson",
            file=out,
        )
        before = read_state(sandbox)
        commands: list[str] = []
        last: int | None = None

        def end_step() -> None:
            nonlocal before, commands, last
            if not commands:
                return
            after = read_state(sandbox)
            number = len(recording.steps) + 1
            recording.steps.append(
                {
                    "prose": f"Step {number}: type the command{'s' if len(commands) > 1 else ''}.",
                    "commands": commands,
                    "checks": draw_checks(before, after, last),
                    "hints": ["Type " + ", then ".join(f"`{c}`" for c in commands) + "."],
                }
            )
            print(f"step {number}: {len(recording.steps[-1]['checks'])} checks drawn", file=out)
            before, commands, last = after, [], None

        for raw in lines:
            if prompt:
                print("record> ", end="", file=out, flush=True)
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line in END_LESSON:
                break
            if line in END_STEP:
                end_step()
                continue
            if problem := command_problem(line):
                print(f"Error: {problem} (not recorded)", file=out)
                continue
            outcome = sandbox.run(line)
            out.write(outcome.output)
            print(f"(exit {outcome.code})", file=out)
            commands.append(line)
            last = outcome.code
        end_step()
    if not recording.steps:
        raise LayerlabError("nothing was recorded: type at least one command")
    text = yaml.safe_dump(
        recording.document(title or f"{name} (recorded)"),
        sort_keys=False,
        allow_unicode=True,
        width=100,
    )
    if problems := read_lesson(target, text.encode())[1]:  # only a lesson the loader accepts
        raise LessonError(problems)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_text(target, text, "failed to write the lesson")
    print(f"wrote {target}", file=out)
    return target
