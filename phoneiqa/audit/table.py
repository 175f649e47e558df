"""The audit's table: one row per file of plain values (:class:`AuditTable`), made from the outcomes read back
from the result cache a chunk at a time (:func:`stored_outcomes`, :func:`make_table`), and described in a few
lines of text (:func:`summarize`).

>>> table = phoneiqa.audit(["~/Pictures/phone"])       # doctest: +SKIP
>>> table.columns                                       # doctest: +SKIP
['path', 'score', 'bright', 'dark', 'low_contrast', 'high_contrast', 'overexposed', 'over_suppressed', 'error']
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from phoneiqa.audit.decode import Outcome
from phoneiqa.audit.discover import Entry
from phoneiqa.audit.store import CHUNK, ResultCache
from phoneiqa.extras import require

if TYPE_CHECKING:
    import pandas as pd


NOT_STORED = "its result is missing from the result cache (changed by another process?): audit again"
"""The error of an assessed file whose result could not be read back."""


@dataclass
class AuditTable:
    """What an audit returns: one row per file, columns of plain Python values (``None`` where unknown).

    Columns, in order: ``path``; ``score`` (``None`` for failed files and for models without a score);
    one column per issue label of the model, its level 0..3 (:attr:`labels`); ``error`` (``""`` when
    the file was assessed: :meth:`failed` is the one definition of a failure); with probabilities,
    ``p_<label>`` = P(level >= normal); with thumbnails, ``thumbnail`` (JPEG bytes); when explained,
    ``overlay`` (a JPEG of the exposure maps of a flagged photo, else ``None``); with groups, ``group``
    (the burst or near-repeat the photo belongs to, numbered from 1; ``None`` for a photo on its own),
    ``group_sure`` (whether its group is sure to be one scene, :class:`phoneiqa.groups.Group`; else its photos
    are only similar) and ``rank_in_group`` (1 = the best shot of its group).  ``table["score"]``
    is a column as a list, :meth:`rows` the rows as dicts, :meth:`to_pandas` a DataFrame (needs the
    ``pandas`` extra).  ``attrs``: the model id and the counts (assessed, from the cache, failed, seconds;
    with groups, ``groups``, ``sure_groups`` and ``removable``: the photos of sure groups that are not their
    group's best).
    """

    data: dict[str, list[Any]]
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        return list(self.data)

    @property
    def labels(self) -> list[str]:
        """The issue columns: those between ``score`` and ``error``, the model's labels."""
        columns = self.columns
        return columns[columns.index("score") + 1 : columns.index("error")]

    @property
    def level_names(self) -> tuple[str, ...]:
        """The names of the levels 0..K-1 that every issue column shares: the model's (``attrs["level_names"]``,
        from its label spec) when its labels agree on them, else ``level 0``, ``level 1``, ..."""
        known = {tuple(names) for names in self.attrs.get("level_names", {}).values()}
        if len(known) == 1:
            return known.pop()
        top = max([3, *(v for label in self.labels for v in self[label] if v is not None)])
        return tuple(f"level {k}" for k in range(top + 1))

    def __len__(self) -> int:
        return len(self.data["path"])

    def __getitem__(self, column: str) -> list[Any]:
        return self.data[column]

    def __contains__(self, column: object) -> bool:
        return column in self.data

    def failed(self) -> list[bool]:
        """Which rows are failed files: those with an error message."""
        return [bool(error) for error in self.data["error"]]

    def rows(self) -> list[dict[str, Any]]:
        """The rows as dicts, column -> value."""
        return [dict(zip(self.data, values, strict=True)) for values in zip(*self.data.values(), strict=True)]

    def drop(self, *columns: str) -> AuditTable:
        """A copy without ``columns`` (those it lacks are ignored)."""
        return AuditTable({k: v for k, v in self.data.items() if k not in columns}, dict(self.attrs))

    def to_pandas(self) -> pd.DataFrame:
        """The table as a pandas DataFrame (levels as nullable ``Int64``, ``attrs`` copied)."""
        pd = require("pandas", "AuditTable.to_pandas")
        dtypes = {"score": "float64", "group_sure": "boolean"}
        dtypes.update(dict.fromkeys([*self.labels, "group", "rank_in_group"], "Int64"))
        dtypes.update({c: "float64" for c in self.columns if c.startswith("p_")})
        frame = pd.DataFrame({c: pd.Series(v, dtype=dtypes.get(c, object)) for c, v in self.data.items()})
        frame.attrs.update(self.attrs)
        return frame


def make_table(
    paths: Sequence[str],
    results: Iterable[Outcome],
    probabilities: bool,
    thumbnails: bool,
    labels: Sequence[str] | None = None,
    *,
    level_names: Mapping[str, Sequence[str]] | None = None,
    model: str = "",
    from_cache: int = 0,
    started: float | None = None,
) -> AuditTable:
    """The audit table of ``paths`` (already sorted) from each one's outcome (``results``, in the same order,
    read once: only the table's plain values are kept), with its ``attrs``: the ``model`` id, ``from_cache``
    (files whose results came from the cache), ``assessed`` (now), ``failed`` and the ``seconds`` since
    ``started`` (a :func:`time.perf_counter` value).

    ``labels``: the model's issue keys; by default those of the first assessment (every assessment
    of one model has the same keys), none when no file was assessed.  ``level_names``: the model's label key ->
    names of its levels, kept in ``attrs`` for the summary and the reports (:attr:`AuditTable.level_names`).
    """
    results = iter(results)
    head: list[Outcome] = []  # the failed files before the first assessment, and it
    if labels is None:
        for outcome in results:
            head.append(outcome)
            if outcome.assessment is not None:
                break
        labels = tuple(head[-1].assessment.issues) if head and head[-1].assessment is not None else ()
    p_columns = [f"p_{label}" for label in labels] if probabilities else []
    columns: dict[str, list[Any]] = {"path": list(paths), **{c: [] for c in ("score", *labels, "error", *p_columns)}}
    if thumbnails:
        columns["thumbnail"] = []
    for outcome in itertools.chain(head, results):
        a = outcome.assessment
        columns["score"].append(_number(a.score) if a else None)
        for label in labels:
            columns[label].append(a.issues.get(label) if a else None)
        columns["error"].append(outcome.error)
        if probabilities:
            for label in labels:
                p = 1.0 - float(a.probabilities[label][0]) if a and label in a.probabilities else None
                columns[f"p_{label}"].append(p)
        if thumbnails:
            columns["thumbnail"].append(outcome.thumbnail)
    failed = sum(bool(error) for error in columns["error"])
    seconds = time.perf_counter() - started if started is not None else 0.0
    attrs = {"model": model, "from_cache": from_cache, "assessed": len(paths) - from_cache - failed}
    names = {label: list(level_names[label]) for label in labels if label in level_names} if level_names else {}
    return AuditTable(columns, {**attrs, "failed": failed, "seconds": seconds, "level_names": names})


def stored_outcomes(store: ResultCache, entries: Sequence[Entry], errors: Mapping[str, str]) -> Iterator[Outcome]:
    """The outcome of each entry, in order: its reason from ``errors``, else its assessment read back from
    ``store`` (:data:`~phoneiqa.audit.store.CHUNK` files at a time)."""
    for start in range(0, len(entries), CHUNK):
        chunk = [e.path for e in entries[start : start + CHUNK]]
        absolute = {path: os.path.abspath(path) for path in chunk if path not in errors}
        stored = store.get(list(absolute.values()))
        for path in chunk:
            if path in errors:
                yield Outcome(error=errors[path])
            else:
                assessment = stored.get(absolute[path])
                yield Outcome(assessment) if assessment is not None else Outcome(error=NOT_STORED)


def _number(value: float | None) -> float | None:
    """A float, ``None`` for NaN (a model without a score head scores NaN)."""
    return None if value is None or math.isnan(value) else float(value)


def summarize(table: AuditTable, max_failures: int = 10) -> str:
    """A few lines describing an audit: files, counts per issue and level, score spread, failures."""
    failed_mask = table.failed()
    n_ok = failed_mask.count(False)
    failed = [(p, e) for p, e, bad in zip(table["path"], table["error"], failed_mask, strict=True) if bad]
    attrs = table.attrs
    if "from_cache" in attrs:  # as table.attrs count: assessed now, results from the cache, failed
        lines = [
            f"{len(table)} files: {attrs['assessed']} assessed, {attrs['from_cache']} from the cache, "
            f"{len(failed)} failed ({attrs['seconds']:.1f} s)"
        ]
    else:  # a table without an audit's counts: which results came from a cache is not known
        lines = [f"{len(table)} files: {n_ok} with results, {len(failed)} failed"]
    if n_ok and table.labels:
        names = table.level_names[1:]
        widths = [max(8, len(name) + 2) for name in names]
        header = "".join(f"{n:>{w}}" for n, w in zip(names, widths, strict=True))
        lines.append(f"{'issue':<16}{header}{'any':>8}")
        for label in table.labels:
            ok_levels = [v for v, bad in zip(table[label], failed_mask, strict=True) if not bad]
            counts = [ok_levels.count(level) for level in range(1, len(names) + 1)]
            cells = "".join(f"{c:>{w}}" for c, w in zip(counts, widths, strict=True))
            lines.append(f"{label:<16}{cells}{sum(counts):>8}")
    scored = [s for s, bad in zip(table["score"], failed_mask, strict=True) if not bad and s is not None]
    scores = np.array(scored, dtype=float)
    if len(scores):
        q = np.quantile(scores, [0.0, 0.1, 0.5, 0.9, 1.0]).tolist()
        lines.append("score: min {:.1f}, 10% {:.1f}, median {:.1f}, 90% {:.1f}, max {:.1f}".format(*q))
        counts = [int(((scores >= lo) & ((scores < lo + 10) | (lo == 90))).sum()) for lo in range(0, 100, 10)]
        width = max(counts)
        for lo, count in zip(range(0, 100, 10), counts, strict=True):
            bar = "#" * round(40 * count / width) if width else ""
            lines.append(f"  {lo:>3}-{lo + 10:<3} {count:>6} {bar}")
    if "groups" in attrs:
        lines.append(
            f"bursts and near-repeats: {attrs['sure_groups']} groups of one scene, "
            f"{attrs['groups'] - attrs['sure_groups']} of similar photos; {attrs['removable']} photos could be "
            "removed (all but the best shot of each group of one scene, rank_in_group 1, group_sure)"
        )
    if failed:
        lines.append(f"failed ({len(failed)}):")
        lines += [f"  {path}: {error}" for path, error in failed[:max_failures]]
        if len(failed) > max_failures:
            lines.append(f"  ... and {len(failed) - max_failures} more (see the report's error column)")
    return "\n".join(lines)
