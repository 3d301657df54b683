"""The layout's rules, read from the code's own imports: the product never imports the stand-ins,
and no module imports itself back through a circle."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.database import ROOT

SERVICE = ROOT / "service"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SERVICE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, *, top_level_only: bool, modules: frozenset[str] = frozenset()) -> set[str]:
    """Modules a file imports, resolved to absolute names. With `top_level_only`, imports inside
    functions (deliberately deferred) and under `if TYPE_CHECKING:` are left out. `from . import x`
    where x is one of `modules` depends on x alone, not on the package's __init__."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()

    def visit(node, nested: bool):
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                inner = True
            if isinstance(child, ast.Import) and not (top_level_only and inner):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and not (top_level_only and inner):
                base = package[: len(package) - child.level + 1] if child.level else []
                module = ".".join([*base, child.module] if child.module else base)
                submodules = {f"{module}.{alias.name}" for alias in child.names}
                found.update(submodules)
                if not submodules <= modules:
                    found.add(module)
            visit(child, inner)

    visit(tree, False)
    return found


def _files(package: str) -> list[Path]:
    return sorted((SERVICE / package).rglob("*.py"))


def test_the_product_imports_nothing_from_the_stand_ins():
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            name for name in _imports(path, top_level_only=False) if name.split(".")[0] == "numeraloop_local"
        )
        for path in _files("numeraloop")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_no_module_imports_itself_back_through_a_circle():
    modules = {_module_name(path): path for package in ("numeraloop", "numeraloop_local") for path in _files(package)}
    graph = {
        name: {
            imported
            for imported in _imports(path, top_level_only=True, modules=frozenset(modules))
            if imported in modules and imported != name
        }
        for name, path in modules.items()
    }
    circles, state = [], {}

    def walk(node, trail):
        state[node] = "open"
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                circles.append(trail[trail.index(dep) :] + [dep])
            elif dep not in state:
                walk(dep, trail + [dep])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            walk(name, [name])
    assert circles == []


def test_every_route_is_registered_in_one_place():
    """Only blueprints.py (and the surfaces it builds) register blueprints."""
    registering = {
        str(path.relative_to(ROOT)) for path in _files("numeraloop") if "register_blueprint(" in path.read_text()
    }
    assert registering == {
        "service/numeraloop/blueprints.py",
        "service/numeraloop/api/__init__.py",
        "service/numeraloop/twilio/webhooks.py",
        "service/numeraloop/stripe/webhooks.py",
        "service/numeraloop/web/__init__.py",
    }
