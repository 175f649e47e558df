"""HEX-graph CRF issue heads: node potentials from image features, exact levels through :mod:`hexgraph`.

``hex-linear`` (seed v1): standardised features -> (optional hidden layer) -> one potential per node.
``hex-coop`` (seed v2): CLIP image embedding against CoOp prompt text features, one prompt per node
("too bright, severe"): potential = exp(log_alpha) * cos(image, text) + bias.  After training the
text features are cached in the head, so inference needs only the image tower.

Both are trained with a focal loss on the exact node marginals (or the exact CRF negative
log-likelihood), and predict the per-label level probabilities and each label's median level under them — a
legal combination, never bright and dark at once, and consistent with the probabilities: a label
is flagged exactly when P(issue) > 1/2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from hexgraph import HexGraph, median_levels
from hexgraph.inference import level_probabilities, log_likelihood, marginals
from phoneiqa import losses
from phoneiqa.heads import HEADS
from phoneiqa.heads.base import IssueHead, check_parameter, fit_feature_scale
from phoneiqa.labels import load_graph

LABEL_PHRASES = {
    "bright": "too bright",
    "dark": "too dark",
    "low_contrast": "low contrast",
    "high_contrast": "high contrast",
    "overexposed": "blown-out highlights",
    "over_suppressed": "suppressed dull highlights",
}


@dataclass(frozen=True)
class IssuePrediction:
    """Issue-head output for a batch."""

    probabilities: Tensor  # [B, L, K] exact P(level = k)
    levels: Tensor  # [B, L] each label's median level under those probabilities (hexgraph.median_levels)


class _HexHead(IssueHead):
    """Shared training and inference on top of :meth:`potentials`."""

    def __init__(
        self,
        in_features: int,
        spec: str = "smartphone6",
        loss: str = "focal_bce",
        gamma: float = 2.0,
        alpha: float | None = None,
        class_balanced: bool = False,
    ) -> None:
        if loss not in _LOSSES:
            raise ValueError(f"unknown issue loss {loss!r}; choose from {', '.join(_LOSSES)}")
        super().__init__(in_features)
        self.graph: HexGraph = load_graph(spec)
        self.register_buffer("node_weights", torch.ones(self.graph.n))
        self.rater_offsets: nn.Parameter | None = None  # training only: one potential offset per rater and node

    training_only: tuple[str, ...] = ("rater_offsets",)
    """Attributes used in training only: left out of the state dict, and not expected when loading one."""

    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, Tensor]:
        state = super().state_dict(*args, **kwargs)
        return {k: v for k, v in state.items() if not set(k.split(".")) & set(self.training_only)}

    def load_state_dict(self, state_dict: dict[str, Tensor], strict: bool = True, assign: bool = False):
        kept = {name: getattr(self, name) for name in self.training_only}
        for name in kept:
            setattr(self, name, None)
        try:
            return super().load_state_dict(state_dict, strict=strict, assign=assign)
        finally:
            for name, value in kept.items():
                setattr(self, name, value)

    def potentials(self, features: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def prepare(self, features: Tensor, levels: Tensor, raters: Tensor | None = None) -> None:
        if self.config["class_balanced"]:
            targets = self.graph.encode_levels(levels)
            self.node_weights.copy_(losses.class_balanced_weights(targets))
        count = int(raters.max()) + 1 if raters is not None and len(raters) else 0
        self.rater_offsets = nn.Parameter(torch.zeros(count, self.graph.n)) if count > 0 else None

    def loss(self, features: Tensor, levels: Tensor, raters: Tensor | None = None) -> tuple[Tensor, dict[str, float]]:
        f = self.potentials(features)
        if raters is not None and self.rater_offsets is not None:
            named = (raters >= 0).unsqueeze(1).to(f.dtype)
            f = f + named * self.rater_offsets[raters.clamp(min=0)]
        targets = self.graph.encode_levels(levels, dtype=f.dtype)
        value = _LOSSES[self.config["loss"]](self, f, targets)
        return value, {"issues": float(value.detach())}

    @torch.no_grad()
    def predict(self, features: Tensor) -> IssuePrediction:
        probabilities = level_probabilities(self.graph, self.potentials(features))
        return IssuePrediction(probabilities, median_levels(probabilities))


def _focal(kind: str):
    fn = getattr(losses, kind)

    def run(head: _HexHead, f: Tensor, targets: Tensor) -> Tensor:
        kwargs = {"gamma": head.config["gamma"], "weight": head.node_weights}
        if head.config["alpha"] is not None:
            kwargs["alpha"] = head.config["alpha"]
        return fn(marginals(head.graph, f), targets, **kwargs)

    return run


def _nll(head: _HexHead, f: Tensor, targets: Tensor) -> Tensor:
    return -log_likelihood(head.graph, f, targets).mean()


_LOSSES = {"focal_bce": _focal("focal_bce"), "focal_fidelity": _focal("focal_fidelity"), "nll": _nll}


@HEADS.register("hex-linear")
class HexLinearHead(_HexHead):
    """Linear (or one-hidden-layer) map from standardised features to the HEX node potentials."""

    def __init__(self, in_features: int, hidden: int = 0, dropout: float = 0.1, **config: Any) -> None:
        check_parameter("hex-linear", "hidden", hidden, isinstance(hidden, int) and hidden >= 0, "0 or more")
        check_parameter("hex-linear", "dropout", dropout, 0 <= dropout < 1, "in [0, 1)")
        super().__init__(in_features, **config)
        self.register_buffer("feature_mean", torch.zeros(in_features))
        self.register_buffer("feature_std", torch.ones(in_features))
        layers: list[nn.Module] = [nn.Dropout(dropout)]
        if hidden:
            layers += [nn.Linear(in_features, hidden), nn.GELU(), nn.Dropout(dropout)]
        layers.append(nn.Linear(hidden or in_features, self.graph.n))
        self.net = nn.Sequential(*layers)

    def prepare(self, features: Tensor, levels: Tensor, raters: Tensor | None = None) -> None:
        super().prepare(features, levels, raters)
        fit_feature_scale(self, features)

    def potentials(self, features: Tensor) -> Tensor:
        return self.net((features - self.feature_mean) / self.feature_std)


@HEADS.register("hex-coop")
class HexCoOpHead(_HexHead):
    """CLIP + CoOp: one learned prompt per HEX node, potentials from image-text cosine similarity.

    Training needs the CLIP encoder's text tower: pass ``encoder=`` (not stored in the config).
    """

    needs_encoder = True
    unsaved = ("encoder",)
    training_only = ("rater_offsets", "prompts")

    def __init__(
        self,
        in_features: int,
        n_ctx: int = 4,
        class_specific: bool = False,
        ctx_init: str | None = None,
        encoder: nn.Module | None = None,
        **config: Any,
    ) -> None:
        super().__init__(in_features, **config)
        self.log_alpha = nn.Parameter(torch.tensor(float(torch.log(torch.tensor(20.0)))))
        self.bias = nn.Parameter(torch.zeros(self.graph.n))
        self.register_buffer("text_features", torch.zeros(self.graph.n, in_features))
        self.prompts: nn.Module | None = None
        if encoder is not None:
            from phoneiqa.coop import PromptLearner

            self.prompts = PromptLearner(
                encoder, node_phrases(self.graph), n_ctx=n_ctx, class_specific=class_specific, init=ctx_init
            )

    def text(self) -> Tensor:
        """Current text features: live from the prompts while training, else the cached ones."""
        if self.prompts is not None and self.training:
            return self.prompts()
        return self.text_features

    def cache_text_features(self) -> None:
        """Store the prompts' text features so inference needs no text tower."""
        if self.prompts is not None:
            with torch.no_grad():
                self.text_features.copy_(self.prompts())

    def potentials(self, features: Tensor) -> Tensor:
        image = nn.functional.normalize(features, dim=-1)
        return self.log_alpha.exp() * image @ self.text().T + self.bias

    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, Tensor]:
        self.cache_text_features()
        return super().state_dict(*args, **kwargs)


def node_phrases(graph: HexGraph) -> list[str]:
    """One class phrase per HEX node: ``"<label phrase>, <level name>"`` for node "level >= k"."""
    phrases = [""] * graph.n
    for lab in graph.labels:
        words = LABEL_PHRASES.get(lab.key, lab.key.replace("_", " "))
        for k, node in enumerate(lab.nodes, start=1):
            phrases[node] = f"{words}, {lab.level_names[k]}"
    return phrases
