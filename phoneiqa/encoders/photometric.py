"""The ``photometric`` encoder: the statistics of :mod:`phoneiqa.photometric` as an encoder.

The image is reduced to a short side of 256 pixels and taken as 0..1 sRGB (the preprocessing's
mean is 0 and std 1, so the encoder sees the plain pixel values), then as 8-bit codes.
"""

from __future__ import annotations

import torch
from torch import Tensor

from phoneiqa.encoders import ENCODERS
from phoneiqa.encoders.base import Encoder, Preprocess
from phoneiqa.photometric import FEATURE_NAMES, photometric_features


class PhotometricEncoder(Encoder):
    """Interpretable exposure, contrast and colour statistics; column ``i`` is ``feature_names[i]``."""

    name = "photometric"
    feature_names = FEATURE_NAMES

    def __init__(self, short_side: int = 256, max_long_side: int | None = 512, flip: bool = False) -> None:
        super().__init__()
        self.preprocess = Preprocess(short_side, max_long_side, flip=flip, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
        self.feature_dim = len(FEATURE_NAMES)

    def weights_id(self) -> str:
        """The version of the statistics (part of the feature-cache key): 2 = the numpy implementation."""
        return "stats2"

    def forward(self, x: Tensor) -> Tensor:
        codes = x.mul(255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        return torch.from_numpy(photometric_features(codes)).to(x.device)


ENCODERS.register("photometric")(PhotometricEncoder)
