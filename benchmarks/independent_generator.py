"""Evaluation-only generator of graded exposure problems, written independently of the training generator.

The issue head is trained on images made by :mod:`phoneiqa.synth`.  A head that scores well on held-out
images of that same generator may have learnt the generator's fingerprints (its particular curves, its way
of clipping, its noise) rather than the issues themselves.  This module makes the same six issues with
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

    python benchmarks/independent_generator.py --out /tmp/independent [--seed 1] [--limit 20] [--workers 2]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import math
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import repeat
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageOps
from scipy import ndimage
from scipy.interpolate import PchipInterpolator

from phoneiqa import exposure

LABELS = ("bright", "dark", "low_contrast", "high_contrast", "overexposed", "over_suppressed")
MEASUREMENTS = ("exposure_ev", "contrast_ratio", "blown_share", "highlight_drop_ev")
"""The four numbers of :class:`phoneiqa.exposure.Measurement`, stored next to the levels in the manifest."""
EXCLUSIVE = {
    "bright": "dark",
    "dark": "bright",
    "low_contrast": "high_contrast",
    "high_contrast": "low_contrast",
    "overexposed": "over_suppressed",
    "over_suppressed": "overexposed",
}
"""Issues read off the same measurement from two sides: a random variant never aims at both of a pair."""
ISSUE_COUNT_P = (0.1, 0.45, 0.3, 0.15)
"""Probability that a random variant aims at 0, 1, 2 or 3 issues."""
ISSUE_WEIGHTS = (0.12, 0.18, 0.12, 0.18, 0.12, 0.28)
"""Relative chance of each of :data:`LABELS` to be aimed at: higher for the issues that other operators undo
(brightening and haze lift dark photos; exposure shifts cancel a highlight drop)."""
ORDER = ("over_suppressed", "bright", "dark", "low_contrast", "high_contrast", "overexposed")
"""Order in which a random variant applies its issues: highlights pressed down (first, so that an exposure change
after it moves them along with the mid-tones instead of hiding the drop), exposure, tone spread, blown areas."""
SHORT_SIDE = (320, 640)
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

_EPS = np.float32(1e-3)
"""Neutral offset for ratio edits, so that black pixels are lifted as grey instead of staying black."""


# ---------------------------------------------------------------- colour helpers (float32 sRGB images in 0..1)


def _lookup(values: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``values`` in 0..1 (clipped) through a function tabulated at ``len(table)`` evenly spaced points."""
    top = len(table) - 1
    return table[np.clip(values * np.float32(top) + np.float32(0.5), 0, top).astype(np.intp)]


def _tabulate(function: Callable[[np.ndarray], np.ndarray], size: int) -> np.ndarray:
    return function(np.linspace(0, 1, size)).astype(np.float32)


_LINEAR_TABLE = _tabulate(lambda v: np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4), 4096)
_SRGB_TABLE = _tabulate(lambda x: np.where(x <= 0.0031308, x * 12.92, 1.055 * x ** (1 / 2.4) - 0.055), 65536)
_LSTAR_TABLE = _tabulate(lambda y: np.where(y > 216 / 24389, 116 * np.cbrt(y) - 16, y * (24389 / 27)), 65536)


def _linear(srgb: np.ndarray) -> np.ndarray:
    """sRGB-encoded values (0..1) to linear light."""
    return _lookup(srgb, _LINEAR_TABLE)


def _srgb(lin: np.ndarray) -> np.ndarray:
    """Linear light to sRGB-encoded values, clipped to 0..1."""
    return _lookup(lin, _SRGB_TABLE)


def _lstar(y: np.ndarray) -> np.ndarray:
    """CIE lightness L* (0..100) of linear luminance (0..1)."""
    return _lookup(y, _LSTAR_TABLE)


def _y_of_lstar(lightness: np.ndarray) -> np.ndarray:
    """Linear luminance of CIE lightness L* (the inverse of :func:`_lstar`)."""
    lightness = np.clip(lightness, 0, 100)
    cube_root = (lightness + np.float32(16)) / np.float32(116)
    return np.where(lightness > 8, cube_root * cube_root * cube_root, lightness * np.float32(27 / 24389))


def _luminance(lin: np.ndarray) -> np.ndarray:
    """Rec. 709 luminance of linear RGB ``[H, W, 3]``."""
    r, g, b = (lin[..., c] for c in range(3))
    return np.float32(0.2126) * r + np.float32(0.7152) * g + np.float32(0.0722) * b


