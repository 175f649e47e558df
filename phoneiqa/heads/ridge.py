"""Ridge regression score head, fitted in closed form with the penalty chosen by leave-one-out error.

On frozen features and a few hundred training photos this linear head ranks CLIVE photos better
and more steadily than the MLP and QCERN heads (``benchmarks/bench_score.py``).  Features are
standardised (population standard deviation), the intercept is the mean score, and the penalty α
is the one of ``alphas`` with the smallest exact leave-one-out squared error, computed for all α
from one SVD (the same choice as scikit-learn's ``RidgeCV`` on standardised features).
"""

from __future__ import annotations

import torch
from torch import Tensor

from phoneiqa.heads import HEADS
from phoneiqa.heads.base import ScoreHead

DEFAULT_ALPHAS = tuple(float(a) for a in torch.logspace(-1, 4, 12, dtype=torch.float64))


def loo_errors(u: Tensor, s: Tensor, y: Tensor, alphas: Tensor) -> Tensor:
    """Mean squared leave-one-out error of ridge regression, per α, from the SVD ``x = U S Vᵀ`` of
    the centred features and the centred scores ``y`` [n].

    The hat matrix is ``1/n + U diag(s² / (s² + α)) Uᵀ`` (the ``1/n`` is the intercept) and the
    leave-one-out residual of sample i is ``(y_i − ŷ_i) / (1 − h_ii)``.
    """
    uty = u.T @ y
    shrink = s**2 / (s**2 + alphas[:, None])  # [A, r]
    fitted = (u[None] * shrink[:, None, :]) @ uty  # [A, n]
    leverage = (u**2) @ shrink.T + 1.0 / len(y)  # [n, A]
    residual = (y[None] - fitted) / (1.0 - leverage.T)
    return (residual**2).mean(dim=1)


@HEADS.register("ridge")
class RidgeHead(ScoreHead):
    """Linear score head fitted by :meth:`prepare` (no gradient training); ``alphas``: candidate penalties."""

    name = "ridge"

    def __init__(self, in_features: int, alphas: tuple[float, ...] | list[float] = DEFAULT_ALPHAS) -> None:
        if not alphas or min(alphas) <= 0:
            raise ValueError(f"alphas must be positive numbers, got {alphas}")
        super().__init__(in_features, alphas=[float(a) for a in alphas])
        self.register_buffer("feature_mean", torch.zeros(in_features, dtype=torch.float64))
        self.register_buffer("feature_std", torch.ones(in_features, dtype=torch.float64))
        self.register_buffer("weight", torch.zeros(in_features, dtype=torch.float64))
        self.register_buffer("intercept", torch.zeros((), dtype=torch.float64))
        self.register_buffer("alpha", torch.zeros((), dtype=torch.float64))

    @torch.no_grad()
    def prepare(self, features: Tensor, scores: Tensor) -> None:
        """Standardise, choose α by leave-one-out error, and solve for the weights."""
        x = features.detach().to(torch.float64)
        y = scores.detach().to(torch.float64).flatten()
        if len(y) < 3:
            raise ValueError(f"ridge needs at least 3 training scores, got {len(y)}")
        mean, std = x.mean(0), x.std(0, correction=0)
        std = torch.where(std > 1e-12, std, torch.ones_like(std))
        z = (x - mean) / std
        u, sv, vh = torch.linalg.svd(z, full_matrices=False)
        yc = y - y.mean()
        alphas = torch.tensor(self.config["alphas"], dtype=torch.float64)
        alpha = alphas[loo_errors(u, sv, yc, alphas).argmin()]
        self.weight.copy_(vh.T @ (sv / (sv**2 + alpha) * (u.T @ yc)))
        self.feature_mean.copy_(mean)
        self.feature_std.copy_(std)
        self.intercept.copy_(y.mean())
        self.alpha.copy_(alpha)

    def loss(self, features: Tensor, scores: Tensor) -> tuple[Tensor, dict[str, float]]:
        """Mean absolute error, for reports only: the head has nothing to optimise."""
        value = (self.predict(features) - scores.to(torch.float32)).abs().mean()
        return value, {"mae": float(value)}

    @torch.no_grad()
    def predict(self, features: Tensor) -> Tensor:
        """Scores ``[B]`` (float32) on the scale of the training targets."""
        z = (features.to(torch.float64) - self.feature_mean) / self.feature_std
        return (z @ self.weight + self.intercept).to(torch.float32)
