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
    PRIMARY KEY (model, path)
)
"""


@dataclass(frozen=True)
class FileKey:
    """What identifies one version of a file: absolute path, size in bytes, modification time in ns."""

    path: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Cached:
    """A cached assessment and, when they were made, the photo's JPEG thumbnail and exposure-map overlay."""

    assessment: Assessment
    thumbnail: bytes | None
    overlay: bytes | None = None


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
        if "overlay" not in columns:  # a cache written before overlays existed
            self.db.execute("ALTER TABLE results ADD COLUMN overlay BLOB")
        self.db.commit()

    def get(self, keys: Sequence[FileKey]) -> dict[FileKey, Cached]:
        """The cached results of those ``keys`` whose file is unchanged (same size and mtime)."""
        found: dict[FileKey, Cached] = {}
        for start in range(0, len(keys), 500):
            chunk = {k.path: k for k in keys[start : start + 500]}
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                "SELECT path, size, mtime_ns, result, thumbnail, overlay FROM results "
                f"WHERE model = ? AND path IN ({marks})",
                [self.model_id, *chunk],
            )
            for path, size, mtime_ns, result, thumbnail, overlay in rows:
                key = chunk[path]
                if (size, mtime_ns) == (key.size, key.mtime_ns):
                    found[key] = Cached(Assessment(**json.loads(result)), thumbnail, overlay)
        return found

    def put(self, items: Iterable[tuple[FileKey, Assessment, bytes | None, bytes | None]]) -> None:
        """Store (file, assessment, thumbnail, overlay) results and commit them together."""
        rows = [(self.model_id, k.path, k.size, k.mtime_ns, json.dumps(a.to_dict()), t, o) for k, a, t, o in items]
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO results (model, path, size, mtime_ns, result, thumbnail, overlay) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def close(self) -> None:
        """Close the database (everything put is already committed)."""
        self.db.close()

    def __enter__(self) -> ResultCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
