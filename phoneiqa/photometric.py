"""Hand-made luminance and colour statistics: exposure, contrast, clipping, highlight compression.

Numpy only (no torch), so the torch-free runtime and the ``photometric`` encoder
(:class:`phoneiqa.encoders.photometric.PhotometricEncoder`) share this one implementation.  No
learned weights: :func:`photometric_features` takes 8-bit sRGB images, which the encoder has
reduced to a short side of 256 pixels.  Luminance ``Y`` is computed on linearised sRGB (Rec. 709
weights); histograms, percentiles and contrasts use the perceptual lightness ``L = L*/100``
(CIE 1976) of that luminance, so equal steps are roughly equally visible.  A channel is clipped
"high" at a code of at least 250, "low" at most 5, and the luminance when it is at least as
bright as grey 250 (or as dark as grey 5).  Percentiles, luminance clipping and the lightness
bands are read off a 1024-bin lightness histogram (exact to 1/1024), so each pass over the pixels
serves many statistics.  Per-pixel values are float32, sums and statistics float64.
:data:`FEATURE_NAMES` documents every output column.
"""

from __future__ import annotations

import math

import numpy as np

REC709 = (0.2126, 0.7152, 0.0722)
CLIP_HIGH_CODE = 250
"""A channel with an 8-bit code at least this counts as clipped high (luminance: as bright as this grey)."""
CLIP_LOW_CODE = 5
"""A channel with an 8-bit code at most this counts as clipped low (luminance: as dark as this grey)."""
HIST_BINS = 16
PERCENTILES = (1, 5, 10, 25, 50, 75, 90, 95, 99)
LOCAL_BLOCK = 8
"""Side in pixels (of the 256-pixel copy) of the blocks for local means and local contrast."""
HIGH_BAND = 0.9
"""Lightness from which (up to clipping) a pixel is in the highlight band."""
UPPER_BAND = 0.7
"""Lightness from which (up to :data:`HIGH_BAND`) a pixel is in the upper mid-tones."""
SATURATED = 0.8
QUANTILE_BINS = 1024

FEATURE_NAMES: tuple[str, ...] = (
    # fraction of pixels per 1/16 of the lightness range
    *(f"lum_hist_{k:02d}" for k in range(HIST_BINS)),
    # lightness percentiles
    *(f"lum_p{q:02d}" for q in PERCENTILES),
    "lum_mean",
    "lum_std",
    # geometric mean of the linear luminance (the "key" of the exposure; from the fine histogram), as lightness
    "lum_key",
    # fractions of pixels clipped high / low, per channel and for the luminance (grey-equivalent code)
    "clip_hi_r",
    "clip_hi_g",
    "clip_hi_b",
    "clip_hi_lum",
    "clip_lo_r",
    "clip_lo_g",
    "clip_lo_b",
    "clip_lo_lum",
    # global contrast: lightness percentile spreads, Michelson contrast of the 5th/95th luminance percentiles
    "lum_spread_p05_p95",
    "lum_spread_p01_p99",
    "michelson_p05_p95",
    # local contrast: std of 8×8 block means, mean std within blocks, mean gradient magnitude
    "local_mean_std",
    "local_std_mean",
    "grad_mean",
    # gradient in the brightest / darkest 10% relative to the whole image (flat highlights or shadows < 1)
    "grad_ratio_top10",
    "grad_ratio_bottom10",
    # highlight compression: fraction in the band just below clipping (L 0.9..clip) and in the upper
    # mid-tones (0.7..0.9), and the log ratio of their densities per unit lightness (> 0: pixels pile up
    # just below white; < 0: the histogram falls off before white, highlights pressed down)
    "high_band_frac",
    "upper_band_frac",
    "high_band_log_density_ratio",
    # HSV saturation of the sRGB values: mean, std, 95th percentile, fraction above 0.8,
    # and mean saturation of the brightest 10%
    "sat_mean",
    "sat_std",
    "sat_p95",
    "sat_frac_high",
    "sat_mean_top10",
    # Hasler-Süsstrunk colourfulness, and the mean sRGB value per channel (colour casts)
    "colourfulness",
    "mean_r",
    "mean_g",
    "mean_b",
)


