"""Does the score know exposure and degradation?  Scores of problem photos against their clean photo, in one run.

    python -m benchmarks score_awareness [--models default accurate] [--pairwise 0 0.01 0.1]

On the test-split scenes of ``python -m phoneiqa.synth`` (``--graded``: scenes no head was trained
on), for each shipped model (``--models``: names or checkpoint paths):

* severe-or-worse variants scoring below their scene's clean photo, for the training generator
  (``phoneiqa.synth``: the graded set's variants against its clean variant) and the independent
  generator (``tools/independent_generator/``: its random variants against its clean photo);
  the variants are cropped and resized on their own, so the pairs also differ a little in framing;
* ladders whose clean photo scores above every step with a problem (level >= 1; the mildest steps of
  a ladder are often below the ``normal`` boundary and are left out), per issue and generator; the
  training generator's ladders (``bench_exposure.py`` makes them) are compared with the same base,
  small and saved as JPEG quality 90;
* ladders of other degradations made here on the same scenes: Gaussian blur (sigma 1, 2, 4 px), noise
  (sigma 5, 10, 20 of 255) and JPEG (quality 30, 15, 7): clean above every step, and steps in order.

Then, as a measured trade-off, the ridge score head on the first model's features refitted with
pairwise ranking rows (squared hinge: a clean photo of a training scene must score at least 3 / 8 / 15
points above its normal / severe / blocking variant) at each ``--pairwise`` weight: CLIVE median SRCC
over 10 seeded 80/20 splits beside the awareness figures above.
"""

from __future__ import annotations

import argparse
import io
import statistics
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image, ImageFilter

from benchmarks import common as bx
from benchmarks.results import save
from phoneiqa.features import cached_features
from phoneiqa.heads.ridge import DEFAULT_ALPHAS, loo_errors
from phoneiqa.labels import LABELS
from phoneiqa.loading import model_file
from phoneiqa.metrics import score_metrics
from phoneiqa.model import Model
from phoneiqa.synth import load_base

DEGRADATIONS: dict[str, tuple[tuple[float, ...], Callable[[Image.Image, float, np.random.Generator], Image.Image]]] = {
    "blur": ((1.0, 2.0, 4.0), lambda im, s, rng: im.filter(ImageFilter.GaussianBlur(s))),
    "noise": (
        (5.0, 10.0, 20.0),
        lambda im, s, rng: Image.fromarray(
            np.clip(np.asarray(im, dtype=np.float32) + rng.normal(0, s, (im.height, im.width, 3)), 0, 255).astype(
                np.uint8
            )
        ),
    ),
    "jpeg": ((30.0, 15.0, 7.0), lambda im, q, rng: _jpeg(im, int(q))),
}
"""Degradation -> (strengths mildest first, operator)."""
CLEAN_QUALITY = 90
MARGINS = np.array([0.0, 3.0, 8.0, 15.0])
"""Points a clean photo must score above its variant of worst level 0..3 (pairwise ranking rows)."""


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def clean_and_degraded(bases: list[str], out: Path, seed: int) -> pd.DataFrame:
    """Per test base: its clean photo (small, JPEG quality 90) and the degradation ladders."""
    manifest = out / "manifest.csv"
    if not manifest.exists():
        out.mkdir(parents=True, exist_ok=True)
        rows = []
        for index, base in enumerate(bases):
            photo = bx.small(load_base(next(p for p in bx.base_dirs() if (p / base).exists()) / base))
            stem = Path(base).stem
            photo.save(out / f"{stem}__clean.jpg", quality=CLEAN_QUALITY)
            rows.append({"filename": f"{stem}__clean.jpg", "base": base, "kind": "clean", "step": -1})
            for name, (strengths, operate) in DEGRADATIONS.items():
                rng = np.random.default_rng([seed, index])
                for step, strength in enumerate(strengths):
                    image = operate(photo, strength, rng)
                    filename = f"{stem}__{name}{step}.jpg"
                    image.save(out / filename, quality=CLEAN_QUALITY if name != "jpeg" else 95)
                    rows.append({"filename": filename, "base": base, "kind": name, "step": step})
        pd.DataFrame(rows).to_csv(manifest, index=False)
    frame = pd.read_csv(manifest)
    frame["path"] = [str(out / name) for name in frame["filename"]]
    return frame


def worst_level(frame: pd.DataFrame) -> np.ndarray:
    return frame[list(LABELS)].to_numpy().max(axis=1)


