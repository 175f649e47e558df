"""What a model says about one photo (:class:`Assessment`), and what every model backend is (:class:`Assessor`).

Below the models and the public façade: the PyTorch :class:`~phoneiqa.model.Model`, the compiled
:class:`~phoneiqa.runtime.Runtime`, the audit and its cache build on this module and import nothing
above it.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from phoneiqa.errors import DataFormatError, ImageError, ParameterError, check_count
from phoneiqa.exposure import exposure_stops
from phoneiqa.image import ImageInput, describe
from phoneiqa.preprocess import load_scaled

if TYPE_CHECKING:
    from phoneiqa.explain import Explanation


@dataclass(frozen=True)
class Assessment:
    """What the model says about one photo.

    ``score``: predicted mean opinion score on the 0..100 scale of human ratings, higher is better
    (``None`` only for a model trained without a score head).  ``issues``: label key -> level
    0..K-1 (``smartphone6``: none, normal, severe, blocking), each label's median level under the exact
    probabilities (:func:`hexgraph.median_levels`), always a legal combination, so never bright and dark at
    once.  ``probabilities``: label key -> the exact probabilities of levels 0..K-1, summing to 1.
    ``level_names``: label key -> the names of its levels, from the model's label spec
    (``Assessor.level_names``; what :meth:`flagged` says), not part of ``==`` or :meth:`to_dict`.
    ``explanation``: where the exposure problems are (:class:`phoneiqa.explain.Explanation`), when
    assessed with ``explain=True``; see :meth:`overlay`.  ``exposure_shares``: then also each map's
    share of the frame (:attr:`phoneiqa.explain.Explanation.shares`), which, unlike the maps, survives
    :meth:`to_dict` and :meth:`from_dict`.  Neither takes part in ``==``: they describe the photo, not the verdict.
    """

    score: float | None
    issues: dict[str, int]
    probabilities: dict[str, list[float]]
    explanation: Explanation | None = field(default=None, compare=False, repr=False)
    exposure_shares: dict[str, float] | None = field(default=None, compare=False)
    level_names: Mapping[str, Sequence[str]] = field(default_factory=dict, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """A plain JSON-able dict with ``score``, ``issues`` and ``probabilities`` (and ``exposure_shares``
        when explained); :meth:`from_dict` is its inverse."""
        out: dict[str, Any] = {
            "score": self.score,
            "issues": dict(self.issues),
            "probabilities": {k: list(v) for k, v in self.probabilities.items()},
        }
        if self.exposure_shares is not None:
            out["exposure_shares"] = dict(self.exposure_shares)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], level_names: Mapping[str, Sequence[str]] | None = None) -> Assessment:
        """The assessment :meth:`to_dict` made ``data`` of (read back from JSON, a cache or another process);
        the exposure maps themselves are not in it, nor the level names: pass the model's ``level_names``.
        :class:`DataFormatError` names a missing or unknown key."""
        keys = set(data)
        if missing := {"score", "issues", "probabilities"} - keys:
            raise DataFormatError(f"an assessment needs {', '.join(sorted(missing))}; got {', '.join(sorted(keys))}")
        if unknown := keys - {"score", "issues", "probabilities", "exposure_shares"}:
            raise DataFormatError(f"unknown assessment key(s) {', '.join(sorted(unknown))}")
        shares = data.get("exposure_shares")
        return cls(
            score=None if data["score"] is None else float(data["score"]),
            issues={k: int(v) for k, v in data["issues"].items()},
            probabilities={k: [float(p) for p in v] for k, v in data["probabilities"].items()},
            exposure_shares=None if shares is None else {k: float(v) for k, v in shares.items()},
            level_names=level_names or {},
        )

    def overlay(self, legend: bool = True) -> Image.Image:
        """The exposure maps over the photo, for the issues this assessment flags, with a legend
        (:meth:`phoneiqa.explain.Explanation.overlay`); needs ``assess(..., explain=True)``."""
        if self.explanation is None:
            raise ValueError("this assessment has no exposure maps: assess with explain=True")
        return self.explanation.overlay(self.issues, legend)

    @property
    def exposure_stops(self) -> float | None:
        """How many stops the photo is off as viewers see it: > 0 too bright, < 0 too dark, about 0 well exposed
        (:func:`phoneiqa.exposure.exposure_stops`: the exposure change whose viewers' levels best match the
        ``bright`` and ``dark`` probabilities).  ``None`` for a model without those two labels."""
        if "bright" not in self.probabilities or "dark" not in self.probabilities:
            return None
        bright, dark = (np.array([self.probabilities[k]], dtype=np.float64) for k in ("bright", "dark"))
        return float(exposure_stops(bright, dark)[0])

    def flagged(self) -> dict[str, str]:
        """The issues of level >= 1, as label key -> level name (its spec's, see ``level_names``; ``"level k"``
        where the assessment was made without them)."""
        names = self.level_names
        return {k: names[k][v] if k in names else f"level {v}" for k, v in self.issues.items() if v > 0}

    def __str__(self) -> str:
        score = "-" if self.score is None else f"{self.score:.1f}"
        flagged = ", ".join(f"{k}: {v}" for k, v in self.flagged().items()) or "no issues"
        return f"score {score}; {flagged}"


ERRORS = ("raise", "return")
"""What ``assess`` does with an unusable input in a list: raise its :class:`~phoneiqa.ImageError`, or
return the error in that input's slot and assess the others."""


