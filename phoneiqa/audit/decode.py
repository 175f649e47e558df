"""Decoding, the audit's second step: each photo decoded once, in worker processes, into the model's input and
its :class:`Preview` (thumbnail, exposure maps, capture time, burst signature, key in stops), all made from the
same decoded pixels; :func:`decode_files` runs :func:`decode_file` over the files in order, in a pool of processes
while the main process runs the model.  What became of a file is its :class:`Outcome`.
"""

from __future__ import annotations

import collections
import io
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

import numpy as np
from PIL import Image

from phoneiqa.assessment import Assessment, unchanged
from phoneiqa.audit.discover import Entry, FileKey, file_key
from phoneiqa.errors import ImageError
from phoneiqa.explain import Explanation
from phoneiqa.explain import explain as explain_image
from phoneiqa.groups import capture_time, exposure_key, signature
from phoneiqa.preprocess import load_scaled

THUMBNAIL_SIZE = 160

OVERLAY_SIZE = 240
"""Long side of the exposure-map overlays of an audit's HTML report."""


@dataclass(frozen=True, eq=False)
class Outcome:
    """What became of one file in an audit: its assessment with, when they were made, the photo's JPEG
    thumbnail and exposure-map overlay, its capture time, its burst signature (``uint8[1024]``) and its key
    in stops (:mod:`phoneiqa.groups`), and whether its exposure maps were drawn (``explained``: then a missing
    overlay means nothing was flagged); or, for a file that could not be assessed, the reason (``error``), which
    is never cached."""

    assessment: Assessment | None = None
    thumbnail: bytes | None = None
    error: str = ""
    overlay: bytes | None = None
    taken: float | None = None
    signature: np.ndarray | None = None
    exposure: float | None = None
    explained: bool = False


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


def default_workers() -> int:
    """Decoding processes by default: one per core (``benchmarks/bench_audit.py`` compares)."""
    return os.cpu_count() or 1


def decode_files(
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
