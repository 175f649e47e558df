"""The audit's SQLite result cache: finished photos survive an interrupted or repeated audit.

Each row holds one photo's assessment under one model, keyed by the model id and the photo's
absolute path, together with the file's size and modification time: a lookup only returns a
result whose file has not changed since.  Rows are committed batch by batch in WAL mode, so a
process killed at any moment (SIGKILL included) loses at most the batch it had not committed.
Failed files are not cached: they are tried again on every run.

The audit also reads its table, its bursts and its report's images back from here, a chunk or a
file at a time (an audit without the cache uses a temporary one), so that a library of any size
never has all its thumbnails and assessments in memory at once.
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from phoneiqa.assessment import Assessment
from phoneiqa.audit.decode import Outcome
from phoneiqa.audit.discover import Entry, FileKey, file_keys
from phoneiqa.cache import default_cache_dir
from phoneiqa.errors import ConfigError
from phoneiqa.groups import SIGNATURE_SIDE

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    model TEXT NOT NULL,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    result TEXT NOT NULL,
    thumbnail BLOB,
    overlay BLOB,
    taken REAL,
    signature BLOB,
    exposure REAL,
    explained INTEGER,
    PRIMARY KEY (model, path)
)
"""

ADDED_COLUMNS = {"overlay": "BLOB", "taken": "REAL", "signature": "BLOB", "exposure": "REAL", "explained": "INTEGER"}
"""Columns a cache written by an earlier version lacks, added when it is opened."""

IMAGE_COLUMNS = ("thumbnail", "overlay")
"""The columns of JPEGs: the photo's thumbnail, its exposure-map overlay."""

CHUNK = 500
"""Files per query when many are looked up (SQLite's limit on parameters is 999 in old versions)."""


