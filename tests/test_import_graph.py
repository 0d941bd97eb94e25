"""The import graph of `vlmr1_cli` follows docs/architecture.md.

Every module is parsed with `ast`; every `import`/`from ... import` of the project counts,
wherever it stands (module level, inside a function, under `if TYPE_CHECKING`): an import
inside a function is still an arrow, only a deferred one. The floors are read from the table
in docs/architecture.md, so the document and the code cannot drift apart. Checked:

- no import cycle among modules (module granularity, function-level imports included);
- no arrow from `evaluate/` to `train/` or back;
- nothing outside `cli/` (and the `__main__` entry point) imports `vlmr1_cli.cli`;
- imports point down the floors; on floors 1 to 5, one package or module never imports
  another of its floor (floor 0's foundations may use each other, acyclically).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "vlmr1_cli"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
NAME = "vlmr1_cli"
TOP_FLOOR = 6  # the entry points: may import anything below


def module_files(package: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the package."""
    modules = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module a dotted name lives in (a module, or the package defining the name)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules `module` imports, at any depth of its code."""
    is_package = path.name == "__init__.py"
    here = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")[: len(here.split(".")) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            # `from pkg import mod` imports the module pkg.mod; `from mod import name`, mod
            targets = [
                f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in modules else origin
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            if target == NAME or target.startswith(NAME + "."):
                resolved = _resolve(target, modules)
                if resolved and resolved != module:
                    found.add(resolved)
    return found


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    modules = module_files(package)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def unit_of(module: str) -> str:
    """The package or top-level module a module belongs to: `train`, `geometry`, ..."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else NAME


def documented_floors(text: str) -> dict[str, int]:
    """Unit -> floor, from the floor table of docs/architecture.md (`3  train/ ...`,
    `0  geometry.py ... io.py ...`): every `name/` or `name.py` on a floor's lines."""
    block = text.split("## Floors", 1)[1].split("```", 2)[1]
    floors: dict[str, int] = {}
    floor = None
    for line in block.splitlines():
        if m := re.match(r"(\d)\s", line):
            floor = int(m.group(1))
        if floor is None:
            continue
        for token in line.split():
            if m := re.fullmatch(r"([a-z_][a-z0-9_]*)(/|\.py)", token):
                floors[m.group(1)] = floor
    floors[NAME] = 0  # the package itself: its version
    return floors


def layering_violations(graph: dict[str, set[str]], floors: dict[str, int]) -> list[str]:
    problems = []
    for module in sorted(graph):
        unit = unit_of(module)
        for target in sorted(graph[module]):
            other = unit_of(target)
            if other == unit:
                continue
            mine, theirs = floors[unit], floors[other]
            if theirs > mine:
                problems.append(f"{module} -> {target}: up from floor {mine} to floor {theirs}")
            elif theirs == mine and 0 < mine < TOP_FLOOR:
                problems.append(f"{module} -> {target}: sideways on floor {mine}")
    return problems


def forbidden_arrows(graph: dict[str, set[str]]) -> list[str]:
    problems = []
    for module in sorted(graph):
        for target in sorted(graph[module]):
            pair = {unit_of(module), unit_of(target)}
            if pair == {"evaluate", "train"}:
                problems.append(f"{module} -> {target}: evaluate and train never import each other")
            if unit_of(target) == "cli" and unit_of(module) not in ("cli", "__main__"):
                problems.append(f"{module} -> {target}: the core never imports the CLI")
    return problems


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_there_is_no_import_cycle(graph):
    assert cycles(graph) == []


def test_evaluate_and_train_are_apart_and_nothing_imports_the_cli(graph):
    assert forbidden_arrows(graph) == []


def test_every_unit_has_a_documented_floor(graph):
    floors = documented_floors(ARCHITECTURE.read_text(encoding="utf-8"))
    missing = sorted({unit_of(m) for m in graph} - set(floors))
    assert missing == [], "add these to the floor table of docs/architecture.md"


def test_imports_point_down_the_floors(graph):
    floors = documented_floors(ARCHITECTURE.read_text(encoding="utf-8"))
    assert layering_violations(graph, floors) == []


def test_the_checker_sees_what_it_must(tmp_path):
    """The checks find a hidden function-level cycle, a relative import, a `from pkg import
    module` arrow and an upward import, on a package written here."""
    pkg = tmp_path / NAME
    for folder in ("train", "evaluate", "cli"):
        (pkg / folder).mkdir(parents=True)
        (pkg / folder / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "geometry.py").write_text("def f():\n    from vlmr1_cli.cli import app\n")
    (pkg / "cli" / "app.py").write_text("")
    (pkg / "train" / "a.py").write_text("from . import b\n")
    (pkg / "train" / "b.py").write_text("def g():\n    from vlmr1_cli.train.a import x\n")
    (pkg / "evaluate" / "c.py").write_text("from vlmr1_cli.train import a\n")
    found = import_graph(pkg)
    assert found[f"{NAME}.train.a"] == {f"{NAME}.train.b"}
    assert cycles(found) == [[f"{NAME}.train.a", f"{NAME}.train.b"]]
    assert forbidden_arrows(found) == [
        f"{NAME}.evaluate.c -> {NAME}.train.a: evaluate and train never import each other",
        f"{NAME}.geometry -> {NAME}.cli.app: the core never imports the CLI",
    ]
    floors = documented_floors(
        "## Floors\n```\n6  cli/\n3  train/  evaluate/\n0  geometry.py\n```\n"
    )
    assert floors == {"cli": 6, "train": 3, "evaluate": 3, "geometry": 0, NAME: 0}
    assert layering_violations(found, floors) == [
        f"{NAME}.evaluate.c -> {NAME}.train.a: sideways on floor 3",
        f"{NAME}.geometry -> {NAME}.cli.app: up from floor 0 to floor 6",
    ]
