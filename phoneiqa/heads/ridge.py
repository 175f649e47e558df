"""Ridge regression score heads, linear and with a Gaussian kernel, fitted in closed form with the
penalty chosen by leave-one-out error.

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


def standardised(features: Tensor, scores: Tensor, head: str) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Training data of a closed-form head in float64: standardised features (population std, constant
    columns left at 1), centred scores, the feature mean and std, and the scores."""
    x = features.detach().to(torch.float64)
    y = scores.detach().to(torch.float64).flatten()
    if len(y) < 3:
        raise ValueError(f"{head} needs at least 3 training scores, got {len(y)}")
    mean, std = x.mean(0), x.std(0, correction=0)
    std = torch.where(std > 1e-12, std, torch.ones_like(std))
    return (x - mean) / std, y - y.mean(), mean, std, y


class ClosedFormScoreHead(ScoreHead):
    """A score head fitted entirely by :meth:`prepare` (no parameters to train)."""

    def loss(self, features: Tensor, scores: Tensor) -> tuple[Tensor, dict[str, float]]:
        """Mean absolute error, for reports only: the head has nothing to optimise."""
        value = (self.predict(features) - scores.to(torch.float32)).abs().mean()
        return value, {"mae": float(value)}


@HEADS.register("ridge")
class RidgeHead(ClosedFormScoreHead):
    """Linear score head fitted by :meth:`prepare` (no gradient training); ``alphas``: candidate penalties."""

    def __init__(self, in_features: int, alphas: tuple[float, ...] | list[float] = DEFAULT_ALPHAS) -> None:
        if not alphas or min(alphas) <= 0:
            raise ValueError(f"alphas must be positive numbers, got {alphas}")
        super().__init__(in_features)
        self.register_buffer("feature_mean", torch.zeros(in_features, dtype=torch.float64))
        self.register_buffer("feature_std", torch.ones(in_features, dtype=torch.float64))
        self.register_buffer("weight", torch.zeros(in_features, dtype=torch.float64))
        self.register_buffer("intercept", torch.zeros((), dtype=torch.float64))
        self.register_buffer("alpha", torch.zeros((), dtype=torch.float64))

    @torch.no_grad()
    def prepare(self, features: Tensor, scores: Tensor) -> None:
        """Standardise, choose α by leave-one-out error, and solve for the weights."""
        z, yc, mean, std, y = standardised(features, scores, self.name)
        u, sv, vh = torch.linalg.svd(z, full_matrices=False)
        alphas = torch.tensor(self.config["alphas"], dtype=torch.float64)
        alpha = alphas[loo_errors(u, sv, yc, alphas).argmin()]
        self.weight.copy_(vh.T @ (sv / (sv**2 + alpha) * (u.T @ yc)))
        self.feature_mean.copy_(mean)
        self.feature_std.copy_(std)
        self.intercept.copy_(y.mean())
        self.alpha.copy_(alpha)

    @torch.no_grad()
    def predict(self, features: Tensor) -> Tensor:
        """Scores ``[B]`` (float32) on the scale of the training targets."""
        z = (features.to(torch.float64) - self.feature_mean) / self.feature_std
        return (z @ self.weight + self.intercept).to(torch.float32)


DEFAULT_KERNEL_ALPHAS = tuple(float(a) for a in torch.logspace(-3, 1, 9, dtype=torch.float64))
DEFAULT_KERNEL_WIDTHS = (0.0625, 0.125, 0.25, 0.5, 1.0, 2.0)


def squared_distances(a: Tensor, b: Tensor) -> Tensor:
    """``[len(a), len(b)]`` squared Euclidean distances (matrix products only, so it exports to ONNX)."""
    return ((a**2).sum(1, keepdim=True) + (b**2).sum(1)[None] - 2 * a @ b.T).clamp_min(0)


@HEADS.register("kernel-ridge")
class KernelRidgeHead(ClosedFormScoreHead):
    """Kernel ridge regression with a Gaussian (RBF) kernel on standardised features, fitted by :meth:`prepare`.

    ``score(x) = mean score + Σ_i c_i · exp(-γ ‖z(x) − z_i‖²)`` over the training photos ``z_i``,
    ``γ = width / n_features``.  The penalty α and the width are the pair of ``alphas`` × ``widths``
    with the smallest exact leave-one-out squared error (one eigendecomposition of the kernel
    matrix per width).  On frozen EfficientNet features of CLIVE it ranks photos better than the
    linear ridge head (``benchmarks/bench_score.py``); the price is that the head keeps the
    standardised training features, ``n × n_features``, at half precision when it fits them (as the packed
    runtime stores its large weights: half the checkpoint size, scores moved by hundredths of a point); a
    checkpoint saved with float32 features loads as it was saved.
    """

    def __init__(
        self,
        in_features: int,
        alphas: tuple[float, ...] | list[float] = DEFAULT_KERNEL_ALPHAS,
        widths: tuple[float, ...] | list[float] = DEFAULT_KERNEL_WIDTHS,
    ) -> None:
        if not alphas or min(alphas) <= 0 or not widths or min(widths) <= 0:
            raise ValueError(f"alphas and widths must be positive numbers, got {alphas} and {widths}")
        super().__init__(in_features)
        self.register_buffer("feature_mean", torch.zeros(in_features))
        self.register_buffer("feature_std", torch.ones(in_features))
        self.register_buffer("support", torch.zeros(0, in_features, dtype=torch.float16))
        self.register_buffer("coef", torch.zeros(0))
        self.register_buffer("intercept", torch.zeros(()))
        self.register_buffer("gamma", torch.zeros(()))
        self.register_buffer("alpha", torch.zeros(()))

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Size the training-photo buffers from the checkpoint, then load."""
        self.support = torch.zeros_like(state_dict["support"])
        self.coef = torch.zeros_like(state_dict["coef"])
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    @torch.no_grad()
    def prepare(self, features: Tensor, scores: Tensor) -> None:
        """Standardise, choose α and the width by leave-one-out error, and solve for the coefficients."""
        z, yc, mean, std, y = standardised(features, scores, self.name)
        distances = squared_distances(z, z)
        alphas = torch.tensor(self.config["alphas"], dtype=torch.float64)
        best = None
        for width in self.config["widths"]:
            gamma = width / z.shape[1]
            eigenvalues, vectors = torch.linalg.eigh(torch.exp(-gamma * distances))
            errors = loo_errors(vectors, eigenvalues.clamp_min(0).sqrt(), yc, alphas)
            i = int(errors.argmin())
            if best is None or errors[i] < best[0]:
                best = (errors[i], gamma, alphas[i], vectors, eigenvalues)
        _, gamma, alpha, vectors, eigenvalues = best
        coef = vectors @ ((vectors.T @ yc) / (eigenvalues + alpha))
        self.feature_mean, self.feature_std = mean.float(), std.float()
        self.support, self.coef = z.half(), coef.float()
        self.intercept = y.mean().float()
        self.gamma = torch.tensor(gamma, dtype=torch.float32)
        self.alpha = alpha.float()

    @torch.no_grad()
    def predict(self, features: Tensor) -> Tensor:
        """Scores ``[B]`` (float32) on the scale of the training targets."""
        z = (features.to(torch.float32) - self.feature_mean) / self.feature_std
        return torch.exp(-self.gamma * squared_distances(z, self.support.float())) @ self.coef + self.intercept
