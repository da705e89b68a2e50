"""The house's shape, checked: the packages' order (ARCHITECTURE.md), no import cycle (lazy and
type-only imports included), faces on the engine, the limits on size.

Read from the source with `ast`, so an import inside a function counts as much as one
at the top: a cycle hidden by a lazy import is still a cycle. For cycles, an import under
`TYPE_CHECKING` counts too: the two modules still know each other.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).resolve().parent.parent / "app" / "layerlab"
# Modules that know where things are in the store: the faces ask the engine instead.
STORE_LAYOUT = {"layerlab.storage.store", "layerlab.layerfs.layers", "layerlab.storage.images"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(name: str, path: Path, known: set[str], typing: bool) -> set[str]:
    """Every layerlab module `name` imports, anywhere in its body; under `TYPE_CHECKING`
    too if `typing`.

    `from package import module` imports that module, as `import package.module` does:
    not the names of the package's `__init__`."""
    tree = ast.parse(path.read_text())
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if not typing and isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_only |= {id(n) for n in ast.walk(node)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names]
            if not all(target in known for target in targets):
                targets.append(base)
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _graph(typing: bool = False) -> dict[str, set[str]]:
    """Who imports whom; with `typing`, the imports made for the type checker alone too."""
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known, typing) for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path of module names, or None."""
    state: dict[str, int] = {}  # 1 = on the path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_graph_is_read() -> None:
    graph = _graph()
    assert "layerlab.engine" in graph["layerlab.commands.handlers.containers"]
    assert "layerlab.tui.app" in graph["layerlab.main"]  # a lazy import still counts
    assert "layerlab.engine.context" not in graph["layerlab.engine.fsck"]  # type-only import
    assert "layerlab.engine.context" in _graph(typing=True)["layerlab.engine.fsck"]
    # `from layerlab.engine import recovery` is the module, not the package's `__init__`
    assert graph["layerlab.engine.context"] & {"layerlab.engine.recovery", "layerlab.engine"} == {
        "layerlab.engine.recovery"
    }


def test_the_checker_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle() -> None:
    cycle = _cycle(_graph(typing=True))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


# --- the layers: a package imports only the ones below it ----------------------------------
# Lowest first, as ARCHITECTURE.md lists them. `base` is the top-level modules every package
# may import; `__main__` (`python -m layerlab`) goes through the server.
ORDER = [
    "base", "presentation", "storage", "layerfs", "network", "registry", "docker_daemon",
    "runtime", "build", "engine", "commands", "lessons", "tui", "main", "server", "__main__",
]  # fmt: skip
BASE = {"layerlab", "layerlab.errors", "layerlab.report", "layerlab.hostfile", "layerlab.libc"}
# (importer, imported): why it may go up the order. Each one is a debt: ideally none.
UPWARD_ALLOWED: dict[tuple[str, str], str] = {}
# The faces: the TUI (with `serve`), the terminal's entry point, the server and its client.
FACES = ("tui", "main", "server")
TOP_MODULES = 10


def _layer(module: str) -> str:
    """The place of `module` in ORDER: its package, `base`, or its own name at the top."""
    if module in BASE:
        return "base"
    return module.split(".")[1]


def _upward(graph: dict[str, set[str]]) -> list[str]:
    """Every import from a lower layer to a higher one, but the allowed ones."""
    return sorted(
        f"{name} -> {target}"
        for name, targets in graph.items()
        for target in targets
        if ORDER.index(_layer(target)) > ORDER.index(_layer(name))
        and (name, target) not in UPWARD_ALLOWED
    )


def test_the_order_checker_finds_an_upward_import() -> None:
    graph = {
        "layerlab.storage.images": {"layerlab.layerfs.layers", "layerlab.errors"},
        "layerlab.engine.images": {"layerlab.storage.images", "layerlab.libc"},
    }
    assert _upward(graph) == ["layerlab.storage.images -> layerlab.layerfs.layers"]


def test_every_module_has_its_place_in_the_order() -> None:
    unplaced = sorted(name for name in _modules() if _layer(name) not in ORDER)
    assert unplaced == [], "add to ORDER (and ARCHITECTURE.md), or move into a package"


def test_a_package_imports_only_the_ones_below_it() -> None:
    """Lazy imports and imports for the type checker alone included: each still ties a lower
    package to a higher one."""
    assert _upward(_graph(typing=True)) == []


def test_no_face_imports_another() -> None:
    """The TUI imports neither the entry point nor the server, and nothing below the faces
    imports one: they share `commands/`. (The entry point opens the TUI, and the server's
    child runs the entry point: each sits above what it starts.)"""
    below_faces = ORDER[: ORDER.index("tui") + 1]
    reaching = sorted(
        f"{name} -> {target}"
        for name, targets in _graph(typing=True).items()
        for target in targets
        if _layer(name) in below_faces and _layer(target) in FACES
        and _layer(target) != _layer(name)
    )  # fmt: skip
    assert reaching == []


def test_the_top_holds_few_modules() -> None:
    """The rest live in packages named for what they are: the folder tree shows the layers."""
    top = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(top) <= TOP_MODULES, top


@pytest.mark.parametrize("face", ["layerlab.tui", "layerlab.commands"])
def test_faces_do_not_know_the_store_layout(face: str) -> None:
    graph = _graph()
    reaching = {
        (name, target)
        for name, targets in graph.items()
        if name == face or name.startswith(face + ".")
        for target in targets & STORE_LAYOUT
    }
    assert not reaching, f"{face} imports store layout modules: {sorted(reaching)}"


# Plain modules, tested without Pilot: layer analysis (dive's filetree), and what runs a
# command and follows the store for the TUI.
NO_UI = (
    "layerfs/analysis.py", "layerfs/layer_tree.py", "layerfs/efficiency.py", "layerfs/compare.py",
    "layerfs/contents.py", "tui/outcome.py", "tui/reconcile.py",
)  # fmt: skip


@pytest.mark.parametrize("path", NO_UI)
def test_plain_modules_have_no_ui(path: str) -> None:
    tree = ast.parse((PACKAGE / path).read_text())
    names = {
        alias.name if isinstance(node, ast.Import) else node.module or ""
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert not {n for n in names if n.split(".")[0] in ("textual", "rich")}


# --- the engine's insides are its own -------------------------------------------------------
# Who holds the engine, by the names the code gives it (a verb module's `ctx` is the engine).
ENGINE_NAMES = {"engine", "Engine", "ctx"}
# Where `Engine` and its `Context` are defined: their own privates are theirs to use.
ENGINE_CLASSES = {"layerlab.engine.facade", "layerlab.engine.context"}


def _engine_privates(source: str) -> list[str]:
    """`engine._x`, `self.engine._x`, `ctx._x`: the private names reached through the engine."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
            continue
        owner = node.value
        name = getattr(owner, "id", None) or getattr(owner, "attr", None)
        if name in ENGINE_NAMES and not node.attr.startswith("__"):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return sorted(found)


