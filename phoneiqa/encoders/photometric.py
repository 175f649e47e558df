"""Hand-made luminance and colour statistics: exposure, contrast, clipping, highlight compression.

No learned weights.  The image is reduced to a short side of 256 pixels and taken as 0..1 sRGB
(the preprocessing's mean is 0 and std 1, so the encoder sees the plain pixel values).
Luminance ``Y`` is computed on linearised sRGB (Rec. 709 weights); histograms, percentiles and
contrasts use the perceptual lightness ``L = L*/100`` (CIE 1976) of that luminance, so equal
steps are roughly equally visible.  Clipping is judged on the 8-bit code values: "high" means a
value of at least 250, "low" at most 5.  Percentiles come from a 1024-bin histogram (exact to
1/1024).  :data:`FEATURE_NAMES` documents every output column.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from phoneiqa.encoders import ENCODERS
from phoneiqa.encoders.base import Encoder, Preprocess

REC709 = (0.2126, 0.7152, 0.0722)
CLIP_HIGH = 249.5 / 255
"""A channel at or above this (8-bit code 250..255) counts as clipped high."""
CLIP_LOW = 5.5 / 255
"""A channel at or below this (8-bit code 0..5) counts as clipped low."""
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
    # geometric mean of the linear luminance (the "key" of the exposure), as lightness
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
    return torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def lightness(y: Tensor) -> Tensor:
    """CIE 1976 lightness ``L*/100`` (0..1) of relative luminance ``y`` (0..1)."""
    delta = 6 / 29
    f = torch.where(y > delta**3, y.clamp_min(delta**3) ** (1 / 3), y / (3 * delta**2) + 4 / 29)
    return (1.16 * f - 0.16).clamp(0.0, 1.0)


def histogram(values: Tensor, bins: int) -> Tensor:
    """``[B, bins]`` fractions of each row of ``values`` (``[B, N]``, in 0..1) per equal-width bin."""
    b, n = values.shape
    idx = (values * bins).long().clamp(0, bins - 1) + bins * torch.arange(b, device=values.device)[:, None]
    return torch.bincount(idx.flatten(), minlength=b * bins).view(b, bins).to(values.dtype) / n


def quantiles(values: Tensor, qs: Tensor) -> Tensor:
    """``[B, len(qs)]`` quantiles of each row of ``values`` (in 0..1), interpolated in a fine histogram."""
    hist = histogram(values, QUANTILE_BINS)
    cdf = hist.cumsum(1)
    target = qs.to(values)[None].expand(len(values), -1).contiguous()
    k = torch.searchsorted(cdf, target).clamp_max(QUANTILE_BINS - 1)
    below = torch.where(k > 0, cdf.gather(1, (k - 1).clamp_min(0)), torch.zeros_like(target))
    within = (target - below) / hist.gather(1, k).clamp_min(1e-12)
    return (k + within.clamp(0, 1)) / QUANTILE_BINS


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of each row of ``values`` over ``mask`` (0 where the mask is empty)."""
    return (values * mask).sum(1) / mask.sum(1).clamp_min(1)


