"""The house rules a reviewer would otherwise check by hand: module size, stage boundaries, no import
cycle, SQL files and their variables, no ``Any`` in signatures, sorted public surfaces."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
SQL = ROOT / "sql"
MAX_LINES = 500

# Modules by stage (docs/ARCHITECTURE.md, "Stage contracts"): a module of one stage imports none of
# another's. The store and _core are layers under every stage; the orchestrator (_run/_session) and the
# jobs (_run, _bills, _audit, _cli) are no stage. The price book and tenants (_price/_book, _tenants)
# are pricing's inputs, which the output's totals read too (a meter's unit); the stage is the pricer.
STAGES = {
    "ingest": ("reconcile._ingest",),
    "pairing": ("reconcile._pair",),
    "pricing": ("reconcile._price._pricer", "reconcile._price._invoice"),
    "output": ("reconcile._output",),
}
# The prefix of the variables each stage's SQL reads (the stages sharing the session's connection).
PREFIXES = {"pair": "pair_", "price": "price_", "write": "batch_", "audit": "audit_"}
# Where Any stays: argparse's own pass-through of its constructor's arguments.
ANY_ALLOWED = {("reconcile/_cli/_base.py", "__init__")}


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "__pycache__" not in p.parts)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _import_graph(root: Path) -> dict[str, set[str]]:
    """Every module under ``root`` (a source folder) and the modules under it that it imports: at
    module level, inside a function or under ``TYPE_CHECKING`` alike, relative imports resolved.

    An import names the module it reads (``from a.b import c``: ``a.b.c`` when that is a module, else
    ``a.b``; ``import a.b``: ``a.b``), not the parent packages Python initialises first: every module
    runs its package's ``__init__`` that way, and that ``__init__`` importing its own modules back is
    how a public surface is made, not a cycle between what the modules' code needs.
    """
    paths = {
        ".".join(p.relative_to(root).with_suffix("").parts).removesuffix(".__init__"): p
        for p in sorted(root.rglob("*.py"))
        if "__pycache__" not in p.parts
    }
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: list[str] = []
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.extend(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # (from . import x, from ..y import z: against this module's package)
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *filter(None, [node.module])])
                targets.extend(f"{base}.{alias.name}" for alias in node.names)
        found = set()
        for imported in targets:
            target = imported
            while target and target not in paths:  # (an attribute of a module: the module)
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
        graph[name] = found
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One shortest cycle through each group of modules that import each other (Tarjan's strongly
    connected components with more than one module), as ``[a, b, ..., a]``."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:  # (the graphs here are a few hundred modules: recursion is fine)
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    cycles = []
    for group in groups:
        start = min(group)
        paths = {start: [start]}
        queue = [start]
        while queue:  # (breadth first inside the group, back to its start)
            node = queue.pop(0)
            for nxt in sorted(graph[node] & group):
                if nxt == start:
                    cycles.append([*paths[node], start])
                    queue = []
                    break
                if nxt not in paths:
                    paths[nxt] = [*paths[node], nxt]
                    queue.append(nxt)
    return sorted(cycles)


def test_the_import_graph_finds_function_level_and_relative_cycles(tmp_path: Path) -> None:
    """The cycle check itself: a cycle closed by an import inside a function, through a relative
    import, is found and printed; a package importing its own modules is none."""
    files = {
        "pkg/__init__.py": "from pkg._a import A\nfrom pkg.sub import B\n",
        "pkg/_a.py": "from pkg import _c\nA = 1\n",
        "pkg/_c.py": "import json\n\ndef f():\n    from pkg.sub._b import B\n    return B\n",
        "pkg/sub/__init__.py": "from ._b import B\n",
        "pkg/sub/_b.py": "from .. import _a\nfrom ..sub import _d\nB = 2\n",
        "pkg/sub/_d.py": "import pkg._a\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text, encoding="utf-8")
    graph = _import_graph(tmp_path)
    assert graph["pkg.sub._b"] == {"pkg._a", "pkg.sub._d"}
    assert graph["pkg.sub"] == {"pkg.sub._b"}
    assert _cycles(graph) == [["pkg._a", "pkg._c", "pkg.sub._b", "pkg._a"]]


def test_no_import_cycle() -> None:
    """No module of src/ imports, even from inside a function or for types only, a module that
    imports it back (directly or through others)."""
    graph = _import_graph(SRC)
    assert len(graph) > 50
    assert sum(map(len, graph.values())) > 200  # (the imports were read)
    cycles = _cycles(graph)
    assert cycles == [], "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_engines_share_only_the_seam() -> None:
    """An engine's modules (a package ``engines`` or ``_engines``: each child but ``_base`` is one
    engine) import the seam, never another engine; nor the session (the no-cycle test catches that:
    the session imports the engines)."""
    graph = _import_graph(SRC)
    packages = sorted({m for m in graph if m.rpartition(".")[2] in {"engines", "_engines"}})
    assert packages, "no engines package"
    crossings = []
    for package in packages:

        def engine_of(module: str, package: str = package) -> str | None:
            rest = module.removeprefix(package + ".").split(".")[0]
            return rest if module.startswith(package + ".") and rest not in {"_base", "base"} else None

        engines = {engine_of(m) for m in graph} - {None}
        assert len(engines) >= 2, engines
        for module, imported in graph.items():
            own = engine_of(module)
            crossings += [
                f"{module} imports {other}"
                for other in sorted(imported)
                if own is not None and engine_of(other) not in {None, own}
            ]
    assert crossings == []


# A path of the output folder's layout: a partition folder (usage_date=, period=, month=, version=)
# written in a string or a docstring (a keyword argument such as ``period=p`` is none).
LAYOUT_PATH = re.compile(r"usage_date=|[\"'/`](?:period|month|version)=")


def test_the_output_layout_is_spelled_in_one_module() -> None:
    """The output folder's partition paths are spelled only in ``_output/_layout``
    (wherever it sits): every other module asks it for a path or a glob."""
    spelled = sorted(
        str(p.relative_to(SRC)) for p in _modules() if LAYOUT_PATH.search(p.read_text(encoding="utf-8"))
    )
    assert [Path(p).name for p in spelled] == ["_layout.py"], spelled


def _stage_of(module: str) -> str | None:
    for stage, prefixes in STAGES.items():
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return stage
    return None


def test_no_module_is_over_500_lines() -> None:
    """Every module of both packages holds one job in at most about 500 lines."""
    long = {
        str(p.relative_to(SRC)): n
        for p in _modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_at_most_15_modules_sit_directly_in_the_engine_package() -> None:
    """src/reconcile/ holds its public modules and a package per stage or concern (the tree reads as
    the pipeline), not a flat list of modules."""
    flat = sorted(p.name for p in (SRC / "reconcile").glob("*.py"))
    assert len(flat) <= 15, flat


def test_the_tests_mirror_the_packages() -> None:
    """Each folder of tests/reconcile/ is named after a package of src/reconcile/ (without its leading
    underscore), and no test module sits beside them unsorted."""
    packages = {
        p.parent.name.lstrip("_")
        for p in (SRC / "reconcile").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    tests = ROOT / "tests" / "reconcile"
    folders = {p.name for p in tests.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert sorted(folders - packages) == []
    assert sorted(p.name for p in tests.glob("test_*.py")) == []


def test_stages_never_import_each_other() -> None:
    """No module of a stage imports a module of another stage (the orchestrator calls them)."""
    crossings = []
    for path in _modules():
        own = _stage_of(_module_name(path))
        if own is None:
            continue
        for imported in _imports(path):
            other = _stage_of(imported)
            if other is not None and other != own:
                crossings.append(f"{_module_name(path)} ({own}) imports {imported} ({other})")
    assert crossings == []


def test_each_stage_sql_reads_only_its_own_variables() -> None:
    """The SQL of the stages sharing a connection reads only variables named with its stage's prefix."""
    wrong = []
    for folder, prefix in PREFIXES.items():
        for file in sorted((SQL / "engine" / folder).glob("*.sql")):
            for name in re.findall(r"getvariable\('([a-z_0-9]+)'\)", file.read_text(encoding="utf-8")):
                if not name.startswith(prefix):
                    wrong.append(f"{file.relative_to(SQL)}: {name}")
    assert wrong == []


