"""The issue labels, their HEX graph, and the training CSV format (``data_specs/labels_csv.md``)."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hexgraph import HexGraph, graph_from_spec
from phoneiqa.errors import DataFormatError
from phoneiqa.extras import require

if TYPE_CHECKING:
    import pandas as pd

SpecLike = str | os.PathLike | dict

DEFAULT_SPEC = "smartphone6"


def specs_dir() -> Path:
    """The shipped ``data_specs`` folder: inside the installed package, or beside it in a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "data_specs", here.parent / "data_specs"):
        if candidate.is_dir():
            return candidate
    raise DataFormatError(f"the data_specs folder is missing from the phoneiqa installation at {here}")


def spec_path(name: str) -> Path:
    """Path of a spec shipped in ``data_specs/`` (``"smartphone6"``, ``"smartphone6_wb"``)."""
    path = specs_dir() / f"{name}.json"
    if not path.is_file():
        shipped = sorted(p.stem for p in path.parent.glob("*.json") if not p.stem.endswith(".schema"))
        raise DataFormatError(f"no shipped spec named {name!r}; shipped: {', '.join(shipped)}")
    return path


def load_spec_dict(spec: SpecLike = DEFAULT_SPEC) -> dict[str, Any]:
    """A spec as a dict: a shipped name, a JSON path, or a dict."""
    if isinstance(spec, dict):
        return spec
    path = Path(spec)
    if not path.suffix and not path.exists():
        path = spec_path(str(spec))
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataFormatError(f"cannot read label spec {path}: {exc}") from exc


def load_graph(spec: SpecLike = DEFAULT_SPEC) -> HexGraph:
    """The ordinal HEX graph of a spec (cached for shipped names)."""
    if isinstance(spec, str) and not Path(spec).suffix:
        return _shipped_graph(spec)
    return graph_from_spec(load_spec_dict(spec))


@cache
def _shipped_graph(name: str) -> HexGraph:
    return graph_from_spec(load_spec_dict(name))


def level_names(graph: HexGraph) -> dict[str, tuple[str, ...]]:
    """Each label's level names (index = level), as its spec gives them: label key -> names."""
    return {lab.key: lab.level_names for lab in graph.labels}


_DEFAULT = load_graph(DEFAULT_SPEC)
LABELS: tuple[str, ...] = tuple(lab.key for lab in _DEFAULT.labels)
"""The label keys of the ``smartphone6`` spec (:data:`DEFAULT_SPEC`); a model's own are ``Assessor.labels``."""


def read_labels_csv(
    path: str | os.PathLike,
    spec: SpecLike = DEFAULT_SPEC,
    rename: dict[str, str] | None = None,
    ignore: tuple[str, ...] | list[str] = (),
) -> pd.DataFrame:
    """Read and validate a training CSV: ``filename``, the label columns (all or none), optional ``mos`` and ``rater``.

    ``rename`` maps other datasets' column names onto the format (CLIVE: ``{"image": "filename"}``)
    and ``ignore`` drops columns the format does not know (CLIVE: ``["mos_std"]``); both are explicit
    so that a typo in a column name still fails.

    Returns a frame with ``filename`` (str), one int64 column per label when present, ``mos``
    (float64) and ``rater`` (str, empty where unnamed) when present.  Raises :class:`DataFormatError`
    naming the file, the row (1-based data row, as a spreadsheet shows it after the header) and the
    reason.  Needs pandas (the ``pandas`` extra; ``train`` brings it too), never torch.
    """
    pd = require("pandas", "reading a label CSV")
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{path}: cannot read as CSV: {exc}") from exc
    frame = frame.rename(columns=rename or {}).drop(columns=[c for c in ignore if c in frame.columns])
    return validate_labels(frame, spec, source=str(path))


