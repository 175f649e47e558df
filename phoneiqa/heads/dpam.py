"""DPAM-style score head: image regions (superpixels) refined by global distortion evidence.

What it is for: a score head that looks at *where* things are.  A photo's quality depends on
what its regions show (a blurred sky matters less than a blurred face) and on global distortion
statistics (exposure, contrast, noise).  The head follows the idea of DPAM (dual
perception-aware BIQA with semantic-distortion integration and global-local refinement) on the
frozen, cached features of this package instead of a trained backbone:

* **Semantic tokens** (local): the cells of a semantic feature map (e.g. EfficientNet-Lite0's
  stage-4 map pooled to 14 × 14 cells) are averaged inside each superpixel slot, weighted by the
  fraction of each cell that the slot covers (the ``slic`` encoder's assignment map).  Each slot
  becomes one token: its mean semantic features, its share of the image and its centroid.  Empty
  slots (SLIC found fewer superpixels) have zero area and are masked everywhere.
* **Distortion tokens** (global): the vector features (e.g. the 56 photometric statistics) plus
  the semantic map's mean and standard deviation over its cells, standardised and projected to
  ``n_distortion_tokens`` tokens.
* **Global-local refinement**: ``layers`` pre-norm transformer decoder layers in which the
  region tokens exchange information among themselves (self-attention, empty slots masked) and
  query the distortion tokens (cross-attention), each followed by a small feed-forward block.
* **Score**: the refined region tokens averaged with weights proportional to their areas,
  concatenated with the mean distortion token, through a two-layer MLP to a standardised score.

Loss: ``mae_weight · smooth-L1 + plcc_weight · (1 − batch PLCC)`` on standardised scores
(:func:`plcc_loss`, which is 0 for batches without a correlation to measure).

Config to use: encoder ``effnet-lite0+slic+photometric`` with
``{"effnet-lite0": {"stages": [4], "grid": 14}, "slic": {"n_segments": 16, "grid": 14}}`` (the
map and the superpixel grid must have the same number of cells), head ``"dpam"``.  Training passes
``layout`` (the shapes of the feature segments, :meth:`~phoneiqa.encoders.base.Encoder.layout`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from phoneiqa.heads import HEADS
from phoneiqa.heads.base import StandardisedScoreHead, layout_segments, usable_std
from phoneiqa.losses import mae_plcc_loss

EMPTY_AREA = 1e-6
"""A slot whose cell fractions sum to at most this (in cells) is empty."""
PREDICT_CHUNK = 512
"""Rows scored at once, to bound the memory of the attention over many images."""
PREPARE_CHUNK = 1024  # rows per step when fitting the standardisation
GEOMETRY = 3  # area share and centroid (y, x) appended to each region token


def superpixel_tokens(assignment: Tensor, semantic: Tensor) -> tuple[Tensor, Tensor]:
    """Assignment-weighted means of the semantic cells in each slot.

    ``assignment [B, K, N]``: the fraction of each of the N cells covered by each slot;
    ``semantic [B, C, N]``: the map's cells.  Returns ``tokens [B, K, C]``, slot ``k``'s
    ``Σ_n a_kn s_n / Σ_n a_kn`` (zeros for an empty slot), and ``area [B, K]`` = ``Σ_n a_kn`` in cells.
    """
    area = assignment.sum(-1)
    weighted = assignment @ semantic.transpose(1, 2)
    empty = area <= EMPTY_AREA
    tokens = weighted / torch.where(empty, torch.ones_like(area), area).unsqueeze(-1)
    return tokens.masked_fill(empty.unsqueeze(-1), 0.0), area


class Segments:
    """Where the semantic map, the superpixel assignment map and the vector features lie in a
    feature row, from a layout (``[C, H, W]`` maps and ``[D]`` vectors, in column order)."""

    def __init__(self, in_features: int, layout: Sequence[Sequence[int]], superpixels: int) -> None:
        segments = layout_segments(in_features, layout, "dpam")
        maps = [seg for seg in segments if seg.is_map]
        if len(maps) != 2:
            raise ValueError(
                f"the dpam head needs exactly two maps in its layout, a semantic map and the superpixel "
                f"assignment map, got {len(maps)}: {[list(seg.shape) for seg in maps]}"
            )
        if not -len(maps) <= superpixels < len(maps):
            raise ValueError(f"superpixels must index one of the {len(maps)} maps, got {superpixels}")
        assignment = maps[superpixels]
        semantic = next(seg for seg in maps if seg is not assignment)
        self.slots, height, width = assignment.shape
        self.channels, map_height, map_width = semantic.shape
        if (map_height, map_width) != (height, width):
            raise ValueError(
                f"the semantic map has {map_height}×{map_width} cells but the superpixel map {height}×{width}; "
                "give both encoders the same grid"
            )
        self.height, self.width = height, width
        self.assignment = (assignment.start, assignment.stop)
        self.semantic = (semantic.start, semantic.stop)
        self.vectors = [(seg.start, seg.stop) for seg in segments if not seg.is_map]
        self.vector_dim = sum(stop - start for start, stop in self.vectors)

    def split(self, features: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``assignment [B, K, N]``, ``semantic [B, C, N]`` (N = H·W cells) and ``vectors [B, Dv]``."""
        batch = features.shape[0]
        assignment = features[:, slice(*self.assignment)].reshape(batch, self.slots, -1)
        semantic = features[:, slice(*self.semantic)].reshape(batch, self.channels, -1)
        vectors = [features[:, start:stop] for start, stop in self.vectors]
        vectors = torch.cat(vectors, dim=1) if vectors else features.new_zeros(batch, 0)
        return assignment, semantic, vectors


