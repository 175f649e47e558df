"""Rebuild the shipped models (phoneiqa/pretrained/<stem>.pt) from ../shared/data.

    python tools/train_shipped_models.py [--models fast accurate] [--install]

For each shipped model (``phoneiqa.specs.SHIPPED``: its files are named after its record's ``files.stem``,
``default`` for ``fast``), with its recipe ``phoneiqa/pretrained/<stem>.json``:

1. the synthetic-issue set from the photos judged fine (``runs/graded``, as
   ``python -m phoneiqa.synth --per-image 6 --fractions 0.85 0.15``: seed 0, scene-disjoint
   train / validation split, each variant labelled with one viewer's levels at its measured change);
2. the photos judged by eye (``runs/judged``: ``judged/labels.csv`` with the six levels and the judge as
   ``rater``, split as their scenes are);
3. the CLIVE scores: ``runs/clive_split/all.csv`` (all 930 photos, what the score head is fitted on:
   its choices were made by 10-split cross-validation, ``benchmarks/bench_score.py``) and the
   seed-0 20 % ``val.csv`` that the training record reports on (seen in training: a fit figure);
4. ``phoneiqa train runs/<stem>/config.json --out runs/<stem>``: the recipe
   ``phoneiqa/pretrained/<stem>.json`` (encoder, heads, optimisation; no data paths: they are written
   here, in ``write_config``) with these files;
5. with ``--install``, copies ``runs/<stem>/model.pt`` to ``phoneiqa/pretrained/<stem>.pt``,
   writes ``phoneiqa/pretrained/TRAINING-<stem>.md`` from the metadata stored in the checkpoint, and
   compiles every shipped model into the packed runtime form the package loads without torch
   (``<stem>.onnx``, ``<stem>.runtime.json``, shared ``weights-<i>.npz``: ``phoneiqa.runtime.pack_shipped``).

Run from the repository root.  The checkpoint records the command, the config, the hashes of the
training and validation data and the validation metrics; the TRAINING files list them for the
shipped files.  ``--record-only`` rewrites them and the packed runtimes from the shipped files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from phoneiqa.judged import TRAINING_REPEAT, read_judged, scene_folds
from phoneiqa.labels import LABELS
from phoneiqa.specs import SHIPPED, ModelSpec, shipped

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
CLIVE = DATA / "clive"


def clive_split(out: Path, seed: int = 0, fraction: float = 0.2) -> None:
    """``all.csv``, ``train.csv`` and ``val.csv`` (filename, mos) from a seeded permutation of CLIVE's mos.csv."""
    frame = pd.read_csv(CLIVE / "mos.csv").rename(columns={"image": "filename"})[["filename", "mos"]]
    order = np.random.default_rng(seed).permutation(len(frame))
    n_val = round(fraction * len(frame))
    out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out / "all.csv", index=False)
    frame.iloc[np.sort(order[n_val:])].to_csv(out / "train.csv", index=False)
    frame.iloc[np.sort(order[:n_val])].to_csv(out / "val.csv", index=False)


def judged_split(graded: Path, out: Path) -> None:
    """``labels_train.csv`` and ``labels_val.csv`` of the photos judged by eye (``judged/labels.csv``, levels by
    ``phoneiqa.judged``, the judge as ``rater``; filenames relative to ``../shared/data``).  A photo is in
    validation when its scene's synthetic variants are (``graded``'s split), or, for scenes that are no
    reference, when its scene is in fold 0 of 7 scene folds."""
    judged = read_judged(DATA)
    split = pd.read_csv(graded / "manifest.csv").drop_duplicates("base").set_index("base")["split"]
    folds = scene_folds(judged["scene_id"], 7, 0)
    val_scenes = {
        s for s, p in zip(judged["scene_id"], judged["path"], strict=True) if split.get(Path(p).name) == "val"
    }
    val = judged["scene_id"].isin(val_scenes).to_numpy() | (
        (folds == 0) & ~judged["path"].map(lambda p: Path(p).name in split.index).to_numpy()
    )
    out.mkdir(parents=True, exist_ok=True)
    frame = judged.rename(columns={"path": "filename", "judge": "rater"})[["filename", *LABELS, "rater"]]
    frame[~val].to_csv(out / "labels_train.csv", index=False)
    frame[val].to_csv(out / "labels_val.csv", index=False)


