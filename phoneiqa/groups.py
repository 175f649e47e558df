"""Bursts and near-repeats: photos of one scene taken close together, grouped, with the best shot marked.

Each photo gets a *signature* where it is decoded: its 32×32 grey thumbnail (box-averaged, 1,024 bytes).
Two signatures are compared in two ways, both blind to any monotonic change of tones (exposure, gamma,
contrast), so that the shots of an exposure series still match:

- *layout* (:func:`layout_similarity`): the Spearman rank correlation of the two thumbnails box-averaged to
  16×16: where the picture is light and where dark.  Unrelated photos with one layout (sky above, ground
  below) reach 0.9 and more, so layout alone never makes a group without capture times;
- *detail* (:func:`detail_similarity`): the thumbnails' fine structure (each minus its 3×3 local mean) in a
  4×4 grid of cells, each cell's correlation (blind to a change of gain and offset in the cell, which is what
  a tone curve is locally), averaged over the cells textured in both photos (flat and clipped cells tell
  nothing), at the best of the shifts of up to :data:`SHIFT` thumbnail pixels (a hand-held reframing).

Two photos show *the same scene* (:func:`same_scene`) when their detail similarity is at least
:data:`MIN_DETAIL` and their layout similarity at least :data:`MIN_LAYOUT`; measured on real photos
(``benchmarks/bench_groups.py``), no two of 1,422 unrelated photos compared in path order pass (6 pairs of
all their million pairs do), and the under- and over-exposed captures of one scene pass in 54 of 55 series.

Photos are taken in capture order (EXIF ``DateTimeOriginal``, else the file's path); each is compared with
the :data:`WINDOW` photos before it and *linked* to one that shows the same scene or, when both have a
capture time no more than :data:`MAX_GAP_S` seconds apart, whose layout similarity is at least
:data:`MIN_SIMILARITY`; photos taken more than :data:`MAX_GAP_S` apart are never linked.  A group is a set of
two or more photos joined by links (:func:`find_groups`); it is *sure* when every two of its photos show the
same scene, else its photos are only *similar* (a chain of links, or a capture-time link alone).  The audit
ranks each group by :func:`phoneiqa.rank.rank_order` with the shots' keys (:func:`exposure_key`), as
``phoneiqa.rank`` ranks shots, and counts only sure groups' other shots as photos that could be removed.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from phoneiqa.exposure import key_ev
from phoneiqa.photometric import luminance

SIGNATURE_SIDE = 32
"""Side of the grey thumbnail a signature is (``uint8[SIGNATURE_SIDE²]``, row by row)."""
LAYOUT_SIDE = 16
"""Side of the thumbnail whose tones are ranked for :func:`layout_similarity`."""
CELLS = 4
"""Cells per side of the grid :func:`detail_similarity` correlates fine structure in."""
SHIFT = 1
"""Largest shift, in thumbnail pixels (3 % of the frame), at which :func:`detail_similarity` looks for a match."""
MIN_TEXTURE = 1.0
"""RMS of a cell's fine structure, in grey levels, from which it is textured (below it: flat or clipped)."""
MIN_CELLS = 3
"""Cells textured in both photos that :func:`detail_similarity` needs (fewer: no evidence, -1)."""
MIN_DETAIL = 0.34
"""Detail similarity from which two photos may show the same scene (chosen on real photos by
``benchmarks/bench_groups.py``: the under- and over-exposed captures of a scene reach it in 54 of 55 series,
6 in a million pairs of unrelated photos reach it with :data:`MIN_LAYOUT`)."""
MIN_LAYOUT = 0.6
"""Layout similarity that two photos of the same scene reach as well."""
MIN_SIMILARITY = 0.75
"""Layout similarity from which photos taken within :data:`MAX_GAP_S` of each other are linked."""
MAX_GAP_S = 30.0
"""Photos taken more than this many seconds apart are never linked (when both have a capture time)."""
WINDOW = 12
"""How many photos before it, in capture order, a photo is compared with."""
BLOCK = 1024
"""Photos whose signatures are prepared together while grouping (28 kB a photo: bounded memory at any size)."""
KEY_SIDE = 32
EXIF_IFD, DATE_TIME_ORIGINAL, SUBSEC_TIME_ORIGINAL = 0x8769, 0x9003, 0x9291
_CELL = (SIGNATURE_SIDE - 2 * SHIFT) // CELLS
_SHIFTS = list(itertools.product(range(-SHIFT, SHIFT + 1), repeat=2))
_CENTRE = _SHIFTS.index((0, 0))


