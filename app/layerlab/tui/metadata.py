"""The metadata panel: the layer's json, the image config, inspect, the OCI config.json, and
the image's manifest as a registry would have it."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import ScrollableContainer, Vertical
from textual.lazy import Lazy
from textual.widgets import TabbedContent, TabPane

from layerlab.tui.json_view import JsonView
from layerlab.tui.look import panel_css

TABS = {
    "layer": ("layer", "pick a layer to see its json (with its parent pointer)"),
    "image": ("image", "the image config shows here"),
    "container": ("inspect", "what docker inspect prints shows here"),
    "oci": ("oci", "no OCI runtime config.json yet: start writes it for runc"),
    "manifest": ("manifest", "the image's manifest, as a registry would have it, shows here"),
}
# Commands that change a container's record: after them the inspect tab comes forward.
LIFECYCLE = {"create", "run", "start", "stop", "kill", "pause", "unpause", "rename"}


class MetadataPanel(Vertical):
    """One tab per document; a tab whose values changed with the last command can be brought up."""

    DEFAULT_CSS = (
        panel_css("MetadataPanel")
        + """
    MetadataPanel {
        & TabbedContent { height: 1fr; }
        & TabPane { padding: 0 0 0 1; }
        & Tab { color: $text-muted; }  /* Textual's 50% foreground is under 4.5:1 */
        & ScrollableContainer { scrollbar-size: 1 1; }
    }
    """
    )

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        # Made here, not found in the DOM: a document that arrives before the tabs have
        # composed (a fast first read) is kept and drawn when its view mounts.
        self._views = {key: JsonView(empty, id=f"json-{key}") for key, (_, empty) in TABS.items()}
        self.tabs = TabbedContent(id="metadata-tabs")

    def compose(self) -> ComposeResult:
        """The panel's frame in the first frame; its tabs right after it (Lazy), the hidden
        tabs' documents after theirs."""
        with Lazy(self.tabs):
            for i, (key, (title, _)) in enumerate(TABS.items()):
                with TabPane(title, id=f"tab-{key}"):
                    scroll = ScrollableContainer(self._views[key])
                    yield scroll if i == 0 else Lazy(scroll)

    def view(self, key: str) -> JsonView:
        return self._views[key]

    def show(self, key: str, identity: str | None, data: Any) -> None:
        self.view(key).show(identity, data)

    def mark(self) -> None:
        """Before a command: remember every document, so what it changes is highlighted."""
        for key in TABS:
            self.view(key).mark()

    def bring_up(self, key: str) -> None:
        if self.tabs.is_mounted:
            self.tabs.active = f"tab-{key}"
        else:  # the tabs mount right after the first frame
            self.call_after_refresh(self.bring_up, key)

    def bring_up_news(self, command: str | None, kind: str) -> None:
        """After `command`, the document it changed: a new layer's json, or inspect; `kind`:
        the subject's kind now ("container" or "image")."""
        if command == "commit" and kind == "image":
            self.bring_up("layer")  # the new layer, and its pointer to its parent
        elif command in LIFECYCLE and self.view("container").changed:
            self.bring_up("container")
        elif command == "inspect":  # what it printed, as a document beside the output
            self.bring_up("container" if kind == "container" else "image")
