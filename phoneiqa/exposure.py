"""The six exposure issues as measurements: the contract of ``data_specs/issue_definitions.md`` in code.

Each issue's severity is a number measured on a photo — against the same scene correctly exposed
(the *reference*) where the definition needs one — and its level follows from fixed boundaries:

    ref, bad = np.asarray(clean_image), np.asarray(edited_image)   # 8-bit sRGB [H, W, 3], same scene and framing
    m = measure(bad, ref)          # Measurement(exposure_ev=-1.3, contrast_ratio=1.02, blown_share=0.0, ...)
    issue_levels(m)                # {'bright': 0, 'dark': 2, 'low_contrast': 0, ...}: the median viewer's levels
    blown_share(bad)               # needs no reference: share of the frame blown out, glints excluded

The synthetic-issue generators label their images with these functions, whatever operations made
them; the tests check them on images whose answer is known by construction.  Numpy and Pillow only.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

from phoneiqa.photometric import REC709, lightness, luminance, srgb_to_linear

WORKING_LONG_SIDE = 512
"""Long side (pixels) of the copy every measurement is taken on (smaller photos are used as they are)."""
BLOWN_CODE = 250
"""8-bit code from which a channel is saturated; a pixel with two or more saturated channels has lost its detail."""
BLOWN_CHANNELS = 2
CRUSHED_CODE = 5
"""8-bit code up to which a channel is black; a pixel whose channels all are has no shadow detail left."""
MIN_REGION = 0.001
"""Blown regions smaller than this share of the frame (light sources, specular glints) are not counted."""
HIGHLIGHT_QUANTILE = 0.995
"""Quantile of the brightest channel that stands for the photo's highlight level (its "white")."""
SHADOW_QUANTILE = 0.05
"""Quantile of the luminance that stands for the photo's shadow level."""
MIDTONE_QUANTILE = 0.5
"""Quantile of the luminance that stands for the photo's mid-tones."""
LUMINANCE_FLOOR = 0.002
"""Added to linear luminance before logarithms (about L* 1.8): below it, differences are not visible."""

BOUNDARIES: dict[str, tuple[str, tuple[float, float, float]]] = {
    "bright": ("exposure_ev", (0.95, 2.05, 3.2)),
    "dark": ("exposure_ev", (-1.5, -2.7, -3.9)),
    "low_contrast": ("contrast_ratio", (0.56, 0.4, 0.29)),
    "high_contrast": ("contrast_ratio", (1.47, 2.16, 3.19)),
    "overexposed": ("blown_share", (0.16, 0.30, 0.42)),
    "over_suppressed": ("highlight_drop_ev", (1.67, 3.35, 5.0)),
}
"""label -> (the measurement it reads, the values at which normal, severe and blocking begin).

Where half of the viewers give the level or more: fitted to the judged calibration changes
(``benchmarks/calibrate_levels.py``, ``data_specs/issue_definitions.md``).  Boundaries that increase
are reached from below (the level is the number of boundaries the value is at or above);
decreasing ones from above (at or below)."""

SPREADS: dict[str, float] = {
    "bright": 0.42,
    "dark": 0.47,
    "low_contrast": 0.27,
    "high_contrast": 0.18,
    "overexposed": 0.044,
    "over_suppressed": 0.31,
}
"""label -> how sharply viewers switch level: the scale ``s`` of the fitted P(level >= k) = sigmoid((x - t_k) / s),
on the measurement's fitting scale (stops, share, log2 of a contrast ratio)."""

LOG_MEASUREMENTS = frozenset({"contrast_ratio"})
"""Measurements that are ratios: viewers' spreads apply to their log2."""


@dataclass(frozen=True)
class Measurement:
    """What the definitions measure on a photo, against the same scene correctly exposed."""

    exposure_ev: float
    """Stops by which the photo's key (geometric mean luminance) is brighter (> 0) or darker than the reference's."""
    contrast_ratio: float
    """Spread of lightness (std of L*) against the reference exposed the same way by a pure gain: < 1 flatter."""
    blown_share: float
    """Share of the frame blown out (two or more channels saturated), regions below :data:`MIN_REGION` not counted."""
    highlight_drop_ev: float
    """Stops by which the highlights (the brightest channel's 99.5th percentile) fell more than the mid-tones
    moved and the shadows were lifted; at most the stops left between the highlights and white."""

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def working_copy(codes: np.ndarray) -> np.ndarray:
    """``codes`` (8-bit sRGB ``[H, W, 3]``) box-averaged by an integer factor so its long side is at most 512."""
    _check_codes(codes)
    factor = math.ceil(max(codes.shape[:2]) / WORKING_LONG_SIDE)
    return codes if factor <= 1 else np.asarray(Image.fromarray(codes).reduce(factor))


