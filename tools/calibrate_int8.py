"""Calibrate the shipped models' int8 form: write ``phoneiqa/pretrained/<stem>.int8-ranges.json``.

    python tools/calibrate_int8.py [--photos ../shared/data/photos] [--count 64]

Runs each packed runtime (float) over the first ``--count`` photos of ``--photos`` (sorted by name) and
stores the min/max of every quantised activation (:func:`phoneiqa.quantize.calibrate`).  Needs onnx.
Run it again after ``pack_shipped`` (the ranges belong to the packed weights).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from phoneiqa.quantize import calibrate
from phoneiqa.specs import SHIPPED

PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "photos"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=PHOTOS)
    parser.add_argument("--count", type=int, default=64)
    args = parser.parse_args()
    photos = sorted(p for p in args.photos.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp"})
    for spec in SHIPPED.values():
        print(spec.name, calibrate(spec.files.runtime_spec, photos[: args.count]))


if __name__ == "__main__":
    main()
