"""Evaluation-only generator of graded exposure problems, written independently of the training generator.

The issue head is trained on images made by :mod:`phoneiqa.synth`.  A head that scores well on held-out
images of that same generator may have learnt the generator's fingerprints (its particular curves, its way
of clipping, its noise) rather than the issues themselves.  This package makes the same six issues with
operators of a different kind, so that a head's scores on its images tell whether the head generalises
across generators:

- a simulated camera: the photo is taken back through an assumed camera response (a power/polynomial or
  sigmoid CRF, not the sRGB curve) and an inverse colour matrix to "raw", re-exposed, clipped per channel
  where the sensor saturates under a random white balance (so colours clip before white), and developed
  again with a filmic curve (extended Reinhard, Hable/Uncharted 2 or the ACES fit);
- Photoshop-like Levels (input black/white points, midtone gamma, output levels) and Curves (a monotone
  cubic spline, PCHIP, through control points) in CIE lightness L* (chromaticity kept) or in HSV value;
- atmospheric haze ``I = J·t + A·(1 − t)`` with a depth-like transmission gradient, veiling glare (a blurred
  copy of the scene added as stray light), and lightness squeezes and stretches about an L* quantile;
- base/detail splits: large-scale flattening and "clarity" on a Gaussian base of L*, and a Durand-style local
  tone mapping that presses down the upper range of an edge-preserving (guided-filter) base of log brightness
  while keeping the detail;
- highlights rolled off into a grey band in lightness, or pulled down by a Curves point in HSV value;
- area lights: a soft, bright elliptical light with a halo, added in linear light.

Every family has a strength 0..1 and random shape parameters; :func:`ladder` raises the strength of one
family, :func:`random_variant` combines up to three issues.  A few strengths are set from the photo itself
(the exposure that blows a target share of the frame, the knee and top of the highlights), never from the
labels.  Photos whose highlights sit less than about a stop above their mid-tones cannot reach a severe
``over_suppressed``: the measurement subtracts any move of the mid-tones from the highlight drop.

It was written without reading :mod:`phoneiqa.synth` and imports nothing from it; keep it that way.  Labels
never come from the operators: every image is encoded (JPEG or WebP), decoded, and measured against its
reference — the clean photo with the same crop and resize — by :mod:`phoneiqa.exposure`, the contract of
``data_specs/issue_definitions.md``.

Three modules: :mod:`.tones` (constants, colour helpers, the simulated camera), :mod:`.operators` (the
other families, :func:`random_variant`, :func:`ladder`) and this one (the data set: :func:`generate`).

    python -m tools.independent_generator --out /tmp/independent [--seed 1] [--limit 20] [--workers 2]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import time
from concurrent.futures import ProcessPoolExecutor
from itertools import repeat
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageOps

from phoneiqa import exposure
from tools.independent_generator.operators import FAMILIES, _ladder, ladder, random_variant
from tools.independent_generator.tones import DATA, EXCLUSIVE, LABELS, MEASUREMENTS, ORDER, SHORT_SIDE

__all__ = [
    "DATA",
    "EXCLUSIVE",
    "FAMILIES",
    "LABELS",
    "MEASUREMENTS",
    "ORDER",
    "SHORT_SIDE",
    "generate",
    "ladder",
    "load_base",
    "random_variant",
    "stable_hash",
]

# ---------------------------------------------------------------- the data set


def stable_hash(text: str) -> int:
    """A 63-bit hash of ``text`` that is the same in every process and Python version (unlike ``hash``)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def load_base(path: Path) -> Image.Image:
    """A base photo, upright (EXIF orientation applied) and in RGB."""
    with Image.open(path) as image:
        return ImageOps.exif_transpose(image).convert("RGB")


_RESAMPLING = (Image.Resampling.LANCZOS, Image.Resampling.BICUBIC, Image.Resampling.BILINEAR, Image.Resampling.BOX)


def _geometry(photo: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, dict[str, float]]:
    """A random mild crop and a resize to a short side of 320–640 px (upscaling at most 1.25×, unless below 320)."""
    w, h = photo.size
    left, top, right, bottom = (float(share) for share in rng.uniform(0, 0.06, 4))
    box = (round(left * w), round(top * h), round(w - right * w), round(h - bottom * h))
    cropped = photo.crop(box)
    short = min(cropped.size)
    target = float(rng.uniform(SHORT_SIDE[0], min(SHORT_SIDE[1], max(SHORT_SIDE[0], 1.25 * short))))
    scale = target / short
    resampling = int(rng.integers(len(_RESAMPLING)))
    size = (max(1, round(cropped.width * scale)), max(1, round(cropped.height * scale)))
    resized = cropped.resize(size, _RESAMPLING[resampling])
    return resized, {
        "geometry.crop_left": left,
        "geometry.crop_top": top,
        "geometry.crop_right": right,
        "geometry.crop_bottom": bottom,
        "geometry.scale": scale,
        "geometry.resampling": float(resampling),
    }


def _draw_encoding(rng: np.random.Generator) -> dict[str, float]:
    """Random encoding: JPEG (4:2:0 or 4:4:4) or, one time in five, WebP; quality 60–95."""
    return {
        "encode.webp": float(rng.random() < 0.2),
        "encode.quality": float(rng.integers(60, 96)),
        "encode.subsampling": float(rng.choice([0, 2])),
    }


