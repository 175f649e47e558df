"""The HTML report of a photo-library audit: one page (inline CSS, JS, SVG), its thumbnails inline or beside it.

The page lists the photos from JSON embedded in the page, rendered by a small script a page at a time, so that
libraries of tens of thousands of photos stay responsive; the summary (counts per issue and level, the score
histogram) is rendered here, in Python.  Small audits are one self-contained file (thumbnails as ``data:``
URIs); above :data:`EMBED_LIMIT` photos the thumbnails and exposure-map overlays go to a folder beside the page
(``<page name>_files/``, as browsers save a page "complete"), loaded only when their rows are shown, so
that the page itself stays light (about 150 bytes per photo).
"""

from __future__ import annotations

import base64
import collections
import html
import json
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from phoneiqa.audit.reports.html_assets import CSS, JS
from phoneiqa.audit.table import AuditTable
from phoneiqa.errors import DataFormatError

__all__ = ["write_html"]

PAGE_SIZE = 200
"""Rows the page renders at first and adds per click on "show more"."""

EMBED_LIMIT = 1000
"""Up to this many photos the report is one file with its images inline (by default)."""

_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
"""The page's data is compact JSON."""


def write_html(
    table: AuditTable,
    path: str | os.PathLike,
    *,
    thumbnails: Mapping[str, bytes] | None = None,
    overlays: Mapping[str, bytes | None] | None = None,
    title: str = "phoneiqa audit",
    embed: bool | None = None,
) -> Path:
    """Write the audit table as one self-contained HTML page and return its path.

    ``table`` is an audit table (:func:`phoneiqa.audit.audit`): ``path``, ``score`` (``None`` or NaN for failed
    files and for models without a score), the model's issue levels (0..3) between them and ``error``, ``error``
    ("" when fine) and optionally ``p_<issue>`` probabilities; ``thumbnails`` maps paths to small JPEGs (photos
    without one get a placeholder); ``overlays`` maps paths to JPEGs of their exposure maps (the audit's
    ``overlay`` column), shown when the photo's thumbnail is hovered or opened (clicked, or Enter).
    ``embed``: images inline (one self-contained file) or in the folder ``<page name>_files`` beside
    the page (brought up to date on each write); by default inline up to :data:`EMBED_LIMIT` photos.
    """
    _check_columns(table)
    out = Path(path)
    inline = len(table) <= EMBED_LIMIT if embed is None else embed
    images = _Images(out.with_name(f"{out.name}_files"), inline)
    page = _render_page(table, _given(thumbnails), _given(overlays), title, images)
    images.finish()
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")  # an old report is never left half-written
    try:
        tmp.write_text(page, encoding="utf-8")
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _check_columns(table: AuditTable) -> None:
    """Fail with a clear message when the table is not an audit table."""
    missing = [c for c in ("path", "score", "error") if c not in table.columns]
    if missing:
        raise DataFormatError(f"the audit table lacks the column(s) {', '.join(missing)}")


def _given(images: Mapping[str, bytes | None] | None) -> Mapping[str, bytes | None]:
    """``images``, or none for ``None`` (never tested for truth: that would count the rows of a mapping that the
    audit reads from its cache, :class:`~phoneiqa.audit.store.StoredImages`)."""
    return {} if images is None else images


def _optional(values: list[Any], cast: type) -> list[Any]:
    """A column as a list of ``cast`` values, with ``None`` for ``None`` and NaN."""
    return [None if v is None or v != v else cast(v) for v in values]


class _Images:
    """Where the page's JPEGs go: ``data:`` URIs inside the page (``inline``), or files in ``folder``
    beside it.  An earlier report's folder is removed for an inline page; for a page with a folder, its
    files are rewritten only where they differ (a re-audit of an unchanged library writes none) and
    :meth:`finish` removes those this page does not use."""

    def __init__(self, folder: Path, inline: bool) -> None:
        self.folder = None if inline else folder
        self.used: dict[str, set[str]] = {kind: set() for kind in KINDS}  # file names, not Paths: 100,000s of them
        if self.folder is None:
            shutil.rmtree(folder, ignore_errors=True)
            return
        if folder.exists() and not folder.is_dir():
            folder.unlink()
        for kind in KINDS:
            (folder / kind).mkdir(parents=True, exist_ok=True)

    def url(self, kind: str, index: int, jpeg: bytes | None) -> str | None:
        """The ``src`` of row ``index``'s image of ``kind`` (``thumbs`` or ``maps``); ``None`` without one."""
        if not jpeg:
            return None
        if self.folder is None:
            return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")
        name = f"{index}.jpg"
        file = self.folder / kind / name
        if not _holds(file, jpeg):
            file.write_bytes(jpeg)
        self.used[kind].add(name)
        return f"{quote(self.folder.name)}/{kind}/{name}"

    def finish(self) -> None:
        """Remove the images of an earlier report that this page does not show."""
        if self.folder is None:
            return
        for kind in KINDS:
            for file in (self.folder / kind).iterdir():
                if file.name in self.used[kind]:
                    continue
                if file.is_dir() and not file.is_symlink():
                    shutil.rmtree(file)
                else:
                    file.unlink()


