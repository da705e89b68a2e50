"""The help screen: the keys, the panels, and the article's three definitions."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# layerlab

**An image** is a stack of read-only layers. **A container** is an image plus
one writable layer, running or not. **A running container** adds a union
mount, an isolated process space and its processes.

Type Docker's commands in the command bar (a leading `docker` is fine):

| try | and watch |
|---|---|
| `create --name demo busybox sleep 600` | a writable layer appear on top |
| `start demo` | a process space appear |
| `exec demo touch /happiness.txt` | `A /happiness.txt` land in the writable layer |
| `pause demo` / `unpause demo` | the processes freeze and thaw |
| `commit demo` | the writable layer become a new image's read-only layer |
| `run -it busybox` | the terminal handed to a shell; exit to come back |

## Panels
- **layers**: writable layer (RW, with its host path) on top of the read-only ones.
  Move the cursor to a layer to see its files and its json. *hides* is the
  wasted space: bytes of lower files this layer changed or deleted, which the
  image still stores and ships.
- **files**: the layer's entries. **A** added, **C** changed, **D** deleted
  (a whiteout); an *opaque* directory hides everything below it. The writable
  layer's list is live; new entries flash. Select a file for its provenance
  (and, for a changed text file, its diff) and its whole path on the host (the
  layer's `diff/`: the article's `find / -name happiness.txt`). `u` shows the
  union from this layer down. `v` opens a file: text as it is,
  binary as a hex summary, and the copy below it that this layer changed or
  deleted (for text, the diff).
- **output**: what each command printed, whole: scroll it, or `Ctrl+G` to give it
  most of the screen. After `build`, a line per step says what the builder did.
- **metadata**: the layer json, image config, container inspect, OCI config.json;
  values the last command changed are highlighted.
- **processes**: the container's cgroup: pid inside, pid on the host, state.
- **picture**: the article's drawing of the subject: an image's read-only layers
  (bottom one marked), a container's writable layer on top, a running container's
  process space beside it. Two kinds of id: a *layer* id (`layer 76ca…`) names one
  read-only layer; an *image* id (`sha256:edc7…`) names an image. `rmi` takes an
  image id or name, never a layer id.

## Keys
| key | does |
|---|---|
| `Enter` | run the line; lines typed while one runs wait their turn, in order |
| `↑` `↓` | history (kept between sessions) |
| `Tab` | complete a command or name; several: listed above the bar |
| `Ctrl+C` | stop the running command (attached: SIGINT to the container; again: stop waiting) |
| `Esc` | back to the command bar; clears the queued commands; closes this help |
| `F1` or `?` | this help (`?` outside the bar, or on an empty bar) |
| `F2` | the containers and images list (again: hide it) |
| `F3` `F4` `F5` `F6` | layers, files, metadata (`←` `→` switch tabs), processes |
| `F12` `Shift+F12` | output log, event log |
| `Ctrl+O` or `F11` | maximize the focused panel, or put it back |
| `u` (in files) | the layer's own entries / the union view |
| `v` (in files) | a file's contents, beside the copy below it |
| `s` / `f` (in files) | sort by name or size (largest first) / keep one kind of change |
| `F7` | lessons: pick one (it runs in a store of its own), leave it, or restart it |
| `F9` / `F10` / `Shift+F10` | in a lesson: paste the next command / the next hint / the solution |
| `Ctrl+N` or `Shift+F9` / `Ctrl+B` / `Ctrl+R` | in a lesson: next step / back / restart clean |
| `Shift+F7` | in a lesson: the step's prose, or the strip it folds into (below 140x40) |
| `Space` / `→` (demo) | pause or resume the demonstration / go on to the next step now |
| `F8` | presentation mode: the picture, the layers, the changes and the output, large |
| `Ctrl+T` or `Shift+F8` | theme: dark, light, high contrast (all WCAG AA) |
| `Ctrl+G` | output pane: most of the screen / back |
| `Ctrl+Y` | copy the selected file's host path (OSC 52; or select it with the mouse) |
| `Ctrl+L` | clear the output log |
| `Ctrl+Q` | quit |

In the bar, `help`, `clear` and `exit` (or `quit`) work as in a shell. Typing at a
panel that has no use for the key types into the bar. In a browser (`serve`), which
keeps `Ctrl+N` and `Ctrl+T` for itself, use `Shift+F9` and `Shift+F8`.
"""


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
        background: $background;  /* opaque: no dimmed text behind it on a projector */
        & > #help {
            width: 95%;
            max-width: 100;
            height: 90%;
            border: round $primary;
            background: $surface;
        }
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,f1,q,question_mark", "dismiss", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Markdown(HELP)
