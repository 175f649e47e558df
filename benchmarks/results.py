"""Benchmark results as JSON: ``save(name, tables, meta)`` writes ``runs/bench/<name>.json``.

The file (``version`` 1)::

    {"version": 1, "name": "hexgraph",
     "meta": {"command": "python -m benchmarks hexgraph --batch 4096", "commit": "07d8e16...", "dirty": true,
              "date": "2026-12-07T13:50:02+00:00", "machine": {"host": ..., "platform": ..., "python": ...,
              "cpus": 2, "processor": ..., "load average": 0.3},
              ...what the benchmark adds (its settings, library versions)},
     "tables": {"<title>": {"columns": ["method", "median ms", ...], "rows": [["hexgraph", 5.4, ...], ...],
                            "format": {"median ms": "{:.1f}"}}}}

A table is given as a pandas DataFrame (its index becomes the first column, unless it is a plain range),
a list of row dicts, or a dict of row dicts (``{row: {column: value}}``, as the benchmarks print them);
numpy scalars become numbers and NaN becomes ``null``.  ``format`` (optional, per column) holds the
``str.format`` patterns :mod:`benchmarks.readme` renders the cells with.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "runs" / "bench"
"""Where results go; ``PHONEIQA_BENCH_RESULTS`` overrides it."""
VERSION = 1


def results_dir() -> Path:
    return Path(os.environ.get("PHONEIQA_BENCH_RESULTS", RESULTS))


def _scalar(value: Any) -> Any:
    if hasattr(value, "item") and not isinstance(value, (list, tuple, dict, str)):
        value = value.item()  # numpy and torch scalars
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def table_of(table: Any, index_name: str = "") -> dict[str, Any]:
    """A table (DataFrame, list of row dicts, or ``{row: {column: value}}``) as ``{"columns", "rows"}``."""
    if hasattr(table, "to_dict") and hasattr(table, "columns"):  # a pandas DataFrame
        frame = table
        plain = frame.index.name is None and list(frame.index) == list(range(len(frame)))
        if not plain:
            frame = frame.reset_index(names=frame.index.name or index_name or "")
        columns = [str(c) for c in frame.columns]
        rows = [[_scalar(v) for v in row] for row in frame.itertuples(index=False, name=None)]
        return {"columns": columns, "rows": rows}
    if isinstance(table, Mapping):
        records = [{index_name: key, **dict(value)} for key, value in table.items()]
    else:
        records = [dict(row) for row in table]
    columns: list[str] = []
    for record in records:
        columns += [str(c) for c in record if str(c) not in columns]
    rows = [[_scalar(record.get(c)) for c in columns] for record in records]
    return {"columns": columns, "rows": rows}


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip()


def run_meta() -> dict[str, Any]:
    """Command line, git commit (and whether the tree had changes), date and machine of this run."""
    argv = list(sys.argv)
    command = argv[0]
    if not command.startswith("python -m benchmarks"):
        path = Path(command).resolve()
        command = f"python {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}"
    return {
        "command": " ".join([command, *argv[1:]]),
        "commit": _git("rev-parse", "HEAD"),
        "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "host": socket.gethostname(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "load average": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        },
    }


def save(
    name: str,
    tables: Any,
    meta: Mapping[str, Any] | None = None,
    formats: Mapping[str, Mapping[str, str]] | None = None,
    out: Path | None = None,
) -> Path:
    """Write ``tables`` (one table, or ``{title: table}``) with this run's metadata to ``runs/bench/<name>.json``.

    One table (a DataFrame or a list) is stored under the title ``name``; a dict whose values are all
    DataFrames, lists or dicts of dicts is a set of titled tables; any other dict is one table of rows.
    ``formats``: ``{title: {column: pattern}}`` for the README renderer.  Returns the path written.
    """
    if isinstance(tables, Mapping) and tables and all(_is_table(v) for v in tables.values()):
        titled = dict(tables)
    else:
        titled = {name: tables}
    payload = {
        "version": VERSION,
        "name": name,
        "meta": {
            **run_meta(),
            **{k: _scalar(v) if not isinstance(v, (dict, list)) else v for k, v in (meta or {}).items()},
        },
        "tables": {},
    }
    for title, table in titled.items():
        entry = table_of(table)
        if formats and title in formats:
            entry["format"] = dict(formats[title])
        payload["tables"][str(title)] = entry
    path = Path(out) if out else results_dir() / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1, ensure_ascii=False, default=_scalar) + "\n", encoding="utf-8")
    print(f"results: {path}")
    return path


def _is_table(value: Any) -> bool:
    if hasattr(value, "columns"):
        return True
    if isinstance(value, list):
        return all(isinstance(row, Mapping) for row in value)
    return isinstance(value, Mapping) and bool(value) and all(isinstance(v, Mapping) for v in value.values())


def load(name_or_path: str | Path) -> dict[str, Any]:
    """A saved result (a name under ``runs/bench/`` or a path)."""
    path = Path(name_or_path)
    if path.suffix != ".json":
        path = results_dir() / f"{name_or_path}.json"
    return json.loads(path.read_text(encoding="utf-8"))