def assess_batches(
    images: ImageInput | Sequence[ImageInput],
    batch_size: int,
    decode: Callable[[ImageInput, str | None], Image.Image],
    predict: Callable[[list[Image.Image]], list[Assessment]],
    errors: str = "raise",
) -> Assessment | list[Assessment | ImageError]:
    """The ``assess`` of every model kind: one image or a list/tuple, decoded and predicted in batches.

    ``decode(source, name)`` reads one input (``name`` for errors: ``None`` for a single input,
    else the item's path or position); ``predict`` turns a batch of images into assessments.
    ``errors``: see :data:`ERRORS` (a single input always raises).
    """
    if errors not in ERRORS:
        raise ParameterError(f"errors must be one of {', '.join(ERRORS)}, got {errors!r}")
    check_count("batch_size", batch_size, 1)
    single = not isinstance(images, (list, tuple))
    items = [images] if single else list(images)
    results: list[Assessment | ImageError] = []
    for start in range(0, len(items), batch_size):
        slots: list[Image.Image | ImageError] = []
        for i, src in enumerate(items[start : start + batch_size]):
            try:
                slots.append(decode(src, None if single else input_name(src, start + i)))
            except ImageError as exc:
                if errors == "raise" or single:
                    raise
                slots.append(exc)
        done = iter(predict([s for s in slots if not isinstance(s, ImageError)]))
        results += [s if isinstance(s, ImageError) else next(done) for s in slots]
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
    level_names: Mapping[str, Sequence[str]] | None = None,
) -> list[Assessment]:
    """One :class:`Assessment` per image from batch arrays (``None`` for a head the model lacks), with the
    model's ``level_names``; scores are clamped to 0..100."""
    results = []
    for i in range(n):
        results.append(
            Assessment(
                score=None if scores is None else min(max(float(scores[i]), 0.0), 100.0),
                issues={} if levels is None else dict(zip(keys, map(int, levels[i]), strict=True)),
                probabilities={} if probabilities is None else dict(zip(keys, probabilities[i].tolist(), strict=True)),
                level_names=level_names or {},
            )
        )
    return results


def unchanged(image: Image.Image) -> Image.Image:
    """The preparation of backends that take the decoded image itself (a module-level function, so it pickles)."""
    return image