KINDS = ("thumbs", "maps")
"""The subfolders of a page's image folder: thumbnails and exposure-map overlays."""


def _holds(file: Path, jpeg: bytes) -> bool:
    """Whether ``file`` is a file holding exactly ``jpeg``."""
    try:
        return file.stat().st_size == len(jpeg) and file.read_bytes() == jpeg
    except OSError:
        return False


def _records(
    table: AuditTable, thumbnails: Mapping[str, bytes], overlays: Mapping[str, bytes | None], images: _Images
) -> Iterator[dict[str, Any]]:
    """The rows as JSON-able dicts for the page's script, one at a time (each row's images are read and placed as
    it comes).

    Each has ``path``, ``score`` (``None`` when failed or not scored), ``levels`` (one per issue, in the
    table's order, ``None`` when failed), ``error``, ``thumb`` (the image's ``src`` or ``None``), ``overlay``
    (its ``src``) for photos that have one, ``group`` ([group, rank in it, its size, whether the group is sure
    to be one scene]) for photos in a group and, when the table has ``p_<issue>`` columns, ``p`` (one
    probability per issue, ``None`` where unknown).
    """
    paths = [str(p) for p in table["path"]]
    scores = _optional(table["score"], float)
    errors = [str(e or "") for e in table["error"]]
    labels = table.labels
    levels = list(zip(*(_optional(table[label], int) for label in labels), strict=True)) or [()] * len(table)
    p_columns = [f"p_{label}" for label in labels]
    unknown = [None] * len(table)
    probs = (
        list(zip(*(_optional(table[c], float) if c in table else unknown for c in p_columns), strict=True))
        if any(c in table for c in p_columns)
        else None
    )
    groups = table["group"] if "group" in table else [None] * len(table)
    sizes = collections.Counter(g for g in groups if g is not None)
    for i, path in enumerate(paths):
        record = {
            "path": path,
            "score": scores[i],
            "levels": list(levels[i]),
            "error": errors[i],
            "thumb": images.url("thumbs", i, thumbnails.get(path)),
        }
        overlay = overlays.get(path)
        if overlay:
            record["overlay"] = images.url("maps", i, overlay)
        if probs is not None:
            record["p"] = list(probs[i])
        if groups[i] is not None:
            record["group"] = [groups[i], table["rank_in_group"][i], sizes[groups[i]], bool(table["group_sure"][i])]
        yield record


def _data_json(records: Iterable[dict[str, Any]], labels: list[str], levels: Sequence[str]) -> str:
    """The page's data as JSON safe inside ``<script>``: every ``<`` escaped, so no path can close the element.
    The rows are encoded one by one (the text of ``json.dumps`` of the whole, without a list of all the rows)."""
    head = _JSON.encode({"labels": labels, "levels": list(levels), "pageSize": PAGE_SIZE})
    rows = ",".join(_JSON.encode(record) for record in records)
    return f'{head[:-1]},"rows":[{rows}]}}'.replace("<", "\\u003c")


def _level_counts(table: AuditTable) -> dict[str, list[int]]:
    """Per issue, how many photos have it at exactly each level from 1 (normal) up."""
    top = len(table.level_names)
    return {label: [table[label].count(level) for level in range(1, top)] for label in table.labels}


