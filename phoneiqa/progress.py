"""Progress bars that stay quiet when stderr is not a terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress(items: Iterable[T], desc: str, total: int | None = None) -> Iterable[T]:
    """Wrap ``items`` in a tqdm bar (rate and ETA) on a terminal; plain iteration otherwise."""
    return tqdm(items, desc=desc, total=total, disable=not sys.stderr.isatty(), leave=False, dynamic_ncols=True)
