"""The benchmark harness: the runner lists every benchmark, results round-trip through JSON into README tables."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks import HELPERS, benchmarks, name_of
from benchmarks.readme import fill, parse, render
from benchmarks.results import load, save, table_of

ROOT = Path(__file__).resolve().parents[1]


def defines_main(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body)


def test_the_runner_lists_every_benchmark_with_its_description():
    files = sorted(ROOT.glob("benchmarks/*.py"))
    expected = {name_of(p.stem) for p in files if p.stem not in HELPERS}
    assert set(benchmarks()) == expected
    assert expected >= {"judged", "hexgraph", "score", "assess", "audit"}
    for name, (module, description) in benchmarks().items():
        path = ROOT / "benchmarks" / f"{module}.py"
        assert defines_main(path), name
        assert description and not description.startswith("python"), name
        lines = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))).splitlines()[1:8]
        assert any(line.strip().startswith(f"python -m benchmarks {name}") for line in lines), name
        assert "save(" in path.read_text(encoding="utf-8"), f"{name} does not save its results"


def test_no_module_edits_sys_path_and_none_is_too_long():
    for path in [*ROOT.glob("benchmarks/*.py"), *ROOT.glob("tools/**/*.py")]:
        text = path.read_text(encoding="utf-8")
        assert "sys.path" not in text, path
        assert len(text.splitlines()) <= 450, path


def test_python_m_benchmarks_lists_them():
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    for name in benchmarks():
        assert f"  {name} " in done.stdout
    bad = subprocess.run([sys.executable, "-m", "benchmarks", "nonesuch"], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "nonesuch" in bad.stderr


def test_a_saved_table_round_trips_into_a_readme_table(tmp_path):
    frame = pd.DataFrame(
        {"median ms": [5.4, np.float64(30.5)], "vs hexgraph": [1.0, 5.65], "n": [np.int64(3), 4]},
        index=pd.Index(["hexgraph", "dense | legal"], name="method"),
    )
    path = save(
        "demo", frame, {"batch": 4096}, formats={"demo": {"vs hexgraph": "{:.1f}×"}}, out=tmp_path / "demo.json"
    )
    result = load(path)
    assert result["name"] == "demo" and result["meta"]["batch"] == 4096
    assert {"command", "commit", "date", "machine"} <= set(result["meta"])
    json.dumps(result)  # plain JSON: numpy scalars were converted
    table = result["tables"]["demo"]
    assert table["columns"] == ["method", "median ms", "vs hexgraph", "n"]
    assert table["rows"][1] == ["dense | legal", 30.5, 5.65, 4]

    rendered = parse(render(table))
    assert rendered["columns"] == table["columns"]
    assert rendered["rows"] == [["hexgraph", "5.4", "1.0×", "3"], ["dense | legal", "30.5", "5.7×", "4"]]

    page = "intro\n<!-- bench:demo -->\nold table\n<!-- /bench -->\n<!-- bench:missing -->\nkept\n<!-- /bench -->\n"
    new, missing = fill(page, tmp_path)
    assert missing == ["missing"] and "kept" in new and "old table" not in new
    assert "| dense \\| legal | 30.5 | 5.7× | 4 |" in new and "<sub>`" in new
    assert fill(new, tmp_path)[0] == new  # idempotent


@pytest.mark.parametrize(
    ("table", "columns"),
    [
        ([{"a": 1, "b": 2}, {"a": 3, "c": float("nan")}], ["a", "b", "c"]),
        ({"row": {"x": 1.5}, "other": {"x": 2.5}}, ["", "x"]),
    ],
)
def test_tables_given_as_rows_or_dicts(table, columns):
    out = table_of(table)
    assert out["columns"] == columns
    assert None in out["rows"][1] or out["rows"][1] == ["other", 2.5]


def test_the_readme_tables_are_marked_and_named():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    keys = [line.split("bench:", 1)[1].split(" -->")[0] for line in text.splitlines() if line.startswith("<!-- bench:")]
    assert keys, "no generated table in README.md"
    assert text.count("<!-- /bench -->") == len(keys)
    for key in keys:
        assert name_of(key.split("/")[0]) in benchmarks(), key
