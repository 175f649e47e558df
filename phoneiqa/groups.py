"""Bursts and near-repeats: photos of one scene taken close together, grouped, with the best shot marked.

Each photo gets a *signature* where it is decoded: its 16×16 grey thumbnail (box-averaged), each value
replaced by its rank among the 256.  Two signatures' Pearson correlation is then the Spearman rank
correlation of the thumbnails, which any monotonic change of tones leaves alone (exposure, gamma,
contrast, white balance on a grey level), and which blur, noise and a shift of a few per cent of the
frame barely move at 16×16.  Photos are taken in capture order (EXIF ``DateTimeOriginal``, else the
file's path); each is compared with the :data:`WINDOW` photos before it that were taken within
:data:`MAX_GAP_S` seconds (when both have a capture time), and joined to their group when the
correlation is at least :data:`MIN_SIMILARITY` (:func:`find_groups`).  The audit ranks each group of two
or more by :func:`phoneiqa.assessment.rank_order` with the shots' keys (:func:`exposure_key`), as
``phoneiqa.rank`` ranks shots.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence

import numpy as np
from PIL import Image

from phoneiqa.exposure import key_ev
from phoneiqa.image import ImageInput, load_image
from phoneiqa.photometric import luminance

SIGNATURE_SIDE = 16
KEY_SIDE = 32
MIN_SIMILARITY = 0.75
"""Rank correlation of two signatures from which the photos show the same scene."""
MAX_GAP_S = 30.0
"""Photos taken more than this many seconds apart are never one burst (when both have a capture time)."""
WINDOW = 12
"""How many photos before it, in capture order, a photo is compared with."""
BLOCK = 4096
"""Photos whose signatures are normalised together while grouping."""
EXIF_IFD, DATE_TIME_ORIGINAL, SUBSEC_TIME_ORIGINAL = 0x8769, 0x9003, 0x9291


def signature(image: Image.Image) -> np.ndarray:
    """``uint8[256]``: the ranks (0..255) of the photo's 16×16 grey thumbnail values, row by row."""
    grey = image.convert("L").resize((SIGNATURE_SIDE, SIGNATURE_SIDE), Image.Resampling.BOX)
    values = np.asarray(grey, dtype=np.float32).ravel()
    values = values + np.linspace(0, 1e-3, values.size, dtype=np.float32)  # ties (flat areas) in a fixed order
    ranks = np.empty(values.size, dtype=np.uint8)
    ranks[np.argsort(values, kind="stable")] = np.arange(values.size)
    return ranks


def exposure_key(image: Image.Image) -> float:
    """The photo's key in stops (:func:`phoneiqa.exposure.key_ev` of a 32×32 box-averaged copy): shots of
    one scene differ in it by how much more or less light they were given, which ranking a burst reads."""
    small = np.asarray(image.convert("RGB").resize((KEY_SIDE, KEY_SIDE), Image.Resampling.BOX))
    return key_ev(luminance(small))


def source_exposure(source: ImageInput, name: str | None = None) -> float:
    """:func:`exposure_key` of any input :func:`phoneiqa.assess` takes (a JPEG decoded at reduced scale)."""
    return exposure_key(load_image(source, name=name, min_short_side=KEY_SIDE))


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


def find_groups(paths: Sequence[str], taken: Sequence[float | None], signatures: np.ndarray) -> list[list[int]]:
    """The groups of two or more shots among the photos at ``paths`` (with their capture times and ``uint8[n, 256]``
    signatures): each a list of indices in capture order, the groups in capture order of their first shot."""
    order = sorted(range(len(paths)), key=lambda i: (taken[i] is None, taken[i] or 0.0, paths[i]))
    parent = list(range(len(paths)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, window, correlations in _correlations(order, signatures):
        for j, correlation in zip(window, correlations, strict=True):
            a, b = taken[i], taken[j]
            if a is not None and b is not None and abs(a - b) > MAX_GAP_S:
                continue
            if correlation >= MIN_SIMILARITY:
                parent[root(i)] = root(j)
    members: dict[int, list[int]] = {}
    for i in order:
        members.setdefault(root(i), []).append(i)
    return [group for group in members.values() if len(group) >= 2]


def _correlations(order: list[int], signatures: np.ndarray) -> Iterator[tuple[int, list[int], np.ndarray]]:
    """For each photo in ``order``: it, the :data:`WINDOW` photos before it and their rank correlations with it.
    Signatures are normalised :data:`BLOCK` photos at a time: float64 copies of them all would be 2 kB a photo."""
    for start in range(0, len(order), BLOCK):
        first = max(0, start - WINDOW)
        rows = order[first : start + BLOCK]
        unit = _unit(signatures[rows])
        for k in range(start - first, len(rows)):
            window = slice(max(0, k - WINDOW), k)
            yield rows[k], rows[window], unit[window] @ unit[k]