class Assessor(ABC):
    """What every model backend is: :func:`phoneiqa.load` returns one, the audit runs one.

    A backend says which issues it reports (``labels``, its label spec's keys), what their levels are called
    (``level_names``: label key -> names of levels 0..K-1, from the same spec) and whether it has a
    score (``has_score``), decodes photos to ``short_side`` at least, turns one decoded image into its
    input with :meth:`preparer` (picklable, so the audit's worker processes can do it) and assesses a
    batch of prepared inputs in one call with :meth:`run`.  :meth:`assess` is built on those once.
    """

    labels: tuple[str, ...]
    level_names: dict[str, tuple[str, ...]]
    has_score: bool
    short_side: int

    def preparer(self, parallel: bool = False) -> Callable[[Image.Image], Any]:
        """A picklable function: one decoded RGB image -> this backend's input for :meth:`run`.  ``parallel``:
        the caller prepares in this process (:meth:`assess`), so the function may use threads and need not
        pickle."""
        return unchanged

    @abstractmethod
    def run(self, prepared: Sequence[Any]) -> list[Assessment]:
        """Assess a batch of prepared inputs in one model call."""

    def assess(
        self,
        images: ImageInput | Sequence[ImageInput],
        batch_size: int = 32,
        errors: str = "raise",
        explain: bool = False,
    ) -> Assessment | list[Assessment | ImageError]:
        """Assess one image, or a list or tuple of images (a list of results in the same order).

        Images are decoded one batch at a time, each at the reduced scale the model needs (see
        :func:`phoneiqa.preprocess.load_scaled`), and each batch is one :meth:`run`.  Raises
        :class:`phoneiqa.ImageError` naming the unusable input (in a list, by its position unless it
        is a path); with ``errors="return"`` a list keeps that error in the input's slot and the
        others are assessed.  ``explain``: also compute each photo's exposure maps from the same
        decoded pixels (``Assessment.explanation``, :mod:`phoneiqa.explain`).
        """
        prepare = self.preparer(parallel=True)
        if not explain:

            def decode(source: ImageInput, name: str | None) -> Any:
                return prepare(load_scaled(source, self.short_side, name=name))

            return assess_batches(images, batch_size, decode, self.run, errors)
        from phoneiqa.explain import explain as explain_image

        def with_maps(found: tuple[Assessment, Explanation] | ImageError) -> Assessment | ImageError:
            if isinstance(found, ImageError):
                return found
            assessment, maps = found
            return replace(assessment, explanation=maps, exposure_shares=maps.shares)

        paired = self.assess_with(images, explain_image, batch_size, errors)
        return [with_maps(found) for found in paired] if isinstance(paired, list) else with_maps(paired)

    def assess_with(
        self,
        images: ImageInput | Sequence[ImageInput],
        measure: Callable[[Image.Image], Any],
        batch_size: int = 32,
        errors: str = "raise",
    ) -> tuple[Assessment, Any] | list[tuple[Assessment, Any] | ImageError]:
        """:meth:`assess` of one image or a list of images, each assessment paired with ``measure`` of the very
        image it was made from (decoded once: :func:`phoneiqa.rank` reads each shot's key,
        :func:`phoneiqa.groups.exposure_key`, from the pixels the model assesses; ``explain`` its exposure maps).
        ``batch_size`` and ``errors`` as :meth:`assess`'s; an input that cannot be used is its
        :class:`~phoneiqa.ImageError` in its slot with ``errors="return"``."""
        prepare = self.preparer(parallel=True)

        def decode_and_measure(source: ImageInput, name: str | None) -> tuple[Any, Any]:
            image = load_scaled(source, self.short_side, name=name)
            return prepare(image), measure(image)

        def run(batch: list[tuple[Any, Any]]) -> list[tuple[Assessment, Any]]:
            done = self.run([prepared for prepared, _ in batch])
            return [(a, measured) for a, (_, measured) in zip(done, batch, strict=True)]

        return assess_batches(images, batch_size, decode_and_measure, run, errors)
