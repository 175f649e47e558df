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

import functools
import inspect
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from phoneiqa.errors import ConfigError


def check_parameter(head: str, name: str, value: Any, valid: bool, expected: str) -> None:
    """Raise :class:`~phoneiqa.errors.ConfigError` naming the head, the parameter and its value unless ``valid``."""
    if not valid:
        raise ConfigError(f"{head}: {name} must be {expected}, got {value!r}")


class Head(nn.Module):
    """What every head has: its input width and ``config``, the constructor arguments it was built with.

    A head declares its parameters once, in its ``__init__`` signature: ``config`` is recorded from
    the arguments of that call (defaults included, those of the base classes too), the way
    scikit-learn's ``get_params`` reads an estimator's signature, so a subclass never repeats them to
    ``super().__init__``.  Arguments named in ``unsaved`` (live objects such as an encoder) are left
    out.  ``name`` is set by the registry (``@HEADS.register``).
    """

    name: str = ""
    onnx_exportable: bool = True  # predict/potentials compile to ONNX for any batch (see phoneiqa.runtime)
    unsaved: tuple[str, ...] = ()

    def __init__(self, in_features: int) -> None:
        super().__init__()
        self.in_features = in_features
        self.config: dict[str, Any] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _recording_arguments(cls.__dict__["__init__"])


