"""Do the issue levels hold on photos nobody tuned on?  Issue heads beside a threshold rule, in one run.

The issue levels are now judged against viewers by ``benchmarks/bench_judged.py``; this benchmark keeps
the generator-based checks (it needs a graded set with a ``test`` split: ``python -m phoneiqa.synth`` with its
default three fractions, not the shipped models' two).

    python -m benchmarks exposure [--graded runs/graded] [--models previous=git:0386233 default ...]

Evaluation sets, all of scenes no head was trained on (``--graded`` is the training set made by
``python -m phoneiqa.synth``; its ``test`` split holds scenes kept out of training and validation):

(a) ``../shared/data/mefb``: 55 real scenes captured under- and over-exposed.  Direction accuracy:
    an ``under`` capture must read ``dark`` and neither ``bright`` nor ``overexposed``; an ``over``
    capture ``bright`` or ``overexposed`` and not ``dark``.  The labels only name the darker and the
    brighter capture of a pair, and some of either kind look well exposed (a sunset, a night street, a
    room lit right), so pair order is reported too: the under capture reads darker than the over one.
(b) the training generator (``phoneiqa.synth``) on the test scenes: the variants of the graded set,
    plus one ladder per scene and label (5 steps of one operator, mildest to strongest);
(c) the independent generator (``tools/independent_generator/``, other operators, other code)
    on the same test scenes: random variants, ladders and the clean photos;
(d) CLIVE photos in the top third by MOS that were not training or validation bases: share flagged,
    also apart for those inside and outside the bounds a base must meet, and weighted back to the
    whole top third (leaving the bases out leaves mostly photos outside the bounds).

For (b) and (c), per label: detection of severe-or-worse problems (share of true level >= 2 that
is flagged at all, and that is called severe or worse), exact-level accuracy beside always-none,
per-ladder Kendall tau-b of the predicted level against the step (a constant answer counts as 0) and
the share of ladders whose predicted level never falls,
and false alarms on the clean photos (the untouched photos with no measured issue that get a flag).

Rows: each ``--models`` entry (``name=path``, ``git:<commit>`` for the shipped file at a commit, or
a shipped model name) at each ``--confidence`` (a label is reported at the levels it reaches with at
least that probability; 0.5, the median, is what the models report, higher values trade detections
for fewer false alarms), and ``threshold rule``: mean lightness for bright/dark, lightness spread (95th - 5th
percentile) for the contrasts, clipped share for overexposed, 99th-percentile lightness for
over_suppressed; each level's threshold maximises accuracy on the training split.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmarks.common import (
    ROOT,
    SETS,
    clive_flagged,
    direction_accuracy,
    fit_threshold_rule,
    generator_metrics,
    model_predictor,
    pair_order_accuracy,
    photometric_features,
)
from benchmarks.results import save
from hexgraph import confident_levels
from phoneiqa.labels import LABELS
from phoneiqa.loading import PRETRAINED, model_file
from phoneiqa.model import Model

# ---------------------------------------------------------------------------------------------------------------------
# metrics


def head_seconds(model: Model) -> float:
    """Median time of the issue head on one photo's features (the features are shared with the score head)."""
    x = torch.randn(1, model.issue_head.in_features)
    times = []
    for _ in range(200):
        start = time.perf_counter()
        with torch.no_grad():
            model.issue_head.predict(x)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def load_models(specs: Sequence[str], tmp: Path) -> dict[str, Path]:
    """``name=path`` / ``name=git:<commit>`` / a shipped model name -> checkpoint paths."""
    out = {}
    for spec in specs:
        name, _, source = spec.partition("=")
        source = source or name
        if source in PRETRAINED:
            path = model_file(source)
        elif source.startswith("git:"):
            path = tmp / f"{name}.pt"
            blob = subprocess.run(
                ["git", "show", f"{source[4:]}:phoneiqa/pretrained/default.pt"],
                cwd=ROOT,
                capture_output=True,
                check=True,
            ).stdout
            path.write_bytes(blob)
        else:
            path = Path(source)
        out[name] = path
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graded", type=Path, default=ROOT / "runs" / "graded")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench_exposure")
    parser.add_argument("--models", nargs="+", default=["previous=git:0386233", "default"])
    parser.add_argument(
        "--confidence",
        nargs="+",
        type=float,
        default=[0.5],
        help="report each head's levels at these confidences too (hexgraph.confident_levels; 0.5 = the shipped median)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS), help="evaluation sets to run")
    args = parser.parse_args()

    sets = {name: SETS[name](args) for name in args.sets}
    train = pd.read_csv(args.graded / "manifest.csv").query("split == 'train'")
    train_x = photometric_features([str(args.graded / name) for name in train["filename"]])
    tmp = tempfile.TemporaryDirectory()
    checkpoints = load_models(args.models, Path(tmp.name))
    results = {}
    for name, path in checkpoints.items():
        predict = model_predictor(path)
        probabilities = {s: predict(frame["path"].tolist()) for s, frame in sets.items()}
        for confidence in args.confidence:
            row = name if confidence == 0.5 else f"{name} @{confidence:g}"
            results[row] = {s: confident_levels(p, confidence) for s, p in probabilities.items()}
    saved: dict[str, dict] = {"mefb and CLIVE top third": {}, "issue head ms per photo": {}}
    rule = fit_threshold_rule(train_x, train[list(LABELS)].to_numpy())
    results["threshold rule"] = {s: rule(frame["path"].tolist()) for s, frame in sets.items()}
    if "mefb" in sets and "CLIVE top third" in sets:
        clive = sets["CLIVE top third"]
        inside = int(clive["in_bounds"].sum())
        print(
            f"(a) mefb ({len(sets['mefb'])} photos): direction accuracy, and pair order (the under capture reads "
            f"darker than the over one);\n(d) CLIVE top third, {len(clive)} photos not used as bases: share "
            f"flagged, of all, of the {inside} inside the base bounds, of the {len(clive) - inside} outside, "
            f"and weighted as in the whole top third ({clive.attrs['in_bounds_share']:.0%} inside)"
        )
        print(
            f"{'head':<18}{'mefb direction':>16}{'pair order':>12}{'CLIVE all':>11}{'inside':>8}{'outside':>9}"
            f"{'weighted':>10}"
        )
        for name, preds in results.items():
            c = clive_flagged(clive, preds["CLIVE top third"])
            saved["mefb and CLIVE top third"][name] = {
                "mefb direction": direction_accuracy(sets["mefb"], preds["mefb"]),
                "pair order": pair_order_accuracy(sets["mefb"], preds["mefb"]),
                **{f"CLIVE {k}": v for k, v in c.items()},
            }
            print(
                f"{name:<18}{direction_accuracy(sets['mefb'], preds['mefb']):>16.3f}"
                f"{pair_order_accuracy(sets['mefb'], preds['mefb']):>12.3f}{c['all']:>11.3f}{c['in']:>8.3f}"
                f"{c['out']:>9.3f}{c['weighted']:>10.3f}"
            )
    print("\nissue head cost per photo (one photo per call, after its features; median of 200 calls):")
    for name, path in checkpoints.items():
        saved["issue head ms per photo"][name] = {"ms": 1000 * head_seconds(Model.load(path))}
        print(f"  {name:<22}{saved['issue head ms per photo'][name]['ms']:.3f} ms")
    for set_name in (s for s in ("training generator", "independent generator") if s in sets):
        frame = sets[set_name]
        print(
            f"\n({'b' if set_name.startswith('training') else 'c'}) {set_name}: {len(frame)} images of "
            f"{frame['base'].nunique()} unseen scenes; per label: severe-or-worse flagged / called severe+ | "
            "exact accuracy (always-none) | ladder tau"
        )
        print(f"{'head':<18}" + "".join(f"{label:>28}" for label in LABELS) + f"{'clean false alarms':>20}")
        metrics = {name: generator_metrics(frame, preds[set_name]) for name, preds in results.items()}
        for name, m in metrics.items():
            cells = "".join(
                f"{m[lab]['flagged']:>6.2f}/{m[lab]['severe+']:.2f} {m[lab]['accuracy']:.2f}"
                f"({m[lab]['always_none']:.2f}) {m[lab]['tau']:>5.2f}"
                for lab in LABELS
            )
            print(f"{name:<18}{cells}{m['false_alarms']['clean']:>14.3f} (n={m['false_alarms']['n']})")
        monotone = {name: np.mean([m[lab]["monotone"] for lab in LABELS]) for name, m in metrics.items()}
        saved[set_name] = {
            name: {
                **{f"{lab} {k}": m[lab][k] for lab in LABELS for k in ("flagged", "severe+", "accuracy", "tau")},
                "clean false alarms": m["false_alarms"]["clean"],
                "ladders never falling": monotone[name],
            }
            for name, m in metrics.items()
        }
        print("ladders whose predicted level never falls: " + ", ".join(f"{n} {v:.2f}" for n, v in monotone.items()))
    save("exposure", {k: v for k, v in saved.items() if v}, {"models": args.models, "confidence": args.confidence})


if __name__ == "__main__":
    main()