def _encode(image: Image.Image, encoding: dict[str, float]) -> tuple[bytes, str]:
    """The encoded file and its extension."""
    buffer = io.BytesIO()
    quality = int(encoding["encode.quality"])
    if encoding["encode.webp"]:
        image.save(buffer, format="WEBP", quality=quality, method=2)
        return buffer.getvalue(), ".webp"
    image.save(buffer, format="JPEG", quality=quality, subsampling=int(encoding["encode.subsampling"]))
    return buffer.getvalue(), ".jpg"


def _emit(
    out_dir: Path,
    name: str,
    image: Image.Image,
    reference: Image.Image,
    encoding: dict[str, float],
    row: dict[str, object],
) -> dict[str, object]:
    """Encode and write ``image``, measure the decoded file against ``reference``; the manifest row."""
    data, ext = _encode(image, encoding)
    filename = f"images/{name}{ext}"
    (out_dir / filename).write_bytes(data)
    with Image.open(io.BytesIO(data)) as decoded:
        result = np.asarray(decoded.convert("RGB"))
    m = exposure.measure(result, np.asarray(reference))
    return {"filename": filename, **row, **exposure.issue_levels(m), **m.as_dict(), **encoding}


def _base_rows(base: Path, out_dir: Path, seed: int, variants: int, ladder_steps: int) -> list[dict[str, object]]:
    """All manifest rows of one base photo (clean, random variants, one ladder per label), files written."""
    photo = load_base(base)
    key = stable_hash(base.stem)
    common = {"base": base.name, "ladder_label": None, "ladder_step": None}
    rng = np.random.default_rng([seed, key, 0])
    reference, geometry = _geometry(photo, rng)
    rows = [
        _emit(
            out_dir,
            f"{base.stem}_clean",
            reference,
            reference,
            _draw_encoding(rng),
            {**common, "kind": "clean", **geometry},
        )
    ]
    for i in range(variants):
        rng = np.random.default_rng([seed, key, 1, i])
        reference, geometry = _geometry(photo, rng)
        image, params = random_variant(reference, rng)
        rows.append(
            _emit(
                out_dir,
                f"{base.stem}_random{i}",
                image,
                reference,
                _draw_encoding(rng),
                {**common, "kind": "random", **geometry, **params},
            )
        )
    for j, label in enumerate(LABELS):
        rng = np.random.default_rng([seed, key, 2, j])
        reference, geometry = _geometry(photo, rng)
        encoding = _draw_encoding(rng)
        for step, (image, params) in enumerate(_ladder(reference, label, rng, ladder_steps)):
            rows.append(
                _emit(
                    out_dir,
                    f"{base.stem}_{label}{step}",
                    image,
                    reference,
                    encoding,
                    {**common, "kind": "ladder", "ladder_label": label, "ladder_step": step, **geometry, **params},
                )
            )
    return rows


def generate(
    bases: list[Path], out_dir: Path, seed: int, variants: int = 6, ladder_steps: int = 5, workers: int = 1
) -> pd.DataFrame:
    """Write the evaluation set for ``bases`` under ``out_dir`` and return its manifest.

    For every base photo: the clean photo itself (kind="clean"), `variants` random variants (kind="random"), and
    one ladder per label (kind="ladder", with columns ladder_label and ladder_step).

    All are cropped slightly and resized so the short side is 320–640 px (the reference gets the same geometry)
    and saved as JPEG or WebP under ``out_dir/images``.  Writes ``out_dir/manifest.csv`` and returns it: filename
    (relative to ``out_dir``), base, kind, ladder_label, ladder_step, the six measured levels, the four
    measurements, the encoding, geometry and operator parameters (``label.family.parameter``; empty where an
    operator was not used).  Deterministic given ``seed`` and the base names; ``workers`` > 1 uses processes.
    """
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    args = (repeat(out_dir), repeat(seed), repeat(variants), repeat(ladder_steps))
    if workers > 1:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            per_base = list(pool.map(_base_rows, bases, *args))
    else:
        per_base = list(map(_base_rows, bases, *args))
    frame = pd.DataFrame([row for rows in per_base for row in rows])
    first = ["filename", "base", "kind", "ladder_label", "ladder_step", *LABELS, *MEASUREMENTS]
    frame = frame[first + sorted(set(frame.columns) - set(first))]
    frame["ladder_step"] = frame["ladder_step"].astype("Int64")
    frame.to_csv(out_dir / "manifest.csv", index=False)
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--photos", type=Path, default=DATA / "photos", help="folder of base photos (*.webp)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--limit", type=int, help="use only the first N photos")
    parser.add_argument("--variants", type=int, default=6)
    parser.add_argument("--ladder-steps", type=int, default=5)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    bases = sorted(args.photos.glob("*.webp"))[: args.limit]
    start = time.perf_counter()
    frame = generate(bases, args.out, args.seed, args.variants, args.ladder_steps, args.workers)
    seconds = time.perf_counter() - start
    print(
        f"{len(bases)} bases -> {len(frame)} images in {seconds:.1f} s "
        f"({1000 * seconds / len(frame):.0f} ms per image, {args.workers} workers) -> {args.out / 'manifest.csv'}"
    )
    random = frame[frame["kind"] == "random"]
    for label in LABELS:
        counts = random[label].value_counts().reindex(range(4), fill_value=0).tolist()
        print(f"  random {label:16s} levels 0..3: {counts}")
