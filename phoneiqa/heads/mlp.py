"""Plain MLP regression head: the baseline score head."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from phoneiqa.heads import HEADS
from phoneiqa.heads.base import ScoreHead, evaluating
from phoneiqa.losses import mae_loss


@HEADS.register("mlp")
class MLPHead(ScoreHead):
    """Standardised features -> ``Linear(D, hidden)``, GELU, dropout -> ``Linear(hidden, 1)``.

    It regresses the standardised score with a smooth-L1 loss (quadratic within one standard
    deviation); ``prepare`` fits the feature and score standardisation, kept as buffers, and
    :meth:`predict` returns scores on the original scale.  Config: ``hidden``, ``dropout``.
    """

    name = "mlp"

    def __init__(self, in_features: int, hidden: int = 256, dropout: float = 0.1) -> None:
        super().__init__(in_features, hidden=hidden, dropout=dropout)
        self.register_buffer("feature_mean", torch.zeros(in_features))
        self.register_buffer("feature_std", torch.ones(in_features))
        self.register_buffer("score_mean", torch.zeros(()))
        self.register_buffer("score_std", torch.ones(()))
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
        features = features.detach().to(self.feature_mean)
        scores = scores.detach().to(self.score_mean)
        self.feature_mean.copy_(features.mean(0))
        self.feature_std.copy_(_safe_std(features))
        self.score_mean.copy_(scores.mean())
        self.score_std.copy_(_safe_std(scores))

    def _forward(self, features: Tensor) -> Tensor:
        """Standardised score predictions ``[B]``."""
        return self.net((features - self.feature_mean) / self.feature_std).squeeze(-1)

    def loss(self, features: Tensor, scores: Tensor) -> tuple[Tensor, dict[str, float]]:
        target = (scores.to(self.score_mean) - self.score_mean) / self.score_std
        value = mae_loss(self._forward(features), target)
        return value, {"mae": float(value.detach())}

    @torch.no_grad()
    def predict(self, features: Tensor) -> Tensor:
        """Scores ``[B]`` on the scale of the training targets, computed in eval mode (no dropout)."""
        with evaluating(self):
            return self._forward(features) * self.score_std + self.score_mean


def _safe_std(x: Tensor) -> Tensor:
    """Standard deviation over dim 0, with 1 where it is (near) zero or undefined (one sample)."""
    std = x.std(0)
    return torch.where(std > 1e-6, std, torch.ones_like(std))
