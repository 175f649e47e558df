"""Where a viewer's level begins, on the definitions' measurements: the psychometric fit behind ``BOUNDARIES``.

    python -m benchmarks calibrate_levels [--out runs/calibration]

``../shared/data/judged/calibration.csv`` holds 60 photos judged fine, each shown unchanged and with
five known tone changes (gain in stops, flattening, S-curve, highlight compression), each judged by
two viewers on the scale of ``judged/RUBRIC.md``.  This script rebuilds those images bit for bit
(``judged/make_calibration.py``), measures every change against its unchanged photo with
:func:`phoneiqa.exposure.measure`, and fits, per issue label, a cumulative-logit model of the
viewers' level on the label's measurement ``x`` (stops, log2 contrast ratio, ...):

    P(level >= k | x) = sigmoid((x - t_k) / s),   t_1 < t_2 < t_3, one spread s per label

by maximum likelihood over every judgement.  ``t_k`` is where half of the viewers give level k or
more: the boundary of level k.  ``overexposed`` needs no reference: its fit reads each photo's
``blown_share`` against the judged ``blown`` of all 1,646 photos of ``judged/labels.csv``.  A level
no viewer gave in the data (blocking, for most labels) is placed one step beyond the last, a step
being the distance between the two below it (or, with one level seen, that level's distance from
zero): an extrapolation, marked as such.  Prints the boundaries, the spreads and, per change, the
viewers' mean level beside the fitted model's, and writes them to ``<out>/boundaries.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from scipy.optimize import minimize
from scipy.special import expit

from benchmarks.results import save
from phoneiqa import exposure

ROOT = Path(__file__).resolve().parents[1]
JUDGED = ROOT.parent / "shared" / "data" / "judged"

SIDES: dict[str, tuple[str, str, str, float]] = {
    "dark": ("gain", "exposure", "exposure_ev", -1.0),
    "bright": ("gain", "exposure", "exposure_ev", +1.0),
    "low_contrast": ("flat", "contrast", "contrast_ratio", -1.0),
    "high_contrast": ("curve", "contrast", "contrast_ratio", +1.0),
    "over_suppressed": ("grey", "grey", "highlight_drop_ev", +1.0),
}
"""label -> (the change that moves it, the judged field, the measurement, the sign that makes a stronger problem
larger).  The rows of a label are the unchanged photos and its change on the side the sign selects."""

LOG_SCALE = {"contrast_ratio"}
"""Measurements fitted on log2 (a ratio): the boundaries are written back as ratios."""


def fit_cumulative_logit(x: np.ndarray, level: np.ndarray) -> tuple[list[float], float, int]:
    """Maximum-likelihood thresholds ``t_1 < ... < t_m`` and spread of P(level >= k) = sigmoid((x - t_k) / s),
    for the levels 1..m seen in ``level`` (0..3).  Returns (thresholds, spread, m)."""
    top = int(level.max())
    if top < 1:
        raise ValueError("no judgement above level 0: nothing to fit")

    def unpack(theta: np.ndarray) -> tuple[np.ndarray, float]:
        t = theta[0] + np.concatenate([[0.0], np.cumsum(np.exp(theta[1:top]))])
        return t, math.exp(theta[top])

    def nll(theta: np.ndarray) -> float:
        t, s = unpack(theta)
        cum = np.concatenate([np.ones((len(x), 1)), expit((x[:, None] - t[None]) / s), np.zeros((len(x), 1))], 1)
        p = cum[np.arange(len(x)), level] - cum[np.arange(len(x)), level + 1]
        return -float(np.sum(np.log(np.clip(p, 1e-12, None))))

    start = np.concatenate([[np.quantile(x, 0.8)], np.zeros(top - 1), [math.log(max(x.std(), 1e-3) / 2)]])
    theta = minimize(nll, start, method="Nelder-Mead", options={"maxiter": 20000, "xatol": 1e-6, "fatol": 1e-9}).x
    t, s = unpack(theta)
    return t.tolist(), s, top


def complete(thresholds: list[float]) -> list[float]:
    """Three boundaries from the fitted ones: each missing level one step beyond the last (see the module doc)."""
    t = list(thresholds)
    while len(t) < 3:
        t.append(t[-1] + (t[-1] - t[-2] if len(t) >= 2 else t[-1]))
    return t


def measure_calibration(out: Path) -> pd.DataFrame:
    """``calibration.csv`` with the measurements of each variant against its unchanged photo."""
    images = out / "images"
    if not images.is_dir() or len(list(images.glob("*.png"))) < 360:
        subprocess.run([sys.executable, str(JUDGED / "make_calibration.py"), str(images)], check=True)
    judged = pd.read_csv(JUDGED / "calibration.csv")
    variants = judged.drop_duplicates("variant")
    unchanged = variants[variants["op"] == "none"].set_index("base")["variant"]

    def codes(name: str) -> np.ndarray:
        with Image.open(images / name) as im:
            return np.asarray(im.convert("RGB"))

    rows = [
        {"variant": v, **exposure.measure(codes(v), codes(unchanged[b])).as_dict()}
        for v, b in zip(variants["variant"], variants["base"], strict=True)
    ]
    return judged.merge(pd.DataFrame(rows), on="variant")


def measure_blown(out: Path) -> pd.DataFrame:
    """``judged/labels.csv`` with each photo's ``blown_share`` (cached in ``<out>/blown.csv``)."""
    cache = out / "blown.csv"
    labels = pd.read_csv(JUDGED / "labels.csv")
    if cache.exists():
        return labels.merge(pd.read_csv(cache), on="path")
    from phoneiqa.image import load_image

    shares = [exposure.blown_share(np.asarray(load_image(JUDGED.parent / p))) for p in labels["path"]]
    pd.DataFrame({"path": labels["path"], "blown_share": shares}).to_csv(cache, index=False)
    return labels.assign(blown_share=shares)


