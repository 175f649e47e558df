"""Shared parts of the exposure benchmarks (``bench_exposure``, ``bench_judged``, ``bench_score_awareness``,
``probe_issue_heads``): the evaluation sets, the issue predictors (a checkpoint's head, the threshold rule on
photometric statistics) and the metrics."""

from __future__ import annotations

import argparse
import io
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from scipy.stats import kendalltau

from phoneiqa.encoders import create_encoder
from phoneiqa.encoders.base import Encoder
from phoneiqa.features import cached_features
from phoneiqa.labels import LABELS
from phoneiqa.model import Model
from phoneiqa.photometric import FEATURE_NAMES
from phoneiqa.synth import encode_jpeg, is_well_exposed, ladder, load_base, measured_levels, photometric_stats

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
LADDER_STEPS = 5
PHOTOMETRIC = {"short_side": 192, "max_long_side": 384}

# ---------------------------------------------------------------------------------------------------------------------
# evaluation sets: frames with a "path" column, measured levels where known, "kind" (clean / random / ladder)


def training_generator_set(graded: Path, out: Path, seed: int) -> pd.DataFrame:
    """The graded set's test-split variants, plus ladders of the training generator on the same scenes."""
    manifest = pd.read_csv(graded / "manifest.csv")
    test = manifest[manifest["split"] == "test"].copy()
    test["path"] = [str(graded / name) for name in test["filename"]]
    test["kind"] = np.where(test["variant"] == 0, "clean", "random")
    ladders = out / "manifest.csv"
    if not ladders.exists():
        out.mkdir(parents=True, exist_ok=True)
        rows = []
        bases = sorted(set(test["base"]))
        for index, base in enumerate(bases):
            path = next(p for p in base_dirs() if (p / base).exists()) / base
            photo = small(load_base(path))
            for number, label in enumerate(LABELS):
                rng = np.random.default_rng([seed, index, number])
                for step, image in enumerate(ladder(photo, label, rng, LADDER_STEPS)):
                    data, _ = encode_jpeg(image, rng)
                    name = f"{Path(base).stem}__{label}__{step}.jpg"
                    (out / name).write_bytes(data)
                    with Image.open(io.BytesIO(data)) as decoded:
                        levels, _ = measured_levels(decoded, photo)
                    rows.append({"filename": name, "base": base, "ladder_label": label, "ladder_step": step, **levels})
        pd.DataFrame(rows).to_csv(ladders, index=False)
    frame = pd.read_csv(ladders)
    frame["path"] = [str(out / name) for name in frame["filename"]]
    frame["kind"] = "ladder"
    return pd.concat([test, frame], ignore_index=True)


def base_dirs() -> list[Path]:
    return [DATA / "photos", DATA / "bsds500", DATA / "clive" / "images"]


def small(image: Image.Image, short: int = 480) -> Image.Image:
    """Bases at a phone-thumbnail size, so ladders are quick to make and measure."""
    scale = short / min(image.size)
    return image if scale >= 1 else image.resize((round(image.width * scale), round(image.height * scale)))


def independent_set(graded: Path, out: Path, seed: int) -> pd.DataFrame:
    """The independent generator's clean photos, random variants and ladders of the test-split scenes."""
    if not (out / "manifest.csv").exists():
        from tools import independent_generator

        manifest = pd.read_csv(graded / "manifest.csv")
        names = sorted(set(manifest.loc[manifest["split"] == "test", "base"]))
        bases = [next(p for p in base_dirs() if (p / name).exists()) / name for name in names]
        independent_generator.generate(bases, out, seed=seed, workers=2)
    frame = pd.read_csv(out / "manifest.csv").copy()  # a copy: the wide manifest is read in fragments
    frame["path"] = [str(out / name) for name in frame["filename"]]
    return frame


def mefb_set() -> pd.DataFrame:
    frame = pd.read_csv(DATA / "mefb" / "labels.csv")
    frame["path"] = [str(DATA / "mefb" / "images" / name) for name in frame["image"]]
    return frame


