"""Do the issue levels hold on photos nobody tuned on?  Issue heads beside a threshold rule, in one run.

The issue levels are now judged against viewers by ``benchmarks/bench_judged.py``; this benchmark keeps
the generator-based checks (it needs a graded set with a ``test`` split: ``make_graded_set.py`` with its
default three fractions, not the shipped models' two).

    python benchmarks/bench_exposure.py [--graded runs/graded] [--models previous=git:0386233 default ...]

Evaluation sets, all of scenes no head was trained on (``--graded`` is the training set made by
``benchmarks/make_graded_set.py``; its ``test`` split holds scenes kept out of training and validation):

(a) ``../shared/data/mefb``: 55 real scenes captured under- and over-exposed.  Direction accuracy:
    an ``under`` capture must read ``dark`` and neither ``bright`` nor ``overexposed``; an ``over``
    capture ``bright`` or ``overexposed`` and not ``dark``.  The labels only name the darker and the
    brighter capture of a pair, and some of either kind look well exposed (a sunset, a night street, a
    room lit right), so pair order is reported too: the under capture reads darker than the over one.
(b) the training generator (``phoneiqa.synth``) on the test scenes: the variants of the graded set,
    plus one ladder per scene and label (5 steps of one operator, mildest to strongest);
(c) the independent generator (``benchmarks/independent_generator.py``, other operators, other code)
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
import io
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from scipy.stats import kendalltau

from hexgraph import confident_levels
from phoneiqa.encoders import create_encoder
from phoneiqa.encoders.base import Encoder
from phoneiqa.features import cached_features
from phoneiqa.labels import LABELS
from phoneiqa.loading import PRETRAINED, model_file
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
            path = next(p for p in _base_dirs() if (p / base).exists()) / base
            photo = _small(load_base(path))
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


def _base_dirs() -> list[Path]:
    return [DATA / "photos", DATA / "bsds500", DATA / "clive" / "images"]


def _small(image: Image.Image, short: int = 480) -> Image.Image:
    """Bases at a phone-thumbnail size, so ladders are quick to make and measure."""
    scale = short / min(image.size)
    return image if scale >= 1 else image.resize((round(image.width * scale), round(image.height * scale)))


def independent_set(graded: Path, out: Path, seed: int) -> pd.DataFrame:
    """The independent generator's clean photos, random variants and ladders of the test-split scenes."""
    if not (out / "manifest.csv").exists():
        import independent_generator  # benchmarks/ is on sys.path when this script runs

        manifest = pd.read_csv(graded / "manifest.csv")
        names = sorted(set(manifest.loc[manifest["split"] == "test", "base"]))
        bases = [next(p for p in _base_dirs() if (p / name).exists()) / name for name in names]
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
            print(
                f"{name:<18}{direction_accuracy(sets['mefb'], preds['mefb']):>16.3f}"
                f"{pair_order_accuracy(sets['mefb'], preds['mefb']):>12.3f}{c['all']:>11.3f}{c['in']:>8.3f}"
                f"{c['out']:>9.3f}{c['weighted']:>10.3f}"
            )
    print("\nissue head cost per photo (one photo per call, after its features; median of 200 calls):")
    for name, path in checkpoints.items():
        print(f"  {name:<22}{1000 * head_seconds(Model.load(path)):.3f} ms")
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
        print("ladders whose predicted level never falls: " + ", ".join(f"{n} {v:.2f}" for n, v in monotone.items()))


if __name__ == "__main__":
    main()
