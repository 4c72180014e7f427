"""The architecture, checked: one namespace, floors that import only downwards, and a
verifier library that needs no server.

The import graph is read from the source with ``ast`` (imports inside functions
count: a lazy import is still a dependency), so a new upward import fails here
before anyone notices it in a review.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("anchoring", "contracts", "node", "cli")  # the folders linked under mcledger/

# Floors from the bottom: a module may import its own floor and those below it.
# The first prefix that matches a module names its floor.
FLOORS: tuple[tuple[str, ...], ...] = (
    ("mcledger.anchoring.errors",),
    ("mcledger.contracts",),
    ("mcledger.anchoring",),
    (
        "mcledger.node.errors",
        "mcledger.node.settings",
        "mcledger.node.logs",
        "mcledger.node.metrics",
    ),
    ("mcledger.node.credentials",),
    ("mcledger.node.verifier",),
    ("mcledger.node.index",),
    ("mcledger.node.issuing",),
    ("mcledger.node.pipeline",),
    ("mcledger.node.revocation",),
    ("mcledger.node.runtime",),
    ("mcledger.node.api",),
    ("mcledger.cli",),
)
NAMESPACES = ("mcledger", "mcledger.node")  # bare packages: a docstring, no imports
SERVER_LIBRARIES = ("sqlalchemy", "sqlmodel", "fastapi", "apscheduler", "alembic", "uvicorn")
VERIFIER = "mcledger.node.verifier"


def _modules() -> Iterator[tuple[str, Path]]:
    yield "mcledger", REPO / "mcledger" / "__init__.py"
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            if "node_modules" in path.parts or "versions" in path.parts:
                continue
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            yield ".".join(["mcledger", *parts]), path


def _imports(module: str, path: Path, *, top_level_only: bool = False) -> set[str]:
    """Absolute names this module imports (``from a.b import c`` gives ``a.b`` and ``a.b.c``)."""
    tree = ast.parse(path.read_text(), str(path))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


MODULES = dict(_modules())


def _internal(name: str) -> str | None:
    """The project module a name refers to (a module, or the module holding a member)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _floor(module: str) -> int:
    if module in NAMESPACES:
        return 0
    for index, prefixes in enumerate(FLOORS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    raise AssertionError(f"{module} is on no floor: add it to FLOORS")


def test_every_import_uses_the_mcledger_namespace() -> None:
    old_roots = {"node", "anchoring", "cli", "contracts"}
    offenders = [
        f"{module}: imports {name}"
        for module, path in MODULES.items()
        for name in _imports(module, path)
        if name.split(".")[0] in old_roots
    ]
    for path in sorted((REPO / "tests").rglob("*.py")):
        if "node_modules" not in path.parts:
            offenders += [
                f"{path.relative_to(REPO)}: imports {name}"
                for name in _imports("tests", path)
                if name.split(".")[0] in old_roots
            ]
    assert offenders == []


def test_namespace_packages_import_nothing() -> None:
    assert {m: sorted(_imports(m, MODULES[m])) for m in NAMESPACES} == {m: [] for m in NAMESPACES}


def test_floors_import_only_downwards() -> None:
    upward = []
    for module, path in MODULES.items():
        for name in _imports(module, path):
            target = _internal(name)
            if target and target != module and _floor(target) > _floor(module):
                upward.append(
                    f"{module} (floor {_floor(module)}) imports {target} ({_floor(target)})"
                )
    assert upward == []


def test_the_floors_check_sees_an_upward_import() -> None:
    """The check above is not vacuous: an index module importing the API is caught."""
    assert _floor("mcledger.node.index.models") < _floor("mcledger.node.api.app")
    assert _floor("mcledger.node.verifier.credential") < _floor("mcledger.node.index.db")
    assert _internal("mcledger.node.api.app.create_app") == "mcledger.node.api.app"


def test_no_import_cycles_at_module_level() -> None:
    graph = {
        module: {
            target
            for name in _imports(module, path, top_level_only=True)
            if (target := _internal(name)) and target != module and not module.startswith(target)
        }
        for module, path in MODULES.items()
    }
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    cycles: list[list[str]] = []

    def visit(module: str, stack: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                cycles.append([*stack[stack.index(target) :], target])
            elif target not in state:
                visit(target, [*stack, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_verifier_library_reaches_no_server_code_statically() -> None:
    """Following every import from the verifier (lazy ones too) never reaches the server."""
    seen: set[str] = set()
    todo = [m for m in MODULES if m == VERIFIER or m.startswith(VERIFIER + ".")]
    external: set[str] = set()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        for name in _imports(module, MODULES[module]):
            target = _internal(name)
            if target:
                todo.append(target)
                # a package's __init__ runs too
                parent = target.rpartition(".")[0]
                while parent in MODULES:
                    todo.append(parent)
                    parent = parent.rpartition(".")[0]
            else:
                external.add(name.split(".")[0])
    server = sorted(m for m in seen if _floor(m) > _floor(VERIFIER) or m.startswith("mcledger.cli"))
    assert server == []
    assert sorted(external & set(SERVER_LIBRARIES)) == []


def test_verifier_library_imports_no_server_library() -> None:
    """Import every verifier module in a fresh interpreter; the server's libraries stay out."""
    names = sorted(m for m in MODULES if m == VERIFIER or m.startswith(VERIFIER + "."))
    program = (
        "import importlib, json, sys\n"
        f"for name in {names!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=REPO, capture_output=True, text=True, check=True
    )
    loaded = json.loads(done.stdout)
    assert "mcledger.node.verifier.credential" in loaded  # the import did happen
    assert [m for m in loaded if m.split(".")[0] in SERVER_LIBRARIES] == []
    assert [m for m in loaded if m.startswith(("mcledger.node.index", "mcledger.node.api"))] == []


@pytest.mark.parametrize("module", ["mcledger.node.index.db", "mcledger.node.api.app"])
def test_the_runtime_check_sees_a_server_import(module: str) -> None:
    """The runtime check above is not vacuous: the server's own modules do load sqlalchemy."""
    program = f"import {module}, sys; print('sqlalchemy' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "True"