def clive_top_third(graded: Path) -> pd.DataFrame:
    """CLIVE's top third by MOS, without the photos that were training or validation bases of ``graded``.

    Column ``in_bounds``: inside :data:`phoneiqa.synth.WELL_EXPOSED`, the bounds a CLIVE photo must
    meet to be a base.  The bases are taken out, so what is left over-represents photos outside the
    bounds (dark night scenes, bright snow, backlight); ``attrs["in_bounds_share"]`` is their share
    among the whole top third, to weight the two parts back to it.
    """
    scores = pd.read_csv(DATA / "clive" / "mos.csv")
    top = scores[scores["mos"] >= scores["mos"].quantile(2 / 3)].copy()
    top["path"] = [str(DATA / "clive" / "images" / name) for name in top["image"]]
    top["in_bounds"] = [is_well_exposed(photometric_stats(load_base(Path(p)))) for p in top["path"]]
    manifest = pd.read_csv(graded / "manifest.csv")
    seen = set(manifest.loc[manifest["split"] != "test", "base"])
    left = top[~top["image"].isin(seen)].reset_index(drop=True)
    left.attrs["in_bounds_share"] = float(top["in_bounds"].mean())
    return left


def clive_flagged(frame: pd.DataFrame, pred: np.ndarray) -> dict[str, float]:
    """Share of photos with any issue flagged: all of them, inside / outside the base bounds, and the two
    parts weighted as in the whole top third."""
    flagged = (pred > 0).any(axis=1)
    inside = frame["in_bounds"].to_numpy()
    share = frame.attrs["in_bounds_share"]
    out = {"all": float(flagged.mean()), "in": float(flagged[inside].mean()), "out": float(flagged[~inside].mean())}
    out["weighted"] = share * out["in"] + (1 - share) * out["out"]
    return out


# ---------------------------------------------------------------------------------------------------------------------
# predictors: frame with "path" -> predicted levels [N, 6]


def column_features(encoder: Encoder, columns: tuple[int, int], paths: Sequence[str]) -> np.ndarray:
    """Columns ``start:stop`` of the encoder's features, computed (and cached) as the encoder computes them;
    only the parts those columns span are run."""
    (start, stop), rows, first = columns, [], 0
    for part in getattr(encoder, "parts", [encoder]):
        rows.append(np.full(len(paths), first < stop and start < first + part.feature_dim))
        first += part.feature_dim
    features = cached_features(encoder, [Path(p) for p in paths], desc="issue features", rows=rows)
    return features[:, start:stop].numpy()


def issue_features(model: Model, paths: Sequence[str]) -> np.ndarray:
    """The columns the model's issue head reads, computed (and cached) exactly as the model computes them."""
    return column_features(model.encoder, model.columns.get("issues", (0, model.encoder.feature_dim)), paths)


def model_predictor(path: Path) -> Callable[[Sequence[str]], np.ndarray]:
    """Level probabilities ``[N, L, K]`` from a checkpoint's issue head, on the features its own encoder computes."""
    model = Model.load(path)

    def predict(paths: Sequence[str]) -> np.ndarray:
        with torch.no_grad():
            return model.issue_head.predict(torch.from_numpy(issue_features(model, paths))).probabilities.numpy()

    return predict


def photometric_features(paths: Sequence[str]) -> np.ndarray:
    """The photometric statistics the shipped model's issue head reads, for the threshold rule."""
    part = create_encoder("photometric", **PHOTOMETRIC)
    return cached_features(part, [Path(p) for p in paths], desc="photometric").numpy()


RULE_STATISTICS = {
    "bright": ("lum_mean", +1),
    "dark": ("lum_mean", -1),
    "low_contrast": ("lum_spread_p05_p95", -1),
    "high_contrast": ("lum_spread_p05_p95", +1),
    "overexposed": ("clip_hi_lum", +1),
    "over_suppressed": ("lum_p99", -1),
}
"""The threshold rule: label -> (photometric statistic, +1 if a larger value means a stronger problem)."""


