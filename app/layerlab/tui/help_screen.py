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
  union from this layer down.
- **output**: what each command printed, whole: scroll it, or `Ctrl+O` to give it
  most of the screen. After `build`, a line per step says what the builder did.
- **metadata**: the layer json, image config, container inspect, OCI config.json;
  values the last command changed are highlighted.
- **processes**: the container's cgroup: pid inside, pid on the host, state.

## Keys
| key | does |
|---|---|
| `Enter` / `↑` `↓` / `Tab` | run / history / complete a name |
| `F1` or `?` | this help |
| `F2` | show or hide the containers and images list |
| `F3` `F4` `F5` `F6` | focus layers, files, metadata, processes |
| `u` (in files) | the layer's own entries / the union view |
| `Esc` | back to the command bar |
| `Ctrl+T` | light / dark theme |
| `Ctrl+O` | output pane: most of the screen / back |
| `Ctrl+Y` | copy the selected file's host path (OSC 52; or select it with the mouse) |
| `Ctrl+L` | clear the output log |
| `Ctrl+Q` | quit |
"""


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
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