def srgb_to_linear(v: np.ndarray) -> np.ndarray:
    """Linear-light values of sRGB-coded values in 0..1 (IEC 61966-2-1)."""
    return np.where(v <= 0.04045, v / 12.92, ((np.maximum(v, 0.04045) + 0.055) / 1.055) ** 2.4)


def cube_root(v: np.ndarray) -> np.ndarray:
    """Cube root of positive ``v`` as ``exp(log(v) / 3)``, each step rounded to ``v``'s float type.

    The logarithm and exponential are evaluated in float64.  In float32 these are the rounding steps
    of the float32 torch code this module replaced, so pixels fall in the same lightness bins as
    there (all but 29 of the 2^24 colours) and features stay comparable across versions.
    """
    third = np.log(v, dtype=np.float64).astype(v.dtype, copy=False) / 3
    return np.exp(third, dtype=np.float64).astype(v.dtype, copy=False)


def lightness(y: np.ndarray) -> np.ndarray:
    """CIE 1976 lightness ``L*/100`` (0..1) of relative luminance ``y`` (0..1), in ``y``'s float type."""
    knee = (6 / 29) ** 3
    # the linear segment below the knee is the cube-root curve's tangent there, so above the knee
    # the curve is the smaller of the two, and below it the line is
    return np.minimum(1.16 * cube_root(np.maximum(y, knee)) - 0.16, y * (1.16 / (3 * (6 / 29) ** 2)))


def luminance_of_lightness(lum: np.ndarray) -> np.ndarray:
    """Relative luminance of lightness ``L*/100``: the inverse of :func:`lightness`."""
    delta = 6 / 29
    f = (lum + 0.16) / 1.16
    return np.where(f > delta, f**3, 3 * delta**2 * (f - 4 / 29))


def grey_lightness(code: float) -> float:
    """Lightness of the grey with 8-bit code ``code`` (fractional codes allowed)."""
    return float(lightness(srgb_to_linear(np.float64(code / 255))))


def fine_bin(lum: float) -> int:
    """Index of the first :data:`QUANTILE_BINS`-histogram bin that lies at or above lightness ``lum``."""
    return math.ceil(lum * QUANTILE_BINS)


LUMINANCE_TABLE = (np.array(REC709)[:, None] * srgb_to_linear(np.arange(256) / 255)).astype(np.float32)
"""``[3, 256]``: the contribution to the luminance of channel ``c`` at 8-bit code ``k``, at ``[c, k]``."""
LOG_BIN_LUMINANCE = np.log(luminance_of_lightness((np.arange(QUANTILE_BINS) + 0.5) / QUANTILE_BINS) + 1e-4)
"""Log luminance (offset by 1e-4) of the centre of each fine lightness bin, for the geometric mean."""


def bin_index(values: np.ndarray, bins: int) -> np.ndarray:
    """Bin of each value of ``values`` (in 0..1) among ``bins`` equal-width bins."""
    return np.minimum(values * bins, bins - 1).astype(np.intp)


def bin_sums(idx: np.ndarray, bins: int, weights: np.ndarray | None = None) -> np.ndarray:
    """``[bins]`` count (or sum of ``weights``) per bin of the bin indices ``idx``."""
    return np.bincount(idx.reshape(-1), None if weights is None else weights.reshape(-1), minlength=bins)


def bin_mean(sums: np.ndarray, counts: np.ndarray) -> float:
    """Mean over a range of bins, given the per-bin ``sums`` and ``counts`` in that range."""
    return sums.sum() / max(counts.sum(), 1e-12)


