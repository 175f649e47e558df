"""The parts of a photo-library audit: discovery, decoding, batches, the table, the reports, the summary.

>>> table = phoneiqa.audit(["~/Pictures/phone"])       # doctest: +SKIP
>>> table.columns                                       # doctest: +SKIP
['path', 'score', 'bright', 'dark', 'low_contrast', 'high_contrast', 'overexposed', 'over_suppressed', 'error']

Folders are searched recursively for image files (:data:`IMAGE_SUFFIXES`); files named
explicitly are assessed whatever their suffix.  Photos are decoded in worker processes while the
main process runs the model on batches; every finished batch is committed to a SQLite cache
(:mod:`phoneiqa.audit_cache`), so an interrupted audit resumes where it stopped and an unchanged
library is not assessed twice.  A file that cannot be assessed gets its reason in ``error``; it
never stops the audit.  The table, the bursts and the report's images are read back from the cache
a chunk at a time (:func:`stored_outcomes`, :func:`with_bursts`,
:class:`~phoneiqa.audit_cache.StoredImages`): what the audit holds per photo while it runs is its
path, and the table's plain values once it is done.  :func:`write_report` writes the table as CSV,
Parquet or JSON lines, :func:`summarize` describes it in a few lines of text.
"""

from __future__ import annotations

import collections
import csv
import errno
import io
import itertools
import json
import math
import os
import signal
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from phoneiqa.assessment import Assessment, Assessor, rank_order, unchanged
from phoneiqa.audit_cache import CHUNK, IMAGE_COLUMNS, FileKey, Outcome, ResultCache
from phoneiqa.cache import default_cache_dir
from phoneiqa.errors import ImageError
from phoneiqa.explain import Explanation
from phoneiqa.explain import explain as explain_image
from phoneiqa.extras import require
from phoneiqa.groups import capture_time, exposure_key, find_groups, signature
from phoneiqa.loading import model_file
from phoneiqa.preprocess import load_scaled
from phoneiqa.progress import progress_bar

if TYPE_CHECKING:
    import pandas as pd

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".heic", ".heif", ".hif"}
)
"""File suffixes (any case) an audit looks for inside folders."""
REPORT_FORMATS = (".csv", ".jsonl", ".parquet")
THUMBNAIL_SIZE = 160
OVERLAY_SIZE = 240
"""Long side of the exposure-map overlays of an audit's HTML report."""
DEFAULT_BATCH_SIZE = 8
"""Photos per model call and per cache commit (at most this many are lost to a kill)."""
BURST_COLUMNS = ("group", "group_sure", "rank_in_group")
"""The columns :func:`with_bursts` adds, last."""
NOT_STORED = "its result is missing from the result cache (changed by another process?): audit again"
"""The error of an assessed file whose result could not be read back."""


@dataclass(frozen=True, slots=True)
class Entry:
    """A file an audit found: its path as found, and why it cannot be assessed (empty if it can)."""

    path: str
    error: str = ""


@dataclass(frozen=True, eq=False)
class Preview:
    """What is made of a photo where it is decoded, beside the model's input: its JPEG thumbnail, when
    explained its exposure maps at :data:`OVERLAY_SIZE` (drawn once the model has named the issues), its
    capture time, its burst signature and its key in stops (:mod:`phoneiqa.groups`)."""

    thumbnail: bytes | None = None
    maps: Explanation | None = None
    taken: float | None = None
    signature: np.ndarray | None = None
    exposure: float | None = None

    def outcome(self, assessment: Assessment) -> Outcome:
        """The outcome of the assessed photo."""
        overlay = self.overlay(assessment)
        explained = self.maps is not None
        return Outcome(assessment, self.thumbnail, "", overlay, self.taken, self.signature, self.exposure, explained)

    def overlay(self, assessment: Assessment) -> bytes | None:
        """A JPEG of the maps of the issues ``assessment`` flags (with a legend); ``None`` when it flags none."""
        if self.maps is None or not any(assessment.issues.values()):
            return None
        buffer = io.BytesIO()
        self.maps.overlay(assessment.issues).save(buffer, "JPEG", quality=80)
        return buffer.getvalue()


def find_images(paths: Iterable[str | os.PathLike]) -> list[Entry]:
    """The image files under ``paths`` (folders recursively, symbolic links followed once), sorted by path.

    Folders that cannot be listed and paths that do not exist come back as entries with an error.
    """
    entries: list[Entry] = []
    visited: set[tuple[int, int]] = set()
    for given in paths:
        path = os.path.expanduser(os.fspath(given))
        if os.path.isdir(path):
            entries += _walk(path, visited)
        elif os.path.lexists(path):
            entries.append(Entry(path))
        else:
            entries.append(Entry(path, "no such file or folder"))
    return sorted(set(entries), key=lambda e: e.path)