@dataclass(frozen=True)
class Group:
    """A burst or near-repeat: ``members`` (indices of photos, in capture order) and whether it is ``sure``
    (every two of them show the same scene by :func:`same_scene`) or only a group of similar photos."""

    members: list[int]
    sure: bool


def signature(image: Image.Image) -> np.ndarray:
    """``uint8[1024]``: the photo's 32×32 grey thumbnail (box-averaged), row by row."""
    grey = image.convert("L").resize((SIGNATURE_SIDE, SIGNATURE_SIDE), Image.Resampling.BOX)
    return np.asarray(grey, dtype=np.uint8).ravel()


def exposure_key(image: Image.Image) -> float:
    """The photo's key in stops (:func:`phoneiqa.exposure.key_ev` of a 32×32 box-averaged copy): shots of
    one scene differ in it by how much more or less light they were given, which ranking a burst reads."""
    small = np.asarray(image.convert("RGB").resize((KEY_SIDE, KEY_SIDE), Image.Resampling.BOX))
    return key_ev(luminance(small))


def layout_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Rank correlation of two signatures' 16×16 thumbnails, -1..1 (1: the same layout of tones)."""
    x, y = _layouts(np.stack([a, b]))
    return float(x @ y)


def detail_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Mean correlation of two signatures' fine structure over the cells textured in both, at the best shift,
    -1..1 (1: the same picture up to a change of tones); -1 where fewer than :data:`MIN_CELLS` are textured."""
    return float(_detail_similarities(_cells(_details(np.stack([a, b]))), 1, slice(0, 1))[0])


def same_scene(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two signatures show the same scene: detail and layout similarity both high enough."""
    return same_scene_from(layout_similarity(a, b), detail_similarity(a, b))


def same_scene_from(layout: float | np.ndarray, detail: float | np.ndarray) -> bool | np.ndarray:
    """:func:`same_scene` from the two similarities (of one pair, or elementwise of arrays of them)."""
    return (detail >= MIN_DETAIL) & (layout >= MIN_LAYOUT)


def _layouts(signatures: np.ndarray) -> np.ndarray:
    """``[n, 256]`` float64 rank vectors of the signatures' 16×16 thumbnails, centred and of unit length: a
    dot product of two rows is their rank correlation.  Ties (flat areas) are ranked in a fixed order."""
    k = SIGNATURE_SIDE // LAYOUT_SIDE
    values = signatures.reshape(-1, LAYOUT_SIDE, k, LAYOUT_SIDE, k).astype(np.float64).mean(axis=(2, 4))
    values = values.reshape(len(signatures), -1) + np.linspace(0, 1e-3, LAYOUT_SIDE**2)
    ranks = np.argsort(np.argsort(values, axis=1, kind="stable"), axis=1) - (LAYOUT_SIDE**2 - 1) / 2
    return ranks / np.linalg.norm(ranks, axis=1, keepdims=True)


def _details(signatures: np.ndarray) -> np.ndarray:
    """``float32[n, 32, 32]``: each signature's thumbnail minus its 3×3 local mean (edges repeated)."""
    side = SIGNATURE_SIDE
    thumbs = signatures.reshape(-1, side, side).astype(np.float32)
    padded = np.pad(thumbs, ((0, 0), (1, 1), (1, 1)), mode="edge")
    local_mean = sum(padded[:, dy : dy + side, dx : dx + side] for dy in range(3) for dx in range(3)) / 9
    return thumbs - local_mean


