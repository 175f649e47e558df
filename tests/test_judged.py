"""Judged photos as rows: the judged fields read as the six levels, whole scenes per fold."""

from __future__ import annotations

import numpy as np
import pandas as pd

from phoneiqa.judged import is_fine, issue_levels, scene_folds
from phoneiqa.labels import LABELS


def test_judged_fields_read_on_their_side_as_the_six_levels():
    judged = pd.DataFrame(
        {
            "exposure": [-2, 1, 0, 0],
            "contrast": [0, -1, 2, 0],
            "blown": [0, 2, 0, 1],
            "grey": [1, 0, 0, 2],  # the last: blown and grey together, which the label graph excludes
        }
    )
    expected = [
        {"dark": 2, "over_suppressed": 1},
        {"bright": 1, "low_contrast": 1, "overexposed": 2},
        {"high_contrast": 2},
        {"overexposed": 1},
    ]
    rows = [[row.get(label, 0) for label in LABELS] for row in expected]
    np.testing.assert_array_equal(issue_levels(judged), rows)
    assert is_fine(judged).tolist() == [False] * 4
    assert is_fine(judged.assign(exposure=0, contrast=0, blown=0, grey=0)).tolist() == [True] * 4


def test_scene_folds_keep_a_scene_together_and_balance_the_scenes():
    ids = [f"s{i // 2}" for i in range(40)]  # 20 scenes of two photos
    folds = scene_folds(ids, k=5, seed=3)
    assert all(folds[i] == folds[i + 1] for i in range(0, 40, 2))
    assert sorted(np.bincount(folds).tolist()) == [8] * 5
    assert np.array_equal(folds, scene_folds(list(reversed(ids)), k=5, seed=3)[::-1])
