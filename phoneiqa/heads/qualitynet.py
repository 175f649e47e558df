"""QualityNet-style score head: spatial and channel attention on each frozen feature map, fused by an MLP.

What it is for: a score head that looks at *where* in the picture the encoder responds, not only at
global statistics.  It reads encoder features that keep a coarse spatial grid (an EfficientNet-Lite
stage average-pooled to ``grid × grid`` cells) and can combine several such maps, e.g. from two
backbones, plus plain feature vectors such as the photometric statistics.

The idea (QualityNet, seed 004), in short: run two different pretrained backbones side by side;
on each backbone's feature map let a spatial gate (computed from the across-channel mean and maximum
at every position) and a channel gate (computed from each channel's spatial mean and maximum through
a small bottleneck MLP) re-weight the map; pool each re-weighted map to a vector, concatenate the
streams and regress the score with a batch-normalised MLP, trained on a sum of an absolute-error
term and a correlation term (``1·MAE + 10·(1 − PLCC)``).

Here the backbones stay frozen and only the head is trained, on cached features.  Each ``[C, H, W]``
segment of the feature layout is one stream; ``[D]`` segments are standardised and concatenated to
the pooled stream vectors unchanged.

Training configuration (two streams: EfficientNet-Lite0 and -Lite2, last block stage, 7×7 cells)::

    {
      "encoder": "effnet-lite0+effnet-lite2",
      "encoder_args": {"effnet-lite0": {"stages": [6], "grid": 7},
                       "effnet-lite2": {"stages": [6], "grid": 7}},
      "score_head": {"name": "qualitynet", "args": {"reduction": 16, "dropout": 0.3}}
    }

The training loop passes ``layout`` (``[[320, 7, 7], [352, 7, 7]]`` here) because the class sets
``needs_layout``; built by hand, the head is ``create_head("qualitynet", in_features=D, layout=...)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from phoneiqa.heads import HEADS
from phoneiqa.heads.base import StandardisedScoreHead, layout_segments, usable_std
from phoneiqa.losses import mae_plcc_loss


class SpatialAttention(nn.Module):
    """Gate every position of a ``[B, C, H, W]`` map by ``sigmoid(conv3x3([mean_c x, max_c x]))``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size=3, padding=1)

    def gate(self, x: Tensor) -> Tensor:
        """The ``[B, 1, H, W]`` gate in (0, 1)."""
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv(pooled))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gate(x)


class ChannelAttention(nn.Module):
    """Gate every channel of a ``[B, C, H, W]`` map by ``sigmoid(fc(mean_hw x) + fc(max_hw x))``.

    ``fc`` is one bottleneck ``Linear(C, C // reduction)``, ReLU, ``Linear(C // reduction, C)``
    shared by the two pooled vectors (at least one hidden unit).
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        mid = max(1, channels // reduction)
        self.fc = nn.Sequential(nn.Linear(channels, mid), nn.ReLU(), nn.Linear(mid, channels))

    def gate(self, x: Tensor) -> Tensor:
        """The ``[B, C, 1, 1]`` gate in (0, 1)."""
        logits = self.fc(x.mean(dim=(2, 3))) + self.fc(x.amax(dim=(2, 3)))
        return torch.sigmoid(logits)[:, :, None, None]

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gate(x)


class AttentionStream(nn.Module):
    """One map's path: spatial attention, then channel attention, then global average pooling -> ``[B, C]``.

    The order is QualityNet's (spatial gate first, channel gate on its output).
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.spatial = SpatialAttention()
        self.channel = ChannelAttention(channels, reduction)

    def forward(self, x: Tensor) -> Tensor:
        return self.channel(self.spatial(x)).mean(dim=(2, 3))


