"""The encoder interface: PIL images in, one feature vector per image out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from PIL import Image
from torch import Tensor, nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocess:
    """How an encoder turns a decoded RGB image into its input tensor.

    ``short_side``: the image is resized (aspect ratio kept, up or down) so its shorter side has
    exactly this many pixels; ``max_long_side`` caps the longer side (the short side then ends up
    smaller).  ``crop``: instead, cut the centred square of the image and resize it to
    ``short_side`` × ``short_side`` (for fixed-size inputs such as CLIP's ViTs).  ``flip``: average
    the features of the image and its horizontal mirror.  ``mean``/``std``: per-channel
    normalisation of 0..1 RGB.  See :func:`phoneiqa.preprocess.image_to_tensor`.
    """

    short_side: int = 384
    max_long_side: int | None = 768
    crop: bool = False
    flip: bool = False
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self) -> None:
        if self.short_side < 1:
            raise ValueError(f"short_side must be positive, got {self.short_side}")
        if self.max_long_side is not None and self.max_long_side < self.short_side:
            raise ValueError(f"max_long_side {self.max_long_side} is smaller than short_side {self.short_side}")

    def as_dict(self) -> dict:
        return asdict(self)


class Encoder(nn.Module):
    """Base class of image encoders.

    Subclasses set ``name`` (their registry name), ``feature_dim`` and ``preprocess``, and
    implement :meth:`forward` on a normalised batch ``[B, 3, H, W]``.  :meth:`encode` is the
    entry point used everywhere else: it takes decoded PIL images of any sizes.  Encoders are
    frozen feature extractors: they stay in eval mode whatever :meth:`train` asks, so a parent
    module's ``train()`` cannot switch their BatchNorm or dropout to training behaviour.
    """

    name: str = ""
    feature_dim: int = 0
    preprocess: Preprocess = Preprocess()
    onnx_exportable: bool = False  # forward can be run by ONNX Runtime (see phoneiqa.backends)

    def encoder_id(self) -> str:
        """A stable string naming the encoder, its weights and its preprocessing (cache key)."""
        p = self.preprocess
        return f"{self.name}|{self.weights_id()}|s{p.short_side}|l{p.max_long_side}|c{int(p.crop)}|f{int(p.flip)}"

    def weights_id(self) -> str:
        """What identifies the weights (file name, tag or 'random'); part of :meth:`encoder_id`."""
        return "none"

    def train(self, mode: bool = True) -> Encoder:
        """Keep the encoder in eval mode, whatever ``mode`` says (see the class docstring)."""
        return super().train(False)

    def to_tensor(self, image: Image.Image) -> Tensor:
        """Resize and normalise one RGB image into a ``[3, H, W]`` float tensor."""
        from phoneiqa.preprocess import image_to_tensor

        return image_to_tensor(image, self.preprocess)

    def forward(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    @torch.no_grad()
    def encode(self, images: Sequence[Image.Image]) -> Tensor:
        """``[B, feature_dim]`` features of decoded RGB images (sizes may differ)."""
        from phoneiqa.preprocess import batched_forward

        return batched_forward(self, images)


class ConcatEncoder(Encoder):
    """Several encoders side by side: their features concatenated in order.

    Each part keeps its own preprocessing, so there is no single input tensor: use
    :meth:`encode`.  The name joins the parts' names with ``+``, the id their ids.
    """

    def __init__(self, parts: Sequence[Encoder]) -> None:
        super().__init__()
        if len(parts) < 2:
            raise ValueError(f"a ConcatEncoder needs at least two parts, got {len(parts)}")
        self.parts = nn.ModuleList(parts)
        self.name = "+".join(part.name for part in parts)
        self.feature_dim = sum(part.feature_dim for part in parts)

    def encoder_id(self) -> str:
        return "+".join(part.encoder_id() for part in self.parts)

    def weights_id(self) -> str:
        return "+".join(part.weights_id() for part in self.parts)

    def to_tensor(self, image: Image.Image) -> Tensor:
        raise TypeError("a ConcatEncoder has one preprocessing per part; call encode()")

    def forward(self, x: Tensor) -> Tensor:
        raise TypeError("a ConcatEncoder has one input tensor per part; call encode()")

    @torch.no_grad()
    def encode(self, images: Sequence[Image.Image]) -> Tensor:
        return torch.cat([part.encode(images) for part in self.parts], dim=1)