def _walk(folder: str, visited: set[tuple[int, int]]) -> Iterator[Entry]:
    """Depth-first listing of one folder, each real folder once (so symbolic-link loops end)."""
    try:
        st = os.stat(folder)
        if (st.st_dev, st.st_ino) in visited:
            return
        visited.add((st.st_dev, st.st_ino))
        with os.scandir(folder) as it:
            children = sorted(it, key=lambda d: d.name)
    except OSError as exc:
        yield Entry(folder, f"folder not searched: {_file_error(folder, exc)}")
        return
    for child in children:
        if Path(child.name).suffix.lower() in IMAGE_SUFFIXES:
            yield Entry(child.path)
            continue
        try:
            is_dir = child.is_dir()
        except OSError:
            is_dir = False
        if is_dir:
            yield from _walk(child.path, visited)


def file_key(entry: Entry) -> FileKey | str:
    """The cache key of a found file, or why it cannot be read as a file at all."""
    try:
        st = os.stat(entry.path)
    except OSError as exc:
        return _file_error(entry.path, exc)
    if stat.S_ISDIR(st.st_mode):
        return "is a directory, not an image file"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    return FileKey(os.path.abspath(entry.path), st.st_size, st.st_mtime_ns)


def _file_error(path: str, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symbolic link loop"
    if isinstance(exc, FileNotFoundError) and os.path.islink(path):
        return "broken symbolic link (its target does not exist)"
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return exc.strerror or str(exc)


def decode(
    path: str,
    short_side: int,
    thumbnail: bool,
    data: bytes | None = None,
    prepare: Callable[[Image.Image], Any] = unchanged,
    explain: bool = False,
) -> tuple[Any, Preview, str]:
    """What a worker does with one file (or its ``data`` when already read): (the model's input, its
    :class:`Preview`, "") or (None, an empty preview, the reason it cannot be used).  ``prepare``: the
    model's :meth:`~phoneiqa.assessment.Assessor.preparer` (by default the decoded image itself);
    ``thumbnail``/``explain``: make the preview's thumbnail / exposure maps."""
    try:
        image = load_scaled(path if data is None else data, short_side, name=path)
    except ImageError as exc:
        return None, Preview(), _reason(str(exc), path)
    except Exception as exc:  # a bug in a decoder must not stop the audit either
        return None, Preview(), f"cannot decode ({type(exc).__name__}: {exc})"
    maps = explain_image(image).resized(OVERLAY_SIZE) if explain else None
    taken = capture_time(path) if data is None else None
    preview = Preview(make_thumbnail(image) if thumbnail else None, maps, taken, signature(image), exposure_key(image))
    return prepare(image), preview, ""


def decode_file(
    path: str, short_side: int, thumbnail: bool, prepare: Callable[[Image.Image], Any], explain: bool
) -> tuple[FileKey | None, Any, Preview, str]:
    """What an audit's worker does with one file: its cache key as it is read, then :func:`decode`; or
    (``None``, ``None``, an empty preview, the reason it cannot be read as a file)."""
    key = file_key(Entry(path))
    if isinstance(key, str):
        return None, None, Preview(), key
    return key, *decode(path, short_side, thumbnail, prepare=prepare, explain=explain)


def _reason(message: str, path: str) -> str:
    """An :class:`ImageError` message without its leading file name (the table has its own column)."""
    return message.removeprefix(f"{path}: ")


def make_thumbnail(image: Image.Image) -> bytes:
    """A small JPEG of the photo for the HTML report."""
    small = image.copy()
    small.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=75)
    return buffer.getvalue()


def model_id(path_or_name: str | os.PathLike) -> str:
    """What cached results are keyed by: the checkpoint's SHA-256 (prefix) and the phoneiqa version."""
    import hashlib

    from phoneiqa.version import __version__

    digest = hashlib.sha256(model_file(path_or_name).read_bytes()).hexdigest()[:20]
    return f"{digest}-{__version__}"


def default_workers() -> int:
    """Decoding processes by default: one per core (``benchmarks/bench_audit.py`` compares)."""
    return os.cpu_count() or 1


