"""From decoded PIL images to normalised tensors, and batched encoding of images of mixed sizes.

Resizing always produces exactly the size the :class:`~phoneiqa.encoders.base.Preprocess` asks
for, upscaling small images too: an encoder's features depend on the scale it sees, so every
image is shown at the same scale.  The filter is PIL's bicubic, which is antialiased (its support
widens with the reduction factor); for reductions beyond 3× PIL first box-reduces by an integer
factor (``reducing_gap=3``), which is several times faster on 12-megapixel photos and visually
identical.  Resizing happens on the 8-bit sRGB values, as for the encoders' training data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from phoneiqa.image import DEFAULT_MAX_PIXELS, ImageInput, load_image

if TYPE_CHECKING:
    from phoneiqa.encoders.base import Encoder, Preprocess

REDUCING_GAP = 3.0
DECODE_SLACK = 0.95
"""Reduced-scale decoding may stop this fraction short of the encoder's short side: a 12 MP photo
(3000 or 3024 px high) then decodes at 1/8 scale (375 or 378 px) and is enlarged by 2-3% for a
384 px encoder, instead of decoding at 1/4 scale and shrinking twice as many pixels."""


def output_size(width: int, height: int, p: Preprocess) -> tuple[int, int]:
    """``(width, height)`` of the tensor :func:`image_to_tensor` makes from a ``width × height`` image."""
    if p.crop:
        return p.short_side, p.short_side
    scale = p.short_side / min(width, height)
    if p.max_long_side is not None:
        scale = min(scale, p.max_long_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def resize_image(image: Image.Image, p: Preprocess) -> Image.Image:
    """The RGB image resized (and with ``p.crop`` centre-cropped) as ``p`` asks, still 8-bit."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    size = output_size(image.width, image.height, p)
    box = None
    if p.crop:
        side = min(image.width, image.height)
        left, top = (image.width - side) / 2, (image.height - side) / 2
        box = (left, top, left + side, top + side)
    elif size == image.size:
        return image
    return image.resize(size, Image.Resampling.BICUBIC, box=box, reducing_gap=REDUCING_GAP)


def image_to_tensor(image: Image.Image, p: Preprocess) -> Tensor:
    """``[3, H, W]`` float32: the resized image as 0..1 RGB, normalised by ``p.mean`` and ``p.std``.

    Before normalisation (and with mean 0 and std 1, which skips it) the values are the 8-bit codes / 255.
    """
    pixels = torch.from_numpy(np.array(resize_image(image, p), dtype=np.uint8))
    x = pixels.permute(2, 0, 1).float().div_(255.0)
    if p.mean == (0, 0, 0) and p.std == (1, 1, 1):
        return x
    mean = torch.tensor(p.mean, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(p.std, dtype=torch.float32).view(3, 1, 1)
    return (x - mean) / std


def input_short_side(encoder: Encoder) -> int:
    """The largest short side any part of ``encoder`` resizes images to."""
    return max(part.preprocess.short_side for part in getattr(encoder, "parts", [encoder]))


def load_for_encoder(
    source: ImageInput, encoder: Encoder, *, name: str | None = None, max_pixels: int = DEFAULT_MAX_PIXELS
) -> Image.Image:
    """Decode an image for ``encoder``, at reduced scale when it is far larger than the encoder needs.

    JPEGs are decoded at 1/2, 1/4 or 1/8 scale (DCT scaling) and other images box-reduced by an
    integer factor, keeping the short side at least :data:`DECODE_SLACK` × :func:`input_short_side`;
    the encoder's own resize then makes the exact size.  Training (:mod:`phoneiqa.features`) and inference both
    decode through here, so they see the same pixels.
    """
    side = math.ceil(DECODE_SLACK * input_short_side(encoder))
    image = load_image(source, name=name, max_pixels=max_pixels, min_short_side=side)
    factor = min(image.size) // side
    return image.reduce(factor) if factor >= 2 else image


def module_device(module: nn.Module) -> torch.device:
    """The device of a module's first parameter or buffer (CPU for a module without any)."""
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return torch.device("cpu")


def size_groups(images: Sequence[Image.Image], p: Preprocess, batch_size: int) -> list[list[int]]:
    """Indices of ``images`` in batches of at most ``batch_size`` whose tensors share one size."""
    groups: dict[tuple[int, int], list[int]] = {}
    for i, image in enumerate(images):
        groups.setdefault(output_size(image.width, image.height, p), []).append(i)
    return [idx[k : k + batch_size] for idx in groups.values() for k in range(0, len(idx), batch_size)]


def batched_forward(encoder: Encoder, images: Sequence[Image.Image], batch_size: int = 16) -> Tensor:
    """``[B, feature_dim]`` features of ``images`` in their input order, on the encoder's device.

    Images whose tensors have equal sizes are stacked into batches of at most ``batch_size``;
    each image is converted only when its batch runs, so memory stays bounded.  With
    ``encoder.preprocess.flip`` the features of each image and its mirror image are averaged.
    """
    p = encoder.preprocess
    device = module_device(encoder)
    out = torch.zeros(len(images), encoder.feature_dim, device=device)
    for batch in size_groups(images, p, batch_size):
        x = torch.stack([encoder.to_tensor(images[i]) for i in batch]).to(device)
        features = encoder(x)
        if p.flip:
            features = 0.5 * (features + encoder(x.flip(-1)))
        out[batch] = features.float()
    return out
