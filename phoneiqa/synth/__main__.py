"""Generate the synthetic-issue training set from the clean base photos in ``../shared/data``.

    python -m phoneiqa.synth --out runs/graded [--per-image 14] [--seed 0] [--workers 2]
        [--data ../shared/data] [--fractions 0.7 0.15 0.15]

Bases: ``phoneiqa.judged.collect_bases`` (the photos of ``photos/``, ``bsds500/`` and ``clive/`` that a
viewer judged fine and was sure of, ``judged/labels.csv``).  Writes JPEGs, ``labels_{train,val,test}.csv``
(scene-disjoint) and ``manifest.csv`` into ``--out`` (levels of one viewer at the measured change,
``phoneiqa.exposure.viewer_levels``, see ``data_specs/issue_definitions.md``) and prints the time taken
and the level counts per split.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from phoneiqa.judged import collect_bases
from phoneiqa.labels import DEFAULT_SPEC, LABELS, level_names, load_graph
from phoneiqa.synth.dataset import generate_dataset

DATA = Path("..") / "shared" / "data"
"""The shared data beside the repository, relative to its root (where the command runs)."""


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m phoneiqa.synth", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--per-image", type=int, default=14)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.7, 0.15, 0.15])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    start = time.perf_counter()
    bases, counts = collect_bases(args.data)
    print(f"{len(bases)} bases {counts} in {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    frame = generate_dataset(bases, args.out, args.per_image, args.seed, args.fractions, workers=args.workers)
    seconds = time.perf_counter() - start
    print(
        f"{len(bases)} bases x {args.per_image} variants = {len(frame)} images in {seconds:.1f} s "
        f"({1000 * seconds / len(frame):.0f} ms per image, {args.workers} workers) -> {args.out}"
    )
    for split, part in frame.groupby("split"):
        clean = int((part[list(LABELS)] == 0).all(axis=1).sum())
        print(f"{split}: {len(part)} images, {part['scene'].nunique()} scenes, {clean} with no issue")
        for label, names in level_names(load_graph(DEFAULT_SPEC)).items():
            counts = part[label].value_counts().reindex(range(len(names)), fill_value=0).tolist()
            levels = "  ".join(f"{name} {n:5d}" for name, n in zip(names, counts, strict=True))
            print(f"  {label:16s} {levels}")


if __name__ == "__main__":
    main()