def discover(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> tuple[list[Entry], dict[str, str]]:
    """The image files under ``paths``, sorted, and the reasons of those found unusable already (path -> error)."""
    entries = find_images([paths] if isinstance(paths, (str, os.PathLike)) else paths)
    return entries, {e.path: e.error for e in entries if e.error}


def file_keys(entries: Iterable[Entry], errors: dict[str, str]) -> Iterator[tuple[Entry, FileKey]]:
    """The cache key of each entry not in ``errors``; one that cannot be read as a file gets its reason there."""
    for entry in entries:
        if entry.path in errors:
            continue
        key = file_key(entry)
        if isinstance(key, str):
            errors[entry.path] = key
        else:
            yield entry, key


@contextmanager
def open_store(cache: bool | str | os.PathLike, identity: str) -> Iterator[ResultCache]:
    """Where a local audit keeps its results: the cache (``True``: ``$PHONEIQA_CACHE/audit.sqlite3``, or its
    path), or with ``cache=False`` a temporary one, deleted on leaving."""
    if cache is False:
        with (
            tempfile.TemporaryDirectory(prefix="phoneiqa-audit-") as folder,
            ResultCache(Path(folder) / "results.sqlite3", identity) as store,
        ):
            yield store
    else:
        with ResultCache(default_cache_dir() / "audit.sqlite3" if cache is True else Path(cache), identity) as store:
            yield store


def to_assess(
    entries: Sequence[Entry], errors: dict[str, str], store: ResultCache, thumbnails: bool, explain: bool
) -> tuple[list[Entry], list[Entry]]:
    """The entries whose result ``store`` lacks or has only for an earlier version of the file (to assess),
    and those whose current result lacks what this run's reports need (to complete: thumbnails, exposure maps,
    burst signatures; :meth:`~phoneiqa.audit_cache.ResultCache.lacking`), looked up
    :data:`~phoneiqa.audit_cache.CHUNK` at a time; files that cannot be read get their reason in ``errors``."""
    todo: list[Entry] = []
    incomplete: list[Entry] = []
    keyed = file_keys(entries, errors)
    while chunk := list(itertools.islice(keyed, CHUNK)):
        current = store.current([key for _, key in chunk])
        lacking = store.lacking(sorted(current), thumbnails, explain)
        todo += [entry for entry, key in chunk if key.path not in current]
        incomplete += [entry for entry, key in chunk if key.path in lacking]
    return todo, incomplete


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
    decoded = _decoded(todo, runner.short_side, (thumbnails, explain), runner.preparer(), workers, batch_size)
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
        for path, key, _, preview, error in _decoded(todo, short_side, previews, _no_input, workers, batch_size):
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


def assess_prepared(runner: Assessor, prepared: list[Any]) -> list[Assessment | str]:
    """Assess prepared photos in one model call; should that fail, one by one, so that one odd photo
    gets its error (a string) without failing the others."""
    if not prepared:
        return []
    try:
        return runner.run(prepared)
    except Exception:
        return [_assess_one(runner, photo) for photo in prepared]


def _assess_one(runner: Assessor, photo: Any) -> Assessment | str:
    try:
        return runner.run([photo])[0]
    except Exception as exc:
        return f"cannot assess ({type(exc).__name__}: {exc})"


def _decoded(
    todo: Sequence[Entry],
    short_side: int,
    previews: tuple[bool, bool],
    prepare: Callable[[Image.Image], Any],
    workers: int | None,
    batch_size: int,
) -> Iterator[tuple[str, FileKey | None, Any, Preview, str]]:
    """:func:`decode_file` over ``todo`` in order (``previews``: thumbnails, exposure maps); with workers, up to
    two batches ahead of the consumer."""
    n = default_workers() if workers is None else workers
    thumbnails, explain = previews
    if n == 0:
        for entry in todo:
            yield entry.path, *decode_file(entry.path, short_side, thumbnails, prepare, explain)
        return
    pool = ProcessPoolExecutor(max_workers=n, mp_context=get_context("spawn"), initializer=_init_worker)
    pending: collections.deque[tuple[str, Future]] = collections.deque()
    items = iter(todo)
    try:
        while True:
            while len(pending) < 2 * batch_size + n:
                entry = next(items, None)
                if entry is None:
                    break
                future = pool.submit(decode_file, entry.path, short_side, thumbnails, prepare, explain)
                pending.append((entry.path, future))
            if not pending:
                return
            path, future = pending.popleft()
            try:
                result = future.result()
            except BrokenProcessPool:
                raise RuntimeError(
                    "the audit's decoding processes stopped abruptly (killed, out of memory, or started from a script "
                    "without `if __name__ == '__main__':`, which worker processes need); finished batches are cached; "
                    "use workers=0 to decode in this process"
                ) from None
            yield path, *result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _init_worker() -> None:
    """Workers leave Ctrl-C to the main process, which stops them cleanly, and exit by themselves
    when the main process dies without stopping them (e.g. SIGKILL)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


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
    model: str = "",
    from_cache: int = 0,
    started: float | None = None,
) -> AuditTable:
    """The audit table of ``paths`` (already sorted) from each one's outcome (``results``, in the same order,
    read once: only the table's plain values are kept), with its ``attrs``: the ``model`` id, ``from_cache``
    (files whose results came from the cache), ``assessed`` (now), ``failed`` and the ``seconds`` since
    ``started`` (a :func:`time.perf_counter` value).

    ``labels``: the model's issue keys; by default those of the first assessment (every assessment
    of one model has the same keys), none when no file was assessed.
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
    return AuditTable(columns, {**attrs, "failed": failed, "seconds": seconds})


