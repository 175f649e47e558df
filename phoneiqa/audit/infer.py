"""The model's step in an audit, shared by its executors: prepared photos assessed a batch per model call, and
the model's id, which the results are stored under.
"""

from __future__ import annotations

import os
from typing import Any

from phoneiqa.assessment import Assessment, Assessor
from phoneiqa.loading import model_file

DEFAULT_BATCH_SIZE = 8
"""Photos per model call and per cache commit (at most this many are lost to a kill)."""


def model_id(path_or_name: str | os.PathLike) -> str:
    """What cached results are keyed by: the checkpoint's SHA-256 (prefix) and the phoneiqa version."""
    import hashlib

    from phoneiqa.version import __version__

    digest = hashlib.sha256(model_file(path_or_name).read_bytes()).hexdigest()[:20]
    return f"{digest}-{__version__}"


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
