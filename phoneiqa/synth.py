"""Graded synthetic exposure issues: clean photos in, labelled training examples for the issue head out.

Each issue label is a parametric, physically motivated operation on the photo (exposure in linear
light, tone curves in sRGB-encoded space, highlight clipping and highlight compression in stops);
levels 1..3 are bands of the operation's parameter and level 0 is a small jitter well inside
"no issue".  Levels are relative to the base photo, which is taken as well exposed.  The bands, the
sampling distribution and the augmentations are documented in ``data_specs/synthetic_issues.md``.

    rng = np.random.default_rng(0)
    levels = sample_levels(rng)                  # e.g. {"dark": 2, "low_contrast": 1, the others 0}
    degraded = apply_issues(photo, levels, rng)
    frame = generate_dataset(bases, Path("/tmp/graded"), per_image=12, seed=0)
"""

from __future__ import annotations

import hashlib
import io
import math
import multiprocessing
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageOps

from phoneiqa.labels import LABELS, LEVELS

Operation = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]
Band = tuple[float, float]

# ---------------------------------------------------------------------------------------------------------------------
# colour and per-channel curves


def srgb_encode(lin: np.ndarray) -> np.ndarray:
    """The sRGB transfer function: linear light in [0, 1] to encoded values in [0, 1]."""
    lin = np.clip(lin, 0.0, 1.0)
    return np.where(lin <= 0.0031308, lin * 12.92, 1.055 * np.power(lin, 1.0 / 2.4) - 0.055)


def srgb_decode(enc: np.ndarray) -> np.ndarray:
    """Inverse of :func:`srgb_encode`."""
    enc = np.clip(enc, 0.0, 1.0)
    return np.where(enc <= 0.04045, enc / 12.92, np.power((enc + 0.055) / 1.055, 2.4))


_STEPS = 65535
_GRID = np.linspace(0.0, 1.0, _STEPS + 1, dtype=np.float32)
_DECODE_8BIT = srgb_decode(np.arange(256) / 255.0).astype(np.float32)
_ENCODE_8BIT = (srgb_encode(_GRID) * 255.0 + 0.5).astype(np.uint8)
_ENCODE = srgb_encode(_GRID).astype(np.float32)
_LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)  # Rec. 709 / sRGB primaries
CLIPPED = 0.99
"""Linear value from which a channel counts as saturated (8-bit code 254 decodes to 0.991)."""


def _steps(x: np.ndarray) -> np.ndarray:
    """Values in [0, 1] as indices into a 65,536-entry table (clipped)."""
    return (np.clip(x, 0.0, 1.0) * np.float32(_STEPS) + 0.5).astype(np.uint16)