def quantiles(hist: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """Quantiles ``qs`` of values in 0..1 from their ``[bins]`` histogram, linear within a bin.

    ``hist`` holds counts (or any non-negative weights) per equal-width bin.
    """
    bins = len(hist)
    cdf = hist.cumsum()
    target = qs * cdf[-1]
    k = np.minimum(np.searchsorted(cdf, target), bins - 1)
    below = np.where(k > 0, cdf[k - 1], 0)
    within = (target - below) / np.maximum(hist[k], 1e-12)
    return (k + np.clip(within, 0, 1)) / bins


def mean_std(values: np.ndarray) -> tuple[float, float]:
    """Mean and (population) standard deviation of ``values``, in float64."""
    return values.mean(dtype=np.float64), values.std(dtype=np.float64)


def luminance(codes: np.ndarray) -> np.ndarray:
    """``[H, W]`` float32 relative luminance of an 8-bit sRGB image ``[H, W, 3]``."""
    y = LUMINANCE_TABLE[0].take(codes[..., 0])
    y += LUMINANCE_TABLE[1].take(codes[..., 1])
    y += LUMINANCE_TABLE[2].take(codes[..., 2])
    return y


def saturation(codes: np.ndarray) -> np.ndarray:
    """``[H, W]`` float32 HSV saturation of an 8-bit sRGB image ``[H, W, 3]``.

    Computed in float32 from the 0..1 values: the rounding the saturation histogram's bins were defined with.
    """
    red, green, blue = codes[..., 0], codes[..., 1], codes[..., 2]
    top = np.maximum(np.maximum(red, green), blue) / np.float32(255)
    bottom = np.minimum(np.minimum(red, green), blue) / np.float32(255)
    return (top - bottom) / np.maximum(top, np.float32(1e-6))


def gradient(lum: np.ndarray) -> np.ndarray:
    """``[H - 1, W - 1]`` gradient magnitude of ``lum`` ``[H, W]`` from forward differences at each top-left pixel."""
    corner = lum[:-1, :-1]
    right, down = lum[:-1, 1:] - corner, lum[1:, :-1] - corner
    return np.sqrt(right * right + down * down)


def block_means(values: np.ndarray, side: int) -> np.ndarray:
    """``[ceil(H / side), ceil(W / side)]`` means of ``values`` (``[H, W]``) over ``side × side`` blocks.

    Blocks start at the top-left corner; those at the bottom and right edges may be cut short and
    are averaged over the pixels they have (as ``avg_pool2d(..., ceil_mode=True)``).
    """
    h, w = values.shape
    rows, cols = np.arange(0, h, side), np.arange(0, w, side)
    sums = np.add.reduceat(np.add.reduceat(values, rows, axis=0, dtype=np.float64), cols, axis=1)
    return sums / np.outer(np.diff(rows, append=h), np.diff(cols, append=w))


def local_contrast(lum: np.ndarray) -> tuple[float, float]:
    """Std of the :data:`LOCAL_BLOCK` block means of ``lum``, and the mean of the std within each block."""
    block_mean = block_means(lum, LOCAL_BLOCK)
    block_var = block_means(np.square(lum, dtype=np.float64), LOCAL_BLOCK) - block_mean * block_mean
    return block_mean.std(), np.sqrt(np.maximum(block_var, 0)).mean()


def colourfulness(codes: np.ndarray) -> float:
    """Hasler-Süsstrunk colourfulness of an 8-bit sRGB image ``[H, W, 3]``, on the 0..1 values."""
    red, green, blue = (codes[..., c].astype(np.int16) for c in range(3))
    # opponent colours in 8-bit codes: red - green, and twice yellow - blue
    (rg_mean, rg_std), (yb_mean, yb_std) = mean_std(red - green), mean_std(red + green - 2 * blue)
    return (math.hypot(rg_std, yb_std / 2) + 0.3 * math.hypot(rg_mean, yb_mean / 2)) / 255


def image_statistics(codes: np.ndarray) -> dict[str, float]:
    """The statistics named in :data:`FEATURE_NAMES` of one 8-bit sRGB image ``[H, W, 3]`` (uint8)."""
    h, w, _ = codes.shape
    n = h * w
    lum = lightness(luminance(codes))
    lum_bin = bin_index(lum, QUANTILE_BINS)
    out: dict[str, float] = {}

    counts = bin_sums(lum_bin, QUANTILE_BINS)
    fine = counts / n
    hist = fine.reshape(HIST_BINS, -1).sum(1)
    out.update({f"lum_hist_{k:02d}": hist[k] for k in range(HIST_BINS)})
    p = dict(zip(PERCENTILES, quantiles(counts, np.array(PERCENTILES) / 100), strict=True))
    out.update({f"lum_p{q:02d}": value for q, value in p.items()})
    out["lum_mean"], out["lum_std"] = mean_std(lum)
    out["lum_key"] = lightness(np.exp(fine @ LOG_BIN_LUMINANCE))

    for c, channel in enumerate("rgb"):
        values = codes[..., c]
        out[f"clip_hi_{channel}"] = np.count_nonzero(values >= CLIP_HIGH_CODE) / n
        out[f"clip_lo_{channel}"] = np.count_nonzero(values <= CLIP_LOW_CODE) / n
        out[f"mean_{channel}"] = values.mean() / 255

    # lightness bands read off the fine histogram, their edges rounded up to its bins: clipped low
    # (as dark as grey 5 or darker) | ... | upper mid-tones | highlight band | clipped high (grey 250 and up)
    edges = (grey_lightness(CLIP_LOW_CODE + 0.5), UPPER_BAND, HIGH_BAND, grey_lightness(CLIP_HIGH_CODE - 0.5))
    low, upper, high, clip = (fine_bin(v) for v in edges)
    out["clip_lo_lum"], out["clip_hi_lum"] = fine[:low].sum(), fine[clip:].sum()
    out["upper_band_frac"] = upper_frac = fine[upper:high].sum()
    out["high_band_frac"] = high_frac = fine[high:clip].sum()
    density_ratio = (high_frac / (clip - high) + 1e-5) / (upper_frac / (high - upper) + 1e-5)
    out["high_band_log_density_ratio"] = math.log(density_ratio)

    out["lum_spread_p05_p95"] = p[95] - p[5]
    out["lum_spread_p01_p99"] = p[99] - p[1]
    y05, y95 = luminance_of_lightness(p[5]), luminance_of_lightness(p[95])
    out["michelson_p05_p95"] = (y95 - y05) / max(y95 + y05, 1e-6)

    out["local_mean_std"], out["local_std_mean"] = local_contrast(lum)
    # the gradient's sum per lightness bin of the pixels it is taken at
    corner_bin = lum_bin[:-1, :-1]
    grad_sums, corner_counts = bin_sums(corner_bin, QUANTILE_BINS, gradient(lum)), bin_sums(corner_bin, QUANTILE_BINS)
    out["grad_mean"] = grad_mean = max(bin_mean(grad_sums, corner_counts), 1e-6)
    # the brightest (darkest) 10%: the pixels in the bins from the 90th (up to the 10th) percentile's bin
    top10, bottom10 = int(p[90] * QUANTILE_BINS), int(p[10] * QUANTILE_BINS)
    out["grad_ratio_top10"] = bin_mean(grad_sums[top10:], corner_counts[top10:]) / grad_mean
    out["grad_ratio_bottom10"] = bin_mean(grad_sums[: bottom10 + 1], corner_counts[: bottom10 + 1]) / grad_mean

    sat = saturation(codes)
    out["sat_mean"], out["sat_std"] = mean_std(sat)
    out["sat_p95"] = quantiles(bin_sums(bin_index(sat, QUANTILE_BINS), QUANTILE_BINS), np.array([0.95]))[0]
    out["sat_frac_high"] = np.count_nonzero(sat > SATURATED) / n
    out["sat_mean_top10"] = bin_mean(bin_sums(lum_bin, QUANTILE_BINS, sat)[top10:], counts[top10:])
    out["colourfulness"] = colourfulness(codes)
    return out


def photometric_features(codes: np.ndarray) -> np.ndarray:
    """``[B, len(FEATURE_NAMES)]`` float32 statistics of a batch of 8-bit sRGB images ``[B, H, W, 3]`` (uint8).

    Column ``i`` is :data:`FEATURE_NAMES` ``[i]``; see :func:`image_statistics`.
    """
    if codes.dtype != np.uint8 or codes.ndim != 4 or codes.shape[3] != 3:
        raise ValueError(f"expected uint8 images [B, H, W, 3], got {codes.dtype} {list(codes.shape)}")
    rows = [[stats[name] for name in FEATURE_NAMES] for stats in map(image_statistics, codes)]
    return np.array(rows, dtype=np.float32).reshape(len(codes), len(FEATURE_NAMES))
