"""Synthetic exposure issues, the dataset: crop, resize and JPEG augmentation, clean bases, scene-disjoint splits,
and :func:`generate_dataset`, which writes a graded training set (``python -m phoneiqa.synth`` runs it on
``../shared/data``)."""

from __future__ import annotations

import hashlib
import io
import math
import multiprocessing
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageOps

from phoneiqa import exposure
from phoneiqa.labels import LABELS
from phoneiqa.synth.operators import CLIPPED, Band, channel_max, lightness, synthesize, to_linear

# ---------------------------------------------------------------------------------------------------------------------
# augmentation, identical in distribution for every level (the untouched original included)

CROP_AREA: Band = (0.7, 1.0)
"""Fraction of the photo's area a random crop keeps."""
CROP_ASPECT = 1.15
"""Largest factor by which a crop's aspect ratio may differ from the photo's."""
SHORT_SIDE = (320, 720)
"""Range of the output's short side in pixels, before the upscaling cap."""
MAX_UPSCALE = 1.6
"""The short side is never more than this times the crop's (small bases stay near their own size)."""
RESAMPLING = (Image.Resampling.BILINEAR, Image.Resampling.BICUBIC, Image.Resampling.LANCZOS)
JPEG_QUALITY = (70, 95)
SUBSAMPLING_420_SHARE = 0.75
"""Share of JPEGs with 4:2:0 chroma subsampling (as phones write them); the rest are 4:4:4."""


def augment_geometry(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, dict[str, float]]:
    """A random crop keeping most of the scene, resized to a phone-like size; also returns what was drawn."""
    width, height = image.size
    area = rng.uniform(*CROP_AREA)
    aspect = math.exp(rng.uniform(-math.log(CROP_ASPECT), math.log(CROP_ASPECT)))
    crop_w = min(width, max(1, round(width * math.sqrt(area * aspect))))
    crop_h = min(height, max(1, round(height * math.sqrt(area / aspect))))
    left = int(rng.integers(width - crop_w + 1))
    top = int(rng.integers(height - crop_h + 1))
    short = min(crop_w, crop_h)
    target = min(int(rng.integers(SHORT_SIDE[0], SHORT_SIDE[1] + 1)), max(SHORT_SIDE[0], round(MAX_UPSCALE * short)))
    resample = RESAMPLING[int(rng.integers(len(RESAMPLING)))]
    size = (max(1, round(crop_w * target / short)), max(1, round(crop_h * target / short)))
    cropped = image.crop((left, top, left + crop_w, top + crop_h))
    return cropped.resize(size, resample), {"crop_area": crop_w * crop_h / (width * height), "short_side": target}


def encode_jpeg(image: Image.Image, rng: np.random.Generator) -> tuple[bytes, int]:
    """JPEG bytes at a random quality and chroma subsampling, and the quality drawn."""
    quality = int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1))
    subsampling = 2 if rng.random() < SUBSAMPLING_420_SHARE else 0
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, subsampling=subsampling)
    return buffer.getvalue(), quality


# ---------------------------------------------------------------------------------------------------------------------
# bases: loading, CLIVE selection, near-duplicate scenes, scene-disjoint splits


def load_base(path: Path) -> Image.Image:
    """A base photo as upright RGB."""
    with Image.open(path) as image:
        return ImageOps.exif_transpose(image).convert("RGB")


def photometric_stats(image: Image.Image) -> dict[str, float]:
    """Exposure statistics: lightness (CIE L*) median, spread and 99th percentile, clipped and near-black shares."""
    lin = to_linear(image)
    light = lightness(lin)
    return {
        "median_lightness": float(np.median(light)),
        "lightness_std": float(light.std()),
        "p99_lightness": float(np.percentile(light, 99)),
        "clipped_fraction": float((channel_max(lin) >= CLIPPED).mean()),
        "black_fraction": float((light < 5.0).mean()),
    }


WELL_EXPOSED: dict[str, Band] = {
    "median_lightness": (25.0, 70.0),
    "lightness_std": (14.0, 32.0),
    "p99_lightness": (75.0, 100.0),
    "clipped_fraction": (0.0, 0.08),
    "black_fraction": (0.0, 0.15),
}
"""Photometric sanity bounds (inclusive) that a photo of unknown exposure must meet to serve as a clean base."""


