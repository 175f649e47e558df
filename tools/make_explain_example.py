"""The README's exposure-map example: the package's sample photo over-exposed, assessed with ``explain=True``.

    python tools/make_explain_example.py [--out docs/explain-example.png]

The sample photo (``phoneiqa/samples/china.jpg``, CC BY 2.0) is brightened by a gain of 1.5 stops in
linear light with hard clipping, as a camera would over-expose it; the script prints the assessment
and the maps' shares, and writes the photo and its overlay side by side.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

import phoneiqa
from phoneiqa.cli import sample_photo
from phoneiqa.photometric import srgb_to_linear

ROOT = Path(__file__).resolve().parents[1]


def over_expose(codes: np.ndarray, stops: float) -> np.ndarray:
    """8-bit sRGB ``codes`` with ``stops`` more exposure: gain in linear light, clipped at white."""
    linear = np.clip(srgb_to_linear(codes / 255.0) * 2.0**stops, 0.0, 1.0)
    encoded = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    return np.round(255 * encoded).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "explain-example.png")
    args = parser.parse_args()
    photo = over_expose(np.asarray(Image.open(sample_photo()).convert("RGB")), 1.5)
    assessment = phoneiqa.assess(photo, explain=True)
    print(assessment)
    print({name: round(share, 3) for name, share in assessment.explanation.shares.items()})
    overlay = assessment.overlay()
    small = Image.fromarray(assessment.explanation.pixels)
    sheet = Image.new("RGB", (small.width + overlay.width + 8, overlay.height), (255, 255, 255))
    sheet.paste(small, (0, 0))
    sheet.paste(overlay, (small.width + 8, 0))
    sheet.save(args.out, optimize=True)
    print(f"{args.out}: {sheet.width}×{sheet.height}")


if __name__ == "__main__":
    main()
