"""Score and issue heads, registered by name (``phoneiqa.list_heads()``)."""

from __future__ import annotations

from typing import Any

from phoneiqa.heads.base import IssueHead, ScoreHead
from phoneiqa.registry import Registry

HEADS: Registry[ScoreHead | IssueHead] = Registry("head", "phoneiqa.heads")


def create_head(name: str, **kwargs: Any) -> ScoreHead | IssueHead:
    """Build the head registered as ``name`` (e.g. ``"qcern"``, ``"mlp"``, ``"hex-linear"``)."""
    return HEADS.create(name, **kwargs)


def list_heads() -> list[str]:
    """Names of all registered heads, built-in and from the ``phoneiqa.heads`` entry-point group."""
    return HEADS.names()


# built-in heads register themselves on import
from phoneiqa.heads import dpam, issues, mlp, qcern, qualitynet, ridge  # noqa: E402, F401

__all__ = ["HEADS", "IssueHead", "ScoreHead", "create_head", "list_heads"]
