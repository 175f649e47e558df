"""The local executor of an audit: photos decoded in worker processes (:mod:`~phoneiqa.audit.decode`) while this
process assesses them a batch per model call and commits each batch to the result cache
(:mod:`~phoneiqa.audit.store`), so an interrupted audit resumes where it stopped and an unchanged library is
not assessed twice; the table, the bursts and the report's images are then read back from the cache a chunk
at a time.  What the audit holds per photo while it runs is its path, and the table's plain values once it is
done.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from PIL import Image

from phoneiqa.assessment import Assessment, Assessor
from phoneiqa.audit.bursts import with_bursts
from phoneiqa.audit.decode import Outcome, Preview, decode_files
from phoneiqa.audit.discover import Entry, FileKey, discover
from phoneiqa.audit.infer import assess_prepared, model_id
from phoneiqa.audit.store import IMAGE_COLUMNS, ResultCache, StoredImages, open_store, to_assess
from phoneiqa.audit.table import AuditTable, make_table, stored_outcomes
from phoneiqa.loading import level_names, load
from phoneiqa.progress import progress_bar


def assess_files(
    runner: Assessor,
    todo: Sequence[Entry],
    store: ResultCache,
    thumbnails: bool,
    workers: int | None,
    batch_size: int,
    progress: bool | None,
    explain: bool = False,
) -> Iterator[tuple[str, str]]:
    """Decode and prepare ``todo`` (in workers), assess ``batch_size`` photos per model call, commit each
    batch's outcomes to ``store`` (with exposure-map overlays of the flagged photos when ``explain``); yield
    the path and the reason of each file that could not be assessed."""
    bar = progress_bar(len(todo), "audit", enabled=progress)
    batch: list[tuple[str, FileKey, Any, Preview]] = []
    decoded = decode_files(todo, runner.short_side, (thumbnails, explain), runner.preparer(), workers, batch_size)
    try:
        for path, key, photo, preview, error in decoded:
            if error:
                bar.update(1)
                yield path, error
                continue
            batch.append((path, key, photo, preview))
            if len(batch) == batch_size:
                yield from _finish_batch(runner, batch, store, bar)
                batch = []
        if batch:
            yield from _finish_batch(runner, batch, store, bar)
    finally:
        bar.close()


def complete_files(
    todo: Sequence[Entry],
    store: ResultCache,
    short_side: int,
    previews: tuple[bool, bool],
    workers: int | None,
    batch_size: int,
    progress: bool | None,
) -> Iterator[tuple[str, str]]:
    """Decode ``todo`` (photos whose stored result is current) again, only to add what a report needs to their
    rows (``previews``: thumbnails, exposure maps drawn for the stored levels; and the burst signature); the
    model is not run.  Yields the path and the reason of each file that can no longer be decoded."""
    bar = progress_bar(len(todo), "previews", enabled=progress)
    batch: list[tuple[FileKey, Preview]] = []
    try:
        for path, key, _, preview, error in decode_files(todo, short_side, previews, _no_input, workers, batch_size):
            bar.update(1)
            if error:
                yield path, error
                continue
            batch.append((key, preview))
            if len(batch) == batch_size:
                _complete_batch(store, batch)
                batch = []
        _complete_batch(store, batch)
    finally:
        bar.close()


def _complete_batch(store: ResultCache, batch: list[tuple[FileKey, Preview]]) -> None:
    stored = store.get([key.path for key, _ in batch])
    store.complete((key, preview.outcome(stored[key.path])) for key, preview in batch if key.path in stored)


def _no_input(image: Image.Image) -> None:
    """The model input of a photo that is decoded only for its previews: none."""
    return None


def _finish_batch(runner: Assessor, batch: list, store: ResultCache, bar: Any) -> Iterator[tuple[str, str]]:
    """Assess one batch of prepared photos and commit the results; yield the failures (path, reason)."""
    results = assess_prepared(runner, [photo for _, _, photo, _ in batch])
    outcomes = [
        preview.outcome(result) if isinstance(result, Assessment) else Outcome(error=result)
        for (_, _, _, preview), result in zip(batch, results, strict=True)
    ]
    store.put((key, outcome) for (_, key, _, _), outcome in zip(batch, outcomes, strict=True))
    bar.update(len(batch))
    for (path, _, _, _), outcome in zip(batch, outcomes, strict=True):
        if outcome.error:
            yield path, outcome.error


@contextmanager
def audit_local(
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
    explain: bool,
    groups: bool,
) -> Iterator[tuple[AuditTable, dict[str, StoredImages]]]:
    """The local executor of :func:`phoneiqa.audit.audited` (its options checked there): files found here, decoded
    in ``workers`` processes, assessed a batch at a time into the result cache (``cache``, default ``True``; a
    temporary one with ``False``), the table read back from it, and the images of its ``thumbnail`` and
    ``overlay`` columns read from it when asked for (valid while the context lasts)."""
    cache = True if cache is None else cache  # the local executor's default
    start = time.perf_counter()
    entries, errors = discover(paths)
    identity = model_id(model)
    with open_store(cache, identity) as store:
        todo, incomplete = to_assess(entries, errors, store, thumbnails, explain)
        from_cache = len(entries) - len(errors) - len(todo)
        labels, names = None, None
        if todo or incomplete:
            runner = load(model, backend=backend)
            labels, names = runner.labels, runner.level_names
            errors.update(assess_files(runner, todo, store, thumbnails, workers, batch_size, progress, explain))
            previews = (thumbnails, explain)
            errors.update(complete_files(incomplete, store, runner.short_side, previews, workers, batch_size, progress))
            del runner  # the model's memory is let go before the table is read back
        counts = {"model": identity, "from_cache": from_cache, "started": start}
        counts["level_names"] = names if names is not None else level_names(model)
        outcomes = stored_outcomes(store, entries, errors)
        table = make_table([e.path for e in entries], outcomes, probabilities, False, labels, **counts)
        if groups:
            table = with_bursts(table, store)
        wanted = [c for c, asked in zip(IMAGE_COLUMNS, (thumbnails, explain), strict=True) if asked]
        yield table, {c: StoredImages(store, c, table["path"]) for c in wanted}