def side_rows(frame: pd.DataFrame, label: str) -> tuple[np.ndarray, np.ndarray]:
    """(x, level) of one label: its measurement, signed and on its fitting scale, and the judged level on its side."""
    op, field, name, sign = SIDES[label]
    changed = (frame["op"] == op) & ((op != "gain") | (sign * frame["amount"] > 0))
    rows = frame[(frame["op"] == "none") | changed]
    value = rows[name].to_numpy(np.float64)
    x = sign * (np.log2(value) if name in LOG_SCALE else value)
    return x, np.clip(np.rint(sign * rows[field].to_numpy(np.float64)), 0, 3).astype(np.int64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "calibration")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    calibration = measure_calibration(args.out)
    fits: dict[str, dict[str, object]] = {}
    for label in SIDES:
        x, level = side_rows(calibration, label)
        fits[label] = {"x": x, "level": level, "name": SIDES[label][2], "sign": SIDES[label][3]}
    blown = measure_blown(args.out)
    fits["overexposed"] = {
        "x": blown["blown_share"].to_numpy(np.float64),
        "level": blown["blown"].to_numpy(np.int64),
        "name": "blown_share",
        "sign": 1.0,
    }
    result = {}
    print(f"{'label':16} {'measurement':18} {'normal':>8} {'severe':>8} {'blocking':>9} {'spread':>7}  seen")
    for label, f in fits.items():
        t, s, top = fit_cumulative_logit(f["x"], f["level"])
        edges = complete(t)
        back = [2.0 ** (f["sign"] * e) if f["name"] in LOG_SCALE else f["sign"] * e for e in edges]
        result[label] = {"measurement": f["name"], "boundaries": back, "spread": s, "fitted_levels": top}
        cells = " ".join(f"{b:>8.3f}" + ("*" if k >= top else " ") for k, b in enumerate(back))
        print(f"{label:16} {f['name']:18} {cells} {s:>7.3f}  1..{top}, n={len(f['x'])}")
    print("* extrapolated: no viewer gave that level in the data")

    print("\nmean level per known change: viewers / the fitted model (signed: exposure and contrast)")
    for (op, amount), rows in calibration.groupby(["op", "amount"]):
        field = {"gain": "exposure", "flat": "contrast", "curve": "contrast", "grey": "grey"}.get(op, "exposure")
        labels = {
            "exposure": ("bright", "dark"),
            "contrast": ("high_contrast", "low_contrast"),
            "grey": ("over_suppressed",),
        }
        model = 0.0
        for k, label in enumerate(labels[field]):
            r = result[label]
            value = rows[r["measurement"]].to_numpy(np.float64)
            sign = fits[label]["sign"]
            x = sign * (np.log2(value) if r["measurement"] in LOG_SCALE else value)
            edges = [sign * (np.log2(b) if r["measurement"] in LOG_SCALE else b) for b in r["boundaries"]]
            expected = sum(expit((x - e) / r["spread"]) for e in edges).mean()
            model += (1 if k == 0 else -1) * expected
        print(f"{op:6} {amount:>5}: {field:9} viewers {rows[field].mean():+.2f}  model {model:+.2f}")
    (args.out / "boundaries.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    table = {
        label: {
            "measurement": r["measurement"],
            **dict(zip(("normal", "severe", "blocking"), r["boundaries"], strict=True)),
            "spread": r["spread"],
            "levels seen": f"1..{r['fitted_levels']}",
        }
        for label, r in result.items()
    }
    save("calibrate_levels", table)


if __name__ == "__main__":
    main()
