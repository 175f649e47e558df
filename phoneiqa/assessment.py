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
from phoneiqa.labels import LEVELS
from phoneiqa.preprocess import load_scaled

if TYPE_CHECKING:
    from phoneiqa.explain import Explanation


@dataclass(frozen=True)
class Assessment:
    """What the model says about one photo.

    ``score``: predicted mean opinion score on the 0..100 scale of human ratings, higher is better
    (``None`` only for a model trained without a score head).  ``issues``: label key -> level
    0..3 (none, normal, severe, blocking), each label's median level under the exact probabilities
    (:func:`hexgraph.median_levels`), always a legal combination, so never bright and dark at once.
    ``probabilities``: label key -> the exact probabilities of levels 0..3, summing to 1.
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
    def from_dict(cls, data: Mapping[str, Any]) -> Assessment:
        """The assessment :meth:`to_dict` made ``data`` of (read back from JSON, a cache or another process);
        the exposure maps themselves are not in it.  :class:`DataFormatError` names a missing or unknown key."""
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
        """The issues of level >= 1, as label key -> level name."""
        return {k: LEVELS[v] for k, v in self.issues.items() if v > 0}

    def __str__(self) -> str:
        score = "-" if self.score is None else f"{self.score:.1f}"
        flagged = ", ".join(f"{k}: {v}" for k, v in self.flagged().items()) or "no issues"
        return f"score {score}; {flagged}"


SCORE_PRECISION = 0.1
"""Values of :func:`keep_value` closer than this are a tie in :func:`rank_order`, broken by the issues (scores
are shown with one decimal)."""
ISSUE_COST = 10.0
"""Score points that one expected issue level costs a shot in :func:`rank_order`.  The score hardly
penalises exposure problems (CLIVE's raters like dark, punchy photos), so on score alone a shot one
stop over often outranks its well-exposed twin.  Chosen on the levels calibrated to viewers: in the
``mefb`` pairs whose judged levels differ, the judged-better capture is first in 0.932 with 10 points
(0.909 with 0, 5 or 40; ``benchmarks/bench_judged.py``, out-of-fold levels, the ``fast`` score), and
generated bursts keep their clean shot first (``tests/test_groups.py``)."""
EXPOSURE_COST = 10.0
"""Score points per stop that a shot's key departs from the median key of the shots ranked with it
(:func:`rank_order` with ``exposures``).  A single photo's exposure can only be judged against what
well-exposed scenes look like (the issue head: about ±0.45 stops of doubt); shots of one scene are
compared exactly.  Chosen on generated bursts (``docs/numbers.md``)."""


def issue_burden(assessment: Assessment) -> tuple[int, int, float]:
    """How much is wrong with a shot, smaller is better: (sum of levels, worst level, expected sum of levels)."""
    levels = list(assessment.issues.values())
    expected = sum(sum(k * p for k, p in enumerate(probs)) for probs in assessment.probabilities.values())
    return sum(levels), max(levels, default=0), expected


def keep_value(assessment: Assessment, departure: float = 0.0) -> float:
    """What :func:`rank_order` ranks by: the score (0 without a score head) less :data:`ISSUE_COST` per
    expected issue level (the sum over labels of the mean level under the probabilities), less
    :data:`EXPOSURE_COST` per stop of ``departure`` from its burst's exposure."""
    return (assessment.score or 0.0) - ISSUE_COST * issue_burden(assessment)[2] - EXPOSURE_COST * departure


def rank_order(assessments: Sequence[Assessment], exposures: Sequence[float] | None = None) -> list[int]:
    """Positions of ``assessments`` (shots of one scene) best first: by :func:`keep_value`, highest first,
    compared at :data:`SCORE_PRECISION`; then fewer and lighter issues (:func:`issue_burden`); then input order.

    ``exposures``: each shot's key in stops (:func:`phoneiqa.groups.exposure_key`).  Shots of one scene differ
    in it exactly by the light they were given, so a shot's departure from the burst's median key counts
    against it: the median stands for the exposure the camera metered for most shots."""
    departures = [0.0] * len(assessments)
    if exposures is not None:
        if len(exposures) != len(assessments):
            raise ValueError(f"{len(exposures)} exposures for {len(assessments)} shots")
        middle = float(np.median(exposures)) if len(exposures) else 0.0
        departures = [abs(e - middle) for e in exposures]

    def key(i: int) -> tuple:
        value = keep_value(assessments[i], departures[i])
        return (-round(value / SCORE_PRECISION), *issue_burden(assessments[i]), i)

    return sorted(range(len(assessments)), key=key)


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


def unchanged(image: Image.Image) -> Image.Image:
    """The preparation of backends that take the decoded image itself (a module-level function, so it pickles)."""
    return image


class Assessor(ABC):
    """What every model backend is: :func:`phoneiqa.load` returns one, the audit runs one.

    A backend says which issues it reports (``labels``, its label spec's keys) and whether it has a
    score (``has_score``), decodes photos to ``short_side`` at least, turns one decoded image into its
    input with :meth:`preparer` (picklable, so the audit's worker processes can do it) and assesses a
    batch of prepared inputs in one call with :meth:`run`.  :meth:`assess` is built on those once.
    """

    labels: tuple[str, ...]
    has_score: bool
    short_side: int

    def preparer(self) -> Callable[[Image.Image], Any]:
        """A picklable function: one decoded RGB image -> this backend's input for :meth:`run`."""
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
        prepare = self.preparer()
        if not explain:

            def decode(source: ImageInput, name: str | None) -> Any:
                return prepare(load_scaled(source, self.short_side, name=name))

            return assess_batches(images, batch_size, decode, self.run, errors)
        from phoneiqa.explain import explain as explain_image

        def decode_and_explain(source: ImageInput, name: str | None) -> Any:
            image = load_scaled(source, self.short_side, name=name)
            return prepare(image), explain_image(image)

        def run(batch: list[tuple[Any, Explanation]]) -> list[Assessment]:
            done = self.run([prepared for prepared, _ in batch])
            return [replace(a, explanation=e, exposure_shares=e.shares) for a, (_, e) in zip(done, batch, strict=True)]

        return assess_batches(images, batch_size, decode_and_explain, run, errors)
