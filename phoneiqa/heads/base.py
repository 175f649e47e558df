"""The head interfaces: features in, a score (score heads) or issue levels (issue heads) out.

A head is trained by the generic loop in :mod:`phoneiqa.training`:

1. ``head.prepare(train_features, train_targets)`` once, before the optimiser is built
   (e.g. pivot placement, auxiliary-image bank, target normalisation);
2. ``loss, parts = head.loss(features, targets)`` per mini-batch (``parts``: floats for logs);
3. ``head.predict(features)`` for validation and inference — deterministic, one image at a
   time gives the same answer as a batch.

Everything ``predict`` needs must live in the head's ``state_dict`` (buffers included) and its
``config`` (the JSON-able constructor arguments), so a checkpoint rebuilds it exactly with
``create_head(name, in_features=..., **config)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from torch import Tensor, nn


class Head(nn.Module):
    """What every head has: its input width and the JSON-able constructor arguments it was built with."""

    name: str = ""

    def __init__(self, in_features: int, **config: Any) -> None:
        super().__init__()
        self.in_features = in_features
        self.config: dict[str, Any] = dict(config)


class ScoreHead(Head):
    """Maps ``[B, D]`` features to quality scores ``[B]`` on the scale of the training targets."""

    def prepare(self, features: Tensor, scores: Tensor) -> None:
        """Fit data-dependent parts (pivots, banks, normalisation) before training."""

    def loss(self, features: Tensor, scores: Tensor) -> tuple[Tensor, dict[str, float]]:  # pragma: no cover
        raise NotImplementedError

    def predict(self, features: Tensor) -> Tensor:  # pragma: no cover
        raise NotImplementedError


class IssueHead(Head):
    """Maps ``[B, D]`` features to HEX node potentials ``[B, n]`` and from them to issue levels."""

    def prepare(self, features: Tensor, levels: Tensor) -> None:
        """Fit data-dependent parts (e.g. class-balanced weights) before training."""


@contextmanager
def evaluating(module: nn.Module) -> Iterator[None]:
    """Run a block in eval mode (no dropout, running BatchNorm statistics), then restore the module's mode."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)
