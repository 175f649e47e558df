"""``phoneiqa.audit``: assess a photo library into one table, on this machine or on a Ray cluster.

Each module is one step, and data flows one way (each imports only the steps before it):
:mod:`~phoneiqa.audit.discover` (files, their keys) → :mod:`~phoneiqa.audit.decode` (worker processes: pixels,
thumbnails, exposure maps, signatures) → :mod:`~phoneiqa.audit.infer` (batches through the model) →
:mod:`~phoneiqa.audit.store` (the SQLite result cache) → :mod:`~phoneiqa.audit.table` (the table, its summary)
→ :mod:`~phoneiqa.audit.bursts` → :mod:`~phoneiqa.audit.reports` (CSV, JSON lines, Parquet, HTML, XMP); the
executors: :mod:`~phoneiqa.audit.local` (this machine, with the cache) and :func:`phoneiqa.audit.ray.audit_ray`
(a Ray cluster).  :func:`audited` is the audit for writing reports: its table
holds plain values only and its thumbnails and overlays are read one at a time from where the audit
keeps them, so that the audit of a large library and its report need about as much memory as a
small one's.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

from phoneiqa.audit.bursts import BURST_COLUMNS
from phoneiqa.audit.infer import DEFAULT_BATCH_SIZE
from phoneiqa.audit.local import audit_local
from phoneiqa.audit.reports.tables import REPORT_FORMATS, write_report
from phoneiqa.audit.store import IMAGE_COLUMNS
from phoneiqa.audit.table import AuditTable, summarize
from phoneiqa.errors import ConfigError, ParameterError, check_count, did_you_mean

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "EXECUTORS",
    "REPORT_FORMATS",
    "AuditTable",
    "Images",
    "audit",
    "audited",
    "summarize",
    "write_report",
]


EXECUTORS = ("local", "ray")
"""Where an audit runs: processes on this machine with the result cache, or a Ray cluster."""

Images = Mapping[str, Mapping[str, bytes | None]]
"""An audit's images: column (``thumbnail``, ``overlay``) -> path -> JPEG."""


def audit(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    model: str | os.PathLike = "default",
    backend: str = "auto",
    probabilities: bool = False,
    thumbnails: bool = False,
    workers: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    cache: bool | str | os.PathLike | None = None,
    progress: bool | None = None,
    executor: str = "local",
    concurrency: int | None = None,
    explain: bool = False,
    groups: bool = False,
) -> AuditTable:
    """Assess every image under ``paths``: an :class:`~phoneiqa.audit.table.AuditTable`, one row per
    file, sorted by path.

    Columns: ``path``, ``score``, one per issue the model reports (its label spec's keys, in order),
    ``error``.  ``score`` and the levels are ``None`` for files that failed; ``error`` says why (empty
    for the others; ``table.failed()`` is the one definition of a failure, so a model without a score
    head has ``None`` scores and no failures).  ``probabilities`` adds ``p_<label>`` columns, the
    probability that the issue is present (level ≥ 1); ``thumbnails`` adds a ``thumbnail`` column of
    small JPEGs (bytes, for :func:`phoneiqa.audit.reports.html.write_html`); ``explain`` adds an ``overlay``
    column: for each photo with a flagged issue, a small JPEG of its exposure maps
    (:mod:`phoneiqa.explain`), ``None`` for the others; ``groups`` adds ``group``, ``group_sure`` and
    ``rank_in_group``: bursts and near-repeats of one scene taken close together, each ranked as
    :func:`phoneiqa.rank` ranks shots, and whether the group is sure to be one scene (else its photos are only
    similar; :mod:`phoneiqa.groups`).  ``table.to_pandas()`` gives a DataFrame (the ``pandas``
    extra).  The ``thumbnail`` and ``overlay`` columns hold every photo's JPEG; :func:`audited` reads
    them one at a time instead, for the reports of large libraries.

    ``model``/``backend``: as :func:`phoneiqa.load`; ``batch_size``: photos per model call.
    ``executor``: ``"local"`` or ``"ray"`` (:mod:`phoneiqa.audit.ray`: no cache, no local workers,
    ``concurrency`` model replicas); an option the executor lacks raises :class:`ConfigError`.
    Local: ``workers`` decoding processes (0: none; default one per core beside this one), ``cache``
    True (default) for ``$PHONEIQA_CACHE/audit.sqlite3``, a path, or False; ``progress`` a bar on
    stderr (default: on a terminal).  ``table.attrs``: model id, files from the cache, assessed, failed.
    """
    options = {name: value for name, value in locals().items() if name != "paths"}  # the parameters
    with audited(paths, **options) as (table, images):
        return _with_images(table, images)


