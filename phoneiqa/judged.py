"""Photos judged by eye (``judged/labels.csv``, scale of ``judged/RUBRIC.md``) as training and evaluation rows.

A viewer gives each photo five numbers: ``exposure`` and ``contrast`` (−3 … +3), ``blown`` and ``grey``
(0 … 3), and whether they were ``sure``.  The six issue levels are those numbers read on their side
(:func:`issue_levels`): ``exposure`` −2 is ``dark`` severe, ``contrast`` +1 is ``high_contrast`` normal,
``blown`` is ``overexposed`` and ``grey`` is ``over_suppressed``, so the label contract of
``data_specs/issue_definitions.md`` and the viewers' scale are one scale.

    frame = read_judged(Path("../shared/data"))      # labels.csv + the six levels + scene ids
    folds = scene_folds(frame["scene_id"], k=5, seed=0)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from phoneiqa.labels import LABELS
from phoneiqa.synth import pixel_digest, scene_groups

TRAINING_REPEAT = 3
"""How many times each judged photo counts beside the synthetic variants when the issue head is trained: chosen in
``benchmarks/bench_judged.py`` (1 let half of the photos judged severely dark pass)."""

FIELDS = ("exposure", "contrast", "blown", "grey")
"""The judged fields (``RUBRIC.md``); a photo is fine when all are 0."""

SIDES: dict[str, tuple[str, int]] = {
    "bright": ("exposure", +1),
    "dark": ("exposure", -1),
    "low_contrast": ("contrast", -1),
    "high_contrast": ("contrast", +1),
    "overexposed": ("blown", +1),
    "over_suppressed": ("grey", +1),
}
"""label -> (the judged field it reads, the side of that field it is)."""


def issue_levels(judged: pd.DataFrame) -> np.ndarray:
    """``[N, 6]`` levels in :data:`~phoneiqa.labels.LABELS` order from judged fields.

    Legal by construction except that a viewer may see blown and grey highlights in one photo, which the
    label graph excludes (a blown frame has no highlights left to press down): ``blown`` wins.
    """
    levels = np.stack([np.clip(sign * judged[field].to_numpy(np.int64), 0, 3) for field, sign in SIDES.values()], 1)
    over, suppressed = LABELS.index("overexposed"), LABELS.index("over_suppressed")
    levels[levels[:, over] > 0, suppressed] = 0
    return levels


def is_fine(judged: pd.DataFrame) -> pd.Series:
    """Rows judged fine in every field."""
    return (judged[list(FIELDS)] == 0).all(axis=1)


def read_judged(data: Path) -> pd.DataFrame:
    """``data/judged/labels.csv`` with ``source`` (its folder), ``file`` (full path), the six label columns and
    ``scene_id``: one id per scene, shared by the two captures of a ``mefb`` scene and by the copies of one
    photo in two test sets (:func:`phoneiqa.synth.scene_groups`)."""
    frame = pd.read_csv(data / "judged" / "labels.csv")
    frame["source"] = frame["path"].str.split("/").str[0]
    frame["file"] = [str(data / p) for p in frame["path"]]
    frame[list(LABELS)] = issue_levels(frame)
    mefb = frame["source"] == "mefb"
    pairs = pd.read_csv(data / "mefb" / "labels.csv").set_index("image")["scene"]
    groups = scene_groups([Path(f) for f in frame.loc[~mefb, "file"]])
    frame["scene_id"] = [
        f"mefb:{pairs[Path(f).name]}" if m else f"photo:{groups[Path(f)]}"
        for f, m in zip(frame["file"], mefb, strict=True)
    ]
    return frame


def scene_folds(scene_ids: pd.Series | list[str], k: int, seed: int) -> np.ndarray:
    """A fold 0..k-1 for each row, whole scenes at a time, from a seeded permutation of the sorted scene ids."""
    ids = pd.Series(list(scene_ids))
    names = np.array(sorted(ids.unique()))
    order = np.random.default_rng(seed).permutation(len(names))
    fold_of = dict(zip(names[order], np.arange(len(names)) % k, strict=True))
    return ids.map(fold_of).to_numpy()


BASE_SOURCES = ("photos", "bsds500", "clive")
"""Folders of ``../shared/data`` whose judged-fine photos are references (``mefb`` pairs are kept for evaluation)."""


def collect_bases(data: Path) -> tuple[list[Path], dict[str, int]]:
    """The reference photos under ``data`` (``../shared/data``), and how many each source gave or lost.

    A photo is a reference only when a viewer judged it fine in every field and was sure
    (``judged/labels.csv``, :func:`phoneiqa.judged.is_fine`): a night street, a snow field or a backlit portrait
    judged fine is a reference like any other, and a photo judged too dark never is.  Photos of
    ``bsds500/`` already in ``photos/`` (CBSD68 is a subset of BSDS500) are left out.  Sorted paths.
    """
    labels = pd.read_csv(data / "judged" / "labels.csv")
    source = labels["path"].str.split("/").str[0]
    fine = labels[is_fine(labels) & (labels["sure"] == 1) & source.isin(BASE_SOURCES)]
    paths = [data / p for p in fine["path"]]
    known = {pixel_digest(path) for path in paths if path.parent.name == "photos"}
    kept = [path for path in paths if path.parent.name == "photos" or pixel_digest(path) not in known]
    counts = {name: int((fine["path"].str.split("/").str[0] == name).sum()) for name in BASE_SOURCES}
    counts |= {
        "not_fine_or_unsure": int(source.isin(BASE_SOURCES).sum() - len(fine)),
        "duplicates": len(paths) - len(kept),
    }
    return sorted(kept), counts
