"""The audit's SQLite result cache: finished photos survive an interrupted or repeated audit.

Each row holds one photo's assessment under one model, keyed by the model id and the photo's
absolute path, together with the file's size and modification time: a lookup only returns a
result whose file has not changed since.  Rows are committed batch by batch in WAL mode, so a
process killed at any moment (SIGKILL included) loses at most the batch it had not committed.
Failed files are not cached: they are tried again on every run.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from phoneiqa.assessment import Assessment

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
    PRIMARY KEY (model, path)
)
"""
ADDED_COLUMNS = {"overlay": "BLOB", "taken": "REAL", "signature": "BLOB"}
"""Columns a cache written by an earlier version lacks, added when it is opened."""


@dataclass(frozen=True)
class FileKey:
    """What identifies one version of a file: absolute path, size in bytes, modification time in ns."""

    path: str
    size: int
    mtime_ns: int


@dataclass(frozen=True, eq=False)
class Outcome:
    """What became of one file in an audit: its assessment with, when they were made, the photo's JPEG
    thumbnail and exposure-map overlay, its capture time and its burst signature (``uint8[256]``,
    :mod:`phoneiqa.groups`); or, for a file that could not be assessed, the reason (``error``), which
    is never cached."""

    assessment: Assessment | None = None
    thumbnail: bytes | None = None
    error: str = ""
    overlay: bytes | None = None
    taken: float | None = None
    signature: np.ndarray | None = None


class ResultCache:
    """Assessments of files by one model, stored in the SQLite file ``path``."""

    def __init__(self, path: str | os.PathLike, model_id: str) -> None:
        self.path = Path(path)
        self.model_id = model_id
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=60)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(SCHEMA)
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(results)")}
        for name, kind in ADDED_COLUMNS.items():
            if name not in columns:
                self.db.execute(f"ALTER TABLE results ADD COLUMN {name} {kind}")
        self.db.commit()

    def get(self, keys: Sequence[FileKey]) -> dict[FileKey, Outcome]:
        """The cached results of those ``keys`` whose file is unchanged (same size and mtime)."""
        found: dict[FileKey, Outcome] = {}
        for start in range(0, len(keys), 500):
            chunk = {k.path: k for k in keys[start : start + 500]}
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                "SELECT path, size, mtime_ns, result, thumbnail, overlay, taken, signature FROM results "
                f"WHERE model = ? AND path IN ({marks})",
                [self.model_id, *chunk],
            )
            for path, size, mtime_ns, result, thumbnail, overlay, taken, sig in rows:
                key = chunk[path]
                if (size, mtime_ns) == (key.size, key.mtime_ns):
                    sig = None if sig is None else np.frombuffer(sig, dtype=np.uint8)
                    found[key] = Outcome(Assessment(**json.loads(result)), thumbnail, "", overlay, taken, sig)
        return found

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
            )
            for k, o in items
            if o.assessment is not None
        ]
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO results (model, path, size, mtime_ns, result, thumbnail, overlay, taken, "
                "signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def close(self) -> None:
        """Close the database (everything put is already committed)."""
        self.db.close()

    def __enter__(self) -> ResultCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
