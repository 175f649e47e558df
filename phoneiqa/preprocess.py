"""From image inputs to normalised arrays: decoding at the needed scale, resizing, normalisation.

Needs numpy and Pillow only (no torch), so the torch-free runtime (:mod:`phoneiqa.runtime`) and the
torch encoders share it.  Resizing always produces exactly the size the :class:`Preprocess` asks
for, upscaling small images too: an encoder's features depend on the scale it sees, so every
image is shown at the same scale.  The filter is PIL's bicubic, which is antialiased (its support
widens with the reduction factor); for reductions beyond 3× PIL first box-reduces by an integer
factor (``reducing_gap=3``), which is several times faster on 12-megapixel photos and visually
identical.  Resizing happens on the 8-bit sRGB values, as for the encoders' training data.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

from phoneiqa.image import DEFAULT_MAX_PIXELS, ImageInput, load_image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocess:
    """How an encoder turns a decoded RGB image into its input tensor.

    ``short_side``: the image is resized (aspect ratio kept, up or down) so its shorter side has
    exactly this many pixels; ``max_long_side`` caps the longer side (the short side then ends up
    smaller).  ``window``: of the resized image keep only the centred ``window`` × ``window`` pixels (fewer
    where the image is smaller): with ``window == short_side`` the centred square, as CLIP's ViTs take it;
    smaller, a view at full detail for the price of a small input (the shipped models' networks see the
    centre of the photo at 500 px on the short side).  ``flip``: average
    the features of the image and its horizontal mirror.  ``mean``/``std``: per-channel
    normalisation of 0..1 RGB.  See :func:`image_to_array`.
    """

    short_side: int = 384
    max_long_side: int | None = 768
    window: int | None = None
    flip: bool = False
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self) -> None:
        if self.short_side < 1:
            raise ValueError(f"short_side must be positive, got {self.short_side}")
        if self.max_long_side is not None and self.max_long_side < self.short_side:
            raise ValueError(f"max_long_side {self.max_long_side} is smaller than short_side {self.short_side}")
        if self.window is not None and self.window < 1:
            raise ValueError(f"window must be a positive number of pixels or None, got {self.window}")

    def as_dict(self) -> dict:
        return asdict(self)


REDUCING_GAP = 3.0
DECODE_SLACK = 0.95
"""Reduced-scale decoding may stop this fraction short of the encoder's short side: a 12 MP photo
(3000 or 3024 px high) then decodes at 1/8 scale (375 or 378 px) and is enlarged by 2-3% for a
384 px encoder, instead of decoding at 1/4 scale and shrinking twice as many pixels."""


def scaled_size(width: int, height: int, p: Preprocess) -> tuple[int, int]:
    """``(width, height)`` of a ``width × height`` image resized as ``p`` asks, before any ``window``."""
    scale = p.short_side / min(width, height)
    if p.max_long_side is not None:
        scale = min(scale, p.max_long_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def output_size(width: int, height: int, p: Preprocess) -> tuple[int, int]:
    """``(width, height)`` of the tensor :func:`image_to_tensor` makes from a ``width × height`` image."""
    size = scaled_size(width, height, p)
    return size if p.window is None else (min(p.window, size[0]), min(p.window, size[1]))


def resize_image(image: Image.Image, p: Preprocess) -> Image.Image:
    """The RGB image resized (and cut to its centred ``p.window``) as ``p`` asks, still 8-bit.

    A window is resized straight from its box in the decoded image, so only its pixels are resampled."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    scaled = scaled_size(image.width, image.height, p)
    size = output_size(image.width, image.height, p)
    if size == scaled == image.size:
        return image
    box = None
    if size != scaled:
        box_w, box_h = size[0] * image.width / scaled[0], size[1] * image.height / scaled[1]
        left, top = (image.width - box_w) / 2, (image.height - box_h) / 2
        box = (left, top, left + box_w, top + box_h)
    return image.resize(size, Image.Resampling.BICUBIC, box=box, reducing_gap=REDUCING_GAP)


def load_scaled(
    source: ImageInput, short_side: int, *, name: str | None = None, max_pixels: int = DEFAULT_MAX_PIXELS
) -> Image.Image:
    """Decode an image for encoders resizing to ``short_side`` at most, at reduced scale when it is far larger.

    JPEGs are decoded at 1/2, 1/4 or 1/8 scale (DCT scaling) and other images box-reduced by an
    integer factor, keeping the short side at least :data:`DECODE_SLACK` × ``short_side``; each
    encoder's own resize then makes the exact size.  Training (:mod:`phoneiqa.features`) and both
    inference paths decode through here, so they see the same pixels.
    """
    side = math.ceil(DECODE_SLACK * short_side)
    image = load_image(source, name=name, max_pixels=max_pixels, min_short_side=side)
    factor = min(image.size) // side
    return image.reduce(factor) if factor >= 2 else image


def image_to_array(image: Image.Image, p: Preprocess) -> np.ndarray:
    """``[3, H, W]`` float32: the resized image as 0..1 RGB, normalised by ``p.mean`` and ``p.std``.

    Before normalisation (and with mean 0 and std 1, which skips it) the values are the 8-bit codes / 255.
    """
    x = np.asarray(resize_image(image, p), dtype=np.float32).transpose(2, 0, 1) / np.float32(255.0)
    if p.mean == (0, 0, 0) and p.std == (1, 1, 1):
        return x
    mean = np.asarray(p.mean, dtype=np.float32).reshape(3, 1, 1)
    std = np.asarray(p.std, dtype=np.float32).reshape(3, 1, 1)
    return (x - mean) / std


def batches_by_key(keys: Sequence[Hashable], batch_size: int) -> list[list[int]]:
    """Indices ``0..len(keys)-1`` in batches of at most ``batch_size`` whose keys are equal (e.g. the
    input sizes, which must match for the inputs to be stacked), in order of first appearance."""
    groups: dict[Hashable, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    return [idx[k : k + batch_size] for idx in groups.values() for k in range(0, len(idx), batch_size)]
