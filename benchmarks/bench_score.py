"""CLIVE score accuracy of the score heads on frozen features, median over 5 seeded 80/20 splits.

    python benchmarks/bench_score.py [--encoder effnet-lite0] [--encoder-args JSON] [--splits 5]
        [--epochs 40] [--n1-epochs 10] [--methods ridge mlp qcern qcern-n1]

Rows: the ridge head (closed-form ridge regression, the same as scikit-learn's RidgeCV), the MLP
head, the QCERN head, and the QCERN head with N = 1 (no auxiliary images).  Features are computed
once (cached on disk).  The N = 1 head puts every image in its own group with all M pivots, so an
epoch costs many times one with N = 18; ``--n1-epochs`` caps it (the table prints each row's epochs).
Needs ../shared/data/clive.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from phoneiqa.encoders import create_encoder
from phoneiqa.features import cached_features
from phoneiqa.heads import create_head
from phoneiqa.metrics import score_metrics
from phoneiqa.training import DataSource, TrainConfig, fit_head, load_table, validate_score

CLIVE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "clive"


def head_runner(name: str, epochs: int | None = None, **args):
    def run(x_tr, y_tr, x_te, cfg: TrainConfig) -> np.ndarray:
        torch.manual_seed(cfg.seed)
        if epochs is not None:
            cfg = dataclasses.replace(cfg, epochs=epochs)
        head = create_head(name, in_features=x_tr.shape[1], **args)
        # early stopping on a split of the training part only; the test part stays unseen
        n_val = len(x_tr) // 8
        fit_head(head, x_tr[n_val:], y_tr[n_val:], x_tr[:n_val], y_tr[:n_val], validate_score, cfg, name)
        return head.predict(x_te).numpy()

    return run


METHODS = ("ridge", "mlp", "qcern", "qcern-n1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default="effnet-lite0")
    parser.add_argument("--encoder-args", type=json.loads, default={}, help="JSON keyword arguments of the encoder")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--n1-epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    source = DataSource(str(CLIVE / "mos.csv"), str(CLIVE / "images"), rename={"image": "filename"}, ignore=["mos_std"])
    table = load_table([source], "smartphone6")
    encoder = create_encoder(args.encoder, **args.encoder_args).eval()
    start = time.perf_counter()
    x = cached_features(encoder, table.paths)
    print(f"{args.encoder}: {x.shape[1]} features for {len(x)} images in {time.perf_counter() - start:.0f} s")
    y = torch.as_tensor(table.mos, dtype=torch.float32)

    runners = {
        "ridge": ("ridge", "-", head_runner("ridge")),
        "mlp": ("mlp", args.epochs, head_runner("mlp")),
        "qcern": ("qcern (N=18)", args.epochs, head_runner("qcern")),
        "qcern-n1": ("qcern (N=1)", args.n1_epochs, head_runner("qcern", epochs=args.n1_epochs, n_images=1)),
    }
    methods = {runners[m][0]: runners[m][2] for m in args.methods}
    epochs = {runners[m][0]: runners[m][1] for m in args.methods}
    results: dict[str, list[dict]] = {name: [] for name in methods}
    seconds: dict[str, float] = dict.fromkeys(methods, 0.0)
    for seed in range(args.splits):
        order = np.random.default_rng(seed).permutation(len(y))
        n_test = len(y) // 5
        te, tr = torch.as_tensor(order[:n_test]), torch.as_tensor(order[n_test:])
        cfg = TrainConfig(train_data=[], seed=seed, epochs=args.epochs)
        for name, run in methods.items():
            t0 = time.perf_counter()
            pred = run(x[tr], y[tr], x[te], cfg)
            seconds[name] += time.perf_counter() - t0
            results[name].append(score_metrics(pred, y[te].numpy()))

    print(f"\nCLIVE ({len(y)} images), {args.encoder} frozen, median of {args.splits} seeded 80/20 splits")
    print(f"{'head':<16}{'epochs':>7}{'SRCC':>8}{'PLCC':>8}{'PLCC fit':>10}{'KRCC':>8}{'RMSE':>8}{'s/split':>9}")
    base = statistics.median(r["srcc"] for r in next(iter(results.values())))
    for name, rows in results.items():
        med = {k: statistics.median(r[k] for r in rows) for k in ("srcc", "plcc", "plcc_fitted", "krcc", "rmse")}
        print(
            f"{name:<16}{epochs[name]!s:>7}{med['srcc']:>8.4f}{med['plcc']:>8.4f}{med['plcc_fitted']:>10.4f}{med['krcc']:>8.4f}"
            f"{med['rmse']:>8.2f}{seconds[name] / args.splits:>9.1f}   SRCC vs first row {med['srcc'] - base:+.4f}"
        )


if __name__ == "__main__":
    main()