def _check_codes(codes: np.ndarray) -> None:
    if codes.dtype != np.uint8 or codes.ndim != 3 or codes.shape[2] != 3:
        raise ValueError(f"expected an 8-bit sRGB image [H, W, 3] (uint8), got {codes.dtype} {list(codes.shape)}")


def blown_mask(codes: np.ndarray, min_region: float = MIN_REGION) -> np.ndarray:
    """``[H, W]`` bool: pixels blown out without detail, in regions of at least ``min_region`` of the frame.

    A pixel is blown when at least two of its channels are at :data:`BLOWN_CODE` or above; 8-connected
    regions of blown pixels smaller than ``min_region`` of the frame (a lamp, the sun, a glint) are dropped.
    """
    _check_codes(codes)
    blown = saturated_channels(codes) >= BLOWN_CHANNELS
    return large_regions(blown, min_region * blown.size)


def large_regions(mask: np.ndarray, min_pixels: float) -> np.ndarray:
    """``mask`` (2-D bool) without its 8-connected regions of fewer than ``min_pixels`` pixels.

    Numpy only (the runtime has no scipy): the mask's horizontal runs are the graph's nodes, runs of
    neighbouring rows that touch (diagonally included) its edges, and regions its components, found
    by propagating the smallest run index along the edges with pointer jumping.
    """
    height, width = mask.shape
    stride = width + 2  # each row padded by a False column on both sides, so runs never join across rows
    padded = np.zeros((height, stride), dtype=np.int8)
    padded[:, 1:-1] = mask
    edges = np.flatnonzero(np.diff(padded, axis=1, append=0).ravel())
    if not len(edges):
        return mask.copy()
    starts, stops = edges[0::2] + 1, edges[1::2] + 1  # global positions, row-major; stop exclusive
    rows = starts // stride
    # runs of the row above that touch run b: stop_a >= start_b and start_a <= stop_b (8-connected)
    lo = np.searchsorted(stops, starts - stride, side="left")
    hi = np.searchsorted(starts, stops - stride, side="right")
    hi = np.where(rows > 0, np.maximum(hi, lo), lo)
    counts = hi - lo
    b = np.repeat(np.arange(len(starts)), counts)
    a = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
    labels = np.arange(len(starts))
    while True:
        low = np.minimum(labels[a], labels[b])
        np.minimum.at(labels, a, low)
        np.minimum.at(labels, b, low)
        jumped = labels[labels]
        while not np.array_equal(jumped, labels):
            labels, jumped = jumped, jumped[jumped]
        if np.array_equal(labels[a], labels[b]):
            break
    sizes = np.bincount(labels, weights=stops - starts)
    keep = sizes[labels] >= min_pixels
    marks = np.zeros(height * stride + 1, dtype=np.int32)
    np.add.at(marks, starts[keep], 1)
    np.add.at(marks, stops[keep], -1)
    return (np.cumsum(marks[:-1]) > 0).reshape(height, stride)[:, 1:-1]


def blown_share(codes: np.ndarray) -> float:
    """Share of the frame blown out (:func:`blown_mask` on the :func:`working_copy`): what ``overexposed`` reads."""
    return float(blown_mask(working_copy(codes)).mean())


def crushed_mask(codes: np.ndarray) -> np.ndarray:
    """``[H, W]`` bool: pixels with every channel at :data:`CRUSHED_CODE` or below (no shadow detail left)."""
    _check_codes(codes)
    return (codes[..., 0] <= CRUSHED_CODE) & (codes[..., 1] <= CRUSHED_CODE) & (codes[..., 2] <= CRUSHED_CODE)


def saturated_channels(codes: np.ndarray) -> np.ndarray:
    """``[H, W]`` uint8: how many of each pixel's channels are at :data:`BLOWN_CODE` or above."""
    return sum((codes[..., c] >= BLOWN_CODE).view(np.uint8) for c in range(3))


def brightest_channel(codes: np.ndarray) -> np.ndarray:
    """``[H, W]``: each pixel's largest channel code (per channel, which numpy does far faster than
    a reduction over a last axis of three)."""
    return np.maximum(np.maximum(codes[..., 0], codes[..., 1]), codes[..., 2])


def key_ev(y: np.ndarray) -> float:
    """log2 of the geometric mean of linear luminances ``y`` (plus :data:`LUMINANCE_FLOOR`): the key in stops."""
    return float(np.mean(np.log2(y + LUMINANCE_FLOOR)))


