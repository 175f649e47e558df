"""int8 against the float runtime of each shipped model: CLIVE SRCC, score moves, issue levels on judged photos.

    python -m benchmarks int8 [--models fast accurate] [--every 1]

For each shipped model the packed float runtime (``backend="onnx"``) and ``backend="int8"`` assess the same
photos, side by side in one run: the 930 CLIVE photos, whose SRCC against their MOS is a fit figure (the
score heads were fitted to all of them) and whose drop from float to int8 is what the bound reads (at most
0.005), and the 1,646 photos of ``judged/``, the share whose six issue levels are identical (bound ≥ 99 %).
``--every n`` keeps every n-th photo of each set.  Needs ../shared/data and the ``int8`` extra (onnx).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

import phoneiqa
from benchmarks.results import save
from phoneiqa.judged import read_judged
from phoneiqa.labels import LABELS

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def assess_all(model: phoneiqa.Assessor, files: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Scores ``[N]`` and issue levels ``[N, 6]`` of the files."""
    found = model.assess(files, batch_size=8)
    return np.array([a.score for a in found]), np.array([[a.issues[k] for k in LABELS] for a in found])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["fast", "accurate"])
    parser.add_argument("--every", type=int, default=1, help="keep every n-th photo of each set")
    args = parser.parse_args()
    clive = pd.read_csv(DATA / "clive" / "mos.csv").iloc[:: args.every]
    clive_files = [str(DATA / "clive" / "images" / name) for name in clive["image"]]
    judged_files = read_judged(DATA)["file"].tolist()[:: args.every]
    table = {}
    for name in args.models:
        (float_scores, _), (int8_scores, _) = (
            assess_all(phoneiqa.load(name, backend=b), clive_files) for b in ("onnx", "int8")
        )
        (_, float_levels), (_, int8_levels) = (
            assess_all(phoneiqa.load(name, backend=b), judged_files) for b in ("onnx", "int8")
        )
        srcc = [spearmanr(s, clive["mos"]).statistic for s in (float_scores, int8_scores)]
        moves = np.abs(int8_scores - float_scores)
        table[name] = {
            "CLIVE SRCC, float": srcc[0],
            "int8": srcc[1],
            "change (bound -0.005)": srcc[1] - srcc[0],
            "score move, median": float(np.median(moves)),
            "90th percentile": float(np.percentile(moves, 90)),
            "max": float(moves.max()),
            "judged photos with identical levels (bound 0.99)": float((float_levels == int8_levels).all(1).mean()),
        }
    print(f"\nint8 against float: {len(clive_files)} CLIVE photos, {len(judged_files)} judged photos")
    columns = list(next(iter(table.values())))
    print(" | ".join(["model", *columns]))
    for name, row in table.items():
        print(" | ".join([name, *(f"{row[c]:.3f}" for c in columns)]))
    save("int8", {"int8 against float": table}, {"every": args.every})


if __name__ == "__main__":
    main()
