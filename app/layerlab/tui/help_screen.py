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
  (and, for a changed text file, its diff). `u` shows the union from this layer down.
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
| `Enter` / `↑` `↓` / `Tab` | run / history / complete a name |
| `F1` or `?` | this help |
| `F2` | show or hide the containers and images list |
| `F3` `F4` `F5` `F6` | focus layers, files, metadata, processes |
| `u` (in files) | the layer's own entries / the union view |
| `Esc` | back to the command bar |
| `F8` | presentation mode: the picture, the layers and the changes, large |
| `Ctrl+T` | theme: dark, light, high contrast (all WCAG AA) |
| `Ctrl+L` | clear the output log |
| `Ctrl+Q` | quit |
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
