"""CLIVE score accuracy and cost of the score heads on frozen features, median (and range) over seeded 80/20 splits.

    python -m benchmarks score [--encoder effnet-lite0] [--encoder-args JSON] [--splits 10]
        [--epochs 40] [--n1-epochs 10] [--methods ridge mlp qcern qcern-n1 qualitynet ridge@qualitynet ...]

Rows: the ridge head (closed-form ridge regression, the same as scikit-learn's RidgeCV), the
kernel ridge head (Gaussian kernel, penalty and width by leave-one-out error), the MLP
head, the QCERN head, the QCERN head with N = 1 (no auxiliary images) — these four on ``--encoder``
— and the two heads that read spatial maps, each on the encoder it is made for: QualityNet's
dual-stream attention on the 7×7 stage-6 maps of EfficientNet-Lite0 and -Lite2, and the DPAM-style
head on Lite0's 14×14 stage-4 map, 16 SLIC superpixels and the photometric statistics (all at
short side 288); ``ridge@qualitynet`` and ``ridge@dpam`` are the ridge head on those same
features, to tell what a head adds from what its features give; ``ridge@photometric``, the ridge
head on the 56 photometric statistics alone, is the simple baseline; ``@fast`` and ``@accurate``
put a head on the features that shipped model's score head reads (its recipe
``phoneiqa/pretrained/{default,accurate}.json``: encoder and the score head's ``inputs``); ``@whole`` and
``@whole-lite2`` on the encoders the shipped models had before their score read a window of the photo (Lite0 on
the whole photo at short side 288; Lite2 and Lite0 at 500).

Features are computed once (cached on disk).  The N = 1 head puts every image in its own group
with all M pivots, so an epoch costs many times one with N = 18; ``--n1-epochs`` caps it (the
table prints each row's epochs).  Cost columns: the numbers the head stores (parameters and
buffers), and the milliseconds per image of the encoder (decoded image in, one at a time) and of
the head.  Needs ../shared/data/clive.
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

from benchmarks.results import save
from phoneiqa.encoders import create_encoder
from phoneiqa.features import cached_features
from phoneiqa.heads import HEADS, create_head
from phoneiqa.metrics import score_metrics
from phoneiqa.preprocess import load_scaled
from phoneiqa.training import (
    DataSource,
    OptimConfig,
    fit_head,
    load_table,
    part_columns,
    part_layout,
    recipe_path,
    validate_score,
)

CLIVE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "clive"


def make_head(name: str, encoder, inputs: str | None, **args):
    """The head ``name`` for the features of ``encoder``'s ``inputs`` parts (with their layout when the head
    reads maps)."""
    if getattr(HEADS.get(name), "needs_layout", False):
        args["layout"] = part_layout(encoder, inputs)
    start, stop = part_columns(encoder, inputs)
    return create_head(name, in_features=stop - start, **args)


def head_runner(name: str, epochs: int | None = None, **args):
    def run(encoder, inputs, x_tr, y_tr, x_te, cfg: OptimConfig):
        torch.manual_seed(cfg.seed)
        if epochs is not None:
            cfg = dataclasses.replace(cfg, epochs=epochs)
        head = make_head(name, encoder, inputs, **args)
        if not list(head.parameters()):  # closed form (ridge heads): fitted on the whole training part
            head.prepare(x_tr, y_tr)
            return head, head.predict(x_te).numpy()
        # early stopping on a split of the training part only; the test part stays unseen
        n_val = len(x_tr) // 8
        fit_head(head, x_tr[n_val:], y_tr[n_val:], x_tr[:n_val], y_tr[:n_val], validate_score, cfg, name)
        return head, head.predict(x_te).numpy()

    return run


METRICS = ("srcc", "plcc", "plcc_fitted", "krcc", "rmse", "explained_variance")
METHODS = (
    "ridge",
    "mlp",
    "qcern",
    "qcern-n1",
    "qualitynet",
    "ridge@qualitynet",
    "dpam",
    "ridge@dpam",
    "ridge@photometric",
    "ridge@fast",
    "ridge@accurate",
    "kernel-ridge",
    "kernel-ridge@fast",
    "kernel-ridge@accurate",
    "ridge@whole",
    "kernel-ridge@whole-lite2",
)
MAP_SIDE = {"short_side": 288, "max_long_side": 576}
ENCODERS = {
    "qualitynet": (
        "effnet-lite0+effnet-lite2",
        {name: {"stages": [6], "grid": 7, **MAP_SIDE} for name in ("effnet-lite0", "effnet-lite2")},
    ),
    "dpam": (
        "effnet-lite0+slic+photometric",
        {
            "effnet-lite0": {"stages": [4], "grid": 14, **MAP_SIDE},
            "slic": {"n_segments": 16, "grid": 14},
            "photometric": {"short_side": 192, "max_long_side": 384},
        },
    ),
}
"""The encoder each map-reading head is benchmarked on (the others use ``--encoder``)."""
PHOTOMETRIC = {"photometric": {"short_side": 192, "max_long_side": 384}}
ENCODERS["photometric"] = ("photometric", PHOTOMETRIC["photometric"])


SHIPPED = {"fast": json.loads(recipe_path("default").read_text())["model"]}
SHIPPED["accurate"] = json.loads(recipe_path("accurate").read_text())["model"]
ENCODERS.update({key: (model["encoder"], model["encoder_args"]) for key, model in SHIPPED.items()})
SCORE_INPUTS = {key: model["score_head"].get("inputs") for key, model in SHIPPED.items()}
"""Encoder key -> the parts its score head reads (a shipped recipe's ``score_head.inputs``; default all)."""
WHOLE = {"short_side": 500, "max_long_side": 1000}
ENCODERS["whole"] = (
    "effnet-lite0+photometric",
    {"effnet-lite0": {"short_side": 288, "max_long_side": 576}, **PHOTOMETRIC},
)
ENCODERS["whole-lite2"] = (
    "effnet-lite2+effnet-lite0+photometric",
    {"effnet-lite2": WHOLE, "effnet-lite0": WHOLE, **PHOTOMETRIC},
)
"""The shipped models' encoders before their score read a window of the photo (their issue heads still read
Lite0 on the whole photo at 288): Lite0 at 288 with ridge was ``fast``, Lite2 and Lite0 at 500 with kernel ridge
``accurate``."""


def encoder_ms(encoder, images: list) -> float:
    """Milliseconds per image of ``encoder.encode`` on decoded images, one at a time (after a warm-up)."""
    encoder.encode(images[:1])
    start = time.perf_counter()
    for image in images:
        encoder.encode([image])
    return 1000 * (time.perf_counter() - start) / len(images)


def head_ms(head, x: torch.Tensor, reps: int = 20) -> float:
    """Milliseconds of ``head.predict`` on one image's features."""
    head.predict(x[:1])
    start = time.perf_counter()
    for i in range(reps):
        head.predict(x[i % len(x) : i % len(x) + 1])
    return 1000 * (time.perf_counter() - start) / reps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default="effnet-lite0")
    parser.add_argument("--encoder-args", type=json.loads, default={}, help="JSON keyword arguments of the encoder")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--splits", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--n1-epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    source = DataSource(str(CLIVE / "mos.csv"), str(CLIVE / "images"), rename={"image": "filename"}, ignore=["mos_std"])
    table = load_table([source], "smartphone6")
    y = torch.as_tensor(table.mos, dtype=torch.float32)
    specs = {m: ENCODERS.get(m.split("@")[-1], (args.encoder, args.encoder_args)) for m in args.methods}
    keys = {m: json.dumps(spec) for m, spec in specs.items()}
    inputs = {m: SCORE_INPUTS.get(m.split("@")[-1]) if "@" in m else None for m in args.methods}
    encoders, features, enc_ms = {}, {}, {}
    timing_images = [load_scaled(path, 384) for path in table.paths[:16]]
    for key in sorted(set(keys.values())):
        name, enc_args = json.loads(key)
        encoders[key] = encoder = create_encoder(name, **enc_args).eval()
        start = time.perf_counter()
        features[key] = cached_features(encoder, table.paths)
        print(f"{name}: {encoder.feature_dim} features for {len(y)} images in {time.perf_counter() - start:.0f} s")
        enc_ms[key] = encoder_ms(encoder, timing_images)

    runners = {
        "ridge": ("ridge", "-", head_runner("ridge")),
        "mlp": ("mlp", args.epochs, head_runner("mlp")),
        "qcern": ("qcern (N=18)", args.epochs, head_runner("qcern")),
        "qcern-n1": ("qcern (N=1)", args.n1_epochs, head_runner("qcern", epochs=args.n1_epochs, n_images=1)),
        "qualitynet": ("qualitynet", args.epochs, head_runner("qualitynet")),
        "dpam": ("dpam", args.epochs, head_runner("dpam")),
    }
    runners.update({m: (m, "-", head_runner(m.split("@")[0])) for m in METHODS if "@" in m})
    rows = {m: runners[m][0] for m in args.methods}
    results: dict[str, list[dict]] = {m: [] for m in args.methods}
    seconds: dict[str, float] = dict.fromkeys(args.methods, 0.0)
    cost: dict[str, tuple[int, float]] = {}
    for seed in range(args.splits):
        order = np.random.default_rng(seed).permutation(len(y))
        n_test = len(y) // 5
        te, tr = torch.as_tensor(order[:n_test]), torch.as_tensor(order[n_test:])
        cfg = OptimConfig(seed=seed, epochs=args.epochs, patience=10)  # the published runs' patience
        for m in args.methods:
            start, stop = part_columns(encoders[keys[m]], inputs[m])
            x = features[keys[m]][:, start:stop]
            t0 = time.perf_counter()
            head, pred = runners[m][2](encoders[keys[m]], inputs[m], x[tr], y[tr], x[te], cfg)
            seconds[m] += time.perf_counter() - t0
            results[m].append(score_metrics(pred, y[te].numpy()))
            cost[m] = (sum(v.numel() for v in head.state_dict().values()), head_ms(head, x[te]))

    print(f"\nCLIVE ({len(y)} images), frozen encoders, median [min, max] of {args.splits} seeded 80/20 splits")
    print(
        f"{'head':<26}{'encoder':<46}{'epochs':>7}{'SRCC':>8}{'SRCC range':>15}{'PLCC':>8}{'PLCC range':>15}"
        f"{'PLCC fit':>10}{'KRCC':>8}{'RMSE':>8}"
        f"{'EV':>7}{'s/split':>9}{'weights':>10}{'enc ms':>8}{'head ms':>9}"
    )
    for m in args.methods:
        med = {k: statistics.median(r[k] for r in results[m]) for k in METRICS}
        low = {k: min(r[k] for r in results[m]) for k in ("srcc", "plcc")}
        high = {k: max(r[k] for r in results[m]) for k in ("srcc", "plcc")}
        weights, ms = cost[m]
        print(
            f"{rows[m]:<26}{specs[m][0]:<46}{runners[m][1]!s:>7}{med['srcc']:>8.4f}"
            f"{'[' + format(low['srcc'], '.3f') + ', ' + format(high['srcc'], '.3f') + ']':>15}{med['plcc']:>8.4f}"
            f"{'[' + format(low['plcc'], '.3f') + ', ' + format(high['plcc'], '.3f') + ']':>15}"
            f"{med['plcc_fitted']:>10.4f}{med['krcc']:>8.4f}{med['rmse']:>8.2f}{med['explained_variance']:>7.3f}"
            f"{seconds[m] / args.splits:>9.1f}{weights:>10d}{enc_ms[keys[m]]:>8.1f}{ms:>9.2f}"
        )
    print("\nencoder arguments:", json.dumps({m: specs[m][1] for m in args.methods}))
    table = {}
    for m in args.methods:
        med = {k: statistics.median(r[k] for r in results[m]) for k in METRICS}
        table[rows[m]] = {
            "encoder": specs[m][0],
            "epochs": runners[m][1],
            **{k.upper() if k in ("srcc", "plcc", "krcc", "rmse") else k: v for k, v in med.items()},
            "SRCC min": min(r["srcc"] for r in results[m]),
            "SRCC max": max(r["srcc"] for r in results[m]),
            "s/split": seconds[m] / args.splits,
            "weights": cost[m][0],
            "encoder ms": enc_ms[keys[m]],
            "head ms": cost[m][1],
        }
    save("score", table, {"splits": args.splits, "encoder args": {m: specs[m][1] for m in args.methods}})


if __name__ == "__main__":
    main()