@HEADS.register("dpam")
class DPAMHead(StandardisedScoreHead):
    """Superpixel region tokens refined by cross-attention to global distortion tokens (see the module docstring).

    Config: ``layout`` (the shapes of the input segments, given by training), ``superpixels``
    (which of the two maps is the superpixel assignment, default the last), ``dim`` (token width),
    ``heads`` (attention heads), ``layers`` (refinement layers), ``n_distortion_tokens``,
    ``dropout``, ``mae_weight`` and ``plcc_weight`` (the loss weights).  ``prepare`` fits the
    standardisation of the semantic channels, of the distortion inputs and of the scores (buffers);
    :meth:`predict` returns scores on the original scale, in eval mode.
    """

    needs_layout = True

    def __init__(
        self,
        in_features: int,
        layout: Sequence[Sequence[int]],
        superpixels: int = -1,
        dim: int = 128,
        heads: int = 4,
        layers: int = 1,
        n_distortion_tokens: int = 4,
        dropout: float = 0.1,
        mae_weight: float = 1.0,
        plcc_weight: float = 1.0,
    ) -> None:
        layout = [[int(v) for v in shape] for shape in layout]
        super().__init__(in_features)
        if dim < 1 or heads < 1 or dim % heads:
            raise ValueError(f"dim must be a positive multiple of heads, got dim={dim}, heads={heads}")
        if layers < 0 or n_distortion_tokens < 1:
            raise ValueError(f"need layers >= 0 and n_distortion_tokens >= 1, got {layers}, {n_distortion_tokens}")
        self.segments = seg = Segments(in_features, layout, superpixels)
        self.distortion_dim = seg.vector_dim + 2 * seg.channels
        self.n_distortion_tokens = n_distortion_tokens
        self.dim = dim
        self.register_buffer("semantic_mean", torch.zeros(seg.channels))
        self.register_buffer("semantic_std", torch.ones(seg.channels))
        self.register_buffer("distortion_mean", torch.zeros(self.distortion_dim))
        self.register_buffer("distortion_std", torch.ones(self.distortion_dim))
        # cell centres in [-1, 1], for the slots' centroids
        ys = (torch.arange(seg.height) + 0.5) / seg.height * 2 - 1
        xs = (torch.arange(seg.width) + 0.5) / seg.width * 2 - 1
        centres = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), dim=-1).reshape(-1, 2)
        self.register_buffer("cell_centres", centres, persistent=False)

        self.region_in = nn.Sequential(nn.Dropout(dropout), nn.Linear(seg.channels + GEOMETRY, dim))
        self.distortion_in = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(self.distortion_dim, n_distortion_tokens * dim)
        )
        self.distortion_norm = nn.LayerNorm(dim)
        self.refine = nn.ModuleList(
            nn.TransformerDecoderLayer(
                dim,
                heads,
                dim_feedforward=2 * dim,
                dropout=dropout,
                activation="gelu",
                batch_first=True,
                norm_first=True,
            )
            for _ in range(layers)
        )
        self.region_norm = nn.LayerNorm(dim)
        self.regressor = nn.Sequential(
            nn.Linear(2 * dim, dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(dim, 1),
        )

    # ------------------------------------------------------------------ inputs
    def distortion_inputs(self, semantic: Tensor, vectors: Tensor) -> Tensor:
        """Unstandardised distortion inputs ``[B, Dv + 2C]``: the vectors, the semantic map's mean and
        standard deviation over its cells."""
        std, mean = torch.std_mean(semantic, dim=-1, correction=0)
        return torch.cat([vectors, mean, std], dim=1)

    @torch.no_grad()
    def prepare(self, features: Tensor, scores: Tensor) -> None:
        """Fit the standardisation of the semantic channels, the distortion inputs and the scores."""
        features = features.detach().to(self.semantic_mean)
        channel_sums = torch.zeros(2, self.segments.channels, dtype=torch.float64)
        distortion_sums = torch.zeros(2, self.distortion_dim, dtype=torch.float64)
        cells = 0
        for chunk in features.split(PREPARE_CHUNK):
            _, semantic, vectors = self.segments.split(chunk)
            s = semantic.double()
            channel_sums += torch.stack([s.sum((0, 2)), (s * s).sum((0, 2))])
            cells += s.shape[0] * s.shape[2]
            d = self.distortion_inputs(semantic, vectors).double()
            distortion_sums += torch.stack([d.sum(0), (d * d).sum(0)])
        self.semantic_mean.copy_(channel_sums[0] / cells)
        self.semantic_std.copy_(_std_from_sums(channel_sums, cells))
        self.distortion_mean.copy_(distortion_sums[0] / len(features))
        self.distortion_std.copy_(_std_from_sums(distortion_sums, len(features)))
        self.fit_score_scale(scores)

    def tokens(self, features: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Region inputs ``[B, K, C + 3]`` (mean standardised semantic features, area share, centroid y
        and x), slot areas ``[B, K]`` (in cells) and standardised distortion inputs ``[B, Dv + 2C]``."""
        assignment, semantic, vectors = self.segments.split(features)
        standard = (semantic - self.semantic_mean[:, None]) / self.semantic_std[:, None]
        pooled, area = superpixel_tokens(assignment, standard)
        centroid, _ = superpixel_tokens(assignment, self.cell_centres.T.expand(len(features), -1, -1))
        share = area / assignment.shape[-1]
        regions = torch.cat([pooled, share.unsqueeze(-1), centroid], dim=-1)
        distortion = (self.distortion_inputs(semantic, vectors) - self.distortion_mean) / self.distortion_std
        return regions, area, distortion

    def score_tokens(self, regions: Tensor, area: Tensor, distortion: Tensor) -> Tensor:
        """Standardised scores ``[B]`` from the outputs of :meth:`tokens` (empty slots, area <= EMPTY_AREA,
        take no part: whatever their region inputs hold, the score is the same)."""
        valid = area > EMPTY_AREA
        # a row without any region (not produced by the slic encoder) keeps its first slot
        valid[:, 0] |= ~valid.any(1)
        weight = torch.where(valid, area, torch.zeros_like(area))
        weight = weight / weight.sum(1, keepdim=True).clamp_min(EMPTY_AREA)
        x = self.region_in(regions.masked_fill(~valid.unsqueeze(-1), 0.0))
        memory = self.distortion_in(distortion).reshape(len(distortion), self.n_distortion_tokens, self.dim)
        memory = self.distortion_norm(memory)
        for layer in self.refine:
            x = layer(x, memory, tgt_key_padding_mask=~valid)
        pooled = (self.region_norm(x) * weight.unsqueeze(-1)).sum(1)
        return self.regressor(torch.cat([pooled, memory.mean(1)], dim=1)).squeeze(-1)

    def standardised_score(self, features: Tensor) -> Tensor:
        """Standardised scores ``[B]``, computed :data:`PREDICT_CHUNK` rows at a time to bound memory."""
        out = [self.score_tokens(*self.tokens(chunk)) for chunk in features.to(self.score_mean).split(PREDICT_CHUNK)]
        return torch.cat(out) if out else features.new_zeros(0)

    def loss(self, features: Tensor, scores: Tensor) -> tuple[Tensor, dict[str, float]]:
        weights = self.config["mae_weight"], self.config["plcc_weight"]
        return mae_plcc_loss(self.standardised_score(features), self.standardise(scores), *weights)


def _std_from_sums(sums: Tensor, count: int) -> Tensor:
    """Population standard deviation from ``[sum, sum of squares]`` rows, 1 where it is (near) zero."""
    mean = sums[0] / max(count, 1)
    return usable_std((sums[1] / max(count, 1) - mean * mean).clamp_min(0).sqrt())