def below_clean(frame: pd.DataFrame, scores: np.ndarray, clean_kind: str, variant_kind: str) -> float:
    """Share of severe-or-worse variants scoring below their base's clean photo."""
    clean = pd.Series(
        scores[(frame["kind"] == clean_kind).to_numpy()], index=frame.loc[frame["kind"] == clean_kind, "base"]
    )
    clean = clean[~clean.index.duplicated()]
    severe = ((frame["kind"] == variant_kind) & (worst_level(frame) >= 2) & frame["base"].isin(clean.index)).to_numpy()
    return float(np.mean(scores[severe] < clean.loc[frame.loc[severe, "base"]].to_numpy()))


def ladder_tops(ladders: pd.DataFrame, scores: np.ndarray, clean: pd.Series) -> dict[str, float]:
    """Per ladder label: share of ladders whose clean photo scores above every step with a problem."""
    level = np.array([row[row["ladder_label"]] for _, row in ladders.iterrows()])
    frame = ladders.assign(score=scores, level=level)
    out = {}
    for label, rows in frame[frame["level"] >= 1].groupby("ladder_label"):
        wins = [clean[base] > group["score"].max() for base, group in rows.groupby("base") if base in clean.index]
        out[label] = float(np.mean(wins))
    return out


class Scorer:
    """A model's score for image paths, from its cached encoder features (or given features)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.model = Model.load(model_file(name))

    def features(self, paths: list[str]) -> torch.Tensor:
        return cached_features(self.model.encoder, [Path(p) for p in paths], desc=f"{self.name} features")

    def scores(self, paths: list[str]) -> np.ndarray:
        x = self.model.head_inputs("score", self.features(paths))
        with torch.no_grad():
            return self.model.score_head.predict(x).numpy()


def awareness(score: Callable[[list[str]], np.ndarray], sets: dict[str, pd.DataFrame]) -> dict[str, float]:
    """The figures of one score function on the evaluation sets."""
    gen, ind, deg = sets["training generator"], sets["independent generator"], sets["degradations"]
    s_gen, s_ind, s_deg = score(gen["path"].tolist()), score(ind["path"].tolist()), score(deg["path"].tolist())
    clean_small = pd.Series(s_deg[(deg["kind"] == "clean").to_numpy()], index=deg.loc[deg["kind"] == "clean", "base"])
    graded = (gen["kind"] != "ladder").to_numpy()
    out = {
        "train severe<clean": below_clean(gen[graded], s_gen[graded], "clean", "random"),
        "indep severe<clean": below_clean(ind, s_ind, "clean", "random"),
    }
    ladders = (gen["kind"] == "ladder").to_numpy()
    tops_gen = ladder_tops(gen[ladders].reset_index(drop=True), s_gen[ladders], clean_small)
    ind_ladders = (ind["kind"] == "ladder").to_numpy()
    clean_ind = pd.Series(s_ind[(ind["kind"] == "clean").to_numpy()], index=ind.loc[ind["kind"] == "clean", "base"])
    tops_ind = ladder_tops(ind[ind_ladders].reset_index(drop=True), s_ind[ind_ladders], clean_ind)
    out["train ladders topped"] = float(np.mean(list(tops_gen.values())))
    out["indep ladders topped"] = float(np.mean(list(tops_ind.values())))
    out |= {f"train top {k}": v for k, v in tops_gen.items()} | {f"indep top {k}": v for k, v in tops_ind.items()}
    frame = deg.assign(score=s_deg)
    for kind in DEGRADATIONS:
        rows = frame[frame["kind"] == kind]
        tops, ordered = [], []
        for base, group in rows.groupby("base"):
            steps = group.sort_values("step")["score"].to_numpy()
            tops.append(clean_small[base] > steps.max())
            ordered.append(bool((np.diff(steps) < 0).all()))
        out[f"{kind} topped"] = float(np.mean(tops))
        out[f"{kind} ordered"] = float(np.mean(ordered))
    return out


def pairwise_ridge(
    x: np.ndarray, y: np.ndarray, x_clean: np.ndarray, x_bad: np.ndarray, margins: np.ndarray, weight: float
) -> Callable[[np.ndarray], np.ndarray]:
    """Ridge (penalty by leave-one-out error on the scores alone) plus ``weight`` × squared hinge rows that
    ask ``score(clean) - score(bad) >= margin``, solved by active sets; returns the predictor."""
    mean, std = x.mean(0), x.std(0)
    std[std < 1e-12] = 1.0
    z, yc = (x - mean) / std, y - y.mean()
    u, s, vh = np.linalg.svd(z, full_matrices=False)
    alphas = torch.tensor(DEFAULT_ALPHAS, dtype=torch.float64)
    alpha = float(alphas[loo_errors(*(torch.from_numpy(a) for a in (u, s, yc)), alphas).argmin()])
    w = vh.T @ (s / (s**2 + alpha) * (u.T @ yc))
    if weight > 0:
        d = (x_clean - x_bad) / std
        gram, rhs = z.T @ z + alpha * np.eye(z.shape[1]), z.T @ yc
        for _ in range(20):
            active = d @ w < margins
            new = np.linalg.solve(gram + weight * d[active].T @ d[active], rhs + weight * d[active].T @ margins[active])
            if np.allclose(new, w):
                break
            w = new
    return lambda xx: ((xx - mean) / std) @ w + y.mean()


def tradeoff(scorer: Scorer, graded: Path, sets: dict[str, pd.DataFrame], weights: list[float]) -> None:
    """CLIVE accuracy against awareness of the scorer's ridge refitted with pairwise rows."""
    clive = pd.read_csv(bx.DATA / "clive" / "mos.csv")
    xc = scorer.features([str(bx.DATA / "clive" / "images" / n) for n in clive["image"]]).numpy().astype(np.float64)
    yc = clive["mos"].to_numpy(dtype=np.float64)
    manifest = pd.read_csv(graded / "manifest.csv")
    train = manifest[manifest["split"] == "train"].reset_index(drop=True)
    xg = scorer.features([str(graded / n) for n in train["filename"]]).numpy().astype(np.float64)
    worst = worst_level(train)
    clean_row = {b: i for i, b in enumerate(train["base"]) if train["variant"][i] == 0 and worst[i] == 0}
    bad = [i for i in range(len(train)) if train["variant"][i] > 0 and worst[i] >= 1 and train["base"][i] in clean_row]
    x_clean, x_bad = xg[[clean_row[train["base"][i]] for i in bad]], xg[bad]
    margins = MARGINS[worst[bad]]
    print(f"\npairwise ranking rows ({len(bad)} pairs of {len(clean_row)} training scenes) on {scorer.name}'s features")
    head = f"{'weight':>8}{'CLIVE SRCC':>12}{'range':>16}"
    for w in weights:
        srcc = []
        for seed in range(10):
            order = np.random.default_rng(seed).permutation(len(yc))
            test, fit = order[: len(yc) // 5], order[len(yc) // 5 :]
            predict = pairwise_ridge(xc[fit], yc[fit], x_clean, x_bad, margins, w)
            srcc.append(score_metrics(predict(xc[test]), yc[test])["srcc"])
        predict = pairwise_ridge(xc, yc, x_clean, x_bad, margins, w)
        figures = awareness(lambda paths, p=predict: p(scorer.features(paths).numpy().astype(np.float64)), sets)
        if w == weights[0]:
            print(head + "".join(f"{k:>22}" for k in SUMMARY))
        low, high = min(srcc), max(srcc)
        print(
            f"{w:>8g}{statistics.median(srcc):>12.4f}{f'[{low:.3f}, {high:.3f}]':>16}"
            + "".join(f"{figures[k]:>22.3f}" for k in SUMMARY)
        )


SUMMARY = (
    "train severe<clean",
    "indep severe<clean",
    "train ladders topped",
    "indep ladders topped",
    "blur topped",
    "noise topped",
    "jpeg topped",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graded", type=Path, default=bx.ROOT / "runs" / "graded")
    parser.add_argument("--out", type=Path, default=bx.ROOT / "runs" / "bench_exposure")
    parser.add_argument("--models", nargs="+", default=["default"])
    parser.add_argument("--pairwise", nargs="*", type=float, default=[0.0, 0.01, 0.1])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    gen = bx.training_generator_set(args.graded, args.out / "training_ladders", args.seed)
    sets = {
        "training generator": gen,
        "independent generator": bx.independent_set(args.graded, args.out / "independent", args.seed),
        "degradations": clean_and_degraded(sorted(set(gen["base"])), args.out / "degradations", args.seed),
    }
    scorers = [Scorer(name) for name in args.models]
    results = {s.name: awareness(s.scores, sets) for s in scorers}
    print(f"score awareness on {gen['base'].nunique()} unseen scenes (share of cases where the clean photo wins)")
    keys = list(next(iter(results.values())))
    print(f"{'':<28}" + "".join(f"{name:>12}" for name in results))
    for key in keys:
        print(f"{key:<28}" + "".join(f"{r[key]:>12.3f}" for r in results.values()))
    save("score_awareness", {key: {n: r[key] for n, r in results.items()} for key in keys}, {"models": args.models})
    if args.pairwise:
        tradeoff(scorers[0], args.graded, sets, args.pairwise)


if __name__ == "__main__":
    main()
