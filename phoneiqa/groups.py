"""Bursts and near-repeats: photos of one scene taken close together, grouped, with the best shot marked.

Each photo gets a *signature* where it is decoded: its 16×16 grey thumbnail (box-averaged), each value
replaced by its rank among the 256.  Two signatures' Pearson correlation is then the Spearman rank
correlation of the thumbnails, which any monotonic change of tones leaves alone (exposure, gamma,
contrast, white balance on a grey level), and which blur, noise and a shift of a few per cent of the
frame barely move at 16×16.  Photos are taken in capture order (EXIF ``DateTimeOriginal``, else the
file's path); each is compared with the :data:`WINDOW` photos before it that were taken within
:data:`MAX_GAP_S` seconds (when both have a capture time), and joined to their group when the
correlation is at least :data:`MIN_SIMILARITY`.  Each group of two or more is ranked by
:func:`phoneiqa.assessment.rank_order`, as ``phoneiqa.rank`` ranks shots.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from phoneiqa.assessment import Assessment, rank_order

SIGNATURE_SIDE = 16
MIN_SIMILARITY = 0.75
"""Rank correlation of two signatures from which the photos show the same scene."""
MAX_GAP_S = 30.0
"""Photos taken more than this many seconds apart are never one burst (when both have a capture time)."""
WINDOW = 12
"""How many photos before it, in capture order, a photo is compared with."""
EXIF_IFD, DATE_TIME_ORIGINAL, SUBSEC_TIME_ORIGINAL = 0x8769, 0x9003, 0x9291


def signature(image: Image.Image) -> np.ndarray:
    """``uint8[256]``: the ranks (0..255) of the photo's 16×16 grey thumbnail values, row by row."""
    grey = image.convert("L").resize((SIGNATURE_SIDE, SIGNATURE_SIDE), Image.Resampling.BOX)
    values = np.asarray(grey, dtype=np.float32).ravel()
    values = values + np.linspace(0, 1e-3, values.size, dtype=np.float32)  # ties (flat areas) in a fixed order
    ranks = np.empty(values.size, dtype=np.uint8)
    ranks[np.argsort(values, kind="stable")] = np.arange(values.size)
    return ranks


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Rank correlation of two signatures, -1..1 (1: the same picture up to a change of tones)."""
    x, y = _unit(np.stack([a, b]))
    return float(x @ y)


def _unit(signatures: np.ndarray) -> np.ndarray:
    """``[n, 256]`` signatures centred and scaled to unit length (float64): a dot product of two rows is
    their rank correlation."""
    x = signatures.astype(np.float64) - 127.5
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def capture_time(path: str) -> float | None:
    """Seconds since the epoch at which the photo was taken (EXIF ``DateTimeOriginal`` and its sub-seconds,
    read as UTC: only differences matter), ``None`` when the file does not say."""
    try:
        with Image.open(path) as image:
            exif = image.getexif().get_ifd(EXIF_IFD)
    except Exception:  # the audit has decoded the photo already; an odd header only loses its time
        return None
    text, subsec = exif.get(DATE_TIME_ORIGINAL), exif.get(SUBSEC_TIME_ORIGINAL)
    try:
        taken = dt.datetime.strptime(str(text).strip(), "%Y:%m:%d %H:%M:%S").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return None
    fraction = float(f"0.{str(subsec).strip()}") if subsec and str(subsec).strip().isdigit() else 0.0
    return taken.timestamp() + fraction


@dataclass(frozen=True)
class Shot:
    """What grouping needs of one assessed photo."""

    path: str
    taken: float | None
    signature: np.ndarray
    assessment: Assessment


def group_shots(shots: Sequence[Shot]) -> list[tuple[int, int] | None]:
    """For each shot, ``(group number, rank in group)`` (rank 1 = best) when it belongs to a group of two or
    more, else ``None``; groups are numbered from 1 in capture order of their first shot."""
    order = sorted(range(len(shots)), key=lambda i: (shots[i].taken is None, shots[i].taken or 0.0, shots[i].path))
    parent = list(range(len(shots)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    unit = _unit(np.stack([shot.signature for shot in shots])) if shots else np.zeros((0, 256))
    for k, i in enumerate(order):
        window = order[max(0, k - WINDOW) : k]
        for j, correlation in zip(window, unit[window] @ unit[i], strict=True):
            a, b = shots[i], shots[j]
            if a.taken is not None and b.taken is not None and abs(a.taken - b.taken) > MAX_GAP_S:
                continue
            if correlation >= MIN_SIMILARITY:
                parent[root(i)] = root(j)
    members: dict[int, list[int]] = {}
    for i in order:
        members.setdefault(root(i), []).append(i)
    out: list[tuple[int, int] | None] = [None] * len(shots)
    number = 0
    for group in members.values():
        if len(group) < 2:
            continue
        number += 1
        for place, k in enumerate(rank_order([shots[i].assessment for i in group]), 1):
            out[group[k]] = (number, place)
    return out
