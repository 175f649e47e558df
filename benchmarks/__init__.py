"""The benchmarks, one runner: ``python -m benchmarks`` lists them, ``python -m benchmarks NAME [args]`` runs one.

A benchmark is a module ``benchmarks/bench_<name>.py`` (run as ``NAME``: ``python -m benchmarks judged``), a
probe ``probe_<name>.py`` or the boundary fit ``calibrate_levels.py`` (run by their module name); the first line
of its docstring describes it, the second is its command line.  Each prints its tables and saves them with
:func:`benchmarks.results.save` to ``runs/bench/<name>.json``; ``python -m benchmarks readme`` writes the saved
tables into README.md between ``<!-- bench:NAME -->`` and ``<!-- /bench -->`` markers
(:mod:`benchmarks.readme`).  Shared parts live in :mod:`benchmarks.common`.  Data generators and asset
builders are elsewhere: ``python -m phoneiqa.synth`` (the graded training set), ``tools/`` (the independent
generator, the README's exposure-map example, the release build ``tools/train_shipped_models.py``).

Run from the repository root (``benchmarks`` and ``tools`` are imported from there).
"""

from __future__ import annotations

import ast
from pathlib import Path

HERE = Path(__file__).resolve().parent
HELPERS = frozenset({"__init__", "__main__", "common", "judged_metrics", "results", "readme"})
"""Modules of this folder that are not benchmarks."""


def name_of(module: str) -> str:
    """The runner's name of a benchmark module: ``bench_judged`` -> ``judged``; others keep theirs."""
    return module.removeprefix("bench_")


def benchmarks() -> dict[str, tuple[str, str]]:
    """``{name: (module, one-line description)}`` for every benchmark of this folder, in name order
    (read from the files' docstrings, nothing is imported)."""
    found = {}
    for path in sorted(HERE.glob("*.py")):
        if path.stem in HELPERS:
            continue
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        found[name_of(path.stem)] = (path.stem, doc.strip().splitlines()[0] if doc.strip() else "")
    return dict(sorted(found.items()))
