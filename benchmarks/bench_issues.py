"""Issue-head accuracy on held-out scenes of the graded synthetic set, for several encoder/head setups.

    python -m phoneiqa.synth --out runs/graded
    python -m benchmarks issues runs/graded

Each setup trains a ``hex-linear`` head on ``labels_train.csv`` (early stopping on a seeded eighth
of its *scenes*) and is evaluated on ``labels_val.csv``, whose scenes it never saw.  Printed: a
summary row per setup (means over the six labels of exact-level accuracy, always-"none" accuracy,
recall and precision of "has the issue" (level >= 1) and macro-F1 over levels, plus the share of
clean held-out images given some issue — the false alarms a user meets on good photos), then the
per-label table of the shipped setup.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmarks.results import save
from phoneiqa.encoders import create_encoder
from phoneiqa.features import cached_features
from phoneiqa.heads import create_head
from phoneiqa.labels import LABELS
from phoneiqa.metrics import issue_metrics
from phoneiqa.training import DataSource, OptimConfig, fit_head, load_table, validate_issues

SHIPPED = "photometric@192, hidden 256, NLL (shipped)"
SETUPS = {
    "photometric@256, linear, focal BCE": ("photometric", {}, {}),
    "photometric@256, hidden 256, NLL": ("photometric", {}, {"hidden": 256, "loss": "nll"}),
    SHIPPED: ("photometric", {"short_side": 192, "max_long_side": 384}, {"hidden": 256, "loss": "nll"}),
    "effnet-lite0+photometric, linear, focal BCE": ("effnet-lite0+photometric", {}, {}),
    "effnet-lite0+photometric, hidden 256, NLL": ("effnet-lite0+photometric", {}, {"hidden": 256, "loss": "nll"}),
}


def stopping_split(folder: Path, paths: list[Path], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Row indices (fit, stop): the stop rows are all variants of a seeded eighth of the scenes."""
    scene_of = pd.read_csv(folder / "manifest.csv").set_index("filename")["scene"]
    scenes = np.array([scene_of[p.name] for p in paths])
    names = np.unique(scenes)
    held = np.isin(scenes, np.random.default_rng(seed).permutation(names)[: len(names) // 8])
    return torch.as_tensor(np.flatnonzero(~held)), torch.as_tensor(np.flatnonzero(held))


def run(setup: tuple[str, dict, dict], folder: Path, cfg: OptimConfig) -> tuple[dict, float, float]:
    """Per-label metrics on the held-out scenes, clean-image false-alarm rate, seconds to train."""
    encoder_name, encoder_args, head_args = setup
    encoder = create_encoder(encoder_name, **encoder_args).eval()
    tables = {s: load_table([DataSource(str(folder / f"labels_{s}.csv"))], "smartphone6") for s in ("train", "val")}
    x = {s: cached_features(encoder, t.paths, desc=f"{s} features") for s, t in tables.items()}
    y = {s: torch.as_tensor(t.levels) for s, t in tables.items()}
    fit, stop = stopping_split(folder, tables["train"].paths, cfg.seed)
    torch.manual_seed(cfg.seed)
    head = create_head("hex-linear", in_features=encoder.feature_dim, **head_args)
    start = time.perf_counter()
    fit_head(head, x["train"][fit], y["train"][fit], x["train"][stop], y["train"][stop], validate_issues, cfg, "fit")
    seconds = time.perf_counter() - start
    pred, truth = head.predict(x["val"]).levels.numpy(), y["val"].numpy()
    clean = (truth == 0).all(axis=1)
    return issue_metrics(pred, truth, LABELS), float((pred[clean] > 0).any(axis=1).mean()), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("graded", type=Path, help="folder written by python -m phoneiqa.synth")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--patience", type=int, default=25)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = OptimConfig(epochs=args.epochs, patience=args.patience)
    results = {name: run(setup, args.graded, cfg) for name, setup in SETUPS.items()}

    n_val = len(pd.read_csv(args.graded / "labels_val.csv"))
    print(f"graded set {args.graded}: {n_val} held-out images of unseen scenes; means over the six labels")
    header = f"{'setup':<46}{'accuracy':>9}{'always none':>12}{'recall':>8}{'precision':>10}{'macro-F1':>9}"
    print(header + f"{'clean flagged':>14}{'train s':>8}")
    for name, (metrics, false_alarm, seconds) in results.items():
        m = metrics["mean"]
        print(
            f"{name:<46}{m['accuracy']:>9.3f}{m['accuracy_always_none']:>12.3f}{m['recall']:>8.3f}"
            f"{m['precision']:>10.3f}{m['macro_f1']:>9.3f}{100 * false_alarm:>13.1f}%{seconds:>8.0f}"
        )
    print(f"\nper label, {SHIPPED}")
    print(f"{'label':<16}{'accuracy':>9}{'always none':>12}{'recall':>8}{'precision':>10}{'macro-F1':>9}")
    for label in LABELS:
        m = results[SHIPPED][0][label]
        print(
            f"{label:<16}{m['accuracy']:>9.3f}{m['accuracy_always_none']:>12.3f}{m['recall']:>8.3f}"
            f"{m['precision']:>10.3f}{m['macro_f1']:>9.3f}"
        )
    setups = {
        name: {**metrics["mean"], "clean flagged": false_alarm, "train s": seconds}
        for name, (metrics, false_alarm, seconds) in results.items()
    }
    per_label = {label: results[SHIPPED][0][label] for label in LABELS}
    save("issues", {"setups": setups, f"per label, {SHIPPED}": per_label}, {"graded": str(args.graded)})


if __name__ == "__main__":
    main()