def apply_curve(lin: np.ndarray, curve: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply a per-channel tone curve, a vectorised map of [0, 1] into [0, 1], through a 65,536-step table.

    Exact at every step of the table; a few ms for a 500x500 photo, whatever the curve costs.
    """
    return np.take(np.clip(curve(_GRID), 0.0, 1.0).astype(np.float32), _steps(lin))


def to_linear(image: Image.Image) -> np.ndarray:
    """An RGB image as float32 linear-light RGB in [0, 1], shape (H, W, 3)."""
    return _DECODE_8BIT[np.asarray(image.convert("RGB"))]


def to_image(lin: np.ndarray) -> Image.Image:
    """Linear-light RGB back to an 8-bit sRGB image (values outside [0, 1] are clipped)."""
    return Image.fromarray(np.take(_ENCODE_8BIT, _steps(lin)))


def luminance(lin: np.ndarray) -> np.ndarray:
    """Relative luminance Y of linear RGB, shape (H, W)."""
    return lin @ _LUMA


def lightness(lin: np.ndarray) -> np.ndarray:
    """CIE L* (0..100) of linear RGB, shape (H, W)."""
    y = luminance(lin)
    return np.where(y > 216 / 24389, 116.0 * np.cbrt(y) - 16.0, y * (24389 / 27))


def _thin(lin: np.ndarray) -> np.ndarray:
    """Every other row and column: enough pixels for the global statistics that set an operation's curve."""
    return lin[::2, ::2]


def channel_max(lin: np.ndarray) -> np.ndarray:
    """The brightest channel of each pixel, shape (H, W)."""
    return np.maximum(np.maximum(lin[..., 0], lin[..., 1]), lin[..., 2])


# ---------------------------------------------------------------------------------------------------------------------
# operations: linear RGB (H, W, 3) float32 in [0, 1], a parameter value and a generator for shape jitter -> the same

GAMMA_SHARE = 1 / 3
"""Share of darkenings rendered as a gamma tone curve instead of a linear gain."""
SHOULDER_KNEE: Band = (0.5, 0.85)
"""Linear level above which a brightening gain rolls off softly into white (1 would be a hard clip)."""
CLIP_RAMP_EV: Band = (1.0, 2.0)
"""Stops below the clipping threshold over which the highlight boost of ``overexposed`` ramps in."""
KNEE_BELOW_EV: Band = (1.5, 2.5)
"""Stops below the highlight level where the compression of ``over_suppressed`` starts."""
MIN_RATIO = 0.25
"""Smallest slope (in stops per stop) above the knee of ``over_suppressed``; a longer zone is used if needed."""
KNEE_SOFTNESS_EV = 0.5


def expose(lin: np.ndarray, ev: float, rng: np.random.Generator) -> np.ndarray:
    """Change the exposure by ``ev`` stops, measured at the scene's median luminance.

    A linear gain of 2**ev.  Brightening rolls off into white through a soft shoulder above a random
    knee, as a camera's tone curve does, that reaches white exactly where the base's white lands
    (clipped areas stay clipped; nothing else reaches 1.0).  One darkening in three is instead a
    gamma curve that moves the median luminance by the same ``ev`` but keeps white where it is
    (underexposed, highlights held).  Brightening by gamma is not used: it fogs the shadows.
    """
    use_gamma = rng.random() < GAMMA_SHARE and ev < 0
    knee = rng.uniform(*SHOULDER_KNEE)
    gain = 2.0**ev
    if use_gamma:
        anchor = float(np.clip(np.median(luminance(_thin(lin))), 0.02, 0.5))
        gamma = math.log(anchor * gain) / math.log(anchor)
        return apply_curve(lin, lambda x: x**gamma)
    if ev > 0:
        return apply_curve(lin, lambda x: _shoulder(gain * x, knee, gain))
    return apply_curve(lin, lambda x: gain * x)


def _shoulder(x: np.ndarray, knee: float, top: float) -> np.ndarray:
    """Identity up to ``knee``, then an exponential roll-off reaching 1 exactly at ``top`` (> 1), slope-continuous."""
    rate = _invert(lambda a: a / -math.expm1(-a), (top - knee) / (1.0 - knee), 1e-9, 60.0)
    t = np.maximum(x - knee, 0.0) / (top - knee)
    return np.minimum(x, knee) + (1.0 - knee) * np.expm1(-rate * t) / math.expm1(-rate)


def _invert(f: Callable[[float], float], target: float, lo: float, hi: float) -> float:
    """The x in [lo, hi] where the increasing function f reaches ``target`` (bisection)."""
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if f(mid) < target else (lo, mid)
    return 0.5 * (lo + hi)


def contrast(lin: np.ndarray, slope: float, rng: np.random.Generator) -> np.ndarray:
    """Scale tonal differences about the image's mean lightness by ``slope`` (per channel, sRGB-encoded).

    ``slope`` < 1: a linear squeeze towards the pivot (lifted blacks, grey whites: flat, hazy).
    ``slope`` > 1: an S-curve with that slope at the pivot that keeps black at 0 and white at 1
    (punchy mid-tones, crushed shadows, compressed highlights, no new clipping).  The pivot, the
    mean sRGB-encoded luminance, is a fixed point, so overall brightness stays put.  Deterministic:
    ``rng`` is not used.
    """
    pivot = float(np.clip(np.mean(np.take(_ENCODE, _steps(luminance(_thin(lin))))), 0.2, 0.8))
    if slope <= 1.0:
        return apply_curve(lin, lambda x: srgb_decode(pivot + (srgb_encode(x) - pivot) * slope))
    gain = _invert(lambda a: a / math.tanh(a), slope, 1e-6, 50.0)  # S-curve slope at the pivot

    def s_curve(x: np.ndarray) -> np.ndarray:
        diff = srgb_encode(x) - pivot
        span = np.where(diff < 0, pivot, 1.0 - pivot)
        return srgb_decode(pivot + span * np.tanh(gain * diff / span) / math.tanh(gain))

    return apply_curve(lin, s_curve)


def clip_highlights(lin: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Blow out highlights: saturate ``fraction`` of the pixels that were not yet clipped.

    A highlight-only exposure boost, ramping in (in stops, smoothly) over 1–2 stops below the
    threshold brightness, is exactly large enough that every pixel whose brightest channel is at or
    above the (1 - fraction) quantile of the unclipped pixels reaches 1.0; brighter ones are pushed
    further, so their other channels clip too and they turn white.  Shadows and mid-tones below the
    ramp are untouched.  Pixels within 1 % of the image's maximum count as clipped already (they are
    clipped, or were and have since been darkened) and turn white again.
    """
    width = rng.uniform(*CLIP_RAMP_EV)
    peak = channel_max(lin)
    unclipped = peak[peak < CLIPPED * peak.max()]
    if fraction <= 0.0 or unclipped.size == 0:
        return lin
    threshold = max(float(np.quantile(unclipped, 1.0 - fraction)), 1e-4)
    boost_ev = -math.log2(threshold)

    def gain(x: np.ndarray) -> np.ndarray:
        t = np.maximum((np.log2(np.maximum(x, 1e-6)) - math.log2(threshold)) / width + 1.0, 0.0)
        ramp = np.where(t <= 1.0, t * t, 2.0 * t - 1.0)  # C1: 0 where the ramp starts, 1 at the threshold
        return np.exp2(boost_ev * ramp)

    # the gain table may exceed 1, so it is looked up directly rather than through apply_curve
    table = gain(_GRID).astype(np.float32)
    return np.minimum(lin * np.take(table, _steps(peak))[..., None], 1.0)


def compress_highlights(lin: np.ndarray, drop_ev: float, rng: np.random.Generator) -> np.ndarray:
    """Press highlights down: the highlight level (99.5th percentile of the brightest channel) falls by ``drop_ev``.

    Per channel and in stops, everything above a soft knee 1.5–2.5 stops below the highlight level is
    compressed by a constant ratio; below the knee nothing changes and nothing is lifted.  Whites turn
    grey and bright colours lose saturation: the dull, over-HDR look.
    """
    zone = max(drop_ev / (1.0 - MIN_RATIO), rng.uniform(*KNEE_BELOW_EV))
    highlight = math.log2(max(float(np.quantile(channel_max(_thin(lin)), 0.995)), 1e-4))
    squeeze = drop_ev / zone  # 1 - the slope above the knee
    half = KNEE_SOFTNESS_EV / 2

    def curve(x: np.ndarray) -> np.ndarray:
        above = np.log2(np.maximum(x, 1e-6)) - (highlight - zone)
        over = np.where(above >= half, above, np.square(np.maximum(above + half, 0.0)) / (4 * half))
        return x * np.exp2(-squeeze * over)

    return apply_curve(lin, curve)


# ---------------------------------------------------------------------------------------------------------------------
# issue registry and level sampling


@dataclass(frozen=True)
class Issue:
    """How one issue label is synthesised: an operation and its parameter's band for each level."""

    parameter: str
    """Name (and unit) of the operation's parameter; a column of the dataset manifest."""
    operation: Operation
    bands: tuple[Band, Band, Band, Band]
    """Uniform parameter range for levels 0 (jitter inside "none"), 1 normal, 2 severe, 3 blocking."""


ISSUES: dict[str, Issue] = {
    "bright": Issue("exposure_ev", expose, ((0.0, 0.2), (0.5, 1.0), (1.0, 1.6), (1.6, 2.4))),
    "dark": Issue("exposure_ev", expose, ((-0.2, 0.0), (-1.2, -0.6), (-2.0, -1.2), (-3.0, -2.0))),
    "low_contrast": Issue("contrast_slope", contrast, ((0.95, 1.0), (0.70, 0.82), (0.52, 0.70), (0.36, 0.52))),
    "high_contrast": Issue("contrast_slope", contrast, ((1.0, 1.05), (1.25, 1.5), (1.5, 1.9), (1.9, 2.6))),
    "overexposed": Issue("clipped_fraction", clip_highlights, ((0.0, 0.0), (0.02, 0.06), (0.06, 0.15), (0.15, 0.30))),
    "over_suppressed": Issue(
        "highlight_drop_ev", compress_highlights, ((0.0, 0.08), (0.4, 0.75), (0.75, 1.15), (1.15, 1.7))
    ),
}
_PARAMETERS = tuple(dict.fromkeys(issue.parameter for issue in ISSUES.values()))

STAGES: tuple[tuple[str, str], ...] = (
    ("bright", "dark"),
    ("low_contrast", "high_contrast"),
    ("overexposed", "over_suppressed"),
)
"""The mutually exclusive pairs, in the order their operations are applied (exposure, tone curve, highlights)."""

ISSUE_COUNT_PROBS = (0.35, 0.45, 0.17, 0.03)
"""P(0, 1, 2, 3 issues) in a synthetic variant; issues fall on distinct pairs, so 3 is the most there can be."""


def sample_levels(rng: np.random.Generator) -> dict[str, int]:
    """A random legal combination of levels: how many issues, which pairs, which side of each, which level.

    The number of issues follows :data:`ISSUE_COUNT_PROBS`; the pairs are distinct and uniform, each
    side of a pair equally likely, levels 1..3 equally likely.
    """
    count = int(rng.choice(len(ISSUE_COUNT_PROBS), p=ISSUE_COUNT_PROBS))
    levels = dict.fromkeys(LABELS, 0)
    for stage in rng.permutation(len(STAGES))[:count]:
        levels[STAGES[stage][int(rng.integers(2))]] = int(rng.integers(1, len(LEVELS)))
    return levels


def apply_issues(image: Image.Image, levels: Mapping[str, int], rng: np.random.Generator) -> Image.Image:
    """``image`` with the given issue levels (missing labels: 0), parameters drawn from ``rng``.

    Every pair gets an operation: the one of its label with level >= 1, else one of the two at
    random with its level-0 jitter.  Raises ``ValueError`` for unknown labels, levels outside
    0..3, or both labels of an exclusive pair >= 1.
    """
    return synthesize(image, levels, rng)[0]


def synthesize(
    image: Image.Image, levels: Mapping[str, int], rng: np.random.Generator
) -> tuple[Image.Image, dict[str, float]]:
    """:func:`apply_issues`, also returning the parameter value each operation was given."""
    levels = _checked_levels(levels)
    lin = to_linear(image)
    params: dict[str, float] = {}
    for pair in STAGES:
        active = [label for label in pair if levels[label] > 0]
        label = active[0] if active else pair[int(rng.integers(2))]
        issue = ISSUES[label]
        value = float(rng.uniform(*issue.bands[levels[label]]))
        lin = issue.operation(lin, value, rng)
        params[issue.parameter] = value
    return to_image(lin), params


def _checked_levels(levels: Mapping[str, int]) -> dict[str, int]:
    unknown = sorted(set(levels) - set(LABELS))
    if unknown:
        raise ValueError(f"unknown issue label(s) {unknown}; known: {', '.join(LABELS)}")
    out = {label: levels.get(label, 0) for label in LABELS}
    for label, level in out.items():
        if isinstance(level, bool) or not isinstance(level, (int, np.integer)) or not 0 <= level < len(LEVELS):
            raise ValueError(f"{label}={level!r} is not an integer level in 0..{len(LEVELS) - 1}")
    for a, b in STAGES:
        if out[a] and out[b]:
            raise ValueError(f"{a}={out[a]} and {b}={out[b]}: {a} and {b} exclude each other")
    return {label: int(level) for label, level in out.items()}


# ---------------------------------------------------------------------------------------------------------------------
# augmentation, identical in distribution for every level (the untouched original included)

CROP_AREA: Band = (0.7, 1.0)
"""Fraction of the photo's area a random crop keeps."""
CROP_ASPECT = 1.15
"""Largest factor by which a crop's aspect ratio may differ from the photo's."""
SHORT_SIDE = (384, 1080)
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
# bases: loading, CLIVE selection, near-duplicate scenes


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
"""Photometric sanity bounds (inclusive) a CLIVE photo must meet, besides its MOS, to serve as a clean base."""


def is_well_exposed(stats: Mapping[str, float]) -> bool:
    """Whether :func:`photometric_stats` fall inside every :data:`WELL_EXPOSED` bound."""
    return all(lo <= stats[name] <= hi for name, (lo, hi) in WELL_EXPOSED.items())


def select_well_exposed(clive_dir: Path, min_mos: float = 65.0) -> list[Path]:
    """CLIVE photos fit to be clean bases: MOS >= ``min_mos`` and inside the :data:`WELL_EXPOSED` bounds.

    ``clive_dir`` holds ``mos.csv`` (``image,mos,...``) and ``images/``.  Sorted paths.
    """
    scores = pd.read_csv(clive_dir / "mos.csv")
    paths = [clive_dir / "images" / name for name in scores.loc[scores["mos"] >= min_mos, "image"]]
    return sorted(path for path in paths if is_well_exposed(photometric_stats(load_base(path))))


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
    holdout_fraction: float = 0.2,
    workers: int = 1,
) -> pd.DataFrame:
    """Write ``per_image`` JPEG variants of every base photo and their label CSVs into ``out_dir``.

    Variant 0 of a base is the untouched photo; variants 1.. get :func:`sample_levels` issues.  All
    go through the same crop, resize and JPEG augmentation.  Whole scenes (a base and its
    near-duplicates, :func:`scene_groups`) are held out: about ``holdout_fraction`` of them go to
    ``labels_val.csv``, the rest to ``labels_train.csv`` (both in ``data_specs/labels_csv.md``
    format, filenames relative to ``out_dir``); ``manifest.csv`` adds base, scene, split and every
    drawn parameter.  The output depends on the seed and the bases' names and pixels only, not on
    ``workers`` (processes) or the order of ``bases``.  Returns the manifest.
    """
    bases = sorted(Path(path) for path in bases)
    stems = [path.stem for path in bases]
    if len(set(stems)) != len(stems):
        raise ValueError("base photos need distinct file stems (output files are named after them)")
    if per_image < 1 or not 0.0 <= holdout_fraction < 1.0:
        raise ValueError("need per_image >= 1 and 0 <= holdout_fraction < 1")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scenes = scene_groups(bases)
    held_out = _held_out_scenes(sorted(set(scenes.values())), holdout_fraction, seed)
    jobs = [_Job(path, out_dir, per_image, seed) for path in bases]
    if workers > 1:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            per_base = list(pool.map(_render_base, jobs))
    else:
        per_base = [_render_base(job) for job in jobs]

    frame = pd.DataFrame([row for rows in per_base for row in rows])
    frame.insert(1, "scene", frame["base"].map({path.name: scene for path, scene in scenes.items()}))
    frame.insert(2, "split", np.where(frame["scene"].isin(held_out), "val", "train"))
    for split in ("train", "val"):
        frame.loc[frame["split"] == split, ["filename", *LABELS]].to_csv(out_dir / f"labels_{split}.csv", index=False)
    frame.to_csv(out_dir / "manifest.csv", index=False)
    return frame


