"""`compare`'s report: the layers two stacks share drawn as Docker 28's `images --tree` draws
a tree (the shared trunk, then each side's own layers), and what differs, layer by layer.
Rich renderables (text from outside as `Text`, never markup), and `--json`."""

from __future__ import annotations

from itertools import groupby
from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from layerlab.presentation.humanize import human_size
from layerlab.storage.reference import display_id

if TYPE_CHECKING:
    from layerlab.engine.layer_report import Comparison, Stack, StackLayer
    from layerlab.layerfs.compare import FileChange

KINDS = {"A": "green", "C": "yellow", "D": "red"}  # as `docker diff` letters them


def comparison_json(c: Comparison) -> dict[str, Any]:
    def side(layer: int | None, size: int | None, stack: Stack) -> dict[str, Any] | None:
        if layer is None:
            return None
        return {"layer": layer, "id": stack.layers[layer].id, "size": size}

    return {
        "a": _stack_json(c.a),
        "b": _stack_json(c.b),
        "sharedLayers": [layer.id for layer in c.a.layers[: c.shared]],
        "changes": [
            {
                "kind": f.kind,
                "path": f.path,
                "a": side(f.a_layer, f.a_size, c.a),
                "b": side(f.b_layer, f.b_size, c.b),
            }
            for f in c.changes
        ],
    }


def _stack_json(s: Stack) -> dict[str, Any]:
    return {
        "name": s.name,
        "kind": s.kind,
        "id": s.id,
        "layers": [{"id": x.id, "createdBy": x.created_by, "size": x.size} for x in s.layers],
    }


def comparison_report(c: Comparison) -> RenderableType:
    """The shared layers' tree, then each layer's differences (none: `no differences`)."""
    parts: list[RenderableType] = [shared_tree(c), Text()]
    if not c.changes:
        parts.append(Text("no differences between their files"))
    by_layer = sorted(c.changes, key=lambda f: f.layer(c.shared))  # stable: paths in order
    for (side, index), found in groupby(by_layer, key=lambda f: f.layer(c.shared)):
        stack = c.a if side == "A" else c.b
        parts += [_layer_title(side, index, stack.layers[index]), _changes(list(found)), Text()]
    return Group(*parts)


def shared_tree(c: Comparison) -> Tree:
    """The trunk both share, bottom first, and on its top each side's own layers."""
    tree = Tree(Text(f"{c.shared} shared layers", style="bold"), guide_style="dim")
    top = tree
    for layer in c.a.layers[: c.shared]:
        top = tree.add(_layer_line(layer))
    for side, stack in (("A", c.a), ("B", c.b)):
        branch = top.add(Text.assemble((side, "bold"), f" {stack.kind} ", (stack.name, "cyan")))
        own = stack.layers[c.shared :]
        for layer in own:
            branch.add(_layer_line(layer))
        if not own:
            branch.add(Text("(no layer of its own)", style="dim"))
    return tree


def _layer_line(layer: StackLayer) -> Text:
    return Text.assemble(
        (display_id(layer.id), "magenta"), f"  {human_size(layer.size):>8}  ", layer.created_by
    )


def _layer_title(side: str, index: int, layer: StackLayer) -> Text:
    return Text.assemble(
        (f"{side}'s layer {index}", "bold"), "  ", (display_id(layer.id), "magenta"), "  ",
        layer.created_by,
    )  # fmt: skip


def _changes(found: list[FileChange]) -> Table:
    table = Table(box=None, padding=(0, 2, 0, 2), show_edge=False)
    for column, justify in (("", "left"), ("PATH", "left"), ("A", "right"), ("B", "right")):
        table.add_column(column, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for f in found:
        table.add_row(
            Text(f.kind, style=KINDS[f.kind]), Text(f.path), _size(f.a_size), _size(f.b_size)
        )
    return table


def _size(size: int | None) -> Text:
    return Text("-" if size is None else human_size(size))