def test_every_sql_file_names_its_relation_and_lives_with_its_stage() -> None:
    """Each SQL file starts with a header comment naming the relation it makes (its file name), and
    the engine's files sit in a stage folder."""
    files = sorted(SQL.rglob("*.sql"))
    assert files
    for file in files:
        rel = file.relative_to(SQL)
        assert rel.parts[0] in {"engine", "views"}, rel
        if rel.parts[0] == "engine":
            assert len(rel.parts) == 3, rel
            assert rel.parts[1] in {"ingest", "pair", "price", "write", "bills", "audit"}, rel
        assert file.read_text(encoding="utf-8").startswith(f"-- {file.stem}:"), rel


def test_every_engine_sql_file_is_loaded_by_the_engine() -> None:
    """No engine SQL file is dead: each is loaded by name (or by its table's pattern) somewhere."""
    code = "\n".join(p.read_text(encoding="utf-8") for p in _modules())
    patterns = {"staged_": "engine/write/staged_{table}", "output_": "engine/write/output_{table}"}
    dead = []
    for file in sorted((SQL / "engine").rglob("*.sql")):
        name = f"engine/{file.parent.name}/{file.stem}"
        by_pattern = next((p for prefix, p in patterns.items() if file.stem.startswith(prefix)), None)
        if name not in code and (by_pattern is None or by_pattern not in code):
            dead.append(name)
    assert dead == []


def _annotations(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.expr]:
    args = node.args
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    every += [a for a in (args.vararg, args.kwarg) if a is not None]
    found = [a.annotation for a in every if a.annotation is not None]
    return found + ([node.returns] if node.returns is not None else [])


def _mentions_any(expr: ast.expr) -> bool:
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):  # a string annotation
        return re.search(r"\bAny\b", expr.value) is not None
    return any(isinstance(n, ast.Name) and n.id == "Any" for n in ast.walk(expr))


def test_no_signature_uses_any() -> None:
    """No function of the engine or the recorder's public surface takes or returns ``Any``: documents
    are dataclasses, JSON is JsonValue."""
    found = []
    for path in _modules():
        rel = path.relative_to(SRC).as_posix()
        if rel.startswith("recorder/"):  # NamedTuple's own overrides (_make, __reduce__) mirror typing's
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if (rel, node.name) not in ANY_ALLOWED and any(_mentions_any(a) for a in _annotations(node)):
                found.append(f"{rel}: {node.name}")
    assert found == []


@pytest.mark.parametrize("package", ["recorder", "reconcile", "reconcile.testing"])
def test_public_surface_is_a_sorted_all(package: str) -> None:
    """Each public package lists its names in a sorted ``__all__`` (constants, classes, functions, as
    ruff's RUF022 sorts), every one importable."""
    module = importlib.import_module(package)
    names = list(module.__all__)

    def kind(name: str) -> int:
        return 0 if name.isupper() else 1 if name[:1].isupper() else 2

    assert names == sorted(names, key=lambda n: (kind(n), n))
    for name in names:
        assert getattr(module, name) is not None, name