def _brightest(channels: np.ndarray) -> np.ndarray:
    """The largest of the three channels per pixel (HSV value for sRGB input)."""
    return np.maximum(np.maximum(channels[..., 0], channels[..., 1]), channels[..., 2])


def _key(lin: np.ndarray) -> float:
    """log2 of the geometric mean luminance (plus 0.002) of linear RGB: the exposure's key in stops."""
    return float(np.mean(np.log2(_luminance(lin) + np.float32(0.002))))


def _mix(channels: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Each pixel's RGB multiplied by the 3×3 ``matrix``."""
    planes = [channels[..., c] for c in range(3)]
    rows = [sum(np.float32(matrix[r, c]) * planes[c] for c in range(3)) for r in range(3)]
    return np.stack(rows, axis=2)


def _scale_to(channels: np.ndarray, old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """``channels`` scaled per pixel so that ``old`` (a per-pixel statistic of them) becomes ``new``."""
    ratio = (new + _EPS) / (old + _EPS)
    return (channels + _EPS) * ratio[..., None] - _EPS


def _edit_lightness(img: np.ndarray, edit: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply ``edit`` to CIE L* (0..100) of the luminance, keeping each pixel's chromaticity (linear RGB ratios)."""
    lin = _linear(img)
    y = _luminance(lin)
    return _srgb(_scale_to(lin, y, _y_of_lstar(edit(_lstar(y)))))


def _edit_value(img: np.ndarray, edit: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply ``edit`` to HSV value (the largest sRGB channel, 0..1), keeping hue and saturation."""
    value = _brightest(img)
    return np.clip(_scale_to(img, value, np.clip(edit(value), 0, 1)), 0, 1)


def _pchip(values: np.ndarray, xs: list[float], ys: list[float]) -> np.ndarray:
    """A Curves adjustment: ``values`` through the monotone cubic spline (PCHIP) through the points ``xs``→``ys``."""
    low, span = xs[0], xs[-1] - xs[0]
    table = _tabulate(lambda u: PchipInterpolator(np.asarray(xs), np.asarray(ys))(low + span * u), 4096)
    return _lookup((values - np.float32(low)) / np.float32(span), table)


def _blur(plane: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a 2-D plane with a large ``sigma`` (pixels), computed on a reduced copy for speed."""
    h, w = plane.shape
    factor = max(1, int(sigma / 3))
    small = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32))
    small = small.resize((max(1, w // factor), max(1, h // factor)), Image.Resampling.BOX)
    blurred = ndimage.gaussian_filter(np.asarray(small), sigma / factor, mode="reflect")
    return np.asarray(Image.fromarray(blurred).resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32)


def _guided_base(plane: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Edge-preserving smoothing of a 2-D plane by itself (the guided filter of He et al.): the base layer."""
    size = 2 * radius + 1
    mean = ndimage.uniform_filter(plane, size, mode="reflect")
    var = ndimage.uniform_filter(plane * plane, size, mode="reflect") - mean * mean
    a = var / (var + np.float32(eps))
    b = mean - a * mean
    return ndimage.uniform_filter(a, size, mode="reflect") * plane + ndimage.uniform_filter(b, size, mode="reflect")


# ---------------------------------------------------------------- simulated camera


def _draw_camera(rng: np.random.Generator) -> dict[str, float]:
    """Random camera: response curve, colour matrix, white balance, filmic development and display encoding."""
    return {
        "crf_kind": float(rng.integers(2)),  # 0: power blended with a smoothstep, 1: normalised sigmoid of a power
        "crf_gamma": rng.uniform(1.8, 2.5),
        "crf_shape": rng.uniform(0, 1),
        "ccm_saturation": rng.uniform(0, 0.4),
        "wb_red": rng.uniform(1.3, 2.4),
        "wb_blue": rng.uniform(1.2, 2.2),
        "filmic": float(rng.integers(3)),  # 0: extended Reinhard, 1: Hable (Uncharted 2), 2: ACES (Narkowicz fit)
        "display_gamma": float(rng.uniform(2.0, 2.4) if rng.random() < 0.5 else 0.0),  # 0: the sRGB curve
    }


def _crf(x: np.ndarray, p: dict[str, float]) -> np.ndarray:
    """The assumed camera response: scene linear 0..1 to encoded 0..1 (monotone, 0→0 and 1→1)."""
    g = np.asarray(x, dtype=np.float64) ** (1 / p["crf_gamma"])
    if p["crf_kind"] == 0:
        blend = 0.35 * p["crf_shape"]
        return (1 - blend) * g + blend * g * g * (3 - 2 * g)
    k = 2 + 4 * p["crf_shape"]
    low, high = 1 / (1 + math.exp(k / 2)), 1 / (1 + math.exp(-k / 2))
    return (1 / (1 + np.exp(-k * (g - 0.5))) - low) / (high - low)


def _crf_inverse(codes: np.ndarray, p: dict[str, float]) -> np.ndarray:
    """Encoded values 0..1 back to scene linear through the inverse of :func:`_crf` (tabulated)."""
    grid = np.linspace(0, 1, 4097) ** 3
    return _lookup(codes, _tabulate(lambda c: np.interp(c, _crf(grid, p), grid), 4096))


def _filmic(x: np.ndarray, kind: float, scale: float) -> np.ndarray:
    """Filmic tone curve of linear values, pre-exposed by ``scale`` and normalised so that 1 maps to 1."""

    def curve(y: np.ndarray) -> np.ndarray:
        if kind == 0:
            return y * (1 + y / (scale * scale)) / (1 + y)
        if kind == 1:
            a, b, c, d, e, f = 0.15, 0.5, 0.1, 0.2, 0.02, 0.3
            return (y * (a * y + c * b) + d * e) / (y * (a * y + b) + d * f) - e / f
        return y * (2.51 * y + 0.03) / (y * (2.43 * y + 0.59) + 0.14)

    return curve(scale * x) / curve(np.float32(scale))


def _display(lin: np.ndarray, gamma: float) -> np.ndarray:
    """Display encoding: a pure power ``1/gamma`` or, for ``gamma == 0``, the sRGB curve."""
    return _srgb(lin) if gamma == 0 else np.clip(lin, 0, 1) ** np.float32(1 / gamma)


def _filmic_scale(p: dict[str, float]) -> float:
    """Pre-exposure of the filmic curve for which a mid-grey code (0.46) develops back to itself at 0 EV."""
    mid = _crf_inverse(np.array([0.46]), p)
    low, high = math.log(0.05), math.log(64.0)
    for _ in range(30):
        scale = math.exp((low + high) / 2)
        developed = float(_display(_filmic(mid, p["filmic"], scale), p["display_gamma"])[0])
        low, high = (math.log(scale), high) if developed < 0.46 else (low, math.log(scale))
    return math.exp((low + high) / 2)


def _colour_matrix(p: dict[str, float]) -> np.ndarray:
    """Camera-to-output colour matrix (rows sum to 1, so neutrals stay neutral): a saturation boost."""
    a = p["ccm_saturation"]
    return ((1 + a) * np.eye(3) - a / 3 * np.ones((3, 3))).astype(np.float32)


def _camera_raw(img: np.ndarray, p: dict[str, float]) -> np.ndarray:
    """The photo taken back to white-balanced camera RGB (linear, before the colour matrix)."""
    return np.clip(_mix(_crf_inverse(img, p), np.linalg.inv(_colour_matrix(p))), 0, None)


def _develop(raw: np.ndarray, ev: float, p: dict[str, float]) -> np.ndarray:
    """Expose camera RGB (from :func:`_camera_raw`) by ``ev`` stops, clip it at the sensor and develop it to sRGB.

    The sensor clips each raw channel at 1 before white balance, so a channel with white-balance gain ``g`` clips
    at ``g`` in camera RGB: green (gain 1) first, which turns colours before they turn white.
    """
    saturation = np.array([p["wb_red"], 1.0, p["wb_blue"]], dtype=np.float32)
    exposed = np.minimum(raw * np.float32(2.0**ev), saturation)
    developed = _filmic(np.clip(_mix(exposed, _colour_matrix(p)), 0, None), p["filmic"], _filmic_scale(p))
    return _display(developed, p["display_gamma"])


def _camera(img: np.ndarray, ev: float, p: dict[str, float]) -> np.ndarray:
    """Re-expose the photo by ``ev`` stops in the simulated camera and develop it again."""
    return _develop(_camera_raw(img, p), ev, p)


def _exposure_ev(img: np.ndarray, s: float, p: dict[str, float]) -> np.ndarray:
    return _camera(img, s * p["ev_top"], p)


def _draw_camera_brighter(rng: np.random.Generator) -> dict[str, float]:
    return {**_draw_camera(rng), "ev_top": rng.uniform(2.2, 2.8)}


def _draw_camera_darker(rng: np.random.Generator) -> dict[str, float]:
    return {**_draw_camera(rng), "ev_top": -rng.uniform(2.4, 3.0)}


def _draw_camera_blowout(rng: np.random.Generator) -> dict[str, float]:
    return {**_draw_camera(rng), "share_top": rng.uniform(0.45, 0.6)}


def _camera_blowout(img: np.ndarray, s: float, p: dict[str, float]) -> np.ndarray:
    """Raise the camera exposure until about ``s · share_top`` of the frame has two channels at the white clip."""
    raw = _camera_raw(img, p)
    share = s * p["share_top"]
    if share <= 0:
        return _develop(raw, 0.0, p)
    r, g, b = (raw[..., c] for c in range(3))
    second = np.maximum(np.minimum(r, g), np.minimum(np.maximum(r, g), b))
    needed = float(np.quantile(second, 1 - share))
    return _develop(raw, float(np.clip(-math.log2(max(needed, 1e-4)), 0, 7)), p)


# ---------------------------------------------------------------- Levels and Curves


def _levels_brighter(img: np.ndarray, s: float, p: dict[str, float]) -> np.ndarray:
    """Levels on L*: input white point pulled in and midtone gamma raised."""
    white, gamma = 1 - s * p["white_cut"], 1 + s * p["gamma_top"]
    return _edit_lightness(img, lambda L: 100 * np.clip(L / (100 * white), 0, 1) ** (1 / gamma))


def _levels_darker(img: np.ndarray, s: float, p: dict[str, float]) -> np.ndarray:
    """Levels on L*: input black point raised, midtone gamma lowered, output white lowered."""
    black, gamma, white = s * p["black_cut"], 1 / (1 + s * p["gamma_top"]), 1 - s * p["white_drop"]
    return _edit_lightness(img, lambda L: 100 * white * np.clip((L / 100 - black) / (1 - black), 0, 1) ** (1 / gamma))


def _curves_brighter(img: np.ndarray, s: float, p: dict[str, float]) -> np.ndarray:
    """Curves on HSV value: the quarter, middle and three-quarter points lifted."""
    lift = s * p["lift"]
    ys = [0, 0.25 + lift * p["low"], 0.5 + lift, 0.75 + lift * p["high"], 1]
    return _edit_value(img, lambda v: _pchip(v, [0, 0.25, 0.5, 0.75, 1], ys))


def _curves_darker(img: np.ndarray, s: float, p: dict[str, float]) -> np.ndarray:
    """Curves on HSV value: the quarter, middle, three-quarter and white points pulled down."""
    drop = s * p["drop"]
    ys = [0, 0.25 - drop * p["low"], 0.5 - drop, 0.75 - drop * p["high"], 1 - s * p["white_drop"]]
    return _edit_value(img, lambda v: _pchip(v, [0, 0.25, 0.5, 0.75, 1], ys))


def _levels_output(img: np.ndarray, s: float, p: dict[str, float]) -> np.ndarray:
    """Levels on HSV value: output black raised and output white lowered (with a mild midtone gamma)."""
    black, white, gamma = s * p["black_top"], 1 - s * p["white_top"], p["gamma"] ** s
    return _edit_value(img, lambda v: black + (white - black) * v ** (1 / gamma))


def _levels_input(img: np.ndarray, s: float, p: dict[str, float]) -> np.ndarray:
    """Levels on HSV value: input black and white points pulled towards each other (both ends clip)."""
    black, white, gamma = s * p["black_top"], 1 - s * p["white_top"], p["gamma"] ** s
    return _edit_value(img, lambda v: np.clip((v - black) / (white - black), 0, 1) ** (1 / gamma))


def _s_curve(img: np.ndarray, s: float, p: dict[str, float]) -> np.ndarray:
    """Curves on L*: the 20th percentile pulled down and the 80th pushed up about the fixed median."""

    def edit(lightness: np.ndarray) -> np.ndarray:
        low, mid, high = np.quantile(lightness, [0.2, 0.5, 0.8])
        mid = float(np.clip(mid, 10, 90))
        low, high = max(min(float(low), mid - 5), 1.0), min(max(float(high), mid + 5), 99.0)
        ys = [0, low * (1 - s * p["shadow"]), mid, high + s * p["highlight"] * (100 - high), 100]
        return _pchip(lightness, [0, low, mid, high, 100], ys)

    return _edit_lightness(img, edit)


# ---------------------------------------------------------------- lightness spread, haze, glare, base/detail


def _lightness_spread(img: np.ndarray, factor: float, pivot: float) -> np.ndarray:
    """L* scaled by ``factor`` about its ``pivot`` quantile (< 1 flatter, > 1 harsher), chromaticity kept."""

    def edit(lightness: np.ndarray) -> np.ndarray:
        mid = np.float32(np.quantile(lightness, pivot))
        return mid + np.float32(factor) * (lightness - mid)

    return _edit_lightness(img, edit)


def _lightness_squeeze(img: np.ndarray, s: float, p: dict[str, float]) -> np.ndarray:
    return _lightness_spread(img, 1 - s * p["squeeze_top"], p["pivot"])


def _lightness_stretch(img: np.ndarray, s: float, p: dict[str, float]) -> np.ndarray:
    return _lightness_spread(img, 1 + s * p["stretch_top"], p["pivot"])


def _base_detail(img: np.ndarray, base_gain: float, detail_gain: float, sigma_share: float) -> np.ndarray:
    """L* split into a Gaussian base layer and detail; the base scaled about its median, the detail by a gain."""

    def edit(lightness: np.ndarray) -> np.ndarray:
        base = _blur(lightness, sigma_share * min(lightness.shape))
        mid = np.float32(np.median(base))
        return mid + np.float32(base_gain) * (base - mid) + np.float32(detail_gain) * (lightness - base)

    return _edit_lightness(img, edit)


def _flatten(img: np.ndarray, s: float, p: dict[str, float]) -> np.ndarray:
    """Large-scale flattening: the base layer squeezed, the detail mostly kept."""
    return _base_detail(img, 1 - s * p["base_top"], 1 - s * p["detail_loss"], p["sigma"])


def _clarity(img: np.ndarray, s: float, p: dict[str, float]) -> np.ndarray:
    """ "Clarity": the base layer stretched and the local detail boosted."""
    return _base_detail(img, 1 + s * p["base_top"], 1 + s * p["detail_top"], p["sigma"])


def _haze(img: np.ndarray, s: float, p: dict[str, float]) -> np.ndarray:
    """Atmospheric haze ``J·t + A·(1 − t)`` in linear light; the transmission falls towards the top of the frame.

    The airlight ``A`` is a share of the photo's bright level (90th percentile of luminance), slightly blue.
    """
    lin = _linear(img)
    depth = p["near"] + (1 - p["near"]) * np.linspace(1, 0, img.shape[0], dtype=np.float32)[:, None, None]
    t = 1 - s * p["haze_top"] * depth
    level = p["airlight"] * max(float(np.quantile(_luminance(lin), 0.9)), 0.1)
    airlight = np.float32(level) * np.array([1 - p["tint"], 1, 1 + p["tint"]], dtype=np.float32)
    return _srgb(lin * t + airlight * (1 - t))


def _veiling_glare(img: np.ndarray, s: float, p: dict[str, float]) -> np.ndarray:
    """Stray light: a heavily blurred copy of the scene added in linear light, then the exposure partly restored.

    The restoring gain brings the key (geometric mean luminance) back by the share ``restore`` of its rise.
    """
    lin = _linear(img)
    sigma = p["sigma"] * min(img.shape[:2])
    glare = np.stack([_blur(lin[..., c], sigma) for c in range(3)], axis=2)
    veiled = lin + np.float32(s * p["glare_top"]) * glare
    rise = _key(veiled) - _key(lin)
    return _srgb(veiled * np.float32(2.0 ** (-p["restore"] * rise)))


# ---------------------------------------------------------------- highlights


def _area_light(img: np.ndarray, s: float, p: dict[str, float]) -> np.ndarray:
    """A bright elliptical area light with a halo, added in linear light; its clipped core covers ~``s·share_top``."""
    share = s * p["share_top"]
    if share <= 0:
        return img
    h, w = img.shape[:2]
    radius = math.sqrt(share * h * w / math.pi) / math.sqrt(math.log(p["intensity"]))
    rx, ry = radius * math.sqrt(p["aspect"]), radius / math.sqrt(p["aspect"])
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dx, dy = xx - p["x"] * w, yy - p["y"] * h
    cos, sin = math.cos(p["angle"]), math.sin(p["angle"])
    d2 = ((cos * dx + sin * dy) / rx) ** 2 + ((-sin * dx + cos * dy) / ry) ** 2
    light = p["intensity"] * np.exp(-d2) + p["halo"] * np.exp(-d2 / 9)
    tint = np.array([1, 1 - 0.1 * p["warmth"], 1 - 0.25 * p["warmth"]], dtype=np.float32)
    return _srgb(_linear(img) + light[..., None] * tint)


def _midtone_knee(level: np.ndarray, y: np.ndarray, q: float) -> float:
    """The ``q`` quantile of ``level`` over the mid-tone pixels (luminance between its 45th and 55th percentiles).

    Pressing only what lies above this knee leaves most mid-tone pixels, and so the median luminance, in place.
    """
    low, high = np.quantile(y, [0.45, 0.55])
    return float(np.quantile(level[(y >= low) & (y <= high)], q))


def _highlight_press(
    img: np.ndarray, s: float, p: dict[str, float]
) -> tuple[np.ndarray, np.ndarray, float, float, float]:
    """What the highlight families share: linear RGB, its brightest channel, and the knee, top and drop to apply.

    The knee is the ``knee`` quantile of the brightest channel over the mid-tone pixels, the top its 99.5th
    percentile; the drop (stops) is ``s · drop_top``, at most 97 % of the stops from the knee to the top.
    """
    lin = _linear(img)
    value = _brightest(lin)
    knee = max(_midtone_knee(value, _luminance(lin), p["knee"]), 1e-3)
    top = float(np.quantile(value, 0.995))
    drop = min(s * p["drop_top"], 0.97 * math.log2(max(top, 1e-4) / max(knee, 1e-4)))
    return lin, value, knee, top, max(drop, 0.0)


def _durand(img: np.ndarray, s: float, p: dict[str, float]) -> np.ndarray:
    """Durand-style local tone mapping: the upper range of the log-brightness base layer pressed down, detail kept.

    Brightness is the largest linear channel; the base is its log smoothed by an edge-preserving (guided) filter,
    pressed linearly in log space from the knee (unchanged) to the base's ``top`` quantile or one ``drop`` above
    the knee, whichever is higher (``drop`` stops lower from there on, so the base never reverses); the detail
    (log brightness minus base) is attenuated by up to ``detail_cut`` along the same ramp.
    """
    lin, value, _, _, drop = _highlight_press(img, s, p)
    if drop < 1e-3:
        return img
    log_v = np.log2(value + np.float32(1e-4))
    base = _guided_base(log_v, max(1, round(p["radius"] * min(value.shape))), p["eps"])
    knee = _midtone_knee(base, _luminance(lin), p["knee"])
    width = max(float(np.quantile(base, p["top"])) - knee, drop)
    ramp = np.clip((base - knee) / width, 0, 1)
    pressed = base - drop * ramp + (log_v - base) * (1 - np.float32(p["detail_cut"]) * ramp)
    return _srgb(_scale_to(lin, value, np.exp2(pressed) - np.float32(1e-4)))


def _grey_band(img: np.ndarray, s: float, p: dict[str, float]) -> np.ndarray:
    """Lightness of the brightest channel above a knee rolled off (``knee + w·x/(x + w)``) into a grey band whose
    top is ``drop`` stops below the photo's highlights; chromaticity kept."""
    lin, value, knee, top, drop = _highlight_press(img, s, p)
    if drop < 1e-3:
        return img
    lightness = _lstar(value)
    knee_l, top_l = (float(_lstar(np.float32(x))) for x in (knee, top))
    target = float(_lstar(np.float32(top * 2.0**-drop)))
    width = (target - knee_l) * (top_l - knee_l) / max(top_l - target, 1e-3)
    x = np.maximum(lightness - knee_l, 0)
    pressed = np.where(lightness > knee_l, knee_l + width * x / (x + width), lightness)
    return _srgb(_scale_to(lin, value, _y_of_lstar(pressed)))


def _curves_top(img: np.ndarray, s: float, p: dict[str, float]) -> np.ndarray:
    """Curves on HSV value: the highlight point (99.5th percentile) pulled ``drop`` stops down, below the knee kept."""
    _, _, knee, top, drop = _highlight_press(img, s, p)
    if drop < 1e-3:
        return img
    knee_v, top_v = (float(_srgb(np.float32(x))) for x in (knee, top))
    target = float(_srgb(np.float32(top * 2.0**-drop)))
    xs, ys = [0, knee_v / 2, knee_v, top_v], [0, knee_v / 2, knee_v, target]
    if top_v < 0.995:
        xs, ys = [*xs, 1], [*ys, target + p["tail"] * (1 - top_v)]
    return _edit_value(img, lambda v: _pchip(v, xs, ys))


# ---------------------------------------------------------------- the families


@dataclass(frozen=True)
class _Family:
    """One operator family for one issue: ``draw`` picks its random shape, ``apply`` runs it at a strength 0..1.

    Strength 1 is meant to reach severe or blocking on most photos and strength 0 to leave the issue unset; the
    strength rises along a ladder, while the drawn shape stays.
    """

    draw: Callable[[np.random.Generator], dict[str, float]]
    apply: Callable[[np.ndarray, float, dict[str, float]], np.ndarray]


def _uniform(**ranges: tuple[float, float]) -> Callable[[np.random.Generator], dict[str, float]]:
    """A ``draw`` that picks every named parameter uniformly from its range."""
    return lambda rng: {name: float(rng.uniform(low, high)) for name, (low, high) in ranges.items()}


def _draw_area_light(rng: np.random.Generator) -> dict[str, float]:
    return {
        "share_top": rng.uniform(0.45, 0.6),
        "intensity": rng.uniform(4, 12),
        "aspect": rng.uniform(0.6, 1.6),
        "angle": rng.uniform(0, math.pi),
        "x": rng.uniform(0.3, 0.7),
        "y": rng.uniform(0.3, 0.7),
        "halo": rng.uniform(0.05, 0.25),
        "warmth": rng.uniform(0, 1),
    }


FAMILIES: dict[str, dict[str, _Family]] = {
    "bright": {
        "camera": _Family(_draw_camera_brighter, _exposure_ev),
        "levels_lstar": _Family(_uniform(white_cut=(0.0, 0.12), gamma_top=(1.0, 1.5)), _levels_brighter),
        "curves_value": _Family(_uniform(lift=(0.3, 0.36), low=(0.6, 1.0), high=(0.4, 0.65)), _curves_brighter),
    },
    "dark": {
        "camera": _Family(_draw_camera_darker, _exposure_ev),
        "levels_lstar": _Family(
            _uniform(black_cut=(0.0, 0.08), gamma_top=(0.8, 1.3), white_drop=(0.0, 0.25)), _levels_darker
        ),
        "curves_value": _Family(
            _uniform(drop=(0.25, 0.33), low=(0.45, 0.7), high=(0.8, 1.2), white_drop=(0, 0.3)), _curves_darker
        ),
    },
    "low_contrast": {
        "haze": _Family(_uniform(haze_top=(0.7, 0.85), near=(0.3, 1.0), airlight=(0.6, 1.1), tint=(0.0, 0.12)), _haze),
        "veiling_glare": _Family(_uniform(glare_top=(2.5, 4.0), sigma=(0.2, 0.4), restore=(0.5, 1.0)), _veiling_glare),
        "lightness_squeeze": _Family(_uniform(squeeze_top=(0.6, 0.75), pivot=(0.5, 0.8)), _lightness_squeeze),
        "flatten": _Family(_uniform(base_top=(0.8, 0.95), detail_loss=(0.1, 0.4), sigma=(0.03, 0.08)), _flatten),
        "levels_output": _Family(
            _uniform(black_top=(0.25, 0.4), white_top=(0.1, 0.25), gamma=(0.7, 1.0)), _levels_output
        ),
    },
    "high_contrast": {
        "lightness_stretch": _Family(_uniform(stretch_top=(1.0, 1.5), pivot=(0.3, 0.55)), _lightness_stretch),
        "s_curve": _Family(_uniform(shadow=(0.7, 0.92), highlight=(0.6, 0.9)), _s_curve),
        "levels_input": _Family(
            _uniform(black_top=(0.2, 0.35), white_top=(0.15, 0.3), gamma=(0.85, 1.15)), _levels_input
        ),
        "clarity": _Family(_uniform(base_top=(0.7, 1.1), detail_top=(0.5, 1.5), sigma=(0.03, 0.08)), _clarity),
    },
    "overexposed": {
        "camera": _Family(_draw_camera_blowout, _camera_blowout),
        "area_light": _Family(_draw_area_light, _area_light),
    },
    "over_suppressed": {
        "durand": _Family(
            _uniform(
                drop_top=(1.7, 2.1),
                knee=(0.2, 0.5),
                top=(0.85, 0.95),
                radius=(0.01, 0.04),
                eps=(0.05, 0.5),
                detail_cut=(0.3, 0.7),
            ),
            _durand,
        ),
        "grey_band": _Family(_uniform(drop_top=(1.5, 1.9), knee=(0.2, 0.5)), _grey_band),
        "curves_top": _Family(_uniform(drop_top=(1.5, 1.9), knee=(0.2, 0.5), tail=(0.2, 0.6)), _curves_top),
    },
}
"""issue label -> family name -> operator family."""


def _to_array(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255


def _to_image(img: np.ndarray) -> Image.Image:
    return Image.fromarray((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8))


def _apply_issue(
    img: np.ndarray, label: str, rng: np.random.Generator, strengths: list[float]
) -> tuple[list[np.ndarray], str, dict[str, float]]:
    """One family drawn for ``label``, applied to ``img`` at each of ``strengths``.

    Also returns the family's parameter prefix (``label.family``) and its drawn shape, keyed ``label.family.name``.
    """
    name = str(rng.choice(sorted(FAMILIES[label])))
    family = FAMILIES[label][name]
    shape = family.draw(rng)
    prefix = f"{label}.{name}"
    params = {f"{prefix}.{key}": float(value) for key, value in shape.items()}
    return [family.apply(img, s, shape) for s in strengths], prefix, params


def random_variant(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, dict[str, float]]:
    """A random degradation (0 to 3 issues, several operator families).

    Returns the image (before encoding) and the parameters drawn.

    Issues are drawn without aiming at both of an exclusive pair, applied in :data:`ORDER` at uniform random
    strengths; slight sensor-like noise is added half of the time.  Parameters are named
    ``label.family.parameter`` (``label.family.strength`` for the strength), plus ``noise.sigma``.
    """
    img = _to_array(image)
    params: dict[str, float] = {}
    chosen: list[str] = []
    for label in rng.choice(LABELS, size=rng.choice(4, p=ISSUE_COUNT_P), replace=False, p=ISSUE_WEIGHTS):
        if EXCLUSIVE[str(label)] not in chosen:
            chosen.append(str(label))
    for label in sorted(chosen, key=ORDER.index):
        strength = float(rng.uniform(0.05, 1.0))
        (img,), prefix, drawn = _apply_issue(img, label, rng, [strength])
        params.update({**drawn, f"{prefix}.strength": strength})
    sigma = float(rng.uniform(0.5, 2.0) / 255 if rng.random() < 0.5 else 0.0)
    if sigma > 0:
        img = img + np.float32(sigma) * rng.standard_normal(img.shape, dtype=np.float32)
    params["noise.sigma"] = sigma
    return _to_image(img), params


def _ladder(
    image: Image.Image, label: str, rng: np.random.Generator, steps: int
) -> list[tuple[Image.Image, dict[str, float]]]:
    """:func:`ladder`, with each step's parameters (the family's shape and the step's strength)."""
    if steps < 2:
        raise ValueError(f"a ladder needs at least 2 steps, got {steps}")
    img = _to_array(image)
    top = float(rng.uniform(0.9, 1.0))
    strengths = [top * k / (steps - 1) for k in range(1, steps)]
    images, prefix, params = _apply_issue(img, label, rng, strengths)
    return [(image, {**params, f"{prefix}.strength": 0.0})] + [
        (_to_image(out), {**params, f"{prefix}.strength": s}) for out, s in zip(images, strengths, strict=True)
    ]


def ladder(image: Image.Image, label: str, rng: np.random.Generator, steps: int = 5) -> list[Image.Image]:
    """`steps` images of the same photo with increasing severity of ONE issue `label` (step 0 = untouched photo).

    One operator family is drawn at random per ladder; its strength rises linearly from 0 to about 1, so the
    measured level should rise from none to severe or blocking over the ladder.
    """
    return [out for out, _ in _ladder(image, label, rng, steps)]


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


if __name__ == "__main__":
    main()