def photometric_features(x: Tensor, rgb_to_y: Tensor) -> dict[str, Tensor]:
    """The named statistics (each ``[B]``) of a batch of 0..1 sRGB images ``[B, 3, H, W]``."""
    x = x.clamp(0.0, 1.0)
    b = len(x)
    y = torch.einsum("bchw,c->bhw", srgb_to_linear(x), rgb_to_y)
    lum = lightness(y)
    flat = lum.reshape(b, -1)
    out: dict[str, Tensor] = {}

    hist = histogram(flat, HIST_BINS)
    out.update({f"lum_hist_{k:02d}": hist[:, k] for k in range(HIST_BINS)})
    pct = quantiles(flat, torch.tensor(PERCENTILES) / 100)
    p = {q: pct[:, i] for i, q in enumerate(PERCENTILES)}
    out.update({f"lum_p{q:02d}": value for q, value in p.items()})
    out["lum_std"], out["lum_mean"] = torch.std_mean(flat, dim=1, correction=0)
    out["lum_key"] = lightness(torch.exp(torch.log(y.reshape(b, -1) + 1e-4).mean(1)))

    clip_hi_y, clip_lo_y = srgb_to_linear(torch.tensor([CLIP_HIGH, CLIP_LOW]))
    for c, channel in enumerate("rgb"):
        out[f"clip_hi_{channel}"] = (x[:, c] >= CLIP_HIGH).float().mean((1, 2))
        out[f"clip_lo_{channel}"] = (x[:, c] <= CLIP_LOW).float().mean((1, 2))
    out["clip_hi_lum"] = (y >= clip_hi_y).float().mean((1, 2))
    out["clip_lo_lum"] = (y <= clip_lo_y).float().mean((1, 2))

    out["lum_spread_p05_p95"] = p[95] - p[5]
    out["lum_spread_p01_p99"] = p[99] - p[1]
    y_q = quantiles(y.reshape(b, -1), torch.tensor([0.05, 0.95]))
    out["michelson_p05_p95"] = (y_q[:, 1] - y_q[:, 0]) / (y_q[:, 1] + y_q[:, 0]).clamp_min(1e-6)

    block_mean = F.avg_pool2d(lum[:, None], LOCAL_BLOCK, ceil_mode=True)
    block_sq = F.avg_pool2d(lum[:, None] ** 2, LOCAL_BLOCK, ceil_mode=True)
    out["local_mean_std"] = block_mean.reshape(b, -1).std(1, correction=0)
    out["local_std_mean"] = (block_sq - block_mean**2).clamp_min(0).sqrt().reshape(b, -1).mean(1)
    dx = lum[:, :-1, 1:] - lum[:, :-1, :-1]
    dy = lum[:, 1:, :-1] - lum[:, :-1, :-1]
    grad = torch.sqrt(dx**2 + dy**2).reshape(b, -1)
    lum_tl = lum[:, :-1, :-1].reshape(b, -1)
    grad_mean = grad.mean(1)
    out["grad_mean"] = grad_mean
    top10 = (lum_tl >= p[90][:, None]).float()
    bottom10 = (lum_tl <= p[10][:, None]).float()
    out["grad_ratio_top10"] = masked_mean(grad, top10) / grad_mean.clamp_min(1e-6)
    out["grad_ratio_bottom10"] = masked_mean(grad, bottom10) / grad_mean.clamp_min(1e-6)

    clip_lum = float(lightness(clip_hi_y))
    high = ((flat >= HIGH_BAND) & (flat < clip_lum)).float().mean(1)
    upper = ((flat >= UPPER_BAND) & (flat < HIGH_BAND)).float().mean(1)
    out["high_band_frac"] = high
    out["upper_band_frac"] = upper
    density_ratio = (high / (clip_lum - HIGH_BAND) + 0.01) / (upper / (HIGH_BAND - UPPER_BAND) + 0.01)
    out["high_band_log_density_ratio"] = torch.log(density_ratio)

    v, _ = x.max(1)
    sat = ((v - x.min(1).values) / v.clamp_min(1e-6)).reshape(b, -1)
    out["sat_std"], out["sat_mean"] = torch.std_mean(sat, dim=1, correction=0)
    out["sat_p95"] = quantiles(sat, torch.tensor([0.95]))[:, 0]
    out["sat_frac_high"] = (sat > SATURATED).float().mean(1)
    out["sat_mean_top10"] = masked_mean(sat, (flat >= p[90][:, None]).float())

    r, g, bl = x.reshape(b, 3, -1).unbind(1)
    rg, yb = r - g, 0.5 * (r + g) - bl
    rg_std, rg_mean = torch.std_mean(rg, dim=1, correction=0)
    yb_std, yb_mean = torch.std_mean(yb, dim=1, correction=0)
    out["colourfulness"] = torch.hypot(rg_std, yb_std) + 0.3 * torch.hypot(rg_mean, yb_mean)
    out["mean_r"], out["mean_g"], out["mean_b"] = r.mean(1), g.mean(1), bl.mean(1)
    return out


class PhotometricEncoder(Encoder):
    """Interpretable exposure, contrast and colour statistics; column ``i`` is ``feature_names[i]``."""

    name = "photometric"
    feature_names = FEATURE_NAMES

    def __init__(self, short_side: int = 256, max_long_side: int | None = 512, flip: bool = False) -> None:
        super().__init__()
        self.preprocess = Preprocess(short_side, max_long_side, flip=flip, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
        self.feature_dim = len(FEATURE_NAMES)
        self.register_buffer("rgb_to_y", torch.tensor(REC709), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        features = photometric_features(x, self.rgb_to_y)
        return torch.stack([features[n] for n in FEATURE_NAMES], dim=1)


ENCODERS.register("photometric")(PhotometricEncoder)
