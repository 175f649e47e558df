"""QCN / QCERN score head: images are ordered by quality in an embedding space along learnable score pivots.

Shin et al. (CVPR 2023, QCN) and Haider et al. (Pattern Recognition 2026, QCERN).  A group of N
image tokens and M score pivots pass through T comparison transformers; each pivot stands for one
score θ_m (placed by Lloyd-Max quantisation of the training scores).  The order, metric and center
losses arrange tokens and pivots so that the pivots form an ordered chain and each image sits on
the chain at its score; an image's score is read off by projecting its token onto the nearest
pair of adjacent pivots (:func:`project_scores`).

At inference an image is scored inside a group with N - 1 auxiliary training images, one per
equal-width score interval, whose features are stored in the head (the "bank"), so a single image
is scored deterministically without access to the training data.

Choices where the papers leave room (or that differ from them): pre-norm CT sub-units; dropout
on image tokens only; pivots initialised on a straight segment, spaced by their scores; losses
averaged rather than summed (see :mod:`phoneiqa.losses`); the MAE term on scores divided by the
pivot score range, so its size does not depend on the score scale; no delayed MAE switch-on.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from phoneiqa.heads import HEADS
from phoneiqa.heads.base import ScoreHead, check_parameter, evaluating, fit_feature_scale
from phoneiqa.losses import center_loss, gather_pivots, gol_metric_loss, mae_loss, order_loss

PLACEMENTS = ("lloyd-max", "uniform")
LOSS_NAMES = ("order", "metric", "center", "mae")
# smooth-L1 switches from quadratic to linear at 2% of the pivot score range
MAE_BETA = 0.02
PREDICT_CHUNK = 256  # groups scored at once by predict, to bound memory


# ------------------------------------------------------------------ pivot placement and bank
def lloyd_max_levels(values: Tensor, n_levels: int, max_iter: int = 1000, tol: float = 1e-9) -> Tensor:
    """Reconstruction levels of the 1-D Lloyd-Max (minimum mean-squared-error) quantiser of ``values``.

    Starts from the ``(k + 0.5) / n`` quantiles, then alternates thresholds = midpoints between
    neighbouring levels and levels = mean of the values in each cell (an empty cell keeps its
    level) until no level moves by more than ``tol`` times the value range.  Returns ``[n_levels]``
    float64, strictly increasing (see :func:`strictly_increasing`).
    """
    v = _check_scores(values, n_levels)
    span = float(v[-1] - v[0])
    levels = torch.quantile(v, (torch.arange(n_levels, dtype=torch.float64) + 0.5) / n_levels)
    for _ in range(max_iter):
        cell = torch.searchsorted((levels[1:] + levels[:-1]) / 2, v)
        counts = torch.bincount(cell, minlength=n_levels)
        sums = torch.zeros(n_levels, dtype=torch.float64).index_add_(0, cell, v)
        new = torch.where(counts > 0, sums / counts.clamp_min(1), levels)
        moved = float((new - levels).abs().max())
        levels = new
        if moved <= tol * span:
            break
    return strictly_increasing(levels, 1e-6 * span)


def uniform_levels(values: Tensor, n_levels: int) -> Tensor:
    """``n_levels`` evenly spaced levels from the smallest to the largest value (float64)."""
    v = _check_scores(values, n_levels)
    return torch.linspace(float(v[0]), float(v[-1]), n_levels, dtype=torch.float64)


def strictly_increasing(levels: Tensor, min_gap: float) -> Tensor:
    """The smallest upward correction of sorted ``levels`` that leaves neighbours ``min_gap`` apart.

    Lloyd-Max levels coincide when the scores take fewer distinct values than there are levels;
    the pivot interpolation needs distinct pivot scores.
    """
    steps = torch.arange(levels.numel(), dtype=levels.dtype) * min_gap
    return torch.cummax(levels - steps, dim=0).values + steps


def _check_scores(values: Tensor, n_levels: int) -> Tensor:
    v = values.detach().cpu().to(torch.float64).flatten().sort().values
    if n_levels < 2:
        raise ValueError(f"need at least 2 score levels, got {n_levels}")
    if v.numel() < 2 or v[-1] <= v[0]:
        raise ValueError("training scores must take at least two different values")
    return v


def bank_indices(scores: Tensor, n_bank: int) -> Tensor:
    """Indices of ``n_bank`` auxiliary images: one per equal-width interval of the score range.

    For interval k the image whose score is closest to the interval centre is taken (first index
    on ties), so the choice is deterministic; an interval without images borrows its nearest one.
    """
    s = scores.detach().cpu().to(torch.float64)
    lo, hi = float(s.min()), float(s.max())
    centres = lo + (torch.arange(n_bank, dtype=torch.float64) + 0.5) * (hi - lo) / n_bank
    return (s.unsqueeze(0) - centres.unsqueeze(1)).abs().argmin(dim=1)


# ------------------------------------------------------------------ scoring
def project_scores(h: Tensor, pivots: Tensor, pivot_scores: Tensor) -> Tensor:
    """Scores of tokens read off an ordered chain of pivots.

    For each token ``h [..., N, C]`` take the adjacent pivots (m, m+1) of ``pivots [..., M, C]``
    (or shared ``[M, C]``) with the smallest ``‖h - p_m‖ + ‖h - p_{m+1}‖``, project ``h`` onto the
    segment, ``α = ⟨h - p_m, p_{m+1} - p_m⟩ / ‖p_{m+1} - p_m‖²``, and interpolate the pivot scores
    ``θ_m + α (θ_{m+1} - θ_m)``.  α is clamped to [0, 1], so scores stay within the pivot score
    range and a token beyond the chain's end gets the end score rather than an extrapolation.
    Differentiable in ``h`` and ``pivots`` (the pair choice is not).  Returns ``[..., N]``.
    """
    with torch.no_grad():
        dist = torch.cdist(h, pivots.expand(*h.shape[:-2], *pivots.shape[-2:]))
        m = (dist[..., :-1] + dist[..., 1:]).argmin(dim=-1)
    p_lo, p_hi = gather_pivots(pivots, m), gather_pivots(pivots, m + 1)
    seg = p_hi - p_lo
    alpha = ((h - p_lo) * seg).sum(-1) / (seg * seg).sum(-1).clamp_min(1e-12)
    alpha = alpha.clamp(0.0, 1.0)
    return pivot_scores[m] + alpha * (pivot_scores[m + 1] - pivot_scores[m])


def group_layout(batch: int, n_images: int) -> tuple[Tensor, Tensor]:
    """Split a batch into ``G = ceil(batch / n_images)`` groups of near-equal size.

    Returns ``index [G, S]`` (image ``s·G + g`` is slot s of group g; padding slots point at image
    0) and ``valid [G, S]``.  Group sizes differ by at most one, so a batch that is not a multiple
    of ``n_images`` never leaves a lone image in a group of its own.
    """
    groups = -(-batch // n_images)
    size = -(-batch // groups)
    index = torch.arange(size).unsqueeze(0) * groups + torch.arange(groups).unsqueeze(1)
    valid = index < batch
    return index.where(valid, 0), valid


# ------------------------------------------------------------------ comparison transformer
class _Attention(nn.Module):
    """Multi-head attention where a query whose keys are all blocked receives zeros (not NaN)."""

    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(width, width)
        self.value = nn.Linear(width, width)
        self.out = nn.Linear(width, width)
        self.dropout = nn.Dropout(dropout)

    def _split(self, x: Tensor) -> Tensor:
        g, n, c = x.shape
        return x.view(g, n, self.heads, c // self.heads).transpose(1, 2)

    def forward(self, x: Tensor, context: Tensor, blocked: Tensor | None = None) -> Tensor:
        """``x [G, Q, C]`` attends to ``context [G, K, C]``; ``blocked [G or 1, Q or 1, K]``: True = may not."""
        q, k, v = self._split(self.query(x)), self._split(self.key(context)), self._split(self.value(context))
        logits = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])  # [G, H, Q, K]
        if blocked is None:
            weights = logits.softmax(-1)
        else:
            blocked = blocked.unsqueeze(1)
            weights = logits.masked_fill(blocked, torch.finfo(logits.dtype).min).softmax(-1)
            weights = weights * (~blocked).any(-1, keepdim=True)
        out = self.dropout(weights) @ v  # [G, H, Q, C/H]
        return self.out(out.transpose(1, 2).reshape(x.shape))


class _Unit(nn.Module):
    """One CT sub-unit in pre-norm residual form: ``x += Attn(LN(x), LN(context))``, then ``x += FF(LN(x))``.

    Pre-norm keeps an identity path from input to output, so the pivot chain and the projected
    image tokens reach the losses undistorted at initialisation; post-norm (LN after each
    residual, as drawn in the QCN paper) learned several times slower in our synthetic checks.
    ``cross``: attend to a separate context (with its own layer norm) instead of to ``x`` itself.
    """

    def __init__(self, width: int, heads: int, ff_mult: int, dropout: float, cross: bool) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.norm_context = nn.LayerNorm(width) if cross else None
        self.attention = _Attention(width, heads, dropout)
        self.norm_feed_forward = nn.LayerNorm(width)
        self.feed_forward = nn.Sequential(
            nn.Linear(width, ff_mult * width), nn.GELU(), nn.Dropout(dropout), nn.Linear(ff_mult * width, width)
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, context: Tensor | None = None, blocked: Tensor | None = None) -> Tensor:
        """Update ``x``; ``context`` is required for a cross unit and ignored by a self unit."""
        xn = self.norm(x)
        kv = xn if self.norm_context is None else self.norm_context(context)
        x = x + self.dropout(self.attention(xn, kv, blocked))
        return x + self.dropout(self.feed_forward(self.norm_feed_forward(x)))


class ComparisonTransformer(nn.Module):
    """One CT: FSU (images attend to the other images of their group), FPCU (pivots attend to
    images), PSU (pivots attend to pivots), PFCU (images attend to pivots).

    Dropout acts in the image-token units only: independent dropout noise on each pivot is far
    larger than the spacing of neighbouring pivots and would scramble their order.
    """

    def __init__(self, width: int, heads: int, ff_mult: int, dropout: float) -> None:
        super().__init__()
        self.fsu = _Unit(width, heads, ff_mult, dropout, cross=False)
        self.fpcu = _Unit(width, heads, ff_mult, 0.0, cross=True)
        self.psu = _Unit(width, heads, ff_mult, 0.0, cross=False)
        self.pfcu = _Unit(width, heads, ff_mult, dropout, cross=True)

    def forward(self, h: Tensor, p: Tensor, valid: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Update image tokens ``h [G, N, C]`` and pivots ``p [G, M, C]``; ``valid [G, N]`` marks real images."""
        blocked_self = torch.eye(h.shape[1], dtype=torch.bool, device=h.device).unsqueeze(0)
        padding = None if valid is None else ~valid.unsqueeze(1)  # [G, 1, N]
        h = self.fsu(h, blocked=blocked_self if padding is None else blocked_self | padding)
        p = self.fpcu(p, h, padding)
        p = self.psu(p)
        return self.pfcu(h, p), p


