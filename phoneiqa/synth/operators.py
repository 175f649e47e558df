"""Synthetic exposure issues, the operators: clean photo in, a variant with drawn issues out.

A bank of camera-like operations per issue (exposure gains with hard clipping or a highlight
roll-off, gamma, contrast curves, veiling flare, black-level crush, editor "levels", highlight
clipping, global and local highlight compression, shadow noise), drawn at random strengths on
random photos (:func:`synthesize`, :func:`ladder`).  The label of every variant is
*measured* on the result against the clean photo by :mod:`phoneiqa.exposure`, following
``data_specs/issue_definitions.md`` — never read off the operation that made it.

    rng = np.random.default_rng(0)
    variant, drawn = synthesize(photo, rng)                    # PIL image in, PIL image out
    levels, measurements = measured_levels(variant, photo)     # {"dark": 2, ...}, {"exposure_ev": -1.2, ...}
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from phoneiqa import exposure

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
