"""Progress through the course, kept per user: `$XDG_STATE_HOME/layerlab/progress.json`.

One small JSON file: the lessons finished (by name) and the step each was left
at. A damaged or unreadable file counts as no progress (it is rewritten on the
next save); writes go through `hostfile.write_text` (a temporary file and a rename).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from layerlab.errors import LayerlabError
from layerlab.hostfile import regular_or_absent, write_text


def state_file() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "layerlab" / "progress.json"


@dataclass
class Progress:
    done: set[str] = field(default_factory=set)
    steps: dict[str, int] = field(default_factory=dict)  # lesson name -> step index left at
    path: Path = field(default_factory=state_file)

    @classmethod
    def load(cls, path: Path | None = None) -> Progress:
        path = state_file() if path is None else path
        if not regular_or_absent(path):  # a FIFO would block us: no progress kept
            return cls(path=path)
        try:
            data = json.loads(path.read_text())
            done = {str(name) for name in data.get("done", [])}
            steps = {str(k): int(v) for k, v in data.get("steps", {}).items()}
        except (OSError, ValueError, TypeError, AttributeError):
            return cls(path=path)
        return cls(done, steps, path)

    def save(self) -> None:
        data = {"done": sorted(self.done), "steps": dict(sorted(self.steps.items()))}
        with contextlib.suppress(OSError, LayerlabError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if regular_or_absent(self.path):
                write_text(self.path, json.dumps(data, indent=1) + "\n", "progress")

    def finish(self, name: str) -> None:
        self.done.add(name)
        self.save()

    def at(self, name: str, index: int) -> None:
        self.steps[name] = index
        self.save()