# ------------------------------------------------------------------ the head
@HEADS.register("qcern")
class QCERNHead(ScoreHead):
    """Comparison-transformer score head with Lloyd-Max score pivots and a stored auxiliary-image bank.

    Config (all JSON-able; ``create_head("qcern", in_features=D, **head.config)`` rebuilds it):

    ``width`` token width C; ``n_pivots`` M; ``n_images`` N, the group size (N - 1 bank images at
    inference; 1 = no auxiliary images); ``n_transformers`` T; ``heads`` attention heads;
    ``ff_mult`` feed-forward width as a multiple of C; ``dropout``; ``margin`` γ of the metric loss;
    ``pivot_placement`` ``"lloyd-max"`` or ``"uniform"``; ``losses`` weights of ``order``,
    ``metric``, ``center`` and ``mae`` (a missing name weighs 0; weight 0 switches a loss off).
    """

    onnx_exportable = False  # its inference groups (images with pivots and auxiliary images) follow the batch

    def __init__(
        self,
        in_features: int,
        width: int = 256,
        n_pivots: int = 101,
        n_images: int = 18,
        n_transformers: int = 3,
        heads: int = 8,
        ff_mult: int = 2,
        dropout: float = 0.1,
        margin: float = 0.25,
        pivot_placement: str = "lloyd-max",
        losses: dict[str, float] | None = None,
    ) -> None:
        weights = _loss_weights(losses)
        if pivot_placement not in PLACEMENTS:
            raise ValueError(f"unknown pivot_placement {pivot_placement!r}; choose from {', '.join(PLACEMENTS)}")
        if width % heads:
            raise ValueError(f"width {width} is not divisible by heads {heads}")
        check_parameter("qcern", "n_pivots", n_pivots, n_pivots >= 2, "at least 2")
        check_parameter("qcern", "n_images", n_images, n_images >= 1, "at least 1")
        check_parameter("qcern", "n_transformers", n_transformers, n_transformers >= 1, "at least 1")
        super().__init__(in_features)
        self.loss_weights = weights
        self.register_buffer("feature_mean", torch.zeros(in_features))
        self.register_buffer("feature_std", torch.ones(in_features))
        self.register_buffer("pivot_scores", torch.zeros(n_pivots))
        self.register_buffer("bank_features", torch.zeros(n_images - 1, in_features))
        self.register_buffer("bank_scores", torch.zeros(n_images - 1))
        self.project = nn.Sequential(nn.Linear(in_features, width), nn.LayerNorm(width))
        # pivots start evenly on the segment between two random points; prepare re-spaces them by score
        ends = torch.randn(2, width)
        self.pivots = nn.Parameter(torch.lerp(ends[0], ends[1], torch.linspace(0, 1, n_pivots).unsqueeze(1)))
        self.transformers = nn.ModuleList(
            ComparisonTransformer(width, heads, ff_mult, dropout) for _ in range(n_transformers)
        )

    # -------------------------------------------------------------- data-dependent setup
    @torch.no_grad()
    def prepare(self, features: Tensor, scores: Tensor) -> None:
        """Feature standardisation, pivot scores (and pivot spacing), and the auxiliary-image bank."""
        fit_feature_scale(self, features)
        features = features.detach().to(self.feature_mean)

        placement = self.config["pivot_placement"]
        n_pivots = self.config["n_pivots"]
        levels = lloyd_max_levels(scores, n_pivots) if placement == "lloyd-max" else uniform_levels(scores, n_pivots)
        self.pivot_scores.copy_(levels)
        t = ((levels - levels[0]) / (levels[-1] - levels[0])).to(self.pivots).unsqueeze(1)
        self.pivots.copy_(torch.lerp(self.pivots[0].clone(), self.pivots[-1].clone(), t))

        index = bank_indices(scores, self.config["n_images"] - 1)
        self.bank_features.copy_(features[index.to(features.device)])
        self.bank_scores.copy_(scores.detach()[index.to(scores.device)])

    # -------------------------------------------------------------- forward pieces
    def _check_prepared(self) -> None:
        if not self.pivot_scores[-1] > self.pivot_scores[0]:
            raise RuntimeError(
                "the qcern head has no pivot scores: call prepare(features, scores) or load a state dict"
            )

    def _embed(self, features: Tensor) -> Tensor:
        return self.project((features - self.feature_mean) / self.feature_std)

    def _compare(self, tokens: Tensor, valid: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Run groups ``tokens [G, N, C]`` with the pivots through the CTs -> updated (tokens, pivots)."""
        h, p = tokens, self.pivots.expand(len(tokens), *self.pivots.shape)
        for transformer in self.transformers:
            h, p = transformer(h, p, valid)
        return h, p

    # -------------------------------------------------------------- ScoreHead interface
    def loss(self, features: Tensor, scores: Tensor) -> tuple[Tensor, dict[str, float]]:
        """Weighted sum of the switched-on losses over the batch split into groups of ``n_images``."""
        self._check_prepared()
        index, valid = group_layout(len(features), self.config["n_images"])
        index, valid = index.to(features.device), valid.to(features.device)
        h, p = self._compare(self._embed(features)[index], valid)
        s = scores.to(h)[index]
        theta = self.pivot_scores
        span = theta[-1] - theta[0]

        def mae() -> Tensor:
            return mae_loss(project_scores(h, p, theta)[valid] / span, s[valid] / span, beta=MAE_BETA)

        terms = {
            "order": lambda: order_loss(p),
            "metric": lambda: gol_metric_loss(h, s, p, theta, self.config["margin"], valid),
            "center": lambda: center_loss(h, s, p, theta, valid),
            "mae": mae,
        }
        weights = self.loss_weights
        parts = {name: term() for name, term in terms.items() if weights[name] > 0}
        total = sum(weights[name] * value for name, value in parts.items())
        return total, {name: float(value.detach()) for name, value in parts.items()}

    def _inference_groups(self, features: Tensor) -> Iterator[tuple[Tensor, Tensor]]:
        """Per chunk of images, each in its own group with the bank: the image's last-CT token
        ``[b, C]`` and its group's pivots ``[b, M, C]``."""
        bank = self._embed(self.bank_features)
        for chunk in self._embed(features).split(PREDICT_CHUNK):
            tokens = torch.cat([chunk.unsqueeze(1), bank.expand(len(chunk), *bank.shape)], dim=1)
            h, p = self._compare(tokens)
            yield h[:, 0], p

    @torch.no_grad()
    def predict(self, features: Tensor) -> Tensor:
        """Scores ``[B]``, computed in eval mode; an image's score does not depend on the rest of the batch."""
        self._check_prepared()
        with evaluating(self):
            scores = [
                project_scores(h.unsqueeze(1), p, self.pivot_scores)[:, 0] for h, p in self._inference_groups(features)
            ]
        return torch.cat(scores)

    @torch.no_grad()
    def embed(self, features: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """For plots of the embedding space: each image's last-CT token ``[B, C]``, the pivots averaged
        over the images' groups ``[M, C]`` and the pivot scores ``[M]``."""
        self._check_prepared()
        tokens, pivot_sum = [], torch.zeros_like(self.pivots)
        with evaluating(self):
            for h, p in self._inference_groups(features):
                tokens.append(h)
                pivot_sum += p.sum(0)
        return torch.cat(tokens), pivot_sum / max(len(features), 1), self.pivot_scores.clone()


def _loss_weights(losses: dict[str, float] | None) -> dict[str, float]:
    """All four loss weights (default 1 each; names left out of a given dict weigh 0), validated."""
    if losses is None:
        return dict.fromkeys(LOSS_NAMES, 1.0)
    unknown = set(losses) - set(LOSS_NAMES)
    if unknown:
        raise ValueError(f"unknown qcern losses {sorted(unknown)}; choose from {', '.join(LOSS_NAMES)}")
    weights = {name: float(losses.get(name, 0.0)) for name in LOSS_NAMES}
    if not any(w > 0 for w in weights.values()):
        raise ValueError("at least one qcern loss needs a positive weight")
    return weights
