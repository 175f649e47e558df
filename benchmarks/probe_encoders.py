"""Encoder speed and a frozen linear probe of each encoder's features on CLIVE.

    python -m benchmarks probe_encoders [--splits 10] [--threads 2]

Speed: wall-clock and CPU milliseconds per image of ``encode`` (preprocessing included) on the first 64 CLIVE photos
(500×500, resized to 384×384 for EfficientNet-Lite, 256×256 for photometric), batches of 16,
default options.
Probe: features of all 930 CLIVE photos (kept in memory), standardised, sklearn ``RidgeCV``;
Spearman correlation (SRCC) with the MOS on the 20% test part of seeded 80/20 splits, median and
spread over ``--splits`` seeds.  The EfficientNet-Lite rows are column subsets of one multi-stage
encoding (stage s = mean and std of that stage's output; 7 = the conv head).  Needs
../shared/data/clive.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from scipy.stats import spearmanr
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from benchmarks.results import save
from phoneiqa.encoders import create_encoder
from phoneiqa.encoders.base import Encoder
from phoneiqa.encoders.effnet import ALL_STAGES, DEFAULT_STAGES, HEAD, EfficientNetLiteEncoder

CLIVE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "clive"
CHUNK = 64
STAGE_SUBSETS = {
    "conv head, mean only (global pool)": None,
    "conv head, mean+std": (7,),
    "stages 4-6": (4, 5, 6),
    "stages 2-6": (2, 3, 4, 5, 6),
    "stages 0-6 (default)": (0, 1, 2, 3, 4, 5, 6),
    "stages 0-7 (all)": (0, 1, 2, 3, 4, 5, 6, 7),
}


def load(paths: list[Path]) -> list[Image.Image]:
    return [Image.open(p).convert("RGB") for p in paths]


def encode_all(encoder: Encoder, paths: list[Path]) -> np.ndarray:
    """Features of every image, decoding ``CHUNK`` images at a time."""
    return np.concatenate([encoder.encode(load(paths[i : i + CHUNK])).numpy() for i in range(0, len(paths), CHUNK)])


def ms_per_image(encoder: Encoder, images: list[Image.Image]) -> tuple[float, float]:
    """Wall-clock and CPU (all threads) milliseconds per image of ``encode``, after a warm-up batch."""
    encoder.encode(images[:16])
    wall, cpu = time.perf_counter(), time.process_time()
    encoder.encode(images)
    return (time.perf_counter() - wall) / len(images) * 1000, (time.process_time() - cpu) / len(images) * 1000


def stage_columns(encoder: EfficientNetLiteEncoder) -> dict[int, tuple[int, int]]:
    """Column range ``(start, stop)`` of each stage's mean and std block in the encoder's features."""
    with torch.no_grad():
        widths = [fmap.shape[1] for fmap in encoder.stage_outputs(torch.zeros(1, 3, 64, 64))]
    starts = np.cumsum([0, *(2 * w for w in widths)])
    return {s: (int(starts[i]), int(starts[i + 1])) for i, s in enumerate(encoder.stages)}


def subset(features: np.ndarray, columns: dict[int, tuple[int, int]], stages: tuple[int, ...] | None) -> np.ndarray:
    if stages is None:  # the head's means: the first half of its block
        start, stop = columns[HEAD]
        return features[:, start : (start + stop) // 2]
    return np.concatenate([features[:, slice(*columns[s])] for s in stages], axis=1)


def probe(features: np.ndarray, mos: np.ndarray, splits: int) -> tuple[float, float, float]:
    """Median, min and max test SRCC of a standardised ridge regression over seeded 80/20 splits."""
    srcc = []
    for seed in range(splits):
        x_tr, x_te, y_tr, y_te = train_test_split(features, mos, test_size=0.2, random_state=seed)
        model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-1, 6, 15)))
        srcc.append(spearmanr(model.fit(x_tr, y_tr).predict(x_te), y_te).statistic)
    return float(np.median(srcc)), float(np.min(srcc)), float(np.max(srcc))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    table = pd.read_csv(CLIVE / "mos.csv")
    paths = [CLIVE / "images" / name for name in table["image"]]
    mos = table["mos"].to_numpy()

    sample = load(paths[:CHUNK])
    encoders = {name: create_encoder(name) for name in ("effnet-lite0", "effnet-lite1", "effnet-lite2", "photometric")}
    print(f"speed, {args.threads} threads, batches of 16, preprocessing included: ms/image wall, CPU")
    speed, probes = {}, {}
    for name, encoder in encoders.items():
        wall, cpu = ms_per_image(encoder, sample)
        print(f"  {name:14s} {wall:8.2f} {cpu:8.2f}  ({encoder.feature_dim} features)")
        speed[name] = {"wall ms/image": wall, "CPU ms/image": cpu, "features": encoder.feature_dim}
    photometric = encoders["photometric"]
    x = torch.stack([photometric.to_tensor(im) for im in sample[:16]])
    with torch.no_grad():
        photometric(x)
        wall, cpu = time.perf_counter(), time.process_time()
        photometric(x)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"  photometric forward only: {wall / 16 * 1e6:.0f} µs/image wall, {cpu / 16 * 1e6:.0f} µs CPU")

    rows: list[tuple[str, np.ndarray]] = []
    full = {name: create_encoder(name, stages=ALL_STAGES) for name in ("effnet-lite0", "effnet-lite2")}
    features = {name: encode_all(encoder, paths) for name, encoder in full.items()}
    features["photometric"] = encode_all(encoders["photometric"], paths)
    for name in full:
        columns = stage_columns(full[name])
        rows += [(f"{name}: {label}", subset(features[name], columns, s)) for label, s in STAGE_SUBSETS.items()]
    rows.append(("photometric", features["photometric"]))
    for name in full:
        default = subset(features[name], stage_columns(full[name]), DEFAULT_STAGES)
        rows.append((f"{name} (default stages) + photometric", np.hstack([default, features["photometric"]])))

    print(f"\nCLIVE ridge probe, test SRCC over {args.splits} seeded 80/20 splits: median [min, max]")
    for label, x_all in rows:
        median, low, high = probe(x_all, mos, args.splits)
        print(f"  {label:48s} {x_all.shape[1]:5d} d  {median:.3f} [{low:.3f}, {high:.3f}]")
        probes[label] = {"dims": x_all.shape[1], "SRCC": median, "SRCC min": low, "SRCC max": high}
    save(
        "probe_encoders",
        {"speed": speed, "CLIVE ridge probe": probes},
        {"splits": args.splits, "threads": args.threads},
    )


if __name__ == "__main__":
    main()