def stored_outcomes(store: ResultCache, entries: Sequence[Entry], errors: Mapping[str, str]) -> Iterator[Outcome]:
    """The outcome of each entry, in order: its reason from ``errors``, else its assessment read back from
    ``store`` (:data:`~phoneiqa.audit_cache.CHUNK` files at a time)."""
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


def with_bursts(table: AuditTable, store: ResultCache) -> AuditTable:
    """``table`` with the :data:`BURST_COLUMNS` (``None`` outside groups) and the ``groups``, ``sure_groups``
    and ``removable`` counts (the shots of sure groups other than their best): its assessed photos grouped
    (:func:`phoneiqa.groups.find_groups`) by their capture times and signatures in ``store``, each group
    ranked by :func:`phoneiqa.assessment.rank_order` (its members' assessments read back from ``store``)."""
    assessed = [i for i, bad in enumerate(table.failed()) if not bad]
    paths = [table["path"][i] for i in assessed]
    keys = [os.path.abspath(p) for p in paths]
    group: list[int | None] = [None] * len(table)
    sure: list[bool | None] = [None] * len(table)
    rank: list[int | None] = [None] * len(table)
    taken, exposures, signatures = store.shots(keys)
    found = find_groups(paths, taken, signatures)
    for number, burst_group in enumerate(found, 1):
        members = burst_group.members
        stored = store.get([keys[k] for k in members])
        shots = [stored[keys[m]] for m in members]
        burst = [exposures[m] for m in members]
        for place, k in enumerate(rank_order(shots, None if None in burst else burst), 1):
            row = assessed[members[k]]
            group[row], sure[row], rank[row] = number, burst_group.sure, place
    removable = sum(len(g.members) - 1 for g in found if g.sure)
    attrs = {**table.attrs, "groups": len(found), "sure_groups": sum(g.sure for g in found), "removable": removable}
    return AuditTable({**table.data, **dict(zip(BURST_COLUMNS, (group, sure, rank), strict=True))}, attrs)


def _number(value: float | None) -> float | None:
    """A float, ``None`` for NaN (a model without a score head scores NaN)."""
    return None if value is None or math.isnan(value) else float(value)


def write_report(table: AuditTable, path: str | os.PathLike) -> Path:
    """Write an audit table by the file's suffix: ``.csv``, ``.jsonl`` or ``.parquet`` (the ``pandas``
    extra), without thumbnails and overlays; an unknown value is an empty CSV cell, ``null`` in JSON.

    Written to a temporary file first, so an existing report is never left half-written.
    """
    out = Path(path)
    suffix = out.suffix.lower()
    if suffix not in REPORT_FORMATS:
        raise ValueError(f"{out}: unknown report format {suffix or '(none)'!r}; use one of {', '.join(REPORT_FORMATS)}")
    table = table.drop(*IMAGE_COLUMNS)
    rows = zip(*table.data.values(), strict=True)  # one at a time: no list of them all
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        if suffix == ".csv":
            with tmp.open("w", encoding="utf-8", newline="") as f:
                writer = csv.writer(f, lineterminator="\n")
                writer.writerow(table.columns)
                writer.writerows(["" if v is None else v for v in row] for row in rows)
        elif suffix == ".parquet":
            table.to_pandas().to_parquet(tmp, index=False)
        else:
            with tmp.open("w", encoding="utf-8") as f:
                records = (dict(zip(table.columns, row, strict=True)) for row in rows)
                f.writelines(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


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
        lines.append(f"{'issue':<16}{'normal':>8}{'severe':>8}{'blocking':>10}{'any':>8}")
        for label in table.labels:
            ok_levels = [v for v, bad in zip(table[label], failed_mask, strict=True) if not bad]
            counts = [ok_levels.count(level) for level in (1, 2, 3)]
            lines.append(f"{label:<16}{counts[0]:>8}{counts[1]:>8}{counts[2]:>10}{sum(counts):>8}")
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