def fit_threshold_rule(features: np.ndarray, levels: np.ndarray) -> Callable[[Sequence[str]], np.ndarray]:
    """Per label and level k, the threshold on the label's statistic that best separates level >= k from < k
    (accuracy on the given training rows); exclusive pairs keep the side whose level is higher."""
    rules = []
    for j, label in enumerate(LABELS):
        name, sign = RULE_STATISTICS[label]
        values = sign * features[:, FEATURE_NAMES.index(name)]
        cuts = []
        for k in (1, 2, 3):
            positive = levels[:, j] >= k
            candidates = np.quantile(values, np.linspace(0.005, 0.995, 400))
            scores = [np.mean((values >= c) == positive) for c in candidates]
            cuts.append(float(candidates[int(np.argmax(scores))]))
        rules.append((FEATURE_NAMES.index(name), sign, np.maximum.accumulate(cuts)))

    def predict(paths: Sequence[str]) -> np.ndarray:
        x = photometric_features(paths)
        out = np.stack([(sign * x[:, col, None] >= cuts).sum(1) for col, sign, cuts in rules], axis=1)
        for a, b in ((0, 1), (2, 3), (4, 5)):
            both = (out[:, a] > 0) & (out[:, b] > 0)
            weaker = np.where(out[:, a] >= out[:, b], b, a)
            out[both, weaker[both]] = 0
        return out

    return predict


# ---------------------------------------------------------------------------------------------------------------------
# metrics


def pair_order_accuracy(frame: pd.DataFrame, pred: np.ndarray) -> float:
    """Share of scenes whose ``under`` capture reads darker than its ``over`` capture: the signed reading
    ``bright + overexposed - dark`` (levels) is lower.  This is all that mefb's labels say for sure: they
    name the darker and the brighter of two captures, and some captures of either kind look well exposed."""
    col = {label: pred[:, j] for j, label in enumerate(LABELS)}
    reading = pd.Series(col["bright"] + col["overexposed"] - col["dark"], index=frame.index)
    pairs = frame.assign(reading=reading).pivot(index="scene", columns="exposure", values="reading")
    return float((pairs["under"] < pairs["over"]).mean())


def direction_accuracy(frame: pd.DataFrame, pred: np.ndarray) -> float:
    col = {label: pred[:, j] for j, label in enumerate(LABELS)}
    under = (col["dark"] > 0) & (col["bright"] == 0) & (col["overexposed"] == 0)
    over = ((col["bright"] > 0) | (col["overexposed"] > 0)) & (col["dark"] == 0)
    return float(np.where(frame["exposure"] == "under", under, over).mean())


def generator_metrics(frame: pd.DataFrame, pred: np.ndarray) -> dict[str, dict[str, float]]:
    """Per label (and the worst / mean over labels): detection, exact accuracy, ladder tau, clean false alarms."""
    truth = frame[list(LABELS)].to_numpy()
    graded = (frame["kind"] != "ladder").to_numpy()
    clean = (frame["kind"] == "clean").to_numpy() & (truth == 0).all(axis=1)
    out: dict[str, dict[str, float]] = {}
    for j, label in enumerate(LABELS):
        severe = graded & (truth[:, j] >= 2)
        taus, monotone = [], []
        ladders = frame[(frame["kind"] == "ladder") & (frame["ladder_label"] == label)]
        for _, rows in ladders.groupby("base"):
            rows = rows.sort_values("ladder_step")
            steps, levels = rows["ladder_step"].to_numpy(), pred[rows.index, j]
            taus.append(kendalltau(steps, levels).statistic if len(set(levels)) > 1 else 0.0)
            monotone.append(bool((np.diff(levels) >= 0).all()))
        out[label] = {
            "flagged": float((pred[severe, j] >= 1).mean()),
            "severe+": float((pred[severe, j] >= 2).mean()),
            "accuracy": float((pred[graded, j] == truth[graded, j]).mean()),
            "always_none": float((truth[graded, j] == 0).mean()),
            "tau": float(np.mean(taus)) if taus else float("nan"),
            "monotone": float(np.mean(monotone)) if monotone else float("nan"),
        }
    out["false_alarms"] = {"clean": float((pred[clean] > 0).any(axis=1).mean()), "n": int(clean.sum())}
    return out


# ---------------------------------------------------------------------------------------------------------------------


SETS: dict[str, Callable[[argparse.Namespace], pd.DataFrame]] = {
    "mefb": lambda args: mefb_set(),
    "training generator": lambda a: training_generator_set(a.graded, a.out / "training_ladders", a.seed),
    "independent generator": lambda a: independent_set(a.graded, a.out / "independent", a.seed),
    "CLIVE top third": lambda args: clive_top_third(args.graded),
}
