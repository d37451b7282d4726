"""The layer order, from the bottom (../shared/docs/style.md):

    masakari_site   settings, urls, Celery app, API framework, auth, shared base
    segments, hosts, notifications   the domain (they may use each other)
    recovery        the engine
    dashboard       the operator pages

A module imports only from its own layer or lower ones, at module level or
inside a function. The wiring is excepted: masakari_site's settings and
urls name every app, and its Celery app and WSGI entry load them all.
Test code (tests/, conftest.py, testing/) and bench/ may import anything.
"""

import ast
from pathlib import Path

from testing import ROOT

LAYERS = {"masakari_site": 0, "segments": 1, "hosts": 1, "notifications": 1, "webhooks": 1,
          "recovery": 2, "dashboard": 3}
WIRING = {"masakari_site/settings.py", "masakari_site/urls.py", "masakari_site/celery.py",
          "masakari_site/wsgi.py"}


def project_modules() -> dict[str, Path]:
    """Every non-test module of the layered packages, by dotted name."""
    modules = {}
    for package in LAYERS:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if "tests" in relative.parts or relative.name == "conftest.py":
                continue
            name = ".".join(relative.with_suffix("").parts).removesuffix(".__init__")
            modules[name] = path
    return modules


def imports(path: Path, module: str, known: frozenset[str] = frozenset()
            ) -> list[tuple[int, str]]:
    """(line, module) for every import in the file. `from recovery import tasks`
    counts as importing recovery.tasks when that is one of the `known` modules."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            submodules = [f"{base}.{alias.name}" for alias in node.names
                          if f"{base}.{alias.name}" in known]
            found += [(node.lineno, name) for name in submodules or [base]]
    return found


def layer_violations() -> list[str]:
    violations = []
    for module, path in project_modules().items():
        relative = path.relative_to(ROOT).as_posix()
        if relative in WIRING:
            continue
        own = LAYERS[module.split(".")[0]]
        for line, target in imports(path, module):
            top = target.split(".")[0]
            if top in LAYERS and LAYERS[top] > own:
                violations.append(f"{relative}:{line}: {module} imports {target} "
                                  f"(layer {LAYERS[top]} above {own})")
    return sorted(set(violations))


def import_cycles() -> list[list[str]]:
    """Circles among the project's modules (wiring included)."""
    modules = project_modules()
    known = frozenset(modules)
    graph = {module: sorted({target for _, target in imports(path, module, known)
                             if target in modules and target != module})
             for module, path in modules.items()}
    cycles, state = [], {}

    def visit(module: str, stack: list[str]) -> None:
        state[module] = "open"
        stack.append(module)
        for target in graph[module]:
            if state.get(target) == "open":
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target, stack)
        stack.pop()
        state[module] = "done"

    for module in graph:
        if module not in state:
            visit(module, [])
    return cycles


def test_no_module_imports_a_layer_above_its_own():
    assert layer_violations() == []


def test_no_import_circles():
    assert import_cycles() == []


def test_the_walk_sees_function_level_and_relative_imports(tmp_path):
    path = tmp_path / "services.py"
    path.write_text("from . import models\n\ndef f():\n    from recovery.tasks import x\n")
    assert imports(path, "hosts.services", frozenset({"hosts.models"})) == [
        (1, "hosts.models"), (4, "recovery.tasks")]


def test_the_walk_covers_every_layer():
    packages = {module.split(".")[0] for module in project_modules()}
    assert packages == set(LAYERS)
