"""Where the exposure problems are: per-pixel maps of one photo, in the terms of the issue definitions.

``phoneiqa.assess(photo, explain=True).explanation`` (or :func:`explain` on decoded pixels) gives,
on the definitions' working copy of the photo (long side at most 512, aspect kept):

- ``clipped_highlights``: blown out with no detail left (:func:`phoneiqa.exposure.blown_mask`,
  glints and lamps excluded), so its share of the frame *is* ``blown_share``, what ``overexposed``'s
  levels read (16 / 30 / 42 %);
- ``crushed_shadows``: every channel black (:func:`phoneiqa.exposure.crushed_mask`), no detail left;
- ``too_dark`` / ``too_bright``: the tones that make a photo dark or bright — at least
  :data:`DARK_STOPS` below middle grey (and not crushed) or :data:`BRIGHT_STOPS` above it (and not
  blown).  ``stops``, the per-pixel map behind them, is log2 of each pixel's luminance over middle
  grey: its mean is the photo's key, the quantity whose shift against the scene well exposed is
  ``exposure_ev``, what ``bright`` and ``dark`` read;
- ``compressed_highlights``: the photo's highlights (its brightest tenth) when they sit at least
  1.67 stops below white (``over_suppressed``'s first boundary; ``highlight_drop_ev`` can never exceed
  that headroom), else nothing.

The maps are facts about pixels; whether a dark or bright tone is a problem is the issue head's
judgement of the scene, so :meth:`Explanation.overlay` draws ``too_dark``, ``too_bright`` and
``compressed_highlights`` only for the issues an assessment flags (clipped and crushed pixels
always: their detail is gone whatever the scene).  ``data_specs/issue_definitions.md`` defines them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from phoneiqa.exposure import (
    BOUNDARIES,
    HIGHLIGHT_QUANTILE,
    LUMINANCE_FLOOR,
    blown_mask,
    brightest_channel,
    crushed_mask,
    highlight_level,
    working_copy,
)
from phoneiqa.photometric import luminance

MIDDLE_GREY = 0.18
"""Linear luminance of middle grey (L* 50): 0 on the ``stops`` map."""
DARK_STOPS = -3.0
"""Tones this many stops below middle grey or darker (linear 0.0225, about L* 16) are dark tones."""
BRIGHT_STOPS = 2.0
"""Tones this many stops above middle grey or brighter (linear 0.72, about L* 88) are bright tones."""
HIGHLIGHT_SHARE = 0.1
"""The brightest share of the frame (by the brightest channel) that stands for the photo's highlights."""
COMPRESSED_HEADROOM = BOUNDARIES["over_suppressed"][1][0]
"""Stops below white from which highlights may be pressed down far enough to be ``over_suppressed``."""

MAPS: dict[str, tuple[tuple[int, int, int], str | None]] = {
    "compressed_highlights": ((204, 121, 167), "over_suppressed"),
    "too_bright": ((230, 159, 0), "bright"),
    "too_dark": ((86, 180, 233), "dark"),
    "crushed_shadows": ((0, 114, 178), None),
    "clipped_highlights": ((213, 94, 0), None),
}
"""Map name -> (its overlay colour, the issue that must be flagged for the overlay to draw it; ``None``:
always).  Colours from the Okabe–Ito palette, told apart with every common colour-vision deficiency;
drawn in this order, so later maps cover earlier ones."""
ALPHA = 0.65
"""Opacity of a map's colour over the (greyed) photo."""


