"""Hand-made luminance and colour statistics: exposure, contrast, clipping, highlight compression.

No learned weights.  The image is reduced to a short side of 256 pixels and taken as 0..1 sRGB
(the preprocessing's mean is 0 and std 1, so the encoder sees the plain pixel values).
Luminance ``Y`` is computed on linearised sRGB (Rec. 709 weights); histograms, percentiles and
contrasts use the perceptual lightness ``L = L*/100`` (CIE 1976) of that luminance, so equal
steps are roughly equally visible.  Pixels are taken as 8-bit codes; a channel is clipped "high"
at a code of at least 250, "low" at most 5, and the luminance when it is at least as bright as
grey 250 (or as dark as grey 5).  Percentiles, luminance clipping and the lightness bands are
read off a 1024-bin lightness histogram (exact to 1/1024), so each pass over the pixels serves
many statistics.  :data:`FEATURE_NAMES` documents every output column.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from phoneiqa.encoders import ENCODERS
from phoneiqa.encoders.base import Encoder, Preprocess

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


def srgb_to_linear(x: Tensor) -> Tensor:
    """Linear-light values of sRGB-coded values in 0..1 (IEC 61966-2-1)."""
    return torch.where(x <= 0.04045, x / 12.92, ((x.clamp_min(0.04045) + 0.055) / 1.055) ** 2.4)


def lightness(y: Tensor) -> Tensor:
    """CIE 1976 lightness ``L*/100`` (0..1) of relative luminance ``y`` (0..1)."""
    knee = (6 / 29) ** 3
    # the linear segment below the knee is the cube-root curve's tangent there, so above the knee
    # the curve is the smaller of the two, and below it the line is
    curve = 1.16 * torch.exp(torch.log(y.clamp_min(knee)) / 3) - 0.16
    return torch.minimum(curve, y * (1.16 / (3 * (6 / 29) ** 2)))


def luminance_of_lightness(lum: Tensor) -> Tensor:
    """Relative luminance of lightness ``L*/100``: the inverse of :func:`lightness`."""
    delta = 6 / 29
    f = (lum + 0.16) / 1.16
    return torch.where(f > delta, f**3, 3 * delta**2 * (f - 4 / 29))


def bin_index(values: Tensor, bins: int) -> Tensor:
    """Bin of each value of ``values`` (in 0..1) among ``bins`` equal-width bins, as int32."""
    return (values * bins).int().clamp_(0, bins - 1)


def bin_sums(idx: Tensor, bins: int, weights: Tensor | None = None) -> Tensor:
    """``[B, bins]`` count (or sum of ``weights``) per bin of the bin indices ``idx`` (``[B, ...]``) of each row."""
    b = len(idx)
    offsets = bins * torch.arange(b, device=idx.device, dtype=idx.dtype).view(-1, *([1] * (idx.dim() - 1)))
    flat_weights = None if weights is None else weights.reshape(-1)
    return torch.bincount((idx + offsets).view(-1), weights=flat_weights, minlength=b * bins).view(b, bins)


def histogram(values: Tensor, bins: int) -> Tensor:
    """``[B, bins]`` fractions of each row of ``values`` (``[B, N]``, in 0..1) per equal-width bin."""
    return bin_sums(bin_index(values, bins), bins) / values.shape[1]


def fine_bin(lum: float) -> int:
    """Index of the first :data:`QUANTILE_BINS`-histogram bin that lies at or above lightness ``lum``."""
    return math.ceil(lum * QUANTILE_BINS)


def grey_lightness(code: float) -> float:
    """Lightness of the grey with 8-bit code ``code`` (fractional codes allowed)."""
    return float(lightness(srgb_to_linear(torch.tensor(code / 255, dtype=torch.float64))))


def quantiles(hist: Tensor, qs: Tensor) -> Tensor:
    """``[B, len(qs)]`` quantiles of values in 0..1 from their ``[B, bins]`` histogram, linear within a bin."""
    bins = hist.shape[1]
    cdf = hist.cumsum(1)
    target = qs.to(hist)[None].expand(len(hist), -1).contiguous()
    k = torch.searchsorted(cdf, target).clamp_max(bins - 1)
    below = torch.where(k > 0, cdf.gather(1, (k - 1).clamp_min(0)), torch.zeros_like(target))
    within = (target - below) / hist.gather(1, k).clamp_min(1e-12)
    return (k + within.clamp(0, 1)) / bins


def mean_std(values: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and (population) standard deviation of each row of ``values`` ``[B, N]``."""
    mean = values.mean(1)
    centred = values - mean[:, None]
    return mean, (centred * centred).mean(1).sqrt()