def write_config(spec: ModelSpec, out: Path) -> Path:
    """The shipped model's recipe (encoder, heads, optimisation) with this data set's files: ``out``."""
    recipe = json.loads(spec.files.recipe.read_text(encoding="utf-8"))
    images = os.path.relpath(CLIVE / "images", ROOT)  # the config's paths are relative to the repository root
    data_dir = os.path.relpath(DATA, ROOT)
    data = {
        part: [
            {"csv": f"runs/clive_split/{'all' if part == 'train' else 'val'}.csv", "images": images},
            {"csv": f"runs/graded/labels_{part}.csv"},
            {"csv": f"runs/judged/labels_{part}.csv", "images": data_dir, "repeat": TRAINING_REPEAT},
        ]
        for part in ("train", "val")
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**recipe, "data": data}, indent=2) + "\n", encoding="utf-8")
    return out


def write_record(spec: ModelSpec) -> None:
    """TRAINING-<stem>.md: how the shipped checkpoint was trained, read back from its own metadata (its row in
    the score benchmark is ``<score head>@<model name>``)."""
    import torch

    from phoneiqa.evaluate import format_metrics

    checkpoint, out = spec.files.checkpoint, spec.files.training_record
    meta = torch.load(checkpoint, map_location="cpu", weights_only=True)["meta"]
    metrics = {k: v for k, v in meta["metrics"].items() if k in ("score", "issues")}
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    bench_row = spec.name
    config = meta["config"]
    score_head = config.get("model", config)["score_head"]["name"]  # checkpoints before the split: one flat config
    text = f"""# How `{checkpoint.name}` was trained

Generated by `python tools/train_shipped_models.py --install` from the checkpoint's own metadata.

- file: `{checkpoint.name}`, {checkpoint.stat().st_size / 1e6:.1f} MB, sha256 `{digest}`
- command: `{meta["command"]}` (after the data preparation steps of `tools/train_shipped_models.py`)
- trained: {meta["trained_at"]}, phoneiqa {meta["phoneiqa_version"]}, torch {meta["torch_version"]}, \
Python {meta["python"]}
- data: CLIVE scores (`../shared/data/clive`, all 930 photos) for the score head; for the issue head,
  the 1,646 photos judged by eye (`../shared/data/judged/labels.csv`, levels read by `phoneiqa.judged`,
  each judge named as `rater`, whose offsets are learned as a nuisance) and the synthetic-issue set of
  `python -m phoneiqa.synth` (bases: the 1,257 photos judged fine and sure; 6 variants each; seed 0;
  scene-disjoint 85/15 train / validation split, the judged photos following their scenes; each variant
  labelled with one viewer's levels at its measured change, `phoneiqa.exposure.viewer_levels`, as
  `data_specs/issue_definitions.md` defines them)
- data hashes (SHA-1 over file digests and labels): train `{meta["data_hash"]["train"]}`,
  validation `{meta["data_hash"]["val"]}`
- rows: score {meta["metrics"]["score_rows"]}, issues {meta["metrics"]["issues_rows"]}
- the score head's encoder, input size and head were chosen by cross-validation on CLIVE: median of
  10 seeded 80/20 splits, `python -m benchmarks score --methods {score_head}@{bench_row} ridge@photometric`;
  the issue head's recipe by `python -m benchmarks judged` (judged photos in 5 scene-disjoint folds, the
  head refitted per fold); the figures on held-out data, each beside a simple baseline from the same run, are
  in the README's summary and `docs/numbers.md`

## Validation metrics

The score rows here (the seed-0 20 % of CLIVE) were also training rows, so the score figures are a fit,
not a validation; the issue rows chose the early-stopping epoch.  `benchmarks/bench_score.py` (median
of 10 seeded CLIVE splits) and `benchmarks/bench_judged.py` (judged photos of scenes the head was not
trained on, the judged calibration changes, ladders) give unbiased figures.

```
{format_metrics(metrics)}
```

{held_out(spec, score_head)}

## Config

```json
{json.dumps(meta["config"], indent=2)}
```
"""
    out.write_text(text, encoding="utf-8")


JUDGED_ROWS = {
    "fine any": "photos judged fine, flagged at any level (false alarms)",
    "fine severe+": "photos judged fine, flagged severe or worse",
    "dark>=2 found": "photos judged severely dark (>= 2), found dark",
    "bright>=2 found": "photos judged severely bright, found bright",
    "blown>=2 found": "photos judged severely blown, found overexposed",
    "exposure spearman, levels": "Spearman of the reported exposure levels against the judged ones",
    "calibration max error (expected)": "calibration curve: largest gap to the viewers' mean level (expected levels)",
}
"""The rows of ``python -m benchmarks judged`` a training record quotes, and what each one is."""


