"""An audit's table as a file: CSV, JSON lines or Parquet, by the file's suffix (:data:`REPORT_FORMATS`)."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from phoneiqa.audit.store import IMAGE_COLUMNS
from phoneiqa.audit.table import AuditTable

REPORT_FORMATS = (".csv", ".jsonl", ".parquet")


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