def is_well_exposed(stats: Mapping[str, float]) -> bool:
    """Whether :func:`photometric_stats` fall inside every :data:`WELL_EXPOSED` bound."""
    return all(lo <= stats[name] <= hi for name, (lo, hi) in WELL_EXPOSED.items())


def pixel_digest(path: Path) -> str:
    """A digest of a photo's pixels, the same whatever its file format (lossless copies of one photo agree)."""
    image = load_base(path)
    if image.width < image.height:
        image = image.transpose(Image.Transpose.ROTATE_90)
    return hashlib.sha1(image.tobytes()).hexdigest()


DUPLICATE_CORRELATION = 0.97
"""Correlation of 16×16 grey thumbnails above which two bases count as one scene."""


def scene_groups(bases: Sequence[Path]) -> dict[Path, str]:
    """A scene id for each base: near-duplicates (same photo in two test sets, resized or re-cropped) share one.

    The id is the file stem of the group's first member in sorted order.
    """
    bases = sorted(bases)
    thumbs = np.stack([_thumbnail(path) for path in bases])
    similar = thumbs @ thumbs.T / thumbs.shape[1] > DUPLICATE_CORRELATION
    parent = list(range(len(bases)))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(similar, 1)), strict=True):
        parent[max(root(i), root(j))] = min(root(i), root(j))
    return {path: bases[root(i)].stem for i, path in enumerate(bases)}


def _thumbnail(path: Path) -> np.ndarray:
    grey = np.asarray(load_base(path).convert("L").resize((16, 16), Image.Resampling.BOX), dtype=np.float32).ravel()
    return (grey - grey.mean()) / max(float(grey.std()), 1e-6)


SPLITS = ("train", "val", "test")


def scene_splits(bases: Sequence[Path], fractions: Sequence[float], seed: int) -> dict[Path, str]:
    """A split name (``train``, ``val``, ``test``) for each base, whole scenes (:func:`scene_groups`) at a time.

    ``fractions`` are the shares of scenes for (train, val[, test]); a split with a positive share
    gets at least one scene when there are enough.  Depends on the seed and the bases only.
    """
    if not 2 <= len(fractions) <= 3 or min(fractions) < 0 or not math.isclose(sum(fractions), 1.0):
        raise ValueError(f"fractions must be 2 or 3 non-negative shares summing to 1, got {list(fractions)}")
    scenes = scene_groups(bases)
    names = sorted(set(scenes.values()))
    order = [names[i] for i in np.random.default_rng([seed, _stable_id("holdout")]).permutation(len(names))]
    counts = [round(f * len(names)) for f in fractions[1:]]
    counts = [
        min(max(c, 1 if f > 0 else 0), max(len(names) - 1, 0)) for c, f in zip(counts, fractions[1:], strict=True)
    ]
    split_of: dict[str, str] = {}
    start = 0
    for name, count in zip(SPLITS[1:], counts, strict=False):
        split_of.update(dict.fromkeys(order[start : start + count], name))
        start += count
    return {path: split_of.get(scene, "train") for path, scene in scenes.items()}


# ---------------------------------------------------------------------------------------------------------------------
# dataset generation


@dataclass(frozen=True)
class _Job:
    base: Path
    out_dir: Path
    per_image: int
    seed: int