def _counts_table(counts: dict[str, list[int]], levels: Sequence[str]) -> str:
    """The ``#counts`` table: one row per issue, one column per level from 1 (``levels``: their names) up."""
    head = "".join(f'<th scope="col">{html.escape(name)}</th>' for name in levels[1:])
    rows = []
    for label, per_level in counts.items():
        cells = []
        for level, n in enumerate(per_level, start=1):
            zero = ' class="zero"' if n == 0 else ""
            cells.append(f'<td data-label="{label}" data-level="{level}"{zero}>{n}</td>')
        rows.append(f'<tr><th scope="row">{html.escape(label)}</th>{"".join(cells)}</tr>')
    return (
        f'<table id="counts"><caption>photos per issue and level</caption>'
        f'<thead><tr><th scope="col">issue</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def _histogram_svg(scores: list[float], width: int = 360, height: int = 150) -> str:
    """The ``#histogram`` SVG: the scores of the scored photos in ten bins of 10 over 0..100, bars labelled."""
    values = np.clip(np.array(scores, dtype=float), 0.0, 100.0)
    counts, _ = np.histogram(values, bins=10, range=(0.0, 100.0))
    top, bottom, left = 16, 18, 12
    step = (width - 2 * left) / len(counts)
    scale = (height - top - bottom) / max(1, int(counts.max()))
    parts = []
    for i, n in enumerate(counts.tolist()):
        x, h = left + i * step, n * scale
        y = height - bottom - h
        lo, hi = 10 * i, 10 * (i + 1)
        tip = f"{lo}–{hi}: {n} photo{'' if n == 1 else 's'}"
        parts.append(
            f'<rect class="bar" x="{x + 1:.1f}" y="{y:.1f}" width="{step - 2:.1f}" height="{h:.1f}" '
            f'data-bin="{lo}" data-count="{n}"><title>{tip}</title></rect>'
            f'<text class="count" x="{x + step / 2:.1f}" y="{y - 3:.1f}">{n}</text>'
        )
    ticks = "".join(
        f'<text class="tick" x="{left + i * step:.1f}" y="{height - 4}">{10 * i}</text>' for i in range(0, 11, 2)
    )
    axis = f'<line x1="{left}" x2="{width - left}" y1="{height - bottom}" y2="{height - bottom}"/>'
    label = f"histogram of the scores of {len(values)} photos, in bins of 10"
    return (
        f'<svg id="histogram" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{label}"><title>{label}</title>{"".join(parts)}{axis}{ticks}</svg>'
    )


def _issue_options(labels: list[str]) -> str:
    """The options of ``<select id="issue">``: every photo, any issue, each issue, no issue, failed files."""
    options = [("all", "all photos"), ("any", "any issue"), *((label, label) for label in labels)]
    options += [("none", "no issues"), ("failed", "failed files")]
    return "".join(f'<option value="{value}">{html.escape(text)}</option>' for value, text in options)


def _level_options(levels: Sequence[str]) -> str:
    """The options of ``<select id="level">``: the minimum level, from 1 (``levels``: their names) to the top."""
    top = len(levels) - 1
    return "".join(
        f'<option value="{level}">{html.escape(name)}{" or worse" if level < top else ""}</option>'
        for level, name in enumerate(levels)
        if level >= 1
    )


def _render_page(
    table: AuditTable,
    thumbnails: Mapping[str, bytes],
    overlays: Mapping[str, bytes | None],
    title: str,
    images: _Images,
) -> str:
    """The whole page as a string."""
    failed = table.failed()
    n_photos, n_failed = len(table), sum(failed)
    scored = [s for s, bad in zip(_optional(table["score"], float), failed, strict=True) if s is not None and not bad]
    text = html.escape(title)
    data = _data_json(_records(table, thumbnails, overlays, images), table.labels, table.level_names)
    sure = [g for g, one in zip(table["group"], table["group_sure"], strict=True) if one] if "group" in table else []
    removable, collapse = "", ""
    if sure:  # only groups sure to be one scene are collapsed and counted; similar photos are all shown
        n = len(sure) - len(set(sure))
        removable = f', <span id="n-removable">{n}</span> could be removed (all but the best shot of each burst)'
        collapse = '<label><input type="checkbox" id="collapse" checked> best shot of each burst only</label>\n'
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{text}</title>
<style>{CSS}</style>
</head>
<body>
<header>
<h1>{text}</h1>
<p id="totals"><span id="n-photos">{n_photos}</span> photos, <span id="n-failed">{n_failed}</span> failed{removable}</p>
<div class="summary">
{_counts_table(_level_counts(table), table.level_names)}
<figure><figcaption>scores</figcaption>{_histogram_svg(scored)}</figure>
</div>
</header>
<main>
<div class="controls">
<label>issue <select id="issue">{_issue_options(table.labels)}</select></label>
<label>level <select id="level" disabled>{_level_options(table.level_names)}</select></label>
{collapse}<span id="shown" aria-live="polite"></span>
</div>
<table id="photos">
<thead><tr><th>photo</th>
<th id="sort-path" class="sortable" aria-sort="none"><button type="button">path</button></th>
<th id="sort-score" class="sortable" aria-sort="none"><button type="button">score</button></th>
<th>issues</th></tr></thead>
<tbody id="photos-body"></tbody>
</table>
<button id="more" type="button" hidden>show more</button>
<noscript><p>The list of photos needs JavaScript.</p></noscript>
</main>
<script type="application/json" id="data">{data}</script>
<script>{JS}</script>
</body>
</html>
"""