class ResultCache:
    """Assessments of files by one model, stored in the SQLite file ``path``."""

    def __init__(self, path: str | os.PathLike, model_id: str) -> None:
        self.path = Path(path)
        self.model_id = model_id
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=60)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"{self.path}: cannot be the audit's result cache ({exc}); choose another one") from exc
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(results)")}
        for name, kind in ADDED_COLUMNS.items():
            if name not in columns:
                self.db.execute(f"ALTER TABLE results ADD COLUMN {name} {kind}")
        self.db.commit()

    def current(self, keys: Sequence[FileKey]) -> set[str]:
        """The paths of those ``keys`` whose stored result is current: the file unchanged (same size and mtime).
        Whatever report options made it, a result is reused; what it lacks is told by :meth:`lacking`."""
        found: set[str] = set()
        for chunk in _chunks(keys):
            by_path = {k.path: k for k in chunk}
            rows = self.db.execute(
                f"SELECT path, size, mtime_ns FROM results WHERE model = ? AND path IN ({_marks(by_path)})",
                [self.model_id, *by_path],
            )
            found.update(path for path, size, mtime_ns in rows if by_path[path] == FileKey(path, size, mtime_ns))
        return found

    def lacking(self, paths: Sequence[str], thumbnails: bool, explained: bool) -> set[str]:
        """Those of the stored files at ``paths`` whose row lacks what a report needs: its burst signature (or
        one of an earlier format), its thumbnail when ``thumbnails``, its exposure maps when ``explained``."""
        wanted = [f"signature IS NULL OR length(signature) != {SIGNATURE_SIDE**2}"]
        wanted += ["thumbnail IS NULL"] * thumbnails + ["explained IS NOT 1"] * explained
        found: set[str] = set()
        for chunk in _chunks(paths):
            rows = self.db.execute(
                f"SELECT path FROM results WHERE model = ? AND path IN ({_marks(chunk)}) AND ({' OR '.join(wanted)})",
                [self.model_id, *chunk],
            )
            found.update(path for (path,) in rows)
        return found

    def get(self, paths: Sequence[str]) -> dict[str, Assessment]:
        """The stored assessments of the files at ``paths`` (absolute, as :class:`FileKey` has them)."""
        found: dict[str, Assessment] = {}
        for chunk in _chunks(paths):
            rows = self.db.execute(
                f"SELECT path, result FROM results WHERE model = ? AND path IN ({_marks(chunk)})",
                [self.model_id, *chunk],
            )
            found.update((path, Assessment.from_dict(json.loads(result))) for path, result in rows)
        return found

    def shots(self, paths: Sequence[str]) -> tuple[list[float | None], list[float | None], np.ndarray]:
        """What grouping and ranking bursts need of the stored files at ``paths``, in their order: capture times
        and keys in stops (``None`` where unknown: a time the file does not say, a key an earlier version did
        not store) and burst signatures (``uint8[len(paths), 1024]``, :func:`phoneiqa.groups.signature`)."""
        taken: list[float | None] = []
        exposures: list[float | None] = []
        signatures = np.empty((len(paths), SIGNATURE_SIDE**2), dtype=np.uint8)
        for chunk in _chunks(paths):
            rows = self.db.execute(
                f"SELECT path, taken, exposure, signature FROM results WHERE model = ? AND path IN ({_marks(chunk)})",
                [self.model_id, *chunk],
            )
            found = {path: values for path, *values in rows}
            for path in chunk:
                when, exposure, signature = found[path]
                signatures[len(taken)] = np.frombuffer(signature, dtype=np.uint8)
                taken.append(when)
                exposures.append(exposure)
        return taken, exposures, signatures

    def image(self, column: str, path: str) -> bytes | None:
        """The JPEG in ``column`` (one of :data:`IMAGE_COLUMNS`) stored for the file at ``path``, ``None`` if none."""
        if column not in IMAGE_COLUMNS:
            raise ValueError(f"unknown image column {column!r}; choose from {', '.join(IMAGE_COLUMNS)}")
        query = f"SELECT {column} FROM results WHERE model = ? AND path = ?"
        row = self.db.execute(query, [self.model_id, path]).fetchone()
        return None if row is None else row[0]

    def put(self, items: Iterable[tuple[FileKey, Outcome]]) -> None:
        """Store the outcomes of assessed files and commit them together."""
        rows = [
            (
                self.model_id,
                k.path,
                k.size,
                k.mtime_ns,
                json.dumps(o.assessment.to_dict()),
                o.thumbnail,
                o.overlay,
                o.taken,
                None if o.signature is None else o.signature.tobytes(),
                o.exposure,
                int(o.explained),
            )
            for k, o in items
            if o.assessment is not None
        ]
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO results (model, path, size, mtime_ns, result, thumbnail, overlay, taken, "
                "signature, exposure, explained) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def complete(self, items: Iterable[tuple[FileKey, Outcome]]) -> None:
        """Add what the outcomes bring (thumbnail, exposure maps, signature, time, key) to the stored results of
        those files, where the file is still the version stored; their assessments stay as they are."""
        rows = [
            (
                o.thumbnail,
                o.overlay,
                int(o.explained),
                o.taken,
                None if o.signature is None else o.signature.tobytes(),
                o.exposure,
                self.model_id,
                k.path,
                k.size,
                k.mtime_ns,
            )
            for k, o in items
        ]
        with self.db:
            self.db.executemany(
                "UPDATE results SET thumbnail = coalesce(?1, thumbnail), overlay = CASE WHEN ?3 THEN ?2 ELSE overlay "
                "END, explained = max(coalesce(explained, 0), ?3), taken = ?4, signature = ?5, exposure = ?6 "
                "WHERE model = ?7 AND path = ?8 AND size = ?9 AND mtime_ns = ?10",
                rows,
            )

    def close(self) -> None:
        """Close the database (everything put is already committed)."""
        self.db.close()

    def __enter__(self) -> ResultCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StoredImages(Mapping[str, bytes]):
    """One image column of an audit (``thumbnail`` or ``overlay``) as ``cache`` stores it: the path of each of
    the audit's ``paths`` (as found) that has one -> its JPEG, read from the cache when asked for."""

    def __init__(self, cache: ResultCache, column: str, paths: Sequence[str]) -> None:
        self.cache, self.column, self.paths = cache, column, paths

    def __getitem__(self, path: str) -> bytes:
        jpeg = self.cache.image(self.column, os.path.abspath(path))
        if jpeg is None:
            raise KeyError(path)
        return jpeg

    def __iter__(self) -> Iterator[str]:
        return (path for path in self.paths if path in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)


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
    burst signatures; :meth:`~phoneiqa.audit.store.ResultCache.lacking`), looked up
    :data:`~phoneiqa.audit.store.CHUNK` at a time; files that cannot be read get their reason in ``errors``."""
    todo: list[Entry] = []
    incomplete: list[Entry] = []
    keyed = file_keys(entries, errors)
    while chunk := list(itertools.islice(keyed, CHUNK)):
        current = store.current([key for _, key in chunk])
        lacking = store.lacking(sorted(current), thumbnails, explain)
        todo += [entry for entry, key in chunk if key.path not in current]
        incomplete += [entry for entry, key in chunk if key.path in lacking]
    return todo, incomplete


def _chunks(items: Sequence) -> Iterator[Sequence]:
    """``items`` in slices of :data:`CHUNK`."""
    return (items[start : start + CHUNK] for start in range(0, len(items), CHUNK))


def _marks(items: Iterable) -> str:
    """The ``?, ?, ...`` of an ``IN`` list of ``items``."""
    return ",".join("?" for _ in items)