def mean_from_bin(sums: Tensor, counts: Tensor, first: Tensor) -> Tensor:
    """Mean over the bins from ``first`` (``[B]``) up, given per-bin ``sums`` and ``counts`` (``[B, bins]``)."""
    keep = torch.arange(sums.shape[1], device=sums.device) >= first[:, None]
    return (sums * keep).sum(1) / (counts * keep).sum(1).clamp_min(1e-12)


def luminance_table() -> Tensor:
    """``[3 * 256]``: the contribution to the luminance of channel ``c`` at 8-bit code ``k``, at ``256 c + k``."""
    linear = srgb_to_linear(torch.arange(256, dtype=torch.float64) / 255)
    return (torch.tensor(REC709, dtype=torch.float64)[:, None] * linear).view(-1).float()


def photometric_features(x: Tensor, y_table: Tensor) -> dict[str, Tensor]:
    """The named statistics (each ``[B]``) of a batch of 0..1 sRGB images ``[B, 3, H, W]``.

    Pixels are rounded to 8-bit codes; ``y_table`` is :func:`luminance_table` (on ``x``'s device).
    """
    b, _, h, w = x.shape
    channel_offsets = 256 * torch.arange(3, device=x.device, dtype=torch.int32).view(1, 3, 1, 1)
    codes = x.mul(255).round_().clamp_(0, 255).int() + channel_offsets  # 256 c + 8-bit code
    lum = lightness(y_table.index_select(0, codes.view(-1)).view(codes.shape).sum(1))
    lum_bin = bin_index(lum, QUANTILE_BINS)
    out: dict[str, Tensor] = {}

    counts = bin_sums(lum_bin, QUANTILE_BINS)
    fine = counts / (h * w)
    hist = fine.view(b, HIST_BINS, -1).sum(2)
    out.update({f"lum_hist_{k:02d}": hist[:, k] for k in range(HIST_BINS)})
    pct = quantiles(fine, torch.tensor(PERCENTILES) / 100)
    p = {q: pct[:, i] for i, q in enumerate(PERCENTILES)}
    out.update({f"lum_p{q:02d}": value for q, value in p.items()})
    out["lum_mean"], out["lum_std"] = mean_std(lum.view(b, -1))
    centres = (torch.arange(QUANTILE_BINS, device=x.device, dtype=x.dtype) + 0.5) / QUANTILE_BINS
    out["lum_key"] = lightness(torch.exp(fine @ torch.log(luminance_of_lightness(centres) + 1e-4)))

    code_hist = bin_sums(codes.view(b, -1), 3 * 256).view(b, 3, 256) / (h * w)
    for c, channel in enumerate("rgb"):
        out[f"clip_hi_{channel}"] = code_hist[:, c, CLIP_HIGH_CODE:].sum(1)
        out[f"clip_lo_{channel}"] = code_hist[:, c, : CLIP_LOW_CODE + 1].sum(1)
        out[f"mean_{channel}"] = code_hist[:, c] @ (torch.arange(256, device=x.device, dtype=x.dtype) / 255)

    # lightness bands read off the fine histogram, their edges rounded up to its bins: clipped low
    # (as dark as grey 5 or darker) | ... | upper mid-tones | highlight band | clipped high (grey 250 and up)
    edges = (grey_lightness(CLIP_LOW_CODE + 0.5), UPPER_BAND, HIGH_BAND, grey_lightness(CLIP_HIGH_CODE - 0.5))
    low, upper, high, clip = (fine_bin(v) for v in edges)
    out["clip_lo_lum"], out["clip_hi_lum"] = fine[:, :low].sum(1), fine[:, clip:].sum(1)
    out["upper_band_frac"] = upper_frac = fine[:, upper:high].sum(1)
    out["high_band_frac"] = high_frac = fine[:, high:clip].sum(1)
    density_ratio = (high_frac / (clip - high) + 1e-5) / (upper_frac / (high - upper) + 1e-5)
    out["high_band_log_density_ratio"] = torch.log(density_ratio)

    out["lum_spread_p05_p95"] = p[95] - p[5]
    out["lum_spread_p01_p99"] = p[99] - p[1]
    y05, y95 = luminance_of_lightness(p[5]), luminance_of_lightness(p[95])
    out["michelson_p05_p95"] = (y95 - y05) / (y95 + y05).clamp_min(1e-6)

    block_mean = F.avg_pool2d(lum[:, None], LOCAL_BLOCK, ceil_mode=True)
    block_sq = F.avg_pool2d(lum[:, None] * lum[:, None], LOCAL_BLOCK, ceil_mode=True)
    out["local_mean_std"] = mean_std(block_mean.reshape(b, -1))[1]
    out["local_std_mean"] = (block_sq - block_mean * block_mean).clamp_min(0).sqrt().reshape(b, -1).mean(1)
    # gradient magnitude on the grid of top-left pixels, and its sum per lightness bin of those pixels
    corner = lum[:, :-1, :-1]
    grad = torch.hypot(lum[:, :-1, 1:] - corner, lum[:, 1:, :-1] - corner)
    corner_bin = lum_bin[:, :-1, :-1]
    grad_sums, corner_counts = bin_sums(corner_bin, QUANTILE_BINS, grad), bin_sums(corner_bin, QUANTILE_BINS)
    out["grad_mean"] = grad_mean = (grad_sums.sum(1) / corner_counts.sum(1)).clamp_min(1e-6)
    # the brightest (darkest) 10%: the pixels in the bins from the 90th (up to the 10th) percentile's bin
    top10 = (p[90] * QUANTILE_BINS).int()
    bottom10 = QUANTILE_BINS - 1 - (p[10] * QUANTILE_BINS).int()
    out["grad_ratio_top10"] = mean_from_bin(grad_sums, corner_counts, top10) / grad_mean
    out["grad_ratio_bottom10"] = mean_from_bin(grad_sums.flip(1), corner_counts.flip(1), bottom10) / grad_mean

    top, bottom = x.amax(1), x.amin(1)
    sat = (top - bottom) / top.clamp_min(1e-6)
    out["sat_mean"], out["sat_std"] = mean_std(sat.view(b, -1))
    out["sat_p95"] = quantiles(histogram(sat.view(b, -1), QUANTILE_BINS), torch.tensor([0.95]))[:, 0]
    out["sat_frac_high"] = torch.count_nonzero(sat > SATURATED, dim=(1, 2)) / (h * w)
    out["sat_mean_top10"] = mean_from_bin(bin_sums(lum_bin, QUANTILE_BINS, sat), counts, top10)

    r, g, bl = x.reshape(b, 3, -1).unbind(1)
    (rg_mean, rg_std), (yb_mean, yb_std) = mean_std(r - g), mean_std(0.5 * (r + g) - bl)
    out["colourfulness"] = torch.hypot(rg_std, yb_std) + 0.3 * torch.hypot(rg_mean, yb_mean)
    return out


class PhotometricEncoder(Encoder):
    """Interpretable exposure, contrast and colour statistics; column ``i`` is ``feature_names[i]``."""

    name = "photometric"
    feature_names = FEATURE_NAMES

    def __init__(self, short_side: int = 256, max_long_side: int | None = 512, flip: bool = False) -> None:
        super().__init__()
        self.preprocess = Preprocess(short_side, max_long_side, flip=flip, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
        self.feature_dim = len(FEATURE_NAMES)
        self.register_buffer("y_table", luminance_table(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        features = photometric_features(x, self.y_table)
        return torch.stack([features[n] for n in FEATURE_NAMES], dim=1)


ENCODERS.register("photometric")(PhotometricEncoder)
