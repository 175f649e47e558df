"""``phoneiqa.audit``: assess a photo library into one table, on this machine or on a Ray cluster.

The parts (discovery, decoding, batches, the table, the reports, the summary) are in
:mod:`phoneiqa.audit_pipeline`; the two executors are :func:`phoneiqa.audit_pipeline.audit_local`
and :func:`phoneiqa.audit_ray.audit_ray`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from phoneiqa.audit_pipeline import DEFAULT_BATCH_SIZE, audit_local
from phoneiqa.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

EXECUTORS = ("local", "ray")
"""Where an audit runs: processes on this machine with the result cache, or a Ray cluster."""


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
) -> pd.DataFrame:
    """Assess every image under ``paths``; one row per file, sorted by path.

    Columns: ``path``, ``score``, one per issue the model reports (its label spec's keys, in order:
    :func:`~phoneiqa.audit_pipeline.label_columns`), ``error``.  ``score`` is NaN and the levels ``<NA>`` for files that
    failed; ``error`` says why (empty for the others; :func:`~phoneiqa.audit_pipeline.failed_rows` is the
    one definition of a
    failure, so a model without a score head has NaN scores and no failures).  ``probabilities``
    adds ``p_<label>`` columns, the probability that the issue is present (level ≥ 1);
    ``thumbnails`` adds a ``thumbnail`` column of small JPEGs (bytes, for
    :func:`phoneiqa.report_html.write_html`).

    ``model``/``backend``: as :func:`phoneiqa.load`.  ``batch_size``: photos per model call.
    ``executor``: ``"local"`` (decoding processes here, the SQLite result cache) or ``"ray"`` (Ray
    Data on a cluster, :mod:`phoneiqa.audit_ray`: no cache, no local workers, ``concurrency`` model
    replicas); an option the executor does not have raises :class:`ConfigError`.  ``workers``:
    decoding processes (0 decodes in this process; default one per core beside this one).  ``cache``:
    the SQLite result cache, True (the local default) for ``$PHONEIQA_CACHE/audit.sqlite3``, a
    path, or False for none.  ``progress``: a progress bar on stderr (default: when stderr is a
    terminal).  ``table.attrs`` records the model id and how many files came from the cache, were
    assessed and failed.
    """
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; choose from {', '.join(EXECUTORS)}")
    if executor == "ray":
        if cache or workers is not None:
            raise ConfigError("the Ray executor has neither a result cache nor local workers; drop cache and workers")
        from phoneiqa.audit_ray import audit_ray  # Ray is an extra: imported only when asked for

        options = {"model": model, "backend": backend, "probabilities": probabilities, "thumbnails": thumbnails}
        return audit_ray(paths, **options, batch_size=batch_size, concurrency=concurrency)
    if concurrency is not None:
        raise ConfigError("concurrency (model replicas) is an option of the Ray executor; the local one has workers")
    return audit_local(
        paths,
        model=model,
        backend=backend,
        probabilities=probabilities,
        thumbnails=thumbnails,
        workers=workers,
        batch_size=batch_size,
        cache=cache,
        progress=progress,
    )
