"""Evaluation metrics: score correlation (SRCC, PLCC, KRCC, RMSE) and per-label issue metrics."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy import optimize, special, stats


def logistic4(x: np.ndarray, b1: float, b2: float, b3: float, b4: float) -> np.ndarray:
    """The 4-parameter logistic ``(b1 - b2) / (1 + exp(-(x - b3) / |b4|)) + b2`` used before PLCC."""
    return (b1 - b2) * special.expit((x - b3) / (abs(b4) + 1e-12)) + b2  # expit: no overflow far from b3


def fit_logistic4(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Map predictions onto the target scale with the fitted 4-parameter logistic (monotone)."""
    p0 = [target.max(), target.min(), float(np.median(pred)), float(pred.std() or 1.0)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optimize.OptimizeWarning)
        try:
            params, _ = optimize.curve_fit(logistic4, pred, target, p0=p0, maxfev=20000)
        except RuntimeError:
            return pred.copy()
    return logistic4(pred, *params)


def score_metrics(pred: Sequence[float], target: Sequence[float]) -> dict[str, float]:
    """SRCC, KRCC, PLCC (raw and after the logistic fit), RMSE (raw and fitted) and explained
    variance (``1 - Var(target - pred) / Var(target)``, as scikit-learn's ``explained_variance_score``)
    of predicted scores."""
    pred = np.asarray(pred, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if pred.shape != target.shape or pred.size < 3:
        raise ValueError(f"need matching 1-D arrays of at least 3 scores, got {pred.shape} and {target.shape}")
    fitted = fit_logistic4(pred, target)
    return {
        "srcc": float(stats.spearmanr(pred, target)[0]),
        "krcc": float(stats.kendalltau(pred, target)[0]),
        "plcc": float(stats.pearsonr(pred, target)[0]),
        "plcc_fitted": float(stats.pearsonr(fitted, target)[0]),
        "rmse": float(np.sqrt(np.mean((pred - target) ** 2))),
        "rmse_fitted": float(np.sqrt(np.mean((fitted - target) ** 2))),
        "explained_variance": float(1.0 - np.var(target - pred) / np.var(target)) if np.var(target) else float("nan"),
        "n": int(pred.size),
    }


def confusion(pred: np.ndarray, target: np.ndarray, k: int) -> np.ndarray:
    """``[k, k]`` counts, rows = true level, columns = predicted level."""
    out = np.zeros((k, k), dtype=np.int64)
    np.add.at(out, (target, pred), 1)
    return out


def label_metrics(pred: Sequence[int], target: Sequence[int], k: int = 4) -> dict[str, object]:
    """Metrics of one ordinal label's predicted levels against the true levels.

    ``accuracy`` beside ``accuracy_always_none`` (what answering level 0 everywhere scores);
    ``recall``/``precision`` of "has the issue" (level >= 1); ``macro_f1`` over the levels
    present in the truth or the prediction; ``mae`` in levels; ``confusion``.
    """
    pred = np.asarray(pred, dtype=np.int64)
    target = np.asarray(target, dtype=np.int64)
    cm = confusion(pred, target, k)
    has, said = target >= 1, pred >= 1
    f1s = []
    for level in range(k):
        tp = cm[level, level]
        support, predicted = cm[level].sum(), cm[:, level].sum()
        if support + predicted:
            f1s.append(2 * tp / (support + predicted))
    return {
        "accuracy": float((pred == target).mean()),
        "accuracy_always_none": float((target == 0).mean()),
        "recall": float((has & said).sum() / has.sum()) if has.any() else float("nan"),
        "precision": float((has & said).sum() / said.sum()) if said.any() else float("nan"),
        "macro_f1": float(np.mean(f1s)),
        "mae": float(np.abs(pred - target).mean()),
        "support": int(has.sum()),
        "confusion": cm.tolist(),
    }


def issue_metrics(pred: np.ndarray, target: np.ndarray, labels: Sequence[str], k: int = 4) -> dict[str, dict]:
    """:func:`label_metrics` for each label column of ``[N, L]`` level arrays, plus their mean."""
    out = {name: label_metrics(pred[:, j], target[:, j], k) for j, name in enumerate(labels)}
    keys = ("accuracy", "accuracy_always_none", "recall", "precision", "macro_f1", "mae")
    out["mean"] = {key: float(np.nanmean([out[name][key] for name in labels])) for key in keys}
    return out