@contextmanager
def audited(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    model: str | os.PathLike,
    backend: str,
    probabilities: bool,
    thumbnails: bool,
    workers: int | None,
    batch_size: int,
    cache: bool | str | os.PathLike | None,
    progress: bool | None,
    executor: str,
    concurrency: int | None,
    explain: bool,
    groups: bool,
) -> Iterator[tuple[AuditTable, Images]]:
    """:func:`audit` (the same options, each given) for writing reports of a library of any size: the table
    without its ``thumbnail`` and ``overlay`` columns, and those images by column and path
    (:data:`Images`), valid while the context lasts.  The local executor reads each image from its
    result cache when it is asked for (:class:`~phoneiqa.audit.store.StoredImages`; a temporary cache,
    deleted on leaving, with ``cache=False``), so that they are never all in memory at once."""
    if executor not in EXECUTORS:
        hint = did_you_mean(executor, EXECUTORS)
        raise ParameterError(f"unknown executor {executor!r}{hint}; choose from {', '.join(EXECUTORS)}")
    check_count("batch_size", batch_size, 1)
    check_count("workers", workers, 0, optional=True)
    check_count("concurrency", concurrency, 1, optional=True)
    if executor == "ray":
        if cache or workers is not None:
            raise ConfigError("the Ray executor has neither a result cache nor local workers; drop cache and workers")
        if explain or groups:
            raise ConfigError("the Ray executor neither draws exposure maps nor groups bursts; use the local one")
        from phoneiqa.audit.ray import audit_ray  # Ray is an extra: imported only when asked for

        options = {"model": model, "backend": backend, "probabilities": probabilities, "thumbnails": thumbnails}
        table = audit_ray(paths, **options, batch_size=batch_size, concurrency=concurrency)
        images = {c: _by_path(table["path"], table[c]) for c in IMAGE_COLUMNS if c in table}
        yield table.drop(*images), images
        return
    if concurrency is not None:
        raise ConfigError("concurrency (model replicas) is an option of the Ray executor; the local one has workers")
    options = {"model": model, "backend": backend, "probabilities": probabilities, "thumbnails": thumbnails}
    local = {"workers": workers, "cache": cache, "progress": progress, "explain": explain, "groups": groups}
    with audit_local(paths, **options, **local, batch_size=batch_size) as found:
        yield found


def _by_path(paths: list[str], column: list[bytes | None]) -> dict[str, bytes | None]:
    """An image column as path -> JPEG, for the rows that have one."""
    return {path: jpeg for path, jpeg in zip(paths, column, strict=True) if jpeg is not None}


def _with_images(table: AuditTable, images: Images) -> AuditTable:
    """``table`` with ``images`` as its columns, in the order :class:`~phoneiqa.audit.table.AuditTable`
    documents: after the others, before the burst columns."""
    data = {c: v for c, v in table.data.items() if c not in BURST_COLUMNS}
    data |= {c: [by_path.get(p) for p in table["path"]] for c, by_path in images.items()}
    return AuditTable(data | {c: table[c] for c in BURST_COLUMNS if c in table}, table.attrs)
