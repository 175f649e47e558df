"""Rebuild the shipped default model (phoneiqa/pretrained/default.pt) from ../shared/data.

    python benchmarks/train_default_model.py [--install]

1. the graded synthetic-issue set from the clean photos and the well-exposed CLIVE photos
   (``runs/graded``, as ``benchmarks/make_graded_set.py --clive ../shared/data/clive``; seed 0,
   scene-disjoint 80/20 split);
2. a seeded 80/20 split of the CLIVE scores (``runs/clive_split/{train,val}.csv``, seed 0);
3. ``phoneiqa train phoneiqa/pretrained/default.json --out runs/default``;
4. with ``--install``, copies ``runs/default/model.pt`` to ``phoneiqa/pretrained/default.pt``.

Run from the repository root.  The checkpoint records the command, the config, the hashes of the
training and validation data and the validation metrics; ``phoneiqa/pretrained/TRAINING.md``
lists them for the shipped file.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CLIVE = ROOT.parent / "shared" / "data" / "clive"
CONFIG = ROOT / "phoneiqa" / "pretrained" / "default.json"


def clive_split(out: Path, seed: int = 0, fraction: float = 0.2) -> None:
    """``train.csv`` and ``val.csv`` (filename, mos) from a seeded permutation of CLIVE's mos.csv."""
    frame = pd.read_csv(CLIVE / "mos.csv").rename(columns={"image": "filename"})[["filename", "mos"]]
    order = np.random.default_rng(seed).permutation(len(frame))
    n_val = round(fraction * len(frame))
    out.mkdir(parents=True, exist_ok=True)
    frame.iloc[np.sort(order[n_val:])].to_csv(out / "train.csv", index=False)
    frame.iloc[np.sort(order[:n_val])].to_csv(out / "val.csv", index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--install", action="store_true", help="copy the result into phoneiqa/pretrained/")
    args = parser.parse_args()
    graded = ROOT / "runs" / "graded"
    if not (graded / "labels_val.csv").exists():
        make = [sys.executable, str(ROOT / "benchmarks" / "make_graded_set.py"), "--out", str(graded)]
        subprocess.run([*make, "--clive", str(CLIVE)], check=True)
    clive_split(ROOT / "runs" / "clive_split")
    out = ROOT / "runs" / "default"
    train = [sys.executable, "-m", "phoneiqa.cli", "train", str(CONFIG.relative_to(ROOT)), "--out", "runs/default"]
    subprocess.run(train, check=True, cwd=ROOT)
    if args.install:
        shutil.copyfile(out / "model.pt", CONFIG.with_name("default.pt"))
        print(f"installed {CONFIG.with_name('default.pt')}")


if __name__ == "__main__":
    main()