def _recording_arguments(init: Callable[..., None]) -> Callable[..., None]:
    """``init`` that, once it has run, adds its arguments (defaults applied) to ``self.config``."""
    signature = inspect.signature(init)

    @functools.wraps(init)
    def __init__(self: Head, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        for key, value in bound.arguments.items():
            kind = signature.parameters[key].kind
            if kind is inspect.Parameter.VAR_KEYWORD or key in ("self", "in_features") or key in self.unsaved:
                continue  # keywords passed on to a base class were recorded by it
            self.config[key] = _as_json(value)

    return __init__


def _as_json(value: Any) -> Any:
    """``value`` with tuples as lists, recursively: the form the config has after a JSON round trip."""
    if isinstance(value, (list, tuple)):
        return [_as_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_json(v) for k, v in value.items()}
    return value


class ScoreHead(Head):
    """Maps ``[B, D]`` features to quality scores ``[B]`` on the scale of the training targets."""

    def prepare(self, features: Tensor, scores: Tensor) -> None:
        """Fit data-dependent parts (pivots, banks, normalisation) before training."""

    def loss(self, features: Tensor, scores: Tensor) -> tuple[Tensor, dict[str, float]]:  # pragma: no cover
        raise NotImplementedError

    def predict(self, features: Tensor) -> Tensor:  # pragma: no cover
        raise NotImplementedError


class StandardisedScoreHead(ScoreHead):
    """A score head whose network predicts the standardised score.

    ``score_mean`` and ``score_std`` (buffers) are fitted by :meth:`fit_score_scale` in ``prepare``;
    subclasses implement :meth:`standardised_score`, compare it with :meth:`standardise` (targets) in
    their loss, and inherit ``forward`` (scores on the original scale, for ONNX export) and
    :meth:`predict`.
    """

    def __init__(self, in_features: int) -> None:
        super().__init__(in_features)
        self.register_buffer("score_mean", torch.zeros(()))
        self.register_buffer("score_std", torch.ones(()))

    @torch.no_grad()
    def fit_score_scale(self, scores: Tensor) -> None:
        """Fit the score standardisation on the training targets."""
        scores = scores.detach().to(self.score_mean)
        self.score_mean.copy_(scores.mean())
        self.score_std.copy_(usable_std(scores.std()))

    def standardise(self, scores: Tensor) -> Tensor:
        """Training targets on the scale :meth:`standardised_score` predicts."""
        return (scores.to(self.score_mean) - self.score_mean) / self.score_std

    def standardised_score(self, features: Tensor) -> Tensor:  # pragma: no cover
        raise NotImplementedError

    def forward(self, features: Tensor) -> Tensor:
        """Scores ``[B]`` on the scale of the training targets (in the module's current mode)."""
        return self.standardised_score(features) * self.score_std + self.score_mean

    @torch.no_grad()
    def predict(self, features: Tensor) -> Tensor:
        """Scores ``[B]`` on the scale of the training targets, in eval mode (no dropout)."""
        with evaluating(self):
            return self(features)


class IssueHead(Head):
    """Maps ``[B, D]`` features to HEX node potentials ``[B, n]`` and from them to issue levels."""

    def prepare(self, features: Tensor, levels: Tensor, raters: Tensor | None = None) -> None:
        """Fit data-dependent parts (e.g. class-balanced weights) before training.

        ``raters``: for each row the index of who labelled it (0 … R-1), or -1 where no rater is named (see
        :meth:`loss`)."""

    def loss(
        self, features: Tensor, levels: Tensor, raters: Tensor | None = None
    ) -> tuple[Tensor, dict[str, float]]:  # pragma: no cover - abstract
        """Training loss on a batch.  A head that models raters (``raters`` as in :meth:`prepare`) learns an
        offset per rater as a nuisance and predicts for a rater with no offset: the scale of the unnamed rows."""
        raise NotImplementedError


@contextmanager
def evaluating(module: nn.Module) -> Iterator[None]:
    """Run a block in eval mode (no dropout, running BatchNorm statistics), then restore the module's mode."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


def usable_std(std: Tensor) -> Tensor:
    """``std`` with 1 wherever it is (near) zero or undefined (NaN, from one sample): never divide by ~0."""
    return torch.where(std > 1e-6, std, torch.ones_like(std))


@torch.no_grad()
def fit_feature_scale(head: nn.Module, features: Tensor) -> None:
    """Set a head's ``feature_mean`` and ``feature_std`` buffers from its training features (the one
    standardisation of the trained heads; the closed-form ridge heads standardise in float64 as
    scikit-learn does, see :mod:`phoneiqa.heads.ridge`)."""
    features = features.detach().to(head.feature_mean)
    head.feature_mean.copy_(features.mean(0))
    head.feature_std.copy_(usable_std(features.std(0)))


@dataclass(frozen=True)
class Segment:
    """One block of a feature row: columns ``start:stop`` holding a ``(D,)`` vector or a ``(C, H, W)`` map."""

    start: int
    stop: int
    shape: tuple[int, ...]

    @property
    def is_map(self) -> bool:
        return len(self.shape) == 3


def layout_segments(in_features: int, layout: Sequence[Sequence[int]], head: str) -> list[Segment]:
    """The segments of a feature layout (see :meth:`phoneiqa.encoders.base.Encoder.layout`), checked to be
    ``[C, H, W]`` maps and ``[D]`` vectors of positive sizes that cover exactly ``in_features`` columns;
    ``ValueError`` naming ``head`` otherwise."""
    if isinstance(layout, (str, bytes)) or not isinstance(layout, Sequence) or not layout:
        raise ValueError(f"{head}: layout must be a non-empty list of [C, H, W] or [D] shapes, got {layout!r}")
    segments, start = [], 0
    for shape in layout:
        if (
            isinstance(shape, (str, bytes))
            or not isinstance(shape, Sequence)
            or len(shape) not in (1, 3)
            or any(int(n) != n or n < 1 for n in shape)
        ):
            raise ValueError(f"{head}: each layout entry must be [C, H, W] or [D] of positive integers, got {shape!r}")
        size = math.prod(int(n) for n in shape)
        segments.append(Segment(start, start + size, tuple(int(n) for n in shape)))
        start += size
    if start != in_features:
        shapes = [list(s.shape) for s in segments]
        raise ValueError(f"{head}: layout {shapes} holds {start} values but in_features is {in_features}")
    return segments