def _held_out_scenes(scenes: list[str], fraction: float, seed: int) -> set[str]:
    count = round(fraction * len(scenes))
    if fraction > 0 and len(scenes) > 1:
        count = min(max(count, 1), len(scenes) - 1)
    order = np.random.default_rng([seed, _stable_id("holdout")]).permutation(len(scenes))
    return {scenes[i] for i in order[:count]}


def _render_base(job: _Job) -> list[dict[str, object]]:
    base = load_base(job.base)
    rows = []
    for variant in range(job.per_image):
        rng = np.random.default_rng([job.seed, _stable_id(job.base.stem), variant])
        levels = sample_levels(rng) if variant else dict.fromkeys(LABELS, 0)
        image, drawn = augment_geometry(base, rng)
        params: dict[str, float] = {}
        if variant:
            image, params = synthesize(image, levels, rng)
        data, quality = encode_jpeg(image, rng)
        filename = f"{job.base.stem}__v{variant:02d}.jpg"
        (job.out_dir / filename).write_bytes(data)
        rows.append(
            {
                "filename": filename,
                "base": job.base.name,
                "variant": variant,
                **levels,
                **{parameter: params.get(parameter, math.nan) for parameter in _PARAMETERS},
                **drawn,
                "jpeg_quality": quality,
            }
        )
    return rows


def _stable_id(text: str) -> int:
    """A 64-bit integer from a string, the same in every process (unlike ``hash``)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")
