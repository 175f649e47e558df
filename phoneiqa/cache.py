"""Where phoneiqa keeps what it computes once: feature caches and compiled models."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """``$PHONEIQA_CACHE`` or ``~/.cache/phoneiqa``."""
    return Path(os.environ.get("PHONEIQA_CACHE", Path.home() / ".cache" / "phoneiqa"))
