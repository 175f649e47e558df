"""Synthetic exposure issues: clean photos in, training examples labelled by measurement out.

A bank of camera-like operations per issue (exposure gains with hard clipping or a highlight
roll-off, gamma, contrast curves, veiling flare, black-level crush, editor "levels", highlight
clipping, global and local highlight compression, shadow noise), drawn at random strengths on
random photos, followed by crop, resize and JPEG re-encoding.  The label of every variant is
*measured* on the result against the clean photo by :mod:`phoneiqa.exposure`, following
``data_specs/issue_definitions.md`` — never read off the operation that made it.

    rng = np.random.default_rng(0)
    variant, drawn = synthesize(photo, rng)                    # PIL image in, PIL image out
    levels, measurements = measured_levels(variant, photo)     # {"dark": 2, ...}, {"exposure_ev": -1.2, ...}
    frame = generate_dataset(bases, Path("/tmp/graded"), per_image=12, seed=0, fractions=(0.7, 0.15, 0.15))
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
from scipy import ndimage

from phoneiqa import exposure
from phoneiqa.labels import LABELS

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
# operations: linear RGB (H, W, 3) float32 in [0, 1], a strength and a generator for shape jitter -> the same

SHOULDER_KNEE: Band = (0.5, 0.85)
"""Linear level above which a brightening gain rolls off softly into white (1 would be a hard clip)."""
CLIP_RAMP_EV: Band = (1.0, 2.0)
"""Stops below the clipping threshold over which the highlight boost of ``clip_highlights`` ramps in."""
KNEE_BELOW_EV: Band = (1.5, 2.5)
"""Stops below the highlight level where the compression of ``compress_highlights`` starts."""
MIN_RATIO = 0.25
"""Smallest slope (in stops per stop) above the knee of ``compress_highlights``; a longer zone is used if needed."""
KNEE_SOFTNESS_EV = 0.5
LOCAL_SIGMA: Band = (0.02, 0.06)
"""Blur radius of the base layer of :func:`local_tone_map`, as a share of the photo's short side."""


def gain(lin: np.ndarray, ev: float, rng: np.random.Generator) -> np.ndarray:
    """A linear gain of ``2**ev`` with a hard clip at white: a plain exposure error."""
    return np.minimum(lin * np.float32(2.0**ev), 1.0)


def gain_shoulder(lin: np.ndarray, ev: float, rng: np.random.Generator) -> np.ndarray:
    """A brightening gain of ``2**ev`` (``ev`` > 0) that rolls off into white above a random knee, as a camera's
    tone curve does: the base's white lands exactly on 1.0 and near-whites crowd together below it."""
    knee, top = rng.uniform(*SHOULDER_KNEE), 2.0 ** max(ev, 1e-3)
    return apply_curve(lin, lambda x: _shoulder(top * x, knee, top))


def gamma_ev(lin: np.ndarray, ev: float, rng: np.random.Generator) -> np.ndarray:
    """A per-channel power curve ``x**g`` that moves the median luminance by about ``ev`` stops, black and white kept.

    Darkening this way holds the highlights (phone HDR); brightening lifts the shadows and fogs them.
    """
    anchor = float(np.clip(np.median(luminance(_thin(lin))), 0.02, 0.5))
    power = math.log(min(anchor * 2.0**ev, 0.95)) / math.log(anchor)
    return apply_curve(lin, lambda x: x**power)


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


def _pivot(lin: np.ndarray) -> float:
    """The mean sRGB-encoded luminance, clamped to [0.2, 0.8]: the fixed point of the contrast curves."""
    return float(np.clip(np.mean(np.take(_ENCODE, _steps(luminance(_thin(lin))))), 0.2, 0.8))


def contrast(lin: np.ndarray, slope: float, rng: np.random.Generator) -> np.ndarray:
    """Scale tonal differences about the image's mean lightness by ``slope`` (per channel, sRGB-encoded).

    ``slope`` < 1: a linear squeeze towards the pivot (lifted blacks, grey whites: flat, hazy).
    ``slope`` > 1: an S-curve with that slope at the pivot that keeps black at 0 and white at 1
    (punchy mid-tones, crushed shadows, compressed highlights, no new clipping).  The pivot, the
    mean sRGB-encoded luminance, is a fixed point, so overall brightness stays put.
    """
    pivot = _pivot(lin)
    if slope <= 1.0:
        return apply_curve(lin, lambda x: srgb_decode(pivot + (srgb_encode(x) - pivot) * slope))
    steep = _invert(lambda a: a / math.tanh(a), slope, 1e-6, 50.0)  # S-curve slope at the pivot

    def s_curve(x: np.ndarray) -> np.ndarray:
        diff = srgb_encode(x) - pivot
        span = np.where(diff < 0, pivot, 1.0 - pivot)
        return srgb_decode(pivot + span * np.tanh(steep * diff / span) / math.tanh(steep))

    return apply_curve(lin, s_curve)


