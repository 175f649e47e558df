"""Is the issue head's form what limits it?  Measurement regressors beside the shipped head and the rule.

    python -m benchmarks probe_issue_heads [--graded runs/graded] [--margins 0 0.5 1]

The issue definitions are thresholds on four measurements (``phoneiqa.exposure``).  Instead of levels,
this probe regresses three of them (``exposure_ev``, log ``contrast_ratio``, ``highlight_drop_ev``)
from the shipped head's photometric statistics plus the ``exposure`` encoder's single-photo quantities,
with two model families fitted on the graded set's training split (``python -m phoneiqa.synth``):
a linear ridge (penalty by validation error) and gradient-boosted trees; ``overexposed`` is read off the
photo itself (its ``blown_share``, which needs no reference).  Levels follow from the definitions'
boundaries, moved away from zero by ``margin`` times each measurement's validation error (a margin
trades detections for fewer false alarms, as ``bench_exposure.py --confidence`` does for the shipped head).

Printed per row, on the sets of ``bench_exposure.py`` (unseen scenes only): ``mefb`` direction
accuracy and pair order, the share of CLIVE's top third flagged (all, and weighted as in the whole
top third), and per generator the clean photos flagged, the lowest severe-or-worse detection over the
six labels and the mean ladder tau.  Exploratory: nothing here is shipped.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler

from benchmarks import common as bench
from benchmarks.results import save
from phoneiqa import exposure
from phoneiqa.encoders import create_encoder
from phoneiqa.features import cached_features
from phoneiqa.labels import LABELS
from phoneiqa.loading import model_file
from phoneiqa.model import Model

ROOT = Path(__file__).resolve().parents[1]
REGRESSED = {
    "exposure_ev": (lambda v: v, lambda v: v),
    "contrast_ratio": (lambda v: np.log(np.clip(v, 0.05, 20.0)), np.exp),
    "highlight_drop_ev": (lambda v: v, lambda v: v),
}
"""measurement -> (to the regression target, back); contrast is regressed as a log ratio."""


def features(paths: list[str]) -> np.ndarray:
    """Photometric statistics (the shipped issue head's input) beside the ``exposure`` encoder's quantities."""
    single = cached_features(create_encoder("exposure"), [Path(p) for p in paths], desc="exposure").numpy()
    return np.concatenate([bench.photometric_features(paths), single], axis=1)


def blown_shares(x: np.ndarray) -> np.ndarray:
    return x[:, -len(exposure.FEATURE_NAMES) + exposure.FEATURE_NAMES.index("blown_share")]


def ridge(x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Ridge on standardised features, the penalty that predicts the validation split best."""
    scale = StandardScaler().fit(x)
    fits = [Ridge(alpha=alpha).fit(scale.transform(x), y) for alpha in np.logspace(-1, 5, 13)]
    best = min(fits, key=lambda m: np.mean((m.predict(scale.transform(x_val)) - y_val) ** 2))
    return lambda z: best.predict(scale.transform(z))


def trees(x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    model = HistGradientBoostingRegressor(
        max_iter=300, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=60, l2_regularization=1.0, random_state=0
    )
    return model.fit(x, y).predict


FAMILIES = {"ridge": ridge, "trees": trees}


def levels(values: dict[str, np.ndarray], errors: dict[str, float], margin: float) -> np.ndarray:
    """Levels ``[N, 6]`` of predicted measurements, each boundary moved ``margin`` errors away from no issue."""
    out = np.zeros((len(values["blown_share"]), len(LABELS)), dtype=int)
    for j, label in enumerate(LABELS):
        name, edges = exposure.BOUNDARIES[label]
        shift = margin * errors.get(name, 0.0)
        forward, _ = REGRESSED.get(name, (lambda v: v, None))
        rising = edges[0] < edges[-1]
        moved = [forward(np.float64(e)) + (shift if rising else -shift) for e in edges]
        value = forward(values[name])
        out[:, j] = sum((value >= e) if rising else (value <= e) for e in moved)
    return out


def summary(sets: dict[str, pd.DataFrame], preds: dict[str, np.ndarray]) -> list[str]:
    mefb, clive = sets["mefb"], sets["CLIVE top third"]
    flagged = bench.clive_flagged(clive, preds["CLIVE top third"])
    cells = [
        f"{bench.direction_accuracy(mefb, preds['mefb']):.3f}",
        f"{bench.pair_order_accuracy(mefb, preds['mefb']):.3f}",
        f"{flagged['all']:.3f} / {flagged['weighted']:.3f}",
    ]
    for name in ("training generator", "independent generator"):
        m = bench.generator_metrics(sets[name], preds[name])
        detection = min(m[label]["flagged"] for label in LABELS)
        tau = np.mean([m[label]["tau"] for label in LABELS])
        cells.append(f"{m['false_alarms']['clean']:.3f} / {detection:.2f} / {tau:.2f}")
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graded", type=Path, default=ROOT / "runs" / "graded")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench_exposure")
    parser.add_argument("--margins", nargs="+", type=float, default=[0.0, 0.5, 1.0])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    sets = {name: make(args) for name, make in bench.SETS.items()}
    graded = pd.read_csv(args.graded / "manifest.csv")
    x = features([str(args.graded / name) for name in graded["filename"]])
    train, val = (graded["split"] == "train").to_numpy(), (graded["split"] == "val").to_numpy()
    x_sets = {name: features(frame["path"].tolist()) for name, frame in sets.items()}

    rows: dict[str, dict[str, np.ndarray]] = {}
    shipped = Model.load(model_file("default"))
    with torch.no_grad():
        rows["shipped head"] = {
            name: shipped.issue_head.predict(
                torch.from_numpy(bench.issue_features(shipped, frame["path"].tolist()))
            ).levels.numpy()
            for name, frame in sets.items()
        }
    rule = bench.fit_threshold_rule(x[train, : len(bench.FEATURE_NAMES)], graded.loc[train, list(LABELS)].to_numpy())
    rows["threshold rule"] = {name: rule(frame["path"].tolist()) for name, frame in sets.items()}
    for family, fit in FAMILIES.items():
        values = {name: {"blown_share": blown_shares(xs)} for name, xs in x_sets.items()}
        errors = {}
        for name, (forward, back) in REGRESSED.items():
            y = forward(graded[name].to_numpy())
            predict = fit(x[train], y[train], x[val], y[val])
            errors[name] = math.sqrt(np.mean((predict(x[val]) - y[val]) ** 2))
            for set_name, xs in x_sets.items():
                values[set_name][name] = back(predict(xs))
        for margin in args.margins:
            rows[f"{family}, margin {margin:g}"] = {s: levels(v, errors, margin) for s, v in values.items()}
        print(f"{family}: validation RMSE " + ", ".join(f"{n} {e:.3f}" for n, e in errors.items()))

    header = ["mefb direction", "pair order", "CLIVE all / weighted", "training gen. FA / min det. / tau"]
    header.append("independent gen. FA / min det. / tau")
    print(f"\n{'row':<22}" + "".join(f"{h:>38}" for h in header))
    table = {}
    for name, preds in rows.items():
        table[name] = dict(zip(header, summary(sets, preds), strict=True))
        print(f"{name:<22}" + "".join(f"{c:>38}" for c in table[name].values()))
    save("probe_issue_heads", table, {"margins": args.margins})


if __name__ == "__main__":
    main()
