"""README tables generated from saved results: ``python -m benchmarks readme [--check] [--file README.md]``.

A table in a page is written between two markers, from ``runs/bench/<name>.json`` (:mod:`benchmarks.results`)::

    <!-- bench:hexgraph -->            the result's only table (or its table titled like the result)
    <!-- bench:judged/issue levels --> the table titled ``issue levels``
    ...generated markdown...
    <!-- /bench -->

Everything between the markers is replaced; a marker whose result file is missing is left as it is (and
named).  ``--check`` changes nothing and exits 1 when a table is not what its result renders to.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmarks.results import ROOT, load, results_dir

MARKER = re.compile(r"(<!-- bench:(?P<key>[^>]+?) -->\n)(?P<body>.*?)(<!-- /bench -->)", re.DOTALL)


def cell(value: Any, pattern: str | None = None) -> str:
    if value is None:
        return "–"
    if pattern:
        return pattern.format(value)
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value).replace("|", "\\|")


def render(table: Mapping[str, Any]) -> str:
    """A saved table (``{"columns", "rows"[, "format"]}``) as a markdown table, one line per row."""
    columns, formats = table["columns"], table.get("format", {})
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in table["rows"]:
        lines.append("| " + " | ".join(cell(v, formats.get(c)) for c, v in zip(columns, row, strict=True)) + " |")
    return "\n".join(lines) + "\n"


def caption(meta: Mapping[str, Any]) -> str:
    """Where a result comes from: its command, date, commit and machine, as one small line under the table."""
    machine = meta.get("machine", {})
    parts = [f"`{meta.get('command', '?')}`", str(meta.get("date", "?"))[:10]]
    if meta.get("commit"):
        parts.append(f"commit {meta['commit'][:7]}" + (" + changes" if meta.get("dirty") else ""))
    if machine:
        load = machine.get("load average")
        parts.append(f"{machine.get('cpus', '?')} CPUs" + (f", load average {load:g}" if load is not None else ""))
    return "<sub>" + " · ".join(parts) + "</sub>\n"


def parse(markdown: str) -> dict[str, Any]:
    """A markdown table rendered by :func:`render` back to ``{"columns", "rows"}`` (cells as strings)."""
    lines = [line.strip() for line in markdown.strip().splitlines() if line.strip().startswith("|")]
    split = [[c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines]
    return {"columns": split[0], "rows": split[2:]}


def table_for(key: str, directory: Path | None = None) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """The saved table a marker names (``name`` or ``name/title``) and the result's metadata."""
    name, _, title = key.partition("/")
    result = load((directory or results_dir()) / f"{name}.json")
    tables = result["tables"]
    if title:
        return tables[title], result["meta"]
    if len(tables) == 1:
        return next(iter(tables.values())), result["meta"]
    return tables[name], result["meta"]


def fill(text: str, directory: Path | None = None) -> tuple[str, list[str]]:
    """The page with every marked table rendered from its result, and the keys whose result is missing."""
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        key = match["key"].strip()
        try:
            table, meta = table_for(key, directory)
            body = render(table) + "\n" + caption(meta)
        except FileNotFoundError:
            missing.append(key)
            return match.group(0)
        return match.group(1) + body + match.group(4)

    return MARKER.sub(replace, text), missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks readme", description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, action="append", help="pages to fill (default: README.md)")
    parser.add_argument("--results", type=Path, help="folder of results (default: runs/bench)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a table is out of date")
    args = parser.parse_args(argv)
    stale = False
    for page in args.file or [ROOT / "README.md"]:
        text = page.read_text(encoding="utf-8")
        new, missing = fill(text, args.results)
        for key in missing:
            print(f"{page.name}: no result for <!-- bench:{key} --> (run: python -m benchmarks {key.split('/')[0]})")
        if new != text:
            stale = True
            if not args.check:
                page.write_text(new, encoding="utf-8")
            print(f"{page.name}: {'out of date' if args.check else 'tables updated'}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