def highlight_level(codes: np.ndarray, q: float = HIGHLIGHT_QUANTILE) -> float:
    """The ``q`` quantile of the brightest channel (the highlight level by default), linear light 0..1."""
    code = np.quantile(brightest_channel(codes), q, method="inverted_cdf")
    return float(_LINEAR[int(code)])


def _stops(a: float, b: float) -> float:
    """log2 of ``a / b`` for luminances, both offset by :data:`LUMINANCE_FLOOR`."""
    return math.log2((a + LUMINANCE_FLOOR) / (b + LUMINANCE_FLOOR))


def lightness_std(lin: np.ndarray) -> float:
    """Standard deviation of CIE L* (0..100) of linear RGB ``[H, W, 3]``."""
    y = np.clip(lin, 0, 1) @ np.array(REC709, dtype=np.float32)
    return float(100 * lightness(y.astype(np.float32)).std(dtype=np.float64))


_LINEAR = srgb_to_linear(np.arange(256) / 255).astype(np.float32)
"""Linear light of each 8-bit sRGB code."""


def measure(codes: np.ndarray, reference: np.ndarray) -> Measurement:
    """The four measurements of a photo ``codes`` against ``reference``, the same scene correctly exposed.

    Both are 8-bit sRGB ``[H, W, 3]`` of the same framing and size (a photo and its edited copy).
    """
    _check_codes(codes)
    _check_codes(reference)
    if codes.shape != reference.shape:
        raise ValueError(f"photo {list(codes.shape)} and reference {list(reference.shape)} differ in size")
    img, ref = working_copy(codes), working_copy(reference)
    y_img, y_ref = luminance(img), luminance(ref)
    exposure = key_ev(y_img) - key_ev(y_ref)
    ref_lin = _LINEAR[ref]
    gained = np.minimum(ref_lin * np.float32(2.0**exposure), 1.0)
    contrast = lightness_std(_LINEAR[img]) / max(lightness_std(gained), 1e-3)
    high_img = highlight_level(img)
    drop = math.log2(highlight_level(ref) / max(high_img, 1e-4))
    (shadow_img, mid_img), (shadow_ref, mid_ref) = (
        np.quantile(y, [SHADOW_QUANTILE, MIDTONE_QUANTILE]) for y in (y_img, y_ref)
    )
    mid, lift = abs(_stops(mid_img, mid_ref)), _stops(shadow_img, shadow_ref)
    headroom = -math.log2(max(high_img, 1e-4))
    highlight_drop = max(0.0, min(drop - max(mid, lift), headroom))
    return Measurement(exposure, contrast, blown_share(img), highlight_drop)


def level_of(label: str, value: float) -> int:
    """The level (0..3) that ``value`` of the label's measurement gives, by :data:`BOUNDARIES`."""
    _, edges = BOUNDARIES[label]
    rising = edges[0] < edges[-1]
    return sum(value >= edge if rising else value <= edge for edge in edges)


def issue_levels(measurement: Measurement) -> dict[str, int]:
    """Level per issue label of a :class:`Measurement` (a legal combination: each exclusive pair reads one number).

    The level half of the viewers give or exceed: the median viewer's level."""
    values = measurement.as_dict()
    return {label: level_of(label, values[name]) for label, (name, _) in BOUNDARIES.items()}


def draw_viewer_noise(rng: np.random.Generator) -> dict[str, float]:
    """One viewer's perception: a standard logistic draw per measurement (shared by the labels that read it)."""
    return {name: float(rng.logistic()) for name in sorted({name for name, _ in BOUNDARIES.values()})}


def viewer_levels(measurement: Measurement, noise: dict[str, float]) -> dict[str, int]:
    """The levels one viewer gives: each label's level at its measurement moved by ``noise`` times the label's
    :data:`SPREADS` (on the fitting scale), so that over draws of :func:`draw_viewer_noise` a label reaches
    level k with the fitted probability sigmoid((x - t_k) / s).  Legal: a pair reading one number shares one draw
    (its spreads make it exclusive for any value), and a blown frame has no highlights left to press down.
    """
    values = measurement.as_dict()
    levels = {}
    for label, (name, _) in BOUNDARIES.items():
        shift = noise[name] * SPREADS[label]  # the same direction on both sides of a pair
        value = values[name] * 2.0**shift if name in LOG_MEASUREMENTS else values[name] + shift
        levels[label] = level_of(label, value)
    if levels["overexposed"]:
        levels["over_suppressed"] = 0
    return levels


