"""The independent generator's constants, colour helpers (float32 sRGB images in 0..1) and simulated camera."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage
from scipy.interpolate import PchipInterpolator

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
DATA = Path(__file__).resolve().parents[3] / "shared" / "data"

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