def test_the_privates_checker_finds_one() -> None:
    source = "engine._load(c)\nself.engine._heal()\nctx._x\nengine.rm(c)\nother._x\n"
    assert _engine_privates(source) == [
        "line 1: engine._load", "line 2: self.engine._heal", "line 3: ctx._x",
    ]  # fmt: skip


def test_nothing_reaches_into_the_engine() -> None:
    """`system check`, the faces and the tests use the engine's public API alone."""
    paths = [p for p in PACKAGE.rglob("*.py") if _module_name(p) not in ENGINE_CLASSES]
    paths += Path(__file__).parent.glob("*.py")
    reached = {str(p): found for p in sorted(paths) if (found := _engine_privates(p.read_text()))}
    assert reached == {}


# --- limits: what a newcomer can read ----------------------------------------------------
MODULE_LINES, CLASS_LINES, FUNCTION_LINES = 800, 500, 80


def _too_long(name: str, source: str) -> list[str]:
    """The module, classes and functions of `source` over their limit, with their lines."""
    tree = ast.parse(source)
    over = []
    if len(source.splitlines()) > MODULE_LINES:
        over.append((name, len(source.splitlines())))

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                qualified = f"{prefix}.{child.name}"
                lines = (child.end_lineno or child.lineno) - child.lineno + 1
                limit = CLASS_LINES if isinstance(child, ast.ClassDef) else FUNCTION_LINES
                if lines > limit:
                    over.append((qualified, lines))
                visit(child, qualified)
            else:
                visit(child, prefix)

    visit(tree, name)
    return [f"{what} ({lines} lines)" for what, lines in over]


def test_the_limits_checker_measures() -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(80))
    assert _too_long("m", f"def f():\n{body}") == ["m.f (81 lines)"]
    method = textwrap.indent(f"def f(self):\n{body}", "    ")
    assert _too_long("m", f"class C:\n{method}") == ["m.C.f (81 lines)"]
    assert _too_long("m", f"def f():\n{body[: body.rindex('    x79')]}") == []


def test_limits_hold() -> None:
    """No module over 800 lines, no class over 500, no function over 80."""
    over = [line for name, path in _modules().items() for line in _too_long(name, path.read_text())]
    assert over == []