def _signed_level_probabilities(ev: np.ndarray) -> np.ndarray:
    """``[len(ev), 7]`` P(signed exposure level = -3 … +3 | exposure_ev) under the viewers' fitted curves."""
    zero = np.zeros((len(ev), 1))
    dark = np.stack([1 / (1 + np.exp((ev - t) / SPREADS["dark"])) for t in BOUNDARIES["dark"][1]], 1)
    bright = np.stack([1 / (1 + np.exp((t - ev) / SPREADS["bright"])) for t in BOUNDARIES["bright"][1]], 1)
    exactly_dark = dark - np.concatenate([dark[:, 1:], zero], 1)  # P(dark = 1, 2, 3)
    exactly_bright = bright - np.concatenate([bright[:, 1:], zero], 1)
    none = 1 - dark[:, :1] - bright[:, :1]
    return np.clip(np.concatenate([exactly_dark[:, ::-1], none, exactly_bright], 1), 1e-9, 1)


STOPS_GRID = np.round(np.arange(-6.0, 5.0001, 0.01), 2)
"""The exposure changes (stops) :func:`exposure_stops` chooses from."""
_GRID_LOG_P = np.log(_signed_level_probabilities(STOPS_GRID))


def exposure_stops(bright: np.ndarray, dark: np.ndarray) -> np.ndarray:
    """How many stops photos are off (> 0 too bright), from the level probabilities ``[B, 4]`` of ``bright`` and
    ``dark``: the exposure change whose viewers' level distribution (the fitted curves of :data:`BOUNDARIES` and
    :data:`SPREADS`) is nearest to them (least cross-entropy), on :data:`STOPS_GRID`.  0 where the photo
    reads as well exposed; the photo's own exposure change only as far as its levels tell it."""
    bright, dark = np.atleast_2d(bright), np.atleast_2d(dark)
    none = 1 - bright[:, 1:].sum(1, keepdims=True) - dark[:, 1:].sum(1, keepdims=True)
    signed = np.concatenate([dark[:, :0:-1], none, bright[:, 1:]], 1)
    return STOPS_GRID[np.argmax(signed @ _GRID_LOG_P.T, axis=1)]


# ---------------------------------------------------------------------------------------------------------------------
# the same quantities read off one photo, without a reference: features for the issue head

FEATURE_NAMES: tuple[str, ...] = (
    "blown_share",  # what overexposed reads
    "blown_pixels",  # two or more channels saturated, regions of any size
    "one_channel_clipped",  # exactly one channel saturated (colour clipping, detail kept)
    "crushed_share",  # every channel at CRUSHED_CODE or below
    "highlight_stops",  # log2 of the highlight level: stops between the highlights and white (<= 0)
    "highlight_p90_stops",  # log2 of the 90th percentile of the brightest channel
    "key_stops",  # key_ev: log2 geometric mean luminance
    "p95_stops",  # log2 of luminance quantiles (plus the floor)
    "median_stops",
    "shadow_stops",
    "lightness_std",  # std of L* / 100
)
"""Columns of :func:`exposure_features`: the definitions' quantities that a single photo shows."""


def exposure_statistics(codes: np.ndarray) -> dict[str, float]:
    """The statistics named in :data:`FEATURE_NAMES` of one 8-bit sRGB photo ``[H, W, 3]``."""
    _check_codes(codes)
    saturated = saturated_channels(codes)
    y = luminance(codes)
    p05, p50, p95 = np.quantile(y, [SHADOW_QUANTILE, MIDTONE_QUANTILE, 0.95])
    return {
        "blown_share": float(blown_mask(codes).mean()),
        "blown_pixels": float(np.mean(saturated >= BLOWN_CHANNELS)),
        "one_channel_clipped": float(np.mean(saturated == 1)),
        "crushed_share": float(crushed_mask(codes).mean()),
        "highlight_stops": math.log2(max(highlight_level(codes), 1e-4)),
        "highlight_p90_stops": math.log2(max(highlight_level(codes, 0.9), 1e-4)),
        "key_stops": key_ev(y),
        "p95_stops": math.log2(p95 + LUMINANCE_FLOOR),
        "median_stops": math.log2(p50 + LUMINANCE_FLOOR),
        "shadow_stops": math.log2(p05 + LUMINANCE_FLOOR),
        "lightness_std": float(lightness(y).std(dtype=np.float64)),
    }


def exposure_features(codes: np.ndarray) -> np.ndarray:
    """``[B, len(FEATURE_NAMES)]`` float32 :func:`exposure_statistics` of 8-bit sRGB images ``[B, H, W, 3]``."""
    if codes.dtype != np.uint8 or codes.ndim != 4 or codes.shape[3] != 3:
        raise ValueError(f"expected uint8 images [B, H, W, 3], got {codes.dtype} {list(codes.shape)}")
    rows = [[stats[name] for name in FEATURE_NAMES] for stats in map(exposure_statistics, codes)]
    return np.array(rows, dtype=np.float32).reshape(len(codes), len(FEATURE_NAMES))
