"""Issue levels against what viewers see: judged real photos, the judged calibration changes, ladders. One run.

    python -m benchmarks judged [--graded runs/graded] [--folds 5] [--recipes default accurate]
        [--previous 839e372]

Ground truth: ``../shared/data/judged`` (``labels.csv``: 1,646 real photos, each judged once on the scale of
``RUBRIC.md``; ``calibration.csv``: 60 photos judged fine, each changed by known amounts and judged twice).

Rows, side by side:

- ``shipped <name> (<commit>)``: the ``fast`` (``default``) and ``accurate`` models as shipped at ``--previous``,
  before the judged photos existed (so none of them is a training photo of theirs);
- ``new <recipe>``: the recipe's issue head (``phoneiqa/pretrained/<recipe>.json``) refitted in every fold of a
  scene-disjoint ``--folds``-fold split of the judged photos (``phoneiqa.judged.scene_folds``: the two
  captures of a ``mefb`` scene and copies of one photo share a fold), as ``train_shipped_models.py`` trains
  it: on the judged photos of the other folds (each counted ``phoneiqa.judged.TRAINING_REPEAT`` times, its
  judge named as rater, whose offset is learned as a nuisance) and the synthetic variants (``--graded``,
  ``python -m phoneiqa.synth``) of their judged-fine references, on the features of the recipe's
  shipped encoder.  ``<recipe>:photometric`` (or ``:all``) reads other features than the recipe does.
  Every photo, calibration change and ladder is predicted by the fold whose scenes it belongs to;
- ``threshold rule``: one photometric statistic per label (``bench_exposure.fit_threshold_rule``),
  fitted on the same training rows per fold;
- ``image-quality-ai`` (a rules-based peer on PyPI): its exposure verdict (too dark or too bright by its
  mean luminance) and its contrast verdict (flat) as ``normal``, ``severe`` below a score of 25 and
  ``blocking`` below 10; it has no blown-highlights verdict, so its ``too bright`` counts for blown.

Reported: fine photos (every judged field 0) flagged at any level and at severe or worse, per label and per
scene tag; photos judged >= 2 from fine found (flagged on that side at any level) per direction and for
blown; Spearman of the predicted exposure (E[bright] - E[dark] where there are probabilities) against the
judged one; wrong-way calls (judged too dark and called bright, or the reverse); the calibration curve (mean
predicted level per known change beside the viewers' mean, from the reported levels and from the expected
levels); the trade-off between detection and false alarms when the exposure labels' first level is reported
from a lower probability than the median (:func:`operating_points`); the judged-better capture first in the
``mefb`` pairs whose judged levels differ (fewer expected issue levels); ladders (``phoneiqa.synth.ladder``,
5 steps mildest to strongest, on references of every fold) whose level on their label never falls; and the
issue head's time per photo.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmarks.common import column_features, fit_threshold_rule, photometric_features
from benchmarks.judged_metrics import (
    BRIGHT,
    DARK,
    calibration_curve,
    judged_metrics,
    ladders_monotone,
    mefb_pairs,
    operating_points,
)
from benchmarks.results import save
from hexgraph import median_levels
from phoneiqa.encoders import create_encoder
from phoneiqa.exposure import exposure_stops
from phoneiqa.features import cached_features
from phoneiqa.heads import create_head
from phoneiqa.judged import TRAINING_REPEAT, is_fine, read_judged, scene_folds
from phoneiqa.labels import LABELS, load_spec_dict
from phoneiqa.model import Model
from phoneiqa.photometric import FEATURE_NAMES as PHOTOMETRIC_NAMES
from phoneiqa.photometric import luminance_of_lightness
from phoneiqa.synth import ladder, load_base
from phoneiqa.training import OptimConfig, TrainConfig, fit_head, part_columns, recipe_path, validate_issues

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
JUDGED = DATA / "judged"
LADDER_BASES_PER_FOLD = 6
RANK_COSTS = (0.0, 5.0, 10.0, 20.0, 40.0)
TARGETS = {
    "fine any": "<= 0.08",
    "fine severe+": "<= 0.02",
    "dark>=2 found": ">= 0.90",
    "bright>=2 found": ">= 0.90",
    "blown>=2 found": ">= 0.90",
    "exposure spearman": ">= 0.75",
    "exposure spearman, levels": ">= 0.75",
    "exposure spearman, mefb": ">= 0.75",
    "wrong way": "0",
    "calibration max error (reported)": "<= 0.3",
    "calibration max error (expected)": "<= 0.3",
    "mefb better first": ">= 0.90",
    "ladders monotone": ">= 0.97",
}
"""The headline rows and the issue's targets for them."""


