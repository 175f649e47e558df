"""Progress bars (rate and ETA) and notices that stay quiet when stderr is not a terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress(items: Iterable[T], desc: str, total: int | None = None) -> tqdm:
    """Wrap ``items`` in a tqdm bar, shown on a terminal only (``set_postfix`` and the rest work either way)."""
    return tqdm(items, desc=desc, total=total, disable=not sys.stderr.isatty(), leave=False, dynamic_ncols=True)


def progress_bar(total: int, desc: str, enabled: bool | None = None) -> tqdm:
    """A bar to ``update(n)`` by hand; ``enabled`` None means: when stderr is a terminal."""
    show = sys.stderr.isatty() if enabled is None else enabled
    return tqdm(total=total, desc=desc, unit="img", disable=not show, dynamic_ncols=True)


def note(message: str) -> None:
    """A one-line notice of something slow that is starting, on stderr when it is a terminal."""
    if sys.stderr.isatty():
        print(message, file=sys.stderr, flush=True)
