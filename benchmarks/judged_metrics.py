"""The metrics of ``bench_judged``: judged photos, mefb pairs, operating points, the calibration curve, ladders."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from phoneiqa.judged import is_fine
from phoneiqa.labels import LABELS

BRIGHT, DARK = LABELS.index("bright"), LABELS.index("dark")
OVER = LABELS.index("overexposed")
OPERATING_THRESHOLDS = (0.5, 0.4, 0.3, 0.2)
"""P(level >= 1) thresholds at which dark and bright are reported, for the detection / false-alarm trade-off."""


def judged_metrics(frame: pd.DataFrame, levels: np.ndarray, signed: np.ndarray) -> dict[str, float]:
    fine = is_fine(frame).to_numpy()
    e = frame["exposure"].to_numpy()
    mefb = (frame["source"] == "mefb").to_numpy()
    out = {
        "fine any": float((levels[fine] > 0).any(1).mean()),
        "fine severe+": float((levels[fine] >= 2).any(1).mean()),
        "dark>=2 found": float((levels[e <= -2, DARK] > 0).mean()),
        "bright>=2 found": float((levels[e >= 2, BRIGHT] > 0).mean()),
        "blown>=2 found": float((levels[frame["blown"].to_numpy() >= 2, OVER] > 0).mean()),
        "exposure spearman": float(spearmanr(signed, e).statistic),
        "exposure spearman, levels": float(spearmanr(levels[:, BRIGHT] - levels[:, DARK], e).statistic),
        "exposure spearman, mefb": float(spearmanr(signed[mefb], e[mefb]).statistic),
        "wrong way": int(((e < 0) & (levels[:, BRIGHT] > 0)).sum() + ((e > 0) & (levels[:, DARK] > 0)).sum()),
    }
    for j, label in enumerate(LABELS):
        out[f"fine {label}"] = float((levels[fine, j] > 0).mean())
        out[f"fine {label} severe+"] = float((levels[fine, j] >= 2).mean())
    for scene, rows in frame[fine].groupby("scene"):
        idx = np.flatnonzero(fine)[np.isin(np.flatnonzero(fine), frame.index.get_indexer(rows.index))]
        out[f"scene {scene}"] = float((levels[idx] > 0).any(1).mean())
        out[f"scene {scene} severe+"] = float((levels[idx] >= 2).any(1).mean())
        out[f"scene {scene} n"] = len(idx)
    return out


def mefb_pairs(frame: pd.DataFrame, burden: np.ndarray) -> tuple[float, int]:
    """Share of mefb scenes whose judged-better capture has the lower predicted burden (ties count half)."""
    mefb = frame["source"] == "mefb"
    judged = (frame[["exposure", "contrast"]].abs().sum(axis=1) + frame["blown"] + frame["grey"]).to_numpy()
    hits, n = 0.0, 0
    for _, rows in frame[mefb].groupby("scene_id"):
        if len(rows) != 2:
            continue
        i, j = frame.index.get_indexer(rows.index)
        if judged[i] == judged[j]:
            continue
        better, worse = (i, j) if judged[i] < judged[j] else (j, i)
        n += 1
        hits += 1.0 if burden[better] < burden[worse] else 0.5 if burden[better] == burden[worse] else 0.0
    return hits / max(n, 1), n


def operating_points(frame: pd.DataFrame, levels: np.ndarray, p: np.ndarray) -> pd.DataFrame:
    """Detection against false alarms as the exposure labels' first level is reported from a lower probability:
    per threshold t, ``dark`` and ``bright`` are raised to at least normal where P(level >= 1) > t (t = 0.5 is
    the median the heads report)."""
    fine = is_fine(frame).to_numpy()
    e = frame["exposure"].to_numpy()
    rows = {}
    for t in OPERATING_THRESHOLDS:
        raised = levels.copy()
        for j in (DARK, BRIGHT):
            raised[:, j] = np.maximum(raised[:, j], p[:, j, 1:].sum(-1) > t)
        rows[t] = {
            "fine any": (raised[fine] > 0).any(1).mean(),
            "fine severe+": (raised[fine] >= 2).any(1).mean(),
            "dark>=2 found": (raised[e <= -2, DARK] > 0).mean(),
            "bright>=2 found": (raised[e >= 2, BRIGHT] > 0).mean(),
            "exposure spearman, levels": spearmanr(raised[:, BRIGHT] - raised[:, DARK], e).statistic,
        }
    return pd.DataFrame(rows).T.rename_axis("P(>=1) >")


def calibration_curve(frame: pd.DataFrame, levels: np.ndarray, exp: np.ndarray | None) -> pd.DataFrame:
    """Per (op, amount): the viewers' mean signed level beside the predicted one (reported and expected)."""
    pairs = {"gain": (BRIGHT, DARK, "exposure"), "none": (BRIGHT, DARK, "exposure")}
    pairs |= dict.fromkeys(("flat", "curve"), (LABELS.index("high_contrast"), LABELS.index("low_contrast"), "contrast"))
    pairs["grey"] = (LABELS.index("over_suppressed"), None, "grey")
    rows = []
    for (op, amount), part in frame.groupby(["op", "amount"]):
        up, down, field = pairs[op]
        idx = frame.index.get_indexer(part.index)
        reported, expect = (
            float((v[idx, up] - (v[idx, down] if down is not None else 0)).mean()) if v is not None else float("nan")
            for v in (levels, exp)
        )
        rows.append(
            {
                "change": f"{op} {amount:g}",
                "field": field,
                "viewers": float(part[field].mean()),
                "reported": reported,
                "expected": expect,
            }
        )
    return pd.DataFrame(rows)


def ladders_monotone(frame: pd.DataFrame, levels: np.ndarray) -> float:
    ok = []
    for (_, label), rows in frame.groupby(["base", "label"]):
        idx = frame.index.get_indexer(rows.sort_values("step").index)
        ok.append(bool((np.diff(levels[idx, LABELS.index(label)]) >= 0).all()))
    return float(np.mean(ok))
