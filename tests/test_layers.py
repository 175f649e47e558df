"""The import structure: layers point one way, and the public façade is imported by nothing below it."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
FACADE = {"phoneiqa", "phoneiqa.assess", "phoneiqa.xmp", "phoneiqa.cli"}
"""The public entry points: the package itself, ``assess``, ``xmp`` and the command line with its modules
(``rank`` is below them: the audit ranks its bursts by its rules)."""


def in_facade(module: str) -> bool:
    return module in FACADE or module.startswith("phoneiqa.cli.")


AUDIT_STEPS = [
    ["discover"],
    ["decode"],
    ["infer", "store"],
    ["table"],
    ["bursts", "reports.tables", "reports.html_assets", "reports.xmp_packet"],
    ["reports.html", "reports.xmp"],
    ["local", "ray"],
    [""],
]
"""The audit package's modules, from the first step up (``""``: ``phoneiqa.audit`` itself); data flows one
way: each imports only modules of the steps before its own."""


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, modules: set[str]) -> set[str]:
    """Modules of this repository that ``path`` imports, at the top or inside functions (not under
    ``if TYPE_CHECKING:``); ``from package import submodule`` counts as the submodule only."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")
        for inner in ast.walk(node)
    }
    found: set[str] = set()
    for node in (n for n in ast.walk(tree) if id(n) not in typing_only):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names} & modules
            found |= submodules or {node.module}
    return found & modules


def import_graph() -> nx.DiGraph:
    files = [*ROOT.joinpath("phoneiqa").rglob("*.py"), *ROOT.joinpath("hexgraph").rglob("*.py")]
    modules = {module_name(path): path for path in files}
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        for target in imports(path, set(modules)) - {name}:
            graph.add_edge(name, target)
    return graph


def test_there_are_no_import_cycles():
    graph = import_graph()
    assert len(graph) > 30
    package_inits = {"phoneiqa", "phoneiqa.encoders", "phoneiqa.heads", "hexgraph"}
    # a package's __init__ imports its submodules to register them; the submodules import the
    # registry back from it, which Python allows: leave those edges out
    inner = graph.copy()
    inner.remove_edges_from([(a, b) for a, b in graph.edges if b in package_inits and a.startswith(b + ".")])
    assert list(nx.simple_cycles(inner)) == []


def test_nothing_below_the_facade_imports_it():
    graph = import_graph()
    offenders = {(a, b) for a, b in graph.edges if in_facade(b) and not in_facade(a)}
    assert offenders == set()


def test_the_audits_steps_import_only_the_steps_before_them():
    graph = import_graph()
    step = {
        ".".join(filter(None, ("phoneiqa.audit", name))): level
        for level, names in enumerate(AUDIT_STEPS)
        for name in names
    }
    step["phoneiqa.audit.reports"] = 0  # the reports' package: a docstring
    assert {n for n in graph if n.startswith("phoneiqa.audit.") or n == "phoneiqa.audit"} == set(step)
    upward = {(a, b) for a, b in graph.edges if a in step and b in step and step[b] >= step[a]}
    assert upward == set()
    below = {(a, b) for a, b in graph.edges if b in step and a not in step and not in_facade(a)}
    assert below == set()  # nothing outside the audit builds on it but the façade


def test_the_version_is_the_one_the_distribution_declares():
    from phoneiqa.version import __version__

    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert __version__ == project["version"]
