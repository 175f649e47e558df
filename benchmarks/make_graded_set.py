"""Generate the graded synthetic-issue training set from clean photos (and optionally well-exposed CLIVE photos).

    python benchmarks/make_graded_set.py --out /tmp/graded [--per-image 12] [--seed 0] [--workers 2]
        [--photos ../shared/data/photos] [--clive ../shared/data/clive --clive-min-mos 65]

Writes JPEGs, ``labels_train.csv``, ``labels_val.csv`` and ``manifest.csv`` into ``--out`` (see
``data_specs/synthetic_issues.md``) and prints the time taken and the label counts per split.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from phoneiqa.labels import LABELS
from phoneiqa.synth import generate_dataset, select_well_exposed

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--photos", type=Path, default=DATA / "photos")
    parser.add_argument("--clive", type=Path, help="CLIVE folder (mos.csv, images/); adds its well-exposed photos")
    parser.add_argument("--clive-min-mos", type=float, default=65.0)
    parser.add_argument("--per-image", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--holdout", type=float, default=0.2)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    bases = sorted(args.photos.glob("*.webp"))
    if args.clive:
        start = time.perf_counter()
        clive = select_well_exposed(args.clive, args.clive_min_mos)
        print(f"CLIVE: {len(clive)} well-exposed photos selected in {time.perf_counter() - start:.1f} s")
        bases += clive
    start = time.perf_counter()
    frame = generate_dataset(bases, args.out, args.per_image, args.seed, args.holdout, workers=args.workers)
    seconds = time.perf_counter() - start
    print(
        f"{len(bases)} bases x {args.per_image} variants = {len(frame)} images in {seconds:.1f} s "
        f"({1000 * seconds / len(frame):.0f} ms per image, {args.workers} workers) -> {args.out}"
    )
    for split, part in frame.groupby("split"):
        counts = {label: part[label].value_counts().reindex(range(1, 4), fill_value=0).tolist() for label in LABELS}
        clean = int((part[list(LABELS)] == 0).all(axis=1).sum())
        print(f"{split}: {len(part)} images, {part['scene'].nunique()} scenes, {clean} all-none")
        for label, (normal, severe, blocking) in counts.items():
            print(f"  {label:16s} normal {normal:4d}  severe {severe:4d}  blocking {blocking:4d}")


if __name__ == "__main__":
    main()