LADDER_STEPS = 5

# ---------------------------------------------------------------------------------------------------------------------
# evaluation rows: one frame with file, fold, kind (judged / calibration / ladder) and what is known of each


def calibration_rows(out: Path, fold_of_base: dict[str, int]) -> pd.DataFrame:
    """One row per calibration variant: the viewers' mean judged fields, its change, its base's fold."""
    images = out / "calibration"
    if len(list(images.glob("*.png"))) < 360:
        subprocess.run([sys.executable, str(JUDGED / "make_calibration.py"), str(images)], check=True)
    judged = pd.read_csv(JUDGED / "calibration.csv")
    rows = judged.groupby(["variant", "base", "op", "amount"], as_index=False)[["exposure", "contrast", "grey"]].mean()
    rows["file"] = [str(images / v) for v in rows["variant"]]
    rows["fold"] = rows["base"].map(fold_of_base)
    rows["kind"] = "calibration"
    return rows


def ladder_rows(out: Path, references: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Ladders of every label on ``LADDER_BASES_PER_FOLD`` references of each fold (PNG files under ``out``)."""
    rng = np.random.default_rng(seed)
    rows = []
    folder = out / "ladders"
    folder.mkdir(parents=True, exist_ok=True)
    for fold, group in references.groupby("fold"):
        chosen = group.iloc[rng.permutation(len(group))[:LADDER_BASES_PER_FOLD]]
        for file in chosen["file"]:
            base = load_base(Path(file))
            base.thumbnail((512, 512))
            for label in LABELS:
                steps = ladder(base, label, np.random.default_rng([seed, len(rows)]), LADDER_STEPS)
                for step, image in enumerate(steps):
                    target = folder / f"{Path(file).stem}__{label}__{step}.png"
                    if not target.exists():
                        image.save(target)
                    rows.append({"file": str(target), "fold": fold, "base": file, "label": label, "step": step})
    frame = pd.DataFrame(rows)
    frame["kind"] = "ladder"
    return frame


# ---------------------------------------------------------------------------------------------------------------------
# predictors: (training rows, evaluation rows) per fold -> probabilities [N, L, K] or levels [N, L]


def git_show(commit: str, path: str) -> bytes:
    """A file's bytes at a commit of this repository."""
    return subprocess.run(["git", "show", f"{commit}:{path}"], cwd=ROOT, capture_output=True, check=True).stdout


def fit_new_head(
    x: torch.Tensor, y: torch.Tensor, raters: torch.Tensor, train_scenes: np.ndarray, recipe: TrainConfig, seed: int
):
    """The shipped recipe's issue head fitted on ``x, y`` (15 % of the scenes held out for early stopping);
    ``raters`` as :meth:`phoneiqa.training.Table.rater_index` (all -1: no rater offsets)."""
    names = np.unique(train_scenes)
    val_names = set(np.random.default_rng(seed).permutation(names)[: max(1, len(names) * 15 // 100)])
    val = np.isin(train_scenes, list(val_names))
    head_cfg = recipe.model.issue_head
    torch.manual_seed(seed)
    head = create_head(head_cfg.name, in_features=x.shape[1], spec=load_spec_dict(recipe.model.spec), **head_cfg.args)
    optim = OptimConfig(**{**vars(recipe.optim), "seed": seed})
    fit_head(head, x[~val], y[~val], x[val], y[val], validate_issues, optim, "issue head", raters[~val])
    return head.eval()


def peer_levels(files: Sequence[str], cache: Path) -> np.ndarray:
    """``image-quality-ai``'s verdicts as levels (see the module doc), cached per file in ``cache``."""
    import image_quality_ai

    from phoneiqa.image import load_image

    known = pd.read_csv(cache).set_index("file") if cache.exists() else pd.DataFrame(columns=LABELS)
    rows = []
    for file in files:
        if file in known.index:
            rows.append(known.loc[file, list(LABELS)].to_numpy(np.int64))
            continue
        metrics = image_quality_ai.assess(load_image(file)).to_dict()["metrics"]
        levels = dict.fromkeys(LABELS, 0)
        for name, label in (("exposure", None), ("contrast", "low_contrast")):
            m = metrics[name]
            if m["applies"] and not m["ok"]:
                if label is None:
                    label = "dark" if m["details"]["mean_luminance"] < 0.5 else "bright"
                levels[label] = 1 + (m["score"] < 25) + (m["score"] < 10)
        levels["overexposed"] = levels["bright"]
        rows.append(np.array([levels[label] for label in LABELS]))
        known.loc[file] = rows[-1]
    known.rename_axis("file").reset_index().to_csv(cache, index=False)
    return np.stack(rows)


def expected(p: np.ndarray) -> np.ndarray:
    """``[N, L]`` expected levels of probabilities ``[N, L, K]``."""
    return (p * np.arange(p.shape[-1])).sum(-1)


def recipe_of(spec: str) -> TrainConfig:
    """A ``--recipes`` entry: a shipped recipe, its issue head reading other features after ``:`` if given."""
    name, _, inputs = spec.partition(":")
    recipe = TrainConfig.from_json(recipe_path(name), {"train": []})
    if inputs:
        recipe.model.issue_head.inputs = None if inputs == "all" else inputs
    return recipe


def head_ms(spec: str) -> float:
    """Median time of a recipe's issue head (as trained, on its number of features) on one photo's features."""
    recipe = recipe_of(spec)
    encoder = create_encoder(recipe.model.encoder, **recipe.model.encoder_args)
    start, stop = part_columns(encoder, recipe.model.issue_head.inputs)
    head = create_head(
        recipe.model.issue_head.name,
        in_features=stop - start,
        spec=load_spec_dict(recipe.model.spec),
        **recipe.model.issue_head.args,
    ).eval()
    x = torch.randn(1, stop - start)
    times = []
    for _ in range(200):
        start_time = time.perf_counter()
        with torch.no_grad():
            head.predict(x)
        times.append(time.perf_counter() - start_time)
    return 1000 * float(np.median(times))


# ---------------------------------------------------------------------------------------------------------------------


def predict_all(
    args: argparse.Namespace, rows: pd.DataFrame, synthetic: pd.DataFrame, judged: pd.DataFrame
) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """Every row's (levels, probabilities or None) from each predictor of the module doc."""
    predictions: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    tmp = Path(tempfile.mkdtemp())
    for name in ("default", "accurate"):
        path = tmp / f"{name}.pt"
        path.write_bytes(git_show(args.previous, f"phoneiqa/pretrained/{name}.pt"))
        model = Model.load(path)
        start, stop = model.columns.get("issues", (0, model.encoder.feature_dim))
        x = column_features(model.encoder, (start, stop), rows["file"].tolist())
        with torch.no_grad():
            p = model.issue_head.predict(torch.from_numpy(x)).probabilities.numpy()
        predictions[f"shipped {name} ({args.previous})"] = (median_levels(p), p)

    y_eval, y_syn = rows[list(LABELS)].to_numpy(), synthetic[list(LABELS)].to_numpy()
    judges = sorted(judged["judge"].unique())
    rater_eval = np.array([judges.index(j) if isinstance(j, str) else -1 for j in rows["judge"]])
    for spec in args.recipes:
        recipe = recipe_of(spec)
        encoder = create_encoder(recipe.model.encoder, **recipe.model.encoder_args).eval()
        columns = part_columns(encoder, recipe.model.issue_head.inputs)
        x_eval = column_features(encoder, columns, rows["file"].tolist())
        x_syn = column_features(encoder, columns, synthetic["file"].tolist())
        probs = np.zeros((len(rows), len(LABELS), 4))
        for fold in range(args.folds):
            tr_j = np.repeat(
                np.flatnonzero((rows["kind"] == "judged").to_numpy() & (rows["fold"] != fold).to_numpy()),
                TRAINING_REPEAT,
            )
            tr_s = np.flatnonzero((synthetic["fold"] != fold).to_numpy())
            x = torch.from_numpy(np.concatenate([x_eval[tr_j], x_syn[tr_s]]))
            y = torch.from_numpy(np.concatenate([y_eval[tr_j], y_syn[tr_s]]))
            r = torch.from_numpy(np.concatenate([rater_eval[tr_j], -np.ones(len(tr_s), np.int64)]))
            scenes = np.concatenate([rows["scene_id"].to_numpy()[tr_j], synthetic["scene_id"].to_numpy()[tr_s]])
            head = fit_new_head(x, y, r, scenes, recipe, args.seed + fold)
            held = (rows["fold"] == fold).to_numpy()
            with torch.no_grad():
                probs[held] = head.predict(torch.from_numpy(x_eval[held])).probabilities.numpy()
        predictions[f"new {spec}"] = (median_levels(probs), probs)

    rule_levels = np.zeros((len(rows), len(LABELS)), dtype=np.int64)
    for fold in range(args.folds):
        tr_j = (rows["kind"] == "judged").to_numpy() & (rows["fold"] != fold).to_numpy()
        tr_s = (synthetic["fold"] != fold).to_numpy()
        files = [*rows.loc[tr_j, "file"], *synthetic.loc[tr_s, "file"]]
        rule = fit_threshold_rule(photometric_features(files), np.concatenate([y_eval[tr_j], y_syn[tr_s]]))
        held = (rows["fold"] == fold).to_numpy()
        rule_levels[held] = rule(rows.loc[held, "file"].tolist())
    predictions["threshold rule"] = (rule_levels, None)
    if not args.no_peer:
        predictions["image-quality-ai"] = (peer_levels(rows["file"].tolist(), args.out / "peer.csv"), None)

    return predictions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graded", type=Path, default=ROOT / "runs" / "graded")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench_judged")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--previous",
        default="839e372",
        help="the commit whose shipped models are the 'shipped' rows (held out: they never saw the judged photos)",
    )
    parser.add_argument(
        "--recipes",
        nargs="+",
        default=["default", "accurate"],
        help="recipes whose issue head is refitted per fold: a shipped recipe's name, or name:inputs to read "
        "other features (name:photometric; name:all for every feature of its encoder)",
    )
    parser.add_argument("--no-peer", action="store_true", help="leave image-quality-ai out")
    parser.add_argument("--reuse", action="store_true", help="read the predictions of the last run (--out) again")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    judged = read_judged(DATA)
    judged["fold"] = scene_folds(judged["scene_id"], args.folds, args.seed)
    judged["kind"] = "judged"
    fold_of_base = dict(zip(judged["path"], judged["fold"], strict=True))
    calibration = calibration_rows(args.out, fold_of_base)
    references = judged[is_fine(judged) & (judged["sure"] == 1) & (judged["source"] != "mefb")]
    ladders = ladder_rows(args.out, references, args.seed)
    rows = pd.concat([judged, calibration, ladders], ignore_index=True)

    synthetic = pd.read_csv(args.graded / "manifest.csv")
    by_name = {Path(p).name: (f, s) for p, f, s in zip(judged["path"], judged["fold"], judged["scene_id"], strict=True)}
    synthetic["file"] = [str(args.graded / f) for f in synthetic["filename"]]
    synthetic["fold"] = [by_name[b][0] for b in synthetic["base"]]
    synthetic["scene_id"] = [by_name[b][1] for b in synthetic["base"]]

    predictions: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}  # name -> (levels, probabilities)
    heads_ms = {f"new {spec}": head_ms(spec) for spec in args.recipes}
    if args.reuse:
        saved = np.load(args.out / "predictions.npz")
        if saved["files"].tolist() != rows["file"].tolist():
            sys.exit(f"{args.out / 'predictions.npz'} holds other rows: run without --reuse")
        for key in saved.files:
            name, _, kind = key.partition("|")
            if kind == "levels":
                p = f"{name}|probabilities"
                predictions[name] = (saved[key], saved[p] if p in saved.files else None)
    else:
        predictions = predict_all(args, rows, synthetic, judged)
    if not args.reuse:
        np.savez_compressed(
            args.out / "predictions.npz",
            files=rows["file"].to_numpy(str),
            **{f"{name}|levels": levels for name, (levels, _) in predictions.items()},
            **{f"{name}|probabilities": p for name, (_, p) in predictions.items() if p is not None},
        )
    is_j = (rows["kind"] == "judged").to_numpy()
    is_c = (rows["kind"] == "calibration").to_numpy()
    is_l = (rows["kind"] == "ladder").to_numpy()
    jframe = rows[is_j].reset_index(drop=True)
    table, curves, operating = {}, {}, {}
    for name, (levels, p) in predictions.items():
        exp = expected(p) if p is not None else levels.astype(float)
        signed = exp[:, BRIGHT] - exp[:, DARK]
        m = judged_metrics(jframe, levels[is_j], signed[is_j])
        m["mefb better first"], n_pairs = mefb_pairs(jframe, exp[is_j].sum(1))
        m["ladders monotone"] = ladders_monotone(rows[is_l].reset_index(drop=True), levels[is_l])
        curve = calibration_curve(rows[is_c].reset_index(drop=True), levels[is_c], exp[is_c] if p is not None else None)
        gains = curve[curve["change"].str.startswith(("gain", "none"))]
        m["calibration max error (reported)"] = float((gains["reported"] - gains["viewers"]).abs().max())
        m["calibration max error (expected)"] = float((gains["expected"] - gains["viewers"]).abs().max())
        table[name], curves[name] = m, curve
        if p is not None:
            operating[name] = operating_points(jframe, levels[is_j], p[is_j])

    fast = Model.load(ROOT / "phoneiqa" / "pretrained" / "default.pt").eval()  # its score: trained on CLIVE alone
    x_fast = cached_features(fast.encoder, [Path(f) for f in rows.loc[is_j, "file"]], desc="fast").numpy()
    scores = fast.predict_features(torch.from_numpy(x_fast)).scores.numpy()
    rank_rows = {}
    for name, (levels, p) in predictions.items():
        burden = (expected(p) if p is not None else levels.astype(float))[is_j].sum(1)
        rank_rows[name] = {cost: mefb_pairs(jframe, -(scores - cost * burden))[0] for cost in RANK_COSTS}

    gains = is_c & rows["op"].isin(["gain", "none"]).to_numpy()
    known = rows.loc[gains, "amount"].to_numpy(float)
    key = photometric_features(rows["file"].tolist())[:, PHOTOMETRIC_NAMES.index("lum_key")]
    key_stops = np.log2(np.maximum(luminance_of_lightness(key), 1e-4))
    stops_error = {}
    for name, (_, p) in predictions.items():
        if p is not None:
            stops = exposure_stops(p[gains, BRIGHT], p[gains, DARK])
            stops_error[name] = float(np.median(np.abs(stops - known)))
    baseline = np.zeros(gains.sum())
    fine_rows = (rows["kind"] == "judged").to_numpy() & is_fine(rows).to_numpy()
    for fold in range(args.folds):  # the key against the median key of the training folds' photos judged fine
        held = (rows.loc[gains, "fold"] == fold).to_numpy()
        baseline[held] = key_stops[gains][held] - np.median(key_stops[fine_rows & (rows["fold"] != fold).to_numpy()])
    stops_error["key against fine photos (baseline)"] = float(np.median(np.abs(baseline - known)))

    frame = pd.DataFrame(table)
    frame.to_csv(args.out / "results.csv")
    n_fine = int(is_fine(jframe).sum())
    print(
        f"{len(jframe)} judged photos ({n_fine} fine) in {args.folds} scene-disjoint folds; "
        f"{int(is_c.sum())} calibration changes; {int(is_l.sum()) // LADDER_STEPS} ladders; "
        f"{n_pairs} mefb pairs whose judged levels differ; synthetic training rows {len(synthetic)}"
    )
    headline = list(TARGETS)
    targets = list(TARGETS.values())
    with pd.option_context("display.width", 250, "display.max_columns", 20, "display.float_format", "{:.3f}".format):
        print(frame.loc[headline].assign(target=targets))
        print("\nfine photos flagged per label (any level / severe+):")
        print(frame.loc[[r for r in frame.index if r.startswith("fine ") and r not in headline]])
        print("\nfine photos flagged per scene tag (any level / severe+ / n):")
        print(frame.loc[[r for r in frame.index if r.startswith("scene ")]])
        print("\ncalibration curve: mean signed level per known change (viewers / reported / expected):")
        merged = curves[next(iter(curves))][["change", "field", "viewers"]].copy()
        for name, curve in curves.items():
            merged[f"{name} rep"] = curve["reported"].to_numpy()
            merged[f"{name} exp"] = curve["expected"].to_numpy()
        print(merged.to_string(index=False))
        for name, points in operating.items():
            print(f"\n{name}: detection against false alarms, dark and bright reported from P(level >= 1) > t:")
            print(points.to_string())
    print(
        f"\nbest shot first in the mefb pairs whose judged levels differ, ranking by the fast score less C points per "
        f"expected issue level (phoneiqa.rank.ISSUE_COST; a pair's key departures cancel), C = {RANK_COSTS}:"
    )
    for name, row in rank_rows.items():
        print(f"  {name:<28}" + "".join(f"{v:>8.3f}" for v in row.values()))
    print(
        f"\nexposure_stops against the known gains of the calibration changes ({int(gains.sum())}, -3 ... +2 stops "
        "and unchanged), median absolute error in stops:"
    )
    for name, value in stops_error.items():
        print(f"  {name:<40}{value:>8.2f}")
    print(
        "\nissue head time per photo (after its features, one photo per call, median of 200): "
        + ", ".join(f"{n} {v:.3f} ms" for n, v in heads_ms.items())
    )
    tables = {
        "judged": frame,
        "calibration curve": merged,
        "rank: best shot first in mefb pairs": {n: {f"C = {c}": v for c, v in r.items()} for n, r in rank_rows.items()},
        "exposure_stops error": {n: {"median abs error, stops": v} for n, v in stops_error.items()},
        "issue head ms per photo": {n: {"ms": v} for n, v in heads_ms.items()},
        **{f"operating points, {n}": points for n, points in operating.items()},
    }
    save("judged", tables, {k: v for k, v in vars(args).items() if k != "out"} | {"targets": dict(TARGETS)})


if __name__ == "__main__":
    main()
