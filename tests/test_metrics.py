"""Evaluation metrics against hand-worked values."""

from __future__ import annotations

import numpy as np
import pytest

from phoneiqa.metrics import issue_metrics, label_metrics, logistic4, score_metrics


def test_score_metrics_hand_worked():
    pred = np.array([1.0, 2.0, 3.0, 4.0])
    target = np.array([10.0, 30.0, 20.0, 40.0])
    m = score_metrics(pred, target)
    # ranks (1,2,3,4) vs (1,3,2,4): d^2 = 0+1+1+0 = 2; srcc = 1 - 6*2/(4*15) = 0.8
    assert m["srcc"] == pytest.approx(0.8)
    # kendall: 6 pairs, one discordant (2,3): (5-1)/6
    assert m["krcc"] == pytest.approx(4 / 6)
    # pearson by hand: x-mean = (-1.5,-.5,.5,1.5), y-mean = (-15,5,-5,15): cov = 22.5+(-2.5)+(-2.5)+22.5 = 40
    assert m["plcc"] == pytest.approx(40 / np.sqrt(5 * 500))
    assert m["rmse"] == pytest.approx(np.sqrt(np.mean((pred - target) ** 2)))
    # residuals (9,28,17,36), mean 22.5: var = (182.25+30.25+30.25+182.25)/4 = 106.25; var(target) = 125
    assert m["explained_variance"] == pytest.approx(1 - 106.25 / 125)
    assert m["n"] == 4


def test_logistic_fit_recovers_a_monotone_map():
    x = np.linspace(-3, 3, 50)
    y = logistic4(x, 90.0, 10.0, 0.5, 0.8)
    m = score_metrics(x, y)
    assert m["srcc"] == pytest.approx(1.0)
    assert m["plcc"] < 0.99 < m["plcc_fitted"]
    assert m["rmse_fitted"] < 0.5


def test_label_metrics_hand_worked():
    target = np.array([0, 0, 0, 0, 1, 2, 3, 0])
    pred = np.array([0, 0, 1, 0, 1, 1, 3, 0])
    m = label_metrics(pred, target)
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["accuracy_always_none"] == pytest.approx(5 / 8)
    assert m["recall"] == pytest.approx(1.0)  # all three issues were flagged (level >= 1)
    assert m["precision"] == pytest.approx(3 / 4)
    # F1 per level: 0: tp4, support5, predicted4 -> 8/9; 1: tp1, 1, 3 -> 2/4; 2: 0, 1, 0 -> 0; 3: 1, 1, 1 -> 1
    assert m["macro_f1"] == pytest.approx(np.mean([8 / 9, 0.5, 0.0, 1.0]))
    assert m["confusion"][0] == [4, 1, 0, 0] and m["confusion"][2] == [0, 1, 0, 0]


def test_issue_metrics_mean_row():
    target = np.array([[0, 1], [1, 0], [0, 0]])
    pred = np.array([[0, 1], [0, 0], [0, 0]])
    m = issue_metrics(pred, target, ["a", "b"])
    assert m["a"]["recall"] == 0.0 and m["b"]["recall"] == 1.0
    assert m["mean"]["recall"] == pytest.approx(0.5)
    assert np.isnan(m["a"]["precision"])  # nothing flagged: undefined, not zero
    assert m["mean"]["precision"] == pytest.approx(1.0)  # nanmean over the defined ones


def test_logistic4_is_finite_far_from_its_centre():
    """Far below and above its centre the logistic sits at its asymptotes, without overflowing (the test run
    turns warnings into errors); at the centre it is halfway, one slope away it is 1 / (1 + e^-1) of the way."""
    x = np.array([-1e5, -1.0, 0.0, 1.0, 1e5])
    y = logistic4(x, 100.0, 0.0, 0.0, 1.0)
    np.testing.assert_allclose(y, [0.0, 100 / (1 + np.e), 50.0, 100 / (1 + np.exp(-1)), 100.0], rtol=1e-12, atol=1e-12)
