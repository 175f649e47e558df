"""Encoders computed in numpy from 8-bit pixels, with no learned weights: ``photometric`` and ``exposure``.

The image is resized to the encoder's short side and taken as 0..1 sRGB (the preprocessing's
mean is 0 and std 1, so the encoder sees the plain pixel values), then as 8-bit codes.
``photometric``: the statistics of :mod:`phoneiqa.photometric`; ``exposure``: the issue
definitions' quantities that one photo shows (:mod:`phoneiqa.exposure`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from phoneiqa import exposure, photometric
from phoneiqa.encoders import ENCODERS
from phoneiqa.encoders.base import Encoder, Preprocess


class NumpyStatisticsEncoder(Encoder):
    """Hand-made statistics of the 8-bit pixels; column ``i`` is ``feature_names[i]``.

    Subclasses set ``name``, ``feature_names``, ``statistics`` (uint8 ``[B, H, W, 3]`` -> ``[B, D]``) and
    ``version`` (part of the feature-cache key).
    """

    feature_names: tuple[str, ...] = ()
    statistics: Callable[[np.ndarray], np.ndarray]
    version = ""

    def __init__(self, short_side: int = 256, max_long_side: int | None = 512, flip: bool = False) -> None:
        super().__init__()
        self.preprocess = Preprocess(short_side, max_long_side, flip=flip, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
        self.feature_dim = len(self.feature_names)

    def weights_id(self) -> str:
        return self.version

    def forward(self, x: Tensor) -> Tensor:
        codes = x.mul(255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        return torch.from_numpy(type(self).statistics(codes)).to(x.device)


@ENCODERS.register("photometric")
class PhotometricEncoder(NumpyStatisticsEncoder):
    """Interpretable exposure, contrast and colour statistics (:data:`phoneiqa.photometric.FEATURE_NAMES`)."""

    feature_names = photometric.FEATURE_NAMES
    statistics = staticmethod(photometric.photometric_features)
    version = "stats2"  # 2: the numpy implementation


@ENCODERS.register("exposure")
class ExposureEncoder(NumpyStatisticsEncoder):
    """Blown, clipped and crushed shares, highlight level and luminance quantiles in stops, lightness spread
    (:data:`phoneiqa.exposure.FEATURE_NAMES`): the evidence the issue definitions are written in."""

    feature_names = exposure.FEATURE_NAMES
    statistics = staticmethod(exposure.exposure_features)
    version = "exposure2"  # 2: highlight quantiles read off the 8-bit codes, as the definitions do

    def __init__(self, short_side: int = 192, max_long_side: int | None = 384, flip: bool = False) -> None:
        super().__init__(short_side, max_long_side, flip)
