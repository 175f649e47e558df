"""Training losses of the score and issue heads, as pure functions of tensors.

Score-head losses (QCN / QCERN embedding geometry): :func:`order_loss`, :func:`gol_metric_loss`,
:func:`center_loss`, :func:`mae_loss`, plus :func:`plcc_loss`.  The geometric ones take tokens
``h [..., N, C]`` with scores ``[..., N]`` and score pivots ``[..., M, C]`` (or one shared ``[M, C]``)
with increasing pivot scores ``[M]``; the leading dimensions index independent groups.

Issue-head losses on HEX node marginals ``p`` in [0, 1] against node targets ``g`` (0/1, soft
targets allowed): :func:`focal_bce`, :func:`focal_fidelity`, with per-node positive-class weights
from :func:`class_balanced_weights`.  All reductions are means, so values do not grow with the batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

EPS = 1e-6  # probabilities are clamped to [EPS, 1 - EPS] before logs, roots and powers


# ------------------------------------------------------------------ score-head losses
def order_loss(pivots: Tensor) -> Tensor:
    """Keep consecutive pivots on a line, in order.

    ``L = mean_m [cos(p_{m-1} - p_m, p_{m+1} - p_m) + 1]`` for m = 1 … M-2 (and over any leading
    dimensions of ``pivots [..., M, C]``).  It is 0 when every pivot lies between its two
    neighbours on one straight line, 1 at right angles and 2 when the chain folds back.
    """
    centre = pivots[..., 1:-1, :]
    cos = F.cosine_similarity(pivots[..., :-2, :] - centre, pivots[..., 2:, :] - centre, dim=-1, eps=1e-8)
    return (cos + 1.0).mean()


def gol_metric_loss(
    h: Tensor,
    scores: Tensor,
    pivots: Tensor,
    pivot_scores: Tensor,
    margin: float = 0.25,
    valid: Tensor | None = None,
) -> Tensor:
    """Geometric-order-learning metric constraint between image pairs and pivot references.

    With ``d`` the Euclidean distance between L2-normalised vectors, for every pair (x, y) of one
    group with ``θ_x > θ_y`` and every pivot r (score ``θ_r``):

    * if ``θ_r <= θ_y``, x must be farther from r than y is: term ``[d(h_y, r) - d(h_x, r) + γ]_+``;
    * if ``θ_r >= θ_x``, y must be farther from r than x is: term ``[d(h_x, r) - d(h_y, r) + γ]_+``.

    The loss is the sum of all terms divided by their number (satisfied terms count as zeros), so
    it lies in [0, 2 + γ] whatever the group size; it is 0 when no (pair, pivot) triple applies.

    ``h [..., N, C]``, ``scores [..., N]``, ``pivots [..., M, C]`` or ``[M, C]``, ``pivot_scores [M]``;
    ``valid [..., N]`` (bool) leaves padding images out of every pair.
    """
    hn = F.normalize(h, dim=-1)
    pn = F.normalize(pivots, dim=-1)
    cos = hn @ pn.transpose(-1, -2)  # [..., N, M]
    # |a - b|^2 = 2 - 2 cos for unit vectors; the clamp keeps the root's gradient finite at d = 0
    dist = torch.sqrt((2.0 - 2.0 * cos).clamp_min(1e-12))
    d_x = dist.unsqueeze(-2)  # [..., N(x), 1, M]
    d_y = dist.unsqueeze(-3)  # [..., 1, N(y), M]
    pair = scores.unsqueeze(-1) > scores.unsqueeze(-2)  # [..., N(x), N(y)]
    if valid is not None:
        pair = pair & valid.unsqueeze(-1) & valid.unsqueeze(-2)
    below_y = pivot_scores <= scores.unsqueeze(-1)  # [..., N, M]: θ_r <= θ_n
    above_x = pivot_scores >= scores.unsqueeze(-1)  # [..., N, M]: θ_r >= θ_n
    lower = pair.unsqueeze(-1) & below_y.unsqueeze(-3)
    upper = pair.unsqueeze(-1) & above_x.unsqueeze(-2)
    terms = torch.relu(d_y - d_x + margin) * lower + torch.relu(d_x - d_y + margin) * upper
    count = lower.sum() + upper.sum()
    return terms.sum() / count.clamp_min(1)


def interpolated_pivots(scores: Tensor, pivots: Tensor, pivot_scores: Tensor) -> Tensor:
    """The point on the pivot polyline at each score: ``p~ = (1 - w) p_m + w p_{m+1}``.

    ``m`` is the segment whose pivot scores bracket θ (``θ_m <= θ <= θ_{m+1}``) and
    ``w = (θ - θ_m) / (θ_{m+1} - θ_m)``; scores outside the pivot range map to the end pivots.
    ``scores [..., N]``, ``pivots [..., M, C]`` or ``[M, C]`` -> ``[..., N, C]``.
    """
    query = scores.detach().to(pivot_scores.dtype).contiguous()
    m = (torch.searchsorted(pivot_scores, query, right=True) - 1).clamp(0, pivot_scores.numel() - 2)
    lo, hi = pivot_scores[m], pivot_scores[m + 1]
    w = ((scores - lo) / (hi - lo)).clamp(0.0, 1.0).unsqueeze(-1)
    return (1.0 - w) * gather_pivots(pivots, m) + w * gather_pivots(pivots, m + 1)


def gather_pivots(pivots: Tensor, index: Tensor) -> Tensor:
    """``pivots[..., index[..., n], :]`` for ``pivots [..., M, C]`` (or shared ``[M, C]``), ``index [..., N]``."""
    width = pivots.shape[-1]
    batch = index.shape[:-1]
    expanded = pivots.expand(*batch, *pivots.shape[-2:])
    return torch.gather(expanded, -2, index.unsqueeze(-1).expand(*index.shape, width))


def center_loss(h: Tensor, scores: Tensor, pivots: Tensor, pivot_scores: Tensor, valid: Tensor | None = None) -> Tensor:
    """Pull each token to the pivot polyline at its own score.

    ``L = mean_n ‖h_n - p~(θ_n)‖`` with ``p~`` from :func:`interpolated_pivots` (Euclidean, not
    normalised; the mean over the valid images replaces the papers' sum over a group).
    """
    dist = torch.linalg.vector_norm(h - interpolated_pivots(scores, pivots, pivot_scores), dim=-1)
    if valid is None:
        return dist.mean()
    return (dist * valid).sum() / valid.sum().clamp_min(1)


def mae_loss(pred: Tensor, target: Tensor, beta: float = 1.0) -> Tensor:
    """Smooth-L1 (Huber-like) error: mean of ``0.5 e² / β`` where ``|e| < β``, else ``|e| - 0.5 β``."""
    return F.smooth_l1_loss(pred, target, beta=beta)


CONSTANT_VARIANCE = 1e-8
"""A batch whose predictions or targets vary less than this (mean squared deviation) has no PLCC term."""


def plcc_loss(pred: Tensor, target: Tensor) -> Tensor:
    """``1 - r`` for the Pearson correlation ``r`` of two 1-D tensors, 0 where ``r`` is undefined.

    A batch of fewer than two values, or one where the predictions or the targets are constant
    (variance below :data:`CONSTANT_VARIANCE`), contributes 0 with zero gradient, so tiny last
    batches add neither noise nor NaNs (other loss terms still train on them).
    """
    if pred.numel() < 2:
        return pred.sum() * 0.0
    a = pred - pred.mean()
    b = target - target.mean()
    saa, sbb = (a * a).sum(), (b * b).sum()
    floor = CONSTANT_VARIANCE * pred.numel()
    defined = (saa > floor) & (sbb > floor)
    # the clamp keeps the unused branch finite, so torch.where passes no NaN gradient back
    r = (a * b).sum() / torch.sqrt((saa * sbb).clamp_min(floor * floor))
    return torch.where(defined, 1.0 - r, torch.zeros_like(r))


def mae_plcc_loss(
    pred: Tensor, target: Tensor, mae_weight: float = 1.0, plcc_weight: float = 1.0
) -> tuple[Tensor, dict[str, float]]:
    """``mae_weight · mae_loss + plcc_weight · plcc_loss`` and its parts (floats, for the logs)."""
    mae, plcc = mae_loss(pred, target), plcc_loss(pred, target)
    return mae_weight * mae + plcc_weight * plcc, {"mae": float(mae.detach()), "plcc": float(plcc.detach())}


# ------------------------------------------------------------------ issue-head losses
def _class_factor(g: Tensor, positive: Tensor | float, negative: Tensor | float) -> Tensor:
    """``positive`` where g = 1, ``negative`` where g = 0, linear in between (soft targets)."""
    return g * positive + (1.0 - g) * negative


def focal_bce(
    p: Tensor, g: Tensor, gamma: float = 2.0, alpha: float | None = 0.25, weight: Tensor | None = None
) -> Tensor:
    """Focal binary cross-entropy (Lin et al., 2017) on probabilities.

    ``L = mean[ w · α_t · (1 - p_t)^γ · -(g log p + (1 - g) log(1 - p)) ]`` with
    ``p_t = g p + (1 - g)(1 - p)``, ``α_t = g α + (1 - g)(1 - α)`` (1 when ``alpha`` is None) and
    ``w = g · weight + (1 - g)``: ``weight`` (broadcast to ``p``, e.g. one value per node) multiplies
    the positive terms only, like ``pos_weight`` in torch's BCE.  ``γ = 0, α = None`` is plain BCE.
    ``p`` is clamped to [1e-6, 1 - 1e-6], so p = 0 or 1 gives finite values and gradients.
    """
    p = p.clamp(EPS, 1.0 - EPS)
    bce = -(g * torch.log(p) + (1.0 - g) * torch.log1p(-p))
    return _focal_reduce(bce, p, g, gamma, alpha, weight)


def focal_fidelity(
    p: Tensor, g: Tensor, gamma: float = 2.0, alpha: float | None = 0.75, weight: Tensor | None = None
) -> Tensor:
    """Focal fidelity loss, the issue loss of the smartphone seed.

    Fidelity ``F = 1 - sqrt(p g) - sqrt((1 - p)(1 - g))`` (0 when p = g) replaces the cross-entropy
    of :func:`focal_bce`; the focal factor, ``α_t`` and ``weight`` are the same:
    ``L = mean[ w · α_t · (1 - p_t)^γ · F ]``.  ``γ = 0, α = None`` is the plain fidelity loss.
    The roots are taken of each factor separately so g = 0 or 1 never differentiates sqrt at 0.
    """
    p = p.clamp(EPS, 1.0 - EPS)
    fidelity = 1.0 - torch.sqrt(p) * torch.sqrt(g) - torch.sqrt(1.0 - p) * torch.sqrt(1.0 - g)
    return _focal_reduce(fidelity, p, g, gamma, alpha, weight)


def _focal_reduce(
    base: Tensor, p: Tensor, g: Tensor, gamma: float, alpha: float | None, weight: Tensor | None
) -> Tensor:
    """Mean of ``base`` times the focal factor, ``α_t`` and the positive-class weight."""
    p_t = _class_factor(g, p, 1.0 - p)
    loss = base * (1.0 - p_t) ** gamma
    if alpha is not None:
        loss = loss * _class_factor(g, alpha, 1.0 - alpha)
    if weight is not None:
        loss = loss * _class_factor(g, weight, 1.0)
    return loss.mean()


def effective_number(count: Tensor, beta: float) -> Tensor:
    """Cui et al.'s effective number of samples ``E(n) = (1 - β^n) / (1 - β)`` (→ n as β → 1)."""
    if beta >= 1.0:
        return count
    return (1.0 - beta**count) / (1.0 - beta)


def class_balanced_weights(targets: Tensor, beta: float = 0.999) -> Tensor:
    """Per-node weight of the positive class, from the effective numbers of samples (Cui et al., 2019).

    ``targets [B, n]`` holds the 0/1 node states of the training set.  For node i with ``n⁺``
    positives and ``n⁻`` negatives (each counted as at least 1), Cui et al. weight a class by
    ``1 / E(count)``; relative to the negatives the positives then weigh ``w_i = E(n⁻) / E(n⁺)``,
    which is returned (``[n]``, the ``weight`` of :func:`focal_bce` / :func:`focal_fidelity`).
    β = 0 gives 1 everywhere, β → 1 the inverse frequency ratio ``n⁻ / n⁺``.
    """
    targets = targets.to(torch.float64)
    positives = targets.sum(0).clamp_min(1.0)
    negatives = (1.0 - targets).sum(0).clamp_min(1.0)
    ratio = effective_number(negatives, beta) / effective_number(positives, beta)
    return ratio.to(torch.get_default_dtype())
