"""``phoneiqa.audit``: assess a photo library into one table, on this machine or on a Ray cluster.

The parts (discovery, decoding, batches, the table, the reports, the summary) are in
:mod:`phoneiqa.audit_pipeline`; the local executor is written here, the Ray one is
:func:`phoneiqa.audit_ray.audit_ray`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

from phoneiqa.audit_pipeline import (
    DEFAULT_BATCH_SIZE,
    AuditTable,
    assess_files,
    discover,
    make_table,
    model_id,
    open_cache,
)
from phoneiqa.errors import ConfigError
from phoneiqa.loading import load

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
    explain: bool = False,
    groups: bool = False,
) -> AuditTable:
    """Assess every image under ``paths``: an :class:`~phoneiqa.audit_pipeline.AuditTable`, one row per
    file, sorted by path.

    Columns: ``path``, ``score``, one per issue the model reports (its label spec's keys, in order),
    ``error``.  ``score`` and the levels are ``None`` for files that failed; ``error`` says why (empty
    for the others; ``table.failed()`` is the one definition of a failure, so a model without a score
    head has ``None`` scores and no failures).  ``probabilities`` adds ``p_<label>`` columns, the
    probability that the issue is present (level ≥ 1); ``thumbnails`` adds a ``thumbnail`` column of
    small JPEGs (bytes, for :func:`phoneiqa.report_html.write_html`); ``explain`` adds an ``overlay``
    column: for each photo with a flagged issue, a small JPEG of its exposure maps
    (:mod:`phoneiqa.explain`), ``None`` for the others; ``groups`` adds ``group`` and ``rank_in_group``:
    bursts and near-repeats of one scene taken close together, each ranked as :func:`phoneiqa.rank`
    ranks shots (:mod:`phoneiqa.groups`).  ``table.to_pandas()`` gives a DataFrame (the ``pandas``
    extra).

    ``model``/``backend``: as :func:`phoneiqa.load`; ``batch_size``: photos per model call.
    ``executor``: ``"local"`` or ``"ray"`` (:mod:`phoneiqa.audit_ray`: no cache, no local workers,
    ``concurrency`` model replicas); an option the executor lacks raises :class:`ConfigError`.
    Local: ``workers`` decoding processes (0: none; default one per core beside this one), ``cache``
    True (default) for ``$PHONEIQA_CACHE/audit.sqlite3``, a path, or False; ``progress`` a bar on
    stderr (default: on a terminal).  ``table.attrs``: model id, files from the cache, assessed, failed.
    """
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; choose from {', '.join(EXECUTORS)}")
    if executor == "ray":
        if cache or workers is not None:
            raise ConfigError("the Ray executor has neither a result cache nor local workers; drop cache and workers")
        if explain or groups:
            raise ConfigError("the Ray executor neither draws exposure maps nor groups bursts; use the local one")
        from phoneiqa.audit_ray import audit_ray  # Ray is an extra: imported only when asked for

        options = {"model": model, "backend": backend, "probabilities": probabilities, "thumbnails": thumbnails}
        return audit_ray(paths, **options, batch_size=batch_size, concurrency=concurrency)
    if concurrency is not None:
        raise ConfigError("concurrency (model replicas) is an option of the Ray executor; the local one has workers")
    cache = True if cache is None else cache  # the local executor's default
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if workers is not None and workers < 0:
        raise ValueError(f"workers must be 0 or more, got {workers}")
    start = time.perf_counter()
    entries, outcomes, keys = discover(paths)
    identity = model_id(model)
    store = open_cache(cache, identity + ("+explain" if explain else ""))  # explained rows keep their overlays
    try:
        if store is not None:
            hits = store.get(list(keys.values()))
            for path, key in keys.items():
                hit = hits.get(key)
                if hit is not None and (hit.thumbnail is not None or not thumbnails) and hit.signature is not None:
                    outcomes[path] = hit
        todo = [(path, key) for path, key in keys.items() if path not in outcomes]
        from_cache = len(keys) - len(todo)
        labels = None
        if todo:
            runner = load(model, backend=backend)
            labels = runner.labels
            found = assess_files(runner, todo, store, thumbnails, workers, batch_size, progress, explain)
            for path, outcome in found:
                outcomes[path] = outcome
    finally:
        if store is not None:
            store.close()
    paths = [e.path for e in entries]
    counts = {"model": identity, "from_cache": from_cache, "started": start}
    return make_table(paths, outcomes, probabilities, thumbnails, labels, overlays=explain, groups=groups, **counts)