def _cells(details: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The cells of the details' central crop moved by each of the shifts: ``float32[9, n, 16, 49]`` centred
    unit vectors and ``bool[9, n, 16]``, whether each is textured (:data:`MIN_TEXTURE`)."""
    inner = _CELL * CELLS
    crops = np.stack(
        [details[:, SHIFT + dy : SHIFT + dy + inner, SHIFT + dx : SHIFT + dx + inner] for dy, dx in _SHIFTS]
    )
    cells = crops.reshape(len(_SHIFTS), len(details), CELLS, _CELL, CELLS, _CELL).transpose(0, 1, 2, 4, 3, 5)
    cells = cells.reshape(len(_SHIFTS), len(details), CELLS**2, _CELL**2)
    cells = cells - cells.mean(axis=3, keepdims=True)
    norms = np.linalg.norm(cells, axis=3)
    return cells / np.maximum(norms, 1e-6)[..., None], norms / _CELL >= MIN_TEXTURE


def _mean_correlation(correlations: np.ndarray, both: np.ndarray) -> np.ndarray:
    """Cell correlations (``[..., 16]``) averaged over the cells textured in both photos (``both``), ``-1``
    where fewer than :data:`MIN_CELLS` are."""
    count = both.sum(axis=-1)
    return np.where(count >= MIN_CELLS, (correlations * both).sum(axis=-1) / np.maximum(count, 1), -1.0)


def _detail_similarities(cells: tuple[np.ndarray, np.ndarray], k: int, others: slice) -> np.ndarray:
    """:func:`detail_similarity` of photo ``k`` with each of ``others`` (both indices into ``cells``, the
    :func:`_cells` of their details): the best over shifts of either photo's central crop against the other's
    moved crop (symmetric)."""
    vectors, textured = cells
    centre, moved = vectors[_CENTRE], textured[_CENTRE]
    theirs = np.einsum("cd,swcd->swc", centre[k], vectors[:, others]), moved[k] & textured[:, others]
    mine = np.einsum("scd,wcd->swc", vectors[:, k], centre[others]), textured[:, k, None] & moved[None, others]
    return np.maximum(_mean_correlation(*theirs), _mean_correlation(*mine)).max(axis=0, initial=-1.0)


def similarity_matrices(signatures: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The layout and the detail similarity of every two of these signatures (``[n, n]`` each, as
    :func:`layout_similarity` and :func:`detail_similarity` have them), one matrix product per cell and shift:
    for comparing a whole collection (``benchmarks/bench_groups.py``)."""
    layouts = _layouts(signatures)
    vectors, textured = _cells(_details(signatures))
    detail = np.full((len(signatures), len(signatures)), -1.0)
    for shift in range(len(_SHIFTS)):
        both = textured[_CENTRE][:, None, :] & textured[shift][None, :, :]
        correlations = sum((vectors[_CENTRE][:, c] @ vectors[shift][:, c].T) * both[:, :, c] for c in range(CELLS**2))
        moved = np.where(both.sum(axis=2) >= MIN_CELLS, correlations / np.maximum(both.sum(axis=2), 1), -1.0)
        detail = np.maximum(detail, np.maximum(moved, moved.T))
    return layouts @ layouts.T, detail


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


def find_groups(paths: Sequence[str], taken: Sequence[float | None], signatures: np.ndarray) -> list[Group]:
    """The groups of two or more shots among the photos at ``paths`` (with their capture times and
    ``uint8[n, 1024]`` signatures), each with its members in capture order, the groups in capture order of
    their first shot: photos joined by links (see the module's docstring), sure where every two members show
    the same scene."""
    order = sorted(range(len(paths)), key=lambda i: (taken[i] is None, taken[i] or 0.0, paths[i]))
    parent = list(range(len(paths)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, window, layout, detail in _similarities(order, signatures):
        for j, same, near in zip(window, same_scene_from(layout, detail), layout >= MIN_SIMILARITY, strict=True):
            a, b = taken[i], taken[j]
            timed = a is not None and b is not None
            if timed and abs(a - b) > MAX_GAP_S:
                continue
            if same or (timed and near):
                parent[root(i)] = root(j)
    members: dict[int, list[int]] = {}
    for i in order:
        members.setdefault(root(i), []).append(i)
    return [Group(group, _all_same_scene(signatures[group])) for group in members.values() if len(group) >= 2]


def _all_same_scene(signatures: np.ndarray) -> bool:
    """Whether every two of these signatures show the same scene (:func:`same_scene`); each compared with
    those before it, stopping at the first pair that does not (a chain of unrelated photos stops early)."""
    layouts, cells = _layouts(signatures), _cells(_details(signatures))
    return all(
        np.all(same_scene_from(layouts[:k] @ layouts[k], _detail_similarities(cells, k, slice(0, k))))
        for k in range(1, len(signatures))
    )


def _similarities(order: list[int], signatures: np.ndarray) -> Iterator[tuple[int, list[int], np.ndarray, np.ndarray]]:
    """For each photo in ``order``: it, the :data:`WINDOW` photos before it and its layout and detail
    similarities with them.  Signatures are prepared :data:`BLOCK` photos at a time."""
    for start in range(0, len(order), BLOCK):
        first = max(0, start - WINDOW)
        rows = order[first : start + BLOCK]
        layouts, cells = _layouts(signatures[rows]), _cells(_details(signatures[rows]))
        for k in range(start - first, len(rows)):
            window = slice(max(0, k - WINDOW), k)
            yield rows[k], rows[window], layouts[window] @ layouts[k], _detail_similarities(cells, k, window)