def load_result(name: str) -> dict:
    """A saved benchmark result, ``runs/bench/<name>.json`` (``$PHONEIQA_BENCH_RESULTS`` as ``benchmarks.results``)."""
    folder = Path(os.environ.get("PHONEIQA_BENCH_RESULTS", ROOT / "runs" / "bench"))
    return json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))


def _row(table: dict, name: str) -> dict:
    return dict(zip(table["columns"], next(r for r in table["rows"] if r[0] == name), strict=True))


def _figure(value: float | None) -> str:
    return "–" if value is None or value != value else f"{value:.3f}"  # NaN: the baseline has no such figure


def held_out(spec: ModelSpec, score_head: str) -> str:
    """The record's section of figures on data the head was not fitted to, each beside a simple baseline of the
    same run, read from the saved results of ``python -m benchmarks score`` and ``judged`` (``runs/bench``)."""
    lines = ["## Held-out figures", ""]
    try:
        score, judged = load_result("score"), load_result("judged")
        method, column = f"{score_head}@{spec.name}", f"new {spec.files.stem}"
        ours, base = _row(score["tables"]["score"], method), _row(score["tables"]["score"], "ridge@photometric")
        issues = judged["tables"]["judged"]
        rows = {name: (_row(issues, name)[column], _row(issues, name)["threshold rule"]) for name in JUDGED_ROWS}
    except (OSError, KeyError, StopIteration) as exc:
        return "\n".join([*lines, f"Not recorded here ({exc!r}): run `python -m benchmarks score` and `judged`."])
    lines += [
        f"Score: `{score['meta']['command']}` (commit `{score['meta']['commit'][:7]}`, {score['meta']['date'][:10]}): "
        f"CLIVE SRCC, median [min, max] of {score['meta']['splits']} seeded 80/20 splits, the head refitted on each "
        "training part.",
        "",
        "| | this model | baseline: ridge on the 56 photometric statistics |",
        "|---|---|---|",
        f"| SRCC | {ours['SRCC']:.3f} [{ours['SRCC min']:.3f}, {ours['SRCC max']:.3f}] | "
        f"{base['SRCC']:.3f} [{base['SRCC min']:.3f}, {base['SRCC max']:.3f}] |",
        f"| PLCC | {ours['PLCC']:.3f} | {base['PLCC']:.3f} |",
        "",
        f"Issue levels: `{judged['meta']['command']}` (commit `{judged['meta']['commit'][:7]}`, "
        f"{judged['meta']['date'][:10]}): the 1,646 photos judged by eye in 5 scene-disjoint folds, the issue head "
        "refitted per fold, so every photo is predicted by a head that never saw its scene; the calibration changes "
        "likewise.",
        "",
        "| | this recipe | baseline: one photometric threshold per label, fitted on the same folds |",
        "|---|---|---|",
        *(f"| {JUDGED_ROWS[name]} | {_figure(a)} | {_figure(b)} |" for name, (a, b) in rows.items()),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(SHIPPED), help="shipped models to train (names or aliases)")
    parser.add_argument("--install", action="store_true", help="copy the results into phoneiqa/pretrained/")
    parser.add_argument("--record-only", action="store_true", help="only rewrite the TRAINING files of shipped models")
    args = parser.parse_args()
    if not args.record_only:
        graded = ROOT / "runs" / "graded"
        if not (graded / "labels_val.csv").exists():
            make = [sys.executable, "-m", "phoneiqa.synth", "--data", str(DATA), "--out", str(graded)]
            subprocess.run([*make, "--per-image", "6", "--fractions", "0.85", "0.15"], check=True)
        judged_split(graded, ROOT / "runs" / "judged")
        clive_split(ROOT / "runs" / "clive_split")
    for spec in map(shipped, args.models):
        run = f"runs/{spec.files.stem}"
        if not args.record_only:
            config = write_config(spec, ROOT / run / "config.json").relative_to(ROOT)
            train = [sys.executable, "-m", "phoneiqa.cli", "train", str(config), "--out", run]
            subprocess.run(train, check=True, cwd=ROOT)
            if not args.install:
                continue
            shutil.copyfile(ROOT / run / "model.pt", spec.files.checkpoint)
        write_record(spec)
        print(f"{spec.files.checkpoint} and {spec.files.training_record.name}")
    if args.install or args.record_only:
        from phoneiqa.runtime import pack_shipped

        for name, spec_file in pack_shipped().items():
            print(f"{name}: {shipped(name).files.runtime_onnx} and {spec_file.name}")


if __name__ == "__main__":
    main()