def validate_labels(frame: pd.DataFrame, spec: SpecLike = DEFAULT_SPEC, source: str = "<frame>") -> pd.DataFrame:
    """Validate a label table already in memory; see :func:`read_labels_csv`."""
    pd = require("pandas", "validating labels")

    graph = load_graph(spec)
    keys = [lab.key for lab in graph.labels]
    frame = frame.rename(columns=lambda c: str(c).strip())
    columns = list(frame.columns)
    unknown = [c for c in columns if c not in {"filename", "mos", "rater", *keys}]
    if unknown:
        raise DataFormatError(
            f"{source}: unknown column(s) {unknown}; expected filename, {', '.join(keys)}, optional mos and rater"
        )
    if "filename" not in columns:
        raise DataFormatError(f"{source}: missing the 'filename' column")
    present = [k for k in keys if k in columns]
    if present and len(present) != len(keys):
        missing = [k for k in keys if k not in columns]
        raise DataFormatError(f"{source}: label columns must be all present or all absent; missing {missing}")
    if not present and "mos" not in columns:
        raise DataFormatError(f"{source}: needs label columns ({', '.join(keys)}), a 'mos' column, or both")

    out = pd.DataFrame({"filename": frame["filename"].astype(str).str.strip()})
    problems: list[tuple[int, str]] = [(int(i), "empty filename") for i in out.index[out["filename"] == ""]]
    names = out["filename"].to_numpy()
    first_row: dict[str, int] = {}
    for row, name in enumerate(names):
        if name and name in first_row:
            problems.append((row, f"duplicate filename {name!r} (first at row {first_row[name] + 1})"))
        first_row.setdefault(name, row)

    usable = np.ones(len(frame), dtype=bool)
    for lab in graph.labels:
        if lab.key not in columns:
            continue
        values = pd.to_numeric(frame[lab.key].str.strip(), errors="coerce")
        bad = (values.isna() | (values != values.round()) | (values < 0) | (values >= lab.num_levels)).to_numpy()
        problems += [
            (int(row), f"{lab.key}={frame[lab.key].iloc[row]!r} is not an integer level in 0..{lab.num_levels - 1}")
            for row in np.flatnonzero(bad)
        ]
        usable &= ~bad
        out[lab.key] = values.where(~bad, 0).astype(np.int64)
    if present:
        problems += _illegal_rows(out[keys].to_numpy(), graph, usable)

    if "mos" in columns:
        mos = pd.to_numeric(frame["mos"].str.strip().replace("", np.nan), errors="coerce")
        bad = mos.isna() & (frame["mos"].str.strip() != "") | ~np.isfinite(mos.fillna(0))
        problems += [
            (int(row), f"mos={frame['mos'].iloc[row]!r} is not a finite number")
            for row in np.flatnonzero(bad.to_numpy())
        ]
        out["mos"] = mos.astype(np.float64)
    if "rater" in columns:
        out["rater"] = frame["rater"].astype(str).str.strip()
    if problems:
        problems.sort(key=lambda item: item[0])
        lines = [f"{source}: row {row + 1}: {reason}" for row, reason in problems[:MAX_REPORTED_ROWS]]
        if len(problems) > MAX_REPORTED_ROWS:
            lines.append(f"{source}: ... and {len(problems) - MAX_REPORTED_ROWS} more")
        raise DataFormatError("\n".join(lines))
    return out


MAX_REPORTED_ROWS = 50
"""How many bad rows a validation error lists (in file order) before it only counts the rest."""


def _illegal_rows(levels: np.ndarray, graph: HexGraph, usable: np.ndarray) -> list[tuple[int, str]]:
    """The rows (of those whose levels are all usable) whose combination the HEX graph excludes."""
    states = graph.encode_levels_numpy(levels)
    illegal = usable & ~graph.is_legal(states)
    problems = []
    for row in np.flatnonzero(illegal):
        present = [f"{lab.key}={levels[row, j]}" for j, lab in enumerate(graph.labels) if levels[row, j] > 0]
        reasons = [
            f"{a} excludes {b}"
            for a, b in graph.exclusions
            if states[row, graph.index[a]] and states[row, graph.index[b]]
        ]
        problems.append(
            (int(row), f"illegal combination {', '.join(present)} ({'; '.join(reasons[:1]) or 'HEX rule'})")
        )
    return problems
