"""Image encoders, registered by name (``phoneiqa.list_encoders()``).

Built in: ``effnet-lite0``, ``effnet-lite1``, ``effnet-lite2`` (ImageNet EfficientNet-Lite,
multi-stage statistics or pooled spatial maps), ``photometric`` (hand-made luminance and colour
statistics), ``exposure`` (the issue definitions' single-photo quantities), ``slic`` (SLIC
superpixels as per-cell assignment maps) and ``clip`` (any open_clip model).  Other packages add
encoders under the entry-point group ``phoneiqa.encoders``.  Names joined by ``+`` build a
:class:`ConcatEncoder` of the parts; ``name:view`` labels a part, so that one encoder can read the
photo twice with different preprocessing (``effnet-lite0+effnet-lite0:window``).
"""

from __future__ import annotations

from typing import Any

from phoneiqa.encoders.base import ConcatEncoder, Encoder, Preprocess
from phoneiqa.registry import Registry

ENCODERS: Registry[Encoder] = Registry("encoder", "phoneiqa.encoders")


def create_encoder(name: str, **kwargs: Any) -> Encoder:
    """Build the encoder registered as ``name``, or a concatenation for ``"a+b"``.

    For a single name the keyword arguments go to its factory, e.g.
    ``create_encoder("effnet-lite2", short_side=512)``.  For ``"a+b"`` each keyword is a part's
    name and its value that part's keyword arguments:
    ``create_encoder("effnet-lite0+photometric", **{"effnet-lite0": {"flip": True}})``.  A part written
    ``name:view`` is the encoder ``name`` under the label ``name:view``, which keys its keyword arguments
    (and heads' ``inputs``): ``create_encoder("effnet-lite0+effnet-lite0:window", **{"effnet-lite0:window":
    {"window": 320}})`` reads the whole photo and its centre with one network.
    """
    if "+" not in name:
        return ENCODERS.create(part_encoder_name(name), **kwargs)
    labels = name.split("+")
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ValueError(f"{name!r} names the part(s) {repeated} twice; label one of each as 'name:view'")
    unknown = sorted(set(kwargs) - set(labels))
    if unknown:
        raise ValueError(f"keyword arguments of {name!r} must be named after its parts {labels}, got {unknown}")
    parts = [ENCODERS.create(part_encoder_name(label), **kwargs.get(label, {})) for label in labels]
    return ConcatEncoder(parts, labels)


def part_encoder_name(label: str) -> str:
    """The registered encoder a part label names: ``"effnet-lite0"`` for ``"effnet-lite0:window"``."""
    return label.partition(":")[0]


def list_encoders() -> list[str]:
    """Names of all registered encoders, built-in and from the ``phoneiqa.encoders`` entry-point group."""
    return ENCODERS.names()


# built-in encoders register themselves on import; their heavy dependencies load in their factories
from phoneiqa.encoders import clip, effnet, photometric, superpixels  # noqa: E402, F401

__all__ = ["ENCODERS", "ConcatEncoder", "Encoder", "Preprocess", "create_encoder", "list_encoders", "part_encoder_name"]