@HEADS.register("qualitynet")
class QualityNetHead(StandardisedScoreHead):
    """Dual-stream (or n-stream) attention head on frozen feature maps (QualityNet, seed 004).

    ``layout``: the shapes the ``in_features`` columns concatenate, in order (``[C, H, W]`` maps,
    flattened channel-major, and ``[D]`` vectors); the training loop fills it in.  Every map is
    standardised per channel, passed through spatial attention, then channel attention (the
    paper's order), and average-pooled to a ``C``-vector (:class:`AttentionStream`); vectors are
    standardised per feature.  The concatenation goes through ``Linear``, ``BatchNorm1d``, ReLU,
    ``Dropout(dropout)`` for each width in ``hidden``, then ``Linear(·, 1)``, which predicts the
    standardised score; :meth:`predict` returns the original scale.

    Loss: ``mae_weight · MAE + plcc_weight · (1 − PLCC)`` on the standardised score, where MAE is
    :func:`~phoneiqa.losses.mae_loss` (the smooth-L1 error every score head here uses) and PLCC
    is taken over the mini-batch (:func:`plcc_loss`: 0 for one sample or constant values).

    Batch normalisation cannot compute statistics from one sample: a training-mode call on a
    batch of one (``fit_head`` itself skips such batches) normalises with the running statistics
    and leaves them unchanged, as in evaluation, while dropout stays active.

    Config: ``layout``, ``reduction`` (channel-attention bottleneck), ``hidden``, ``dropout``,
    ``mae_weight``, ``plcc_weight``.  Exports to ONNX (``torch.onnx.export(head.eval(), x, ...)``;
    ``forward`` gives the scores on the original scale).
    """

    needs_layout = True

    def __init__(
        self,
        in_features: int,
        layout: Sequence[Sequence[int]],
        reduction: int = 16,
        hidden: Sequence[int] = (1024, 512, 256),
        dropout: float = 0.3,
        mae_weight: float = 1.0,
        plcc_weight: float = 10.0,
    ) -> None:
        segments = layout_segments(in_features, layout, "qualitynet")
        if not any(seg.is_map for seg in segments):
            raise ValueError(
                f"qualitynet: layout {[list(seg.shape) for seg in segments]} has no [C, H, W] map to attend over; "
                "use an encoder that keeps a spatial grid (e.g. effnet-lite0 with grid=7)"
            )
        hidden = [int(h) for h in hidden]
        if int(reduction) != reduction or reduction < 1:
            raise ValueError(f"qualitynet: reduction must be a positive integer, got {reduction!r}")
        if any(h < 1 for h in hidden):
            raise ValueError(f"qualitynet: hidden widths must be positive, got {hidden}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"qualitynet: dropout must be in [0, 1), got {dropout}")
        if mae_weight < 0 or plcc_weight < 0 or mae_weight + plcc_weight == 0:
            raise ValueError(f"qualitynet: loss weights must be >= 0 and not both 0, got {mae_weight}, {plcc_weight}")
        super().__init__(in_features)
        self.segments = segments
        self.register_buffer("feature_mean", torch.zeros(in_features))
        self.register_buffer("feature_std", torch.ones(in_features))
        self.streams = nn.ModuleList(AttentionStream(seg.shape[0], int(reduction)) for seg in segments if seg.is_map)
        width = sum(seg.shape[0] for seg in segments)  # C of a map, D of a vector
        layers: list[nn.Module] = []
        for h in hidden:
            layers += [nn.Linear(width, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, 1))
        self.regressor = nn.Sequential(*layers)

    @torch.no_grad()
    def prepare(self, features: Tensor, scores: Tensor) -> None:
        """Fit the per-channel (maps) and per-feature (vectors) standardisation and the score standardisation."""
        features = features.detach().to(self.feature_mean)
        for seg in self.segments:
            block = features[:, seg.start : seg.stop]
            if seg.is_map:
                c, h, w = seg.shape
                values = block.reshape(len(block), c, h * w).transpose(0, 1).reshape(c, -1)  # [C, N·H·W]
                std, mean = torch.std_mean(values, dim=1)
                mean, std = mean.repeat_interleave(h * w), std.repeat_interleave(h * w)
            else:
                std, mean = torch.std_mean(block, dim=0)
            self.feature_mean[seg.start : seg.stop] = mean
            self.feature_std[seg.start : seg.stop] = usable_std(std)
        self.fit_score_scale(scores)

    def embed(self, features: Tensor) -> Tensor:
        """The fused ``[B, ΣC + ΣD]`` vector the regressor reads: pooled attended maps and vectors, in layout order."""
        x = (features - self.feature_mean) / self.feature_std
        parts, streams = [], iter(self.streams)
        for seg in self.segments:
            block = x[:, seg.start : seg.stop]
            parts.append(next(streams)(block.reshape(-1, *seg.shape)) if seg.is_map else block)
        return torch.cat(parts, dim=1)

    def standardised_score(self, features: Tensor) -> Tensor:
        """Predictions ``[B]`` of the standardised score (train or eval behaviour as the module's mode)."""
        z = self.embed(features)
        if self.training and z.shape[0] == 1:
            norms = [m for m in self.regressor if isinstance(m, nn.BatchNorm1d)]
            for m in norms:
                m.eval()
            try:
                return self.regressor(z).squeeze(-1)
            finally:
                for m in norms:
                    m.train()
        return self.regressor(z).squeeze(-1)

    def loss(self, features: Tensor, scores: Tensor) -> tuple[Tensor, dict[str, float]]:
        weights = self.config["mae_weight"], self.config["plcc_weight"]
        return mae_plcc_loss(self.standardised_score(features), self.standardise(scores), *weights)
