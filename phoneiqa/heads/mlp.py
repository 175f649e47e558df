"""Plain MLP regression head: the baseline score head."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from phoneiqa.heads import HEADS
from phoneiqa.heads.base import StandardisedScoreHead, check_parameter, fit_feature_scale
from phoneiqa.losses import mae_loss


@HEADS.register("mlp")
class MLPHead(StandardisedScoreHead):
    """Standardised features -> ``Linear(D, hidden)``, GELU, dropout -> ``Linear(hidden, 1)``.

    It regresses the standardised score with a smooth-L1 loss (quadratic within one standard
    deviation); ``prepare`` fits the feature and score standardisation, kept as buffers, and
    :meth:`predict` returns scores on the original scale.  Config: ``hidden``, ``dropout``.
    """

    def __init__(self, in_features: int, hidden: int = 256, dropout: float = 0.1) -> None:
        check_parameter("mlp", "hidden", hidden, isinstance(hidden, int) and hidden >= 1, "a positive integer")
        check_parameter("mlp", "dropout", dropout, 0 <= dropout < 1, "in [0, 1)")
        super().__init__(in_features)
        self.register_buffer("feature_mean", torch.zeros(in_features))
        self.register_buffer("feature_std", torch.ones(in_features))
        self.net = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(in_features, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, 1),
        )

    @torch.no_grad()
    def prepare(self, features: Tensor, scores: Tensor) -> None:
        """Fit the feature and score standardisation on the training set."""
        fit_feature_scale(self, features)
        self.fit_score_scale(scores)

    def standardised_score(self, features: Tensor) -> Tensor:
        """Standardised score predictions ``[B]``."""
        return self.net((features - self.feature_mean) / self.feature_std).squeeze(-1)

    def loss(self, features: Tensor, scores: Tensor) -> tuple[Tensor, dict[str, float]]:
        value = mae_loss(self.standardised_score(features), self.standardise(scores))
        return value, {"mae": float(value.detach())}
