"""A trained model: one encoder and its score and issue heads, saved as one checkpoint file."""

from __future__ import annotations

import os
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import Tensor

from phoneiqa.assessment import Assessment, Assessor, make_assessments
from phoneiqa.encoders import create_encoder
from phoneiqa.encoders.base import Encoder, input_short_side
from phoneiqa.errors import DataFormatError
from phoneiqa.heads import create_head
from phoneiqa.heads.base import IssueHead, ScoreHead
from phoneiqa.heads.issues import IssuePrediction
from phoneiqa.labels import level_names as spec_level_names

CHECKPOINT_FORMAT = "phoneiqa-checkpoint/1"


@dataclass
class Predictions:
    """Model outputs for a batch of feature vectors (``None`` for a head the model lacks)."""

    scores: Tensor | None
    issues: IssuePrediction | None


@dataclass
class Model(Assessor):
    """An encoder with an optional score head and an optional issue head; the PyTorch backend.

    ``encoder_args`` are the keyword arguments that rebuild the encoder with
    ``create_encoder(encoder_name, **encoder_args)``; ``meta`` holds training metadata
    (command, config, data hash, validation metrics, library version).  ``columns`` maps
    ``"score"`` / ``"issues"`` to the ``(start, stop)`` feature columns that head reads (all of
    them when absent), e.g. only the photometric part of an ``effnet-lite0+photometric`` encoder.
    """

    encoder: Encoder
    encoder_name: str
    encoder_args: dict[str, Any]
    score_head: ScoreHead | None = None
    issue_head: IssueHead | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    columns: dict[str, tuple[int, int]] = field(default_factory=dict)

    def eval(self) -> Model:
        for module in (self.encoder, self.score_head, self.issue_head):
            if module is not None:
                module.eval()
        return self

    @torch.no_grad()
    def predict_features(self, features: Tensor) -> Predictions:
        """Score and issue predictions for ``[B, D]`` encoder features."""
        return Predictions(
            self.score_head.predict(self.head_inputs("score", features)) if self.score_head is not None else None,
            self.issue_head.predict(self.head_inputs("issues", features)) if self.issue_head is not None else None,
        )

    def head_inputs(self, kind: str, features: Tensor) -> Tensor:
        """The columns of ``[B, D]`` encoder features that the ``kind`` (score or issues) head reads."""
        start, stop = self.columns.get(kind, (0, features.shape[1]))
        return features[:, start:stop]

    @property
    def labels(self) -> tuple[str, ...]:
        """The issue keys this model reports, in its label spec's order (none without an issue head)."""
        return tuple(lab.key for lab in self.issue_head.graph.labels) if self.issue_head is not None else ()

    @property
    def level_names(self) -> dict[str, tuple[str, ...]]:
        """Label key -> the names of its levels, from the label spec of the issue head (none without one)."""
        return spec_level_names(self.issue_head.graph) if self.issue_head is not None else {}

    @property
    def has_score(self) -> bool:
        """Whether the model has a score head."""
        return self.score_head is not None

    @property
    def short_side(self) -> int:
        """The short side images are decoded to (at least) for this model's encoders."""
        return input_short_side(self.encoder)

    @torch.no_grad()
    def predict_images(self, images: Sequence[Image.Image]) -> Predictions:
        """Predictions for decoded RGB images."""
        return self.predict_features(self.encoder.encode(list(images)))

    @torch.no_grad()
    def run(self, prepared: Sequence[Image.Image]) -> list[Assessment]:
        """Assess a batch of decoded RGB images in one call (:class:`~phoneiqa.assessment.Assessor`)."""
        pred = self.predict_images(prepared)
        issues = pred.issues
        return make_assessments(
            None if pred.scores is None else pred.scores.numpy(),
            None if issues is None else issues.probabilities.numpy(),
            None if issues is None else issues.levels.numpy(),
            self.labels,
            len(prepared),
            self.level_names,
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model as one checkpoint file (heads' weights, configs, metadata; not the encoder's)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "format": CHECKPOINT_FORMAT,
            "encoder": {"name": self.encoder_name, "args": self.encoder_args, "id": self.encoder.encoder_id()},
            "score_head": _head_payload(self.score_head, self.columns.get("score")),
            "issue_head": _head_payload(self.issue_head, self.columns.get("issues")),
            "meta": self.meta,
        }
        tmp = path.with_suffix(path.suffix + ".tmp")
        torch.save(payload, tmp)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Model:
        """Rebuild a model saved by :meth:`save` (safe loading: tensors and plain data only)."""
        path = Path(path)
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
            raise DataFormatError(f"{path}: cannot read checkpoint: {exc}") from exc
        if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
            raise DataFormatError(f"{path}: not a {CHECKPOINT_FORMAT} checkpoint")
        enc = payload["encoder"]
        encoder = create_encoder(enc["name"], **enc["args"])
        if encoder.encoder_id() != enc["id"]:
            raise DataFormatError(
                f"{path}: trained with encoder {enc['id']!r} but this installation builds {encoder.encoder_id()!r}"
            )
        heads: dict[str, Any] = {}
        columns: dict[str, tuple[int, int]] = {}
        for kind in ("score", "issue"):
            head_payload = payload[f"{kind}_head"]
            if head_payload is not None:
                key = "score" if kind == "score" else "issues"
                columns[key] = _columns(head_payload, encoder.feature_dim)
                heads[key] = _head_from_payload(head_payload, columns[key])
        model = cls(
            encoder,
            enc["name"],
            enc["args"],
            heads.get("score"),
            heads.get("issues"),
            payload.get("meta", {}),
            columns,
        )
        return model.eval()


def _head_payload(head: ScoreHead | IssueHead | None, columns: tuple[int, int] | None) -> dict[str, Any] | None:
    if head is None:
        return None
    return {"name": head.name, "config": head.config, "state_dict": head.state_dict(), "columns": columns}


def _columns(payload: dict[str, Any], feature_dim: int) -> tuple[int, int]:
    """A head's feature columns (all of them when the checkpoint gives none)."""
    columns = payload.get("columns") or (0, feature_dim)
    return int(columns[0]), int(columns[1])


def _head_from_payload(payload: dict[str, Any], columns: tuple[int, int]) -> Any:
    head = create_head(payload["name"], in_features=columns[1] - columns[0], **payload["config"])
    head.load_state_dict(payload["state_dict"])
    return head.eval()