@dataclass(frozen=True, eq=False)
class Explanation:
    """The exposure maps of one photo (see the module docstring), all ``[H, W]`` on the working copy.

    ``pixels``: the working copy (8-bit sRGB ``[H, W, 3]``) the maps were measured on; ``stops``: per-pixel
    log2 luminance over middle grey (float32); ``masks``: map name -> bool mask; ``headroom``: stops
    between the highlights (the brightest channel's 99.5th percentile) and white.
    """

    pixels: np.ndarray
    stops: np.ndarray
    masks: dict[str, np.ndarray] = field(repr=False)
    headroom: float

    def resized(self, long_side: int) -> Explanation:
        """The maps at most ``long_side`` pixels long (pixels resampled bilinearly, masks by nearest
        neighbour; ``headroom`` kept), e.g. for a small overlay in a report."""
        height, width = self.stops.shape
        scale = long_side / max(height, width)
        if scale >= 1:
            return self
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        pixels = np.asarray(Image.fromarray(self.pixels).resize(size, Image.Resampling.BILINEAR))
        stops = np.asarray(Image.fromarray(self.stops).resize(size, Image.Resampling.BILINEAR))
        masks = {
            k: np.asarray(Image.fromarray(m).resize(size, Image.Resampling.NEAREST)) for k, m in self.masks.items()
        }
        return Explanation(pixels, stops, masks, self.headroom)

    @property
    def shares(self) -> dict[str, float]:
        """Map name -> share of the frame it marks (``clipped_highlights``' share is ``blown_share``)."""
        return {name: float(mask.mean()) for name, mask in self.masks.items()}

    def overlay(self, issues: dict[str, int] | None = None, legend: bool = True) -> Image.Image:
        """The photo greyed, each map drawn in its colour over it, and a legend strip below.

        ``issues`` (an assessment's levels): ``too_dark``, ``too_bright`` and ``compressed_highlights``
        are drawn only where their issue is flagged (all of them when ``issues`` is None).
        """
        shown = [name for name in MAPS if _shown(name, issues)]
        grey = np.asarray(Image.fromarray(self.pixels).convert("L").convert("RGB"), dtype=np.float32)
        out = 0.35 * grey + 0.65 * self.pixels.astype(np.float32)  # colours muted, so the maps stand out
        for name in shown:
            colour = np.array(MAPS[name][0], dtype=np.float32)
            mask = self.masks[name]
            out[mask] = (1 - ALPHA) * out[mask] + ALPHA * colour
        image = Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8))
        return _with_legend(image, [(name, self.shares[name]) for name in shown]) if legend else image


def _shown(name: str, issues: dict[str, int] | None) -> bool:
    needs = MAPS[name][1]
    return issues is None or needs is None or issues.get(needs, 0) > 0


def explain(image: Image.Image | np.ndarray) -> Explanation:
    """The exposure maps of a decoded RGB photo (a PIL image or 8-bit ``[H, W, 3]`` array), measured on
    its working copy (:func:`phoneiqa.exposure.working_copy`)."""
    codes = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image)
    pixels = working_copy(codes)
    y = luminance(pixels)
    stops = (np.log2(y + LUMINANCE_FLOOR) - np.float32(np.log2(MIDDLE_GREY))).astype(np.float32)
    clipped, crushed = blown_mask(pixels), crushed_mask(pixels)
    brightest = brightest_channel(pixels)
    headroom = -float(np.log2(max(highlight_level(pixels, HIGHLIGHT_QUANTILE), 1e-4)))
    if headroom >= COMPRESSED_HEADROOM:
        compressed = brightest >= np.quantile(brightest, 1 - HIGHLIGHT_SHARE, method="inverted_cdf")
    else:
        compressed = np.zeros_like(clipped)
    masks = {
        "clipped_highlights": clipped,
        "crushed_shadows": crushed,
        "too_dark": (stops <= DARK_STOPS) & ~crushed,
        "too_bright": (stops >= BRIGHT_STOPS) & ~clipped,
        "compressed_highlights": compressed,
    }
    return Explanation(pixels, stops, masks, headroom)


def _with_legend(image: Image.Image, entries: Collection[tuple[str, float]]) -> Image.Image:
    """``image`` with a strip below: a colour box, the map's name and its share of the frame per entry."""
    font = ImageFont.load_default(size=max(11, image.width // 40))
    size = int(getattr(font, "size", 10))  # the bitmap font of a Pillow without FreeType has one size
    line = size + 6
    strip = Image.new("RGB", (image.width, line * max(1, len(entries)) + 6), (255, 255, 255))
    draw = ImageDraw.Draw(strip)
    for i, (name, share) in enumerate(entries):
        top = 4 + i * line
        draw.rectangle((6, top, 6 + size, top + size), fill=MAPS[name][0], outline=(0, 0, 0))
        draw.text((12 + size, top), f"{name.replace('_', ' ')} {100 * share:.1f} %", fill=0, font=font)
    if not entries:
        draw.text((6, 4), "no exposure problem to show", fill=0, font=font)
    out = Image.new("RGB", (image.width, image.height + strip.height), (255, 255, 255))
    out.paste(image, (0, 0))
    out.paste(strip, (0, image.height))
    return out
