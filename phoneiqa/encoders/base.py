"""The encoder interface: PIL images in, one feature vector per image out."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image
from torch import Tensor, nn

from phoneiqa.preprocess import Preprocess, batches_by_key, image_to_array, output_size


def image_to_tensor(image: Image.Image, p: Preprocess) -> Tensor:
    """:func:`phoneiqa.preprocess.image_to_array` as a ``[3, H, W]`` float32 tensor."""
    return torch.from_numpy(image_to_array(image, p))


def module_device(module: nn.Module) -> torch.device:
    """The device of a module's first parameter or buffer (CPU for a module without any)."""
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return torch.device("cpu")


def part_labels(encoder: Encoder) -> list[str]:
    """The labels of an encoder's parts (:class:`ConcatEncoder`), or its own name for a single encoder."""
    return list(getattr(encoder, "labels", [encoder.name]))


def input_short_side(encoder: Encoder) -> int:
    """The largest short side any part of ``encoder`` resizes images to."""
    return max(part.preprocess.short_side for part in getattr(encoder, "parts", [encoder]))


class Encoder(nn.Module):
    """Base class of image encoders.

    Subclasses set ``feature_dim`` and ``preprocess`` (``name`` is set by the registry), and
    implement :meth:`forward` on a normalised batch ``[B, 3, H, W]``.  :meth:`encode` is the
    entry point used everywhere else: it takes decoded PIL images of any sizes.  Encoders are
    frozen feature extractors: they stay in eval mode whatever :meth:`train` asks, so a parent
    module's ``train()`` cannot switch their BatchNorm or dropout to training behaviour.
    """

    name: str = ""
    feature_dim: int = 0
    preprocess: Preprocess = Preprocess()
    onnx_exportable: bool = False  # forward can be compiled to ONNX (see phoneiqa.runtime)

    def encoder_id(self) -> str:
        """A stable string naming the encoder, its weights and its preprocessing (cache key)."""
        p = self.preprocess
        return f"{self.name}|{self.weights_id()}|s{p.short_side}|l{p.max_long_side}|c{p.window or 0}|f{int(p.flip)}"

    def weights_id(self) -> str:
        """What identifies the weights (file name, tag or 'random'); part of :meth:`encoder_id`."""
        return "none"

    def layout(self) -> list[tuple[int, ...]]:
        """The shapes that the feature vector concatenates, flattened in order: ``(D,)`` for a
        vector, ``(C, H, W)`` for a spatial map (channel-major).  Heads that read maps use it."""
        return [(self.feature_dim,)]

    def train(self, mode: bool = True) -> Encoder:
        """Keep the encoder in eval mode, whatever ``mode`` says (see the class docstring)."""
        return super().train(False)

    def to_tensor(self, image: Image.Image) -> Tensor:
        """Resize and normalise one RGB image into a ``[3, H, W]`` float tensor."""
        return image_to_tensor(image, self.preprocess)

    def forward(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    @torch.no_grad()
    def encode(self, images: Sequence[Image.Image]) -> Tensor:
        """``[B, feature_dim]`` features of decoded RGB images (sizes may differ)."""
        return batched_forward(self, images)


class ConcatEncoder(Encoder):
    """Several encoders side by side: their features concatenated in order.

    Each part keeps its own preprocessing, so there is no single input tensor: use
    :meth:`encode`.  ``labels`` name the parts (default their names; ``"effnet-lite0:window"`` tells
    a second view of one encoder apart); the name joins the labels with ``+``, the id the parts' ids.
    """

    def __init__(self, parts: Sequence[Encoder], labels: Sequence[str] | None = None) -> None:
        super().__init__()
        if len(parts) < 2:
            raise ValueError(f"a ConcatEncoder needs at least two parts, got {len(parts)}")
        self.parts = nn.ModuleList(parts)
        self.labels = list(labels) if labels is not None else [part.name for part in parts]
        if len(self.labels) != len(parts) or len(set(self.labels)) != len(parts):
            raise ValueError(f"a ConcatEncoder needs one distinct label per part, got {self.labels}")
        self.name = "+".join(self.labels)
        self.feature_dim = sum(part.feature_dim for part in parts)

    def encoder_id(self) -> str:
        return "+".join(part.encoder_id() for part in self.parts)

    def weights_id(self) -> str:
        return "+".join(part.weights_id() for part in self.parts)

    def layout(self) -> list[tuple[int, ...]]:
        return [shape for part in self.parts for shape in part.layout()]

    def to_tensor(self, image: Image.Image) -> Tensor:
        raise TypeError("a ConcatEncoder has one preprocessing per part; call encode()")

    def forward(self, x: Tensor) -> Tensor:
        raise TypeError("a ConcatEncoder has one input tensor per part; call encode()")

    @torch.no_grad()
    def encode(self, images: Sequence[Image.Image]) -> Tensor:
        return torch.cat([part.encode(images) for part in self.parts], dim=1)


def batched_forward(encoder: Encoder, images: Sequence[Image.Image], batch_size: int = 16) -> Tensor:
    """``[B, feature_dim]`` features of ``images`` in their input order, on the encoder's device.

    Images whose tensors have equal sizes are stacked into batches of at most ``batch_size``;
    each image is converted only when its batch runs, so memory stays bounded.  With
    ``encoder.preprocess.flip`` the features of each image and its mirror image are averaged.
    """
    p = encoder.preprocess
    device = module_device(encoder)
    out = torch.zeros(len(images), encoder.feature_dim, device=device)
    for batch in batches_by_key([output_size(im.width, im.height, p) for im in images], batch_size):
        x = torch.stack([encoder.to_tensor(images[i]) for i in batch]).to(device)
        features = encoder(x)
        if p.flip:
            features = 0.5 * (features + encoder(x.flip(-1)))
        out[batch] = features.float()
    return out
