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

from phoneiqa.encoders import create_encoder
from phoneiqa.encoders.base import Encoder
from phoneiqa.errors import DataFormatError
from phoneiqa.heads import create_head
from phoneiqa.heads.base import IssueHead, ScoreHead
from phoneiqa.heads.issues import IssuePrediction

CHECKPOINT_FORMAT = "phoneiqa-checkpoint/1"


@dataclass
class Predictions:
    """Model outputs for a batch of feature vectors (``None`` for a head the model lacks)."""

    scores: Tensor | None
    issues: IssuePrediction | None


@dataclass
class Model:
    """An encoder with an optional score head and an optional issue head.

    ``encoder_args`` are the keyword arguments that rebuild the encoder with
    ``create_encoder(encoder_name, **encoder_args)``; ``meta`` holds training metadata
    (command, config, data hash, validation metrics, library version).
    """

    encoder: Encoder
    encoder_name: str
    encoder_args: dict[str, Any]
    score_head: ScoreHead | None = None
    issue_head: IssueHead | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def eval(self) -> Model:
        for module in (self.encoder, self.score_head, self.issue_head):
            if module is not None:
                module.eval()
        return self

    @torch.no_grad()
    def predict_features(self, features: Tensor) -> Predictions:
        """Score and issue predictions for ``[B, D]`` encoder features."""
        return Predictions(
            self.score_head.predict(features) if self.score_head is not None else None,
            self.issue_head.predict(features) if self.issue_head is not None else None,
        )

    @torch.no_grad()
    def predict_images(self, images: Sequence[Image.Image]) -> Predictions:
        """Predictions for decoded RGB images."""
        return self.predict_features(self.encoder.encode(list(images)))

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model as one checkpoint file (heads' weights, configs, metadata; not the encoder's)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "format": CHECKPOINT_FORMAT,
            "encoder": {"name": self.encoder_name, "args": self.encoder_args, "id": self.encoder.encoder_id()},
            "score_head": _head_payload(self.score_head),
            "issue_head": _head_payload(self.issue_head),
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
        in_features = encoder.feature_dim
        model = cls(
            encoder,
            enc["name"],
            enc["args"],
            _head_from_payload(payload["score_head"], in_features),
            _head_from_payload(payload["issue_head"], in_features),
            payload.get("meta", {}),
        )
        return model.eval()


def _head_payload(head: ScoreHead | IssueHead | None) -> dict[str, Any] | None:
    if head is None:
        return None
    return {"name": head.name, "config": head.config, "state_dict": head.state_dict()}


def _head_from_payload(payload: dict[str, Any] | None, in_features: int) -> Any:
    if payload is None:
        return None
    head = create_head(payload["name"], in_features=in_features, **payload["config"])
    head.load_state_dict(payload["state_dict"])
    return head.eval()