def generate_dataset(
    bases: Sequence[Path],
    out_dir: Path,
    per_image: int,
    seed: int,
    fractions: Sequence[float] = (0.8, 0.2),
    workers: int = 1,
) -> pd.DataFrame:
    """Write ``per_image`` JPEG variants of every base photo and their label CSVs into ``out_dir``.

    Variant 0 of a base is the clean photo; variants 1.. are :func:`synthesize` variants.  All go through
    the same crop, resize and JPEG augmentation, and every variant is *measured* on the decoded JPEG
    against the clean crop (:func:`phoneiqa.exposure.measure`) and given the levels of one viewer drawn
    from the judged calibration (:func:`phoneiqa.exposure.viewer_levels`; the draws are stored as
    ``viewer_<measurement>``), so a variant one stop under is called dim as often as viewers do, and
    a clean base with a blown sky is labelled ``overexposed`` like any other photo.  Whole scenes
    (:func:`scene_splits` with ``fractions`` of train, val and optionally test) go to ``labels_<split>.csv`` (the
    ``data_specs/labels_csv.md`` format, filenames relative to ``out_dir``); ``manifest.csv`` adds
    base, scene, split, the measurements and what was drawn.  The output depends on the seed and the
    bases' names and pixels only, not on ``workers`` (processes) or the order of ``bases``.
    """
    bases = sorted(Path(path) for path in bases)
    stems = [path.stem for path in bases]
    if len(set(stems)) != len(stems):
        raise ValueError("base photos need distinct file stems (output files are named after them)")
    if per_image < 1:
        raise ValueError(f"per_image must be at least 1, got {per_image}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    split_of = scene_splits(bases, fractions, seed)
    scenes = scene_groups(bases)
    jobs = [_Job(path, out_dir, per_image, seed) for path in bases]
    if workers > 1:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            per_base = list(pool.map(_render_base, jobs))
    else:
        per_base = [_render_base(job) for job in jobs]

    frame = pd.DataFrame([row for rows in per_base for row in rows])
    by_name = {path.name: path for path in bases}
    frame.insert(1, "scene", frame["base"].map(lambda name: scenes[by_name[name]]))
    frame.insert(2, "split", frame["base"].map(lambda name: split_of[by_name[name]]))
    _write_labels(frame, out_dir)
    return frame


def relabel(out_dir: Path) -> pd.DataFrame:
    """Levels of a generated dataset recomputed from the measurements and viewer draws in its ``manifest.csv``
    with the current :data:`phoneiqa.exposure.BOUNDARIES`, and its label CSVs rewritten (after they change)."""
    frame = pd.read_csv(out_dir / "manifest.csv")
    names = list(exposure.Measurement.__dataclass_fields__)
    rows = [
        exposure.viewer_levels(exposure.Measurement(*row[names]), {n: row[f"viewer_{n}"] for n in names})
        for _, row in frame.iterrows()
    ]
    frame[list(LABELS)] = pd.DataFrame(rows, index=frame.index)[list(LABELS)]
    _write_labels(frame, out_dir)
    return frame


def _write_labels(frame: pd.DataFrame, out_dir: Path) -> None:
    for split in SPLITS:
        if (frame["split"] == split).any():
            frame.loc[frame["split"] == split, ["filename", *LABELS]].to_csv(
                out_dir / f"labels_{split}.csv", index=False
            )
    frame.to_csv(out_dir / "manifest.csv", index=False)


def _render_base(job: _Job) -> list[dict[str, object]]:
    base = load_base(job.base)
    rows = []
    for variant in range(job.per_image):
        rng = np.random.default_rng([job.seed, _stable_id(job.base.stem), variant])
        reference, geometry = augment_geometry(base, rng)
        image, drawn = synthesize(reference, rng) if variant else (reference, {})
        data, quality = encode_jpeg(image, rng)
        with Image.open(io.BytesIO(data)) as decoded:
            measurement = exposure.measure(np.asarray(decoded.convert("RGB")), np.asarray(reference))
        noise = exposure.draw_viewer_noise(np.random.default_rng([job.seed, _stable_id(job.base.stem), variant, 1]))
        levels, measurements = exposure.viewer_levels(measurement, noise), measurement.as_dict()
        filename = f"{job.base.stem}__v{variant:02d}.jpg"
        (job.out_dir / filename).write_bytes(data)
        rows.append(
            {
                "filename": filename,
                "base": job.base.name,
                "variant": variant,
                **levels,
                **measurements,
                **{f"viewer_{name}": value for name, value in noise.items()},
                **geometry,
                "jpeg_quality": quality,
                **drawn,
            }
        )
    return rows


def _stable_id(text: str) -> int:
    """A 64-bit integer from a string, the same in every process (unlike ``hash``)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")
