"""Issue-head accuracy on held-out scenes of the graded synthetic set, per encoder.

    python benchmarks/make_graded_set.py --out runs/graded --clive ../shared/data/clive
    python benchmarks/bench_issues.py runs/graded [--encoders photometric effnet-lite0 effnet-lite0+photometric]

For each encoder a ``hex-linear`` head is trained on ``labels_train.csv`` (early stopping on a
seeded eighth of it) and evaluated on ``labels_val.csv``, whose scenes it never saw.  Printed per
label: exact-level accuracy beside always answering "none", recall and precision of "has the
issue" (level >= 1), macro-F1 over levels; and, over all labels, the share of clean (all-none)
held-out images given some issue — the false-alarm rate a user meets on good photos.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from phoneiqa.encoders import create_encoder
from phoneiqa.features import cached_features
from phoneiqa.heads import create_head
from phoneiqa.labels import LABELS
from phoneiqa.metrics import issue_metrics
from phoneiqa.train import DataSource, TrainConfig, fit_head, load_table, validate_issues


def run(encoder_name: str, folder: Path, cfg: TrainConfig) -> tuple[dict, float, float]:
    """Metrics on the held-out scenes, clean-image false-alarm rate, and seconds to train."""
    encoder = create_encoder(encoder_name).eval()
    tables = {s: load_table([DataSource(str(folder / f"labels_{s}.csv"))], "smartphone6") for s in ("train", "val")}
    x = {s: cached_features(encoder, t.paths, desc=f"{s} features") for s, t in tables.items()}
    y = {s: torch.as_tensor(t.levels) for s, t in tables.items()}
    order = torch.randperm(len(y["train"]), generator=torch.Generator().manual_seed(cfg.seed))
    stop, fit = order[: len(order) // 8], order[len(order) // 8 :]
    torch.manual_seed(cfg.seed)
    head = create_head("hex-linear", in_features=encoder.feature_dim)
    start = time.perf_counter()
    fit_head(head, x["train"][fit], y["train"][fit], x["train"][stop], y["train"][stop], validate_issues, cfg, "fit")
    seconds = time.perf_counter() - start
    pred = head.predict(x["val"]).levels.numpy()
    truth = y["val"].numpy()
    clean = (truth == 0).all(axis=1)
    false_alarm = float((pred[clean] > 0).any(axis=1).mean())
    return issue_metrics(pred, truth, LABELS), false_alarm, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("graded", type=Path, help="folder written by make_graded_set.py")
    parser.add_argument("--encoders", nargs="+", default=["photometric", "effnet-lite0", "effnet-lite0+photometric"])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = TrainConfig(train_data=[], epochs=args.epochs)
    n_val = len(load_table([DataSource(str(args.graded / "labels_val.csv"))], "smartphone6").paths)
    print(f"graded set {args.graded}: hex-linear head, {n_val} held-out images of unseen scenes")
    for name in args.encoders:
        metrics, false_alarm, seconds = run(name, args.graded, cfg)
        print(f"\n{name}  (trained in {seconds:.0f} s; clean held-out images given an issue: {100 * false_alarm:.1f}%)")
        print(f"{'label':<16}{'accuracy':>9}{'always none':>12}{'recall':>8}{'precision':>10}{'macro-F1':>9}")
        for label in (*LABELS, "mean"):
            m = metrics[label]
            print(
                f"{label:<16}{m['accuracy']:>9.3f}{m['accuracy_always_none']:>12.3f}{m['recall']:>8.3f}"
                f"{m['precision']:>10.3f}{m['macro_f1']:>9.3f}"
            )


if __name__ == "__main__":
    main()