def veil(lin: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    """Veiling flare: a uniform ``level`` of light (linear, slightly tinted) added and the range renormalised,
    so blacks rise to about ``level`` and white stays white."""
    tint = np.float32(level) * rng.uniform(0.9, 1.1, 3).astype(np.float32)
    return (lin + tint) / (1.0 + tint)


def levels_stretch(lin: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """An editor's "levels": sRGB-encoded black point raised and white point lowered, the range between stretched
    to 0..1 (shadows crush, highlights clip); ``amount`` is the share of the range cut off, split at random."""
    low = amount * rng.uniform(0.3, 0.7)
    high = 1.0 - (amount - low)
    return apply_curve(lin, lambda x: srgb_decode((srgb_encode(x) - low) / (high - low)))


def crush_blacks(lin: np.ndarray, point: float, rng: np.random.Generator) -> np.ndarray:
    """Black level set too high: linear values below ``point`` go to 0, the rest are rescaled (white kept)."""
    return np.maximum(lin - np.float32(point), 0.0) / np.float32(1.0 - point)


def clip_highlights(lin: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Blow out highlights: saturate ``fraction`` of the pixels that were not yet clipped.

    A highlight-only exposure boost, ramping in (in stops, smoothly) over 1–2 stops below the
    threshold brightness, is exactly large enough that every pixel whose brightest channel is at or
    above the (1 - fraction) quantile of the unclipped pixels reaches 1.0; brighter ones are pushed
    further, so their other channels clip too and they turn white.  Shadows and mid-tones below the
    ramp are untouched.
    """
    width = rng.uniform(*CLIP_RAMP_EV)
    peak = channel_max(lin)
    unclipped = peak[peak < CLIPPED * peak.max()]
    if fraction <= 0.0 or unclipped.size == 0:
        return lin
    threshold = max(float(np.quantile(unclipped, 1.0 - fraction)), 1e-4)
    boost_ev = -math.log2(threshold)

    def boost(x: np.ndarray) -> np.ndarray:
        t = np.maximum((np.log2(np.maximum(x, 1e-6)) - math.log2(threshold)) / width + 1.0, 0.0)
        ramp = np.where(t <= 1.0, t * t, 2.0 * t - 1.0)  # C1: 0 where the ramp starts, 1 at the threshold
        return np.exp2(np.minimum(boost_ev * ramp, 30.0))  # 2^30 saturates any non-zero channel; no inf

    # the gain table may exceed 1, so it is looked up directly rather than through apply_curve
    table = boost(_GRID).astype(np.float32)
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


def local_tone_map(lin: np.ndarray, drop_ev: float, rng: np.random.Generator) -> np.ndarray:
    """Local tone mapping gone too far: the blurred log luminance (the base layer) is compressed above a knee
    so bright *regions* lose up to ``drop_ev`` stops, while the detail on top of it is kept."""
    y = np.maximum(luminance(lin), 1e-5)
    sigma = rng.uniform(*LOCAL_SIGMA) * min(lin.shape[:2])
    base = ndimage.gaussian_filter(np.log2(y), sigma, mode="nearest")
    top = float(np.quantile(base, 0.995))
    zone = max(drop_ev / (1.0 - MIN_RATIO), rng.uniform(*KNEE_BELOW_EV))
    pressed = np.maximum(base - (top - zone), 0.0) * (drop_ev / zone)
    return np.clip(lin * np.exp2(-pressed)[..., None], 0.0, 1.0).astype(np.float32)


def shadow_noise(lin: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Sensor-like noise, strongest in relative terms in the shadows: std sqrt(strength² · x / 50 + (strength/20)²)."""
    std = np.sqrt(np.float32(strength**2 / 50) * lin + np.float32((strength / 20) ** 2))
    return np.clip(lin + std * rng.standard_normal(lin.shape, dtype=np.float32), 0.0, 1.0)


# ---------------------------------------------------------------------------------------------------------------------
# the operator bank and the sampling of variants


@dataclass(frozen=True)
class Operator:
    """One camera-like operation that causes an issue, and the uniform range its strength is drawn from."""

    name: str
    operation: Operation
    strength: Band
    """(mildest, strongest) strength; drawn uniformly between them."""


OPERATORS: dict[str, tuple[Operator, ...]] = {
    "bright": (
        Operator("gain", gain, (0.3, 4.0)),
        Operator("gain_shoulder", gain_shoulder, (0.3, 4.5)),
        Operator("gamma", gamma_ev, (0.3, 4.0)),
    ),
    "dark": (
        Operator("gain", gain, (-0.3, -5.5)),
        Operator("gamma", gamma_ev, (-0.3, -5.5)),
        Operator("crush_blacks", crush_blacks, (0.005, 0.25)),
    ),
    "low_contrast": (
        Operator("squeeze", contrast, (0.9, 0.2)),
        Operator("veil", veil, (0.005, 0.3)),
    ),
    "high_contrast": (
        Operator("s_curve", contrast, (1.1, 6.0)),
        Operator("levels", levels_stretch, (0.05, 0.75)),
    ),
    "overexposed": (
        Operator("clip_highlights", clip_highlights, (0.02, 0.6)),
        Operator("gain", gain, (0.5, 3.5)),
    ),
    "over_suppressed": (
        Operator("compress_highlights", compress_highlights, (0.3, 3.5)),
        Operator("local_tone_map", local_tone_map, (0.3, 3.5)),
    ),
}
"""label -> the operators that cause it.  The label a variant gets is measured on the result
(:func:`phoneiqa.exposure.measure`), so an operator may cause other issues too, or none when weak."""

STAGES: tuple[tuple[str, str], ...] = (
    ("bright", "dark"),
    ("low_contrast", "high_contrast"),
    ("overexposed", "over_suppressed"),
)
"""The mutually exclusive pairs, in the order their operations are applied (exposure, tone curve, highlights)."""

ISSUE_COUNT_PROBS = (0.2, 0.5, 0.24, 0.06)
"""P(0, 1, 2, 3 targeted issues) in a variant; targets fall on distinct pairs."""
EXPOSURE_JITTER_EV = 0.15
"""Std of a gain applied to every variant, so that starting exposures vary (measured like everything else)."""
NOISE_SHARE = 0.3
NOISE_STRENGTH: Band = (0.005, 0.05)


def sample_recipe(rng: np.random.Generator) -> list[tuple[str, Operator, float]]:
    """Which operators a variant gets, in pipeline order: (targeted label, operator, strength) per targeted pair."""
    count = int(rng.choice(len(ISSUE_COUNT_PROBS), p=ISSUE_COUNT_PROBS))
    chosen = set(rng.permutation(len(STAGES))[:count].tolist())
    recipe = []
    for stage, pair in enumerate(STAGES):
        if stage in chosen:
            label = pair[int(rng.integers(2))]
            operators = OPERATORS[label]
            operator = operators[int(rng.integers(len(operators)))]
            mild, strong = operator.strength
            recipe.append((label, operator, float(mild + (strong - mild) * rng.random())))
    return recipe


def synthesize(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, dict[str, object]]:
    """A random variant of ``image`` (before encoding), and what was drawn: the targeted labels and operators.

    An exposure jitter, then 0–3 operators on distinct exclusive pairs (:func:`sample_recipe`), then
    shadow noise in :data:`NOISE_SHARE` of the variants.  Pure in (image, rng state).
    """
    lin = gain(to_linear(image), float(rng.normal(0.0, EXPOSURE_JITTER_EV)), rng)
    drawn: dict[str, object] = {}
    for label, operator, strength in sample_recipe(rng):
        lin = operator.operation(lin, strength, rng)
        drawn[f"target_{label}"] = f"{operator.name}:{strength:.3f}"
    if rng.random() < NOISE_SHARE:
        noise = float(rng.uniform(*NOISE_STRENGTH))
        lin = shadow_noise(lin, noise, rng)
        drawn["noise"] = noise
    return to_image(lin), drawn


def ladder(image: Image.Image, label: str, rng: np.random.Generator, steps: int = 5) -> list[Image.Image]:
    """``steps`` versions of ``image`` with one operator of ``label``, mildest to strongest (step 0: untouched)."""
    operators = OPERATORS[label]
    operator = operators[int(rng.integers(len(operators)))]
    lin, state = to_linear(image), rng.bit_generator.state
    out = [image.copy()]
    for value in np.linspace(*operator.strength, steps)[1:]:
        rng.bit_generator.state = state  # the same shape jitter at every step: only the strength grows
        out.append(to_image(operator.operation(lin, float(value), rng)))
    return out


def measured_levels(image: Image.Image, reference: Image.Image) -> tuple[dict[str, int], dict[str, float]]:
    """The issue levels of ``image`` measured against ``reference`` (:mod:`phoneiqa.exposure`), and the measurements."""
    measurement = exposure.measure(np.asarray(image.convert("RGB")), np.asarray(reference.convert("RGB")))
    return exposure.issue_levels(measurement), measurement.as_dict()


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
