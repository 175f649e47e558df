"""The ``exposure`` encoder: the issue definitions' quantities that one photo shows (:mod:`phoneiqa.exposure`).

Blown-out share (small light sources and glints excluded), clipped and crushed shares, the
highlight level and luminance quantiles in stops, and the lightness spread: the evidence the
definitions in ``data_specs/issue_definitions.md`` are written in, for the issue head.
"""

from __future__ import annotations

import torch
from torch import Tensor

from phoneiqa.encoders import ENCODERS
from phoneiqa.encoders.base import Encoder, Preprocess
from phoneiqa.exposure import FEATURE_NAMES, exposure_features


class ExposureEncoder(Encoder):
    """Exposure measurements of one photo; column ``i`` is ``feature_names[i]``."""

    name = "exposure"
    feature_names = FEATURE_NAMES

    def __init__(self, short_side: int = 192, max_long_side: int | None = 384) -> None:
        super().__init__()
        self.preprocess = Preprocess(short_side, max_long_side, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
        self.feature_dim = len(FEATURE_NAMES)

    def weights_id(self) -> str:
        """The version of the measurements (part of the feature-cache key)."""
        return "exposure1"

    def forward(self, x: Tensor) -> Tensor:
        codes = x.mul(255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        return torch.from_numpy(exposure_features(codes)).to(x.device)


ENCODERS.register("exposure")(ExposureEncoder)
