"""Best-shot selection: order shots of one scene best first.

>>> import phoneiqa
>>> shots = phoneiqa.rank(["burst_1.jpg", "burst_2.jpg", "burst_3.jpg"])   # doctest: +SKIP
>>> shots[0].name, shots[0].assessment.score                                # doctest: +SKIP
('burst_2.jpg', 71.4)

The order is the score's, highest first, compared at the precision it is shown with
(:data:`SCORE_PRECISION`); shots whose scores agree there come in the order of fewer and lighter
issues (sum of levels, then the worst level, then the expected sum of levels under the
probabilities), then in input order.  A model without a score head ranks by the issues alone.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from phoneiqa.assess import assess
from phoneiqa.assessment import Assessment, Assessor, input_name
from phoneiqa.image import ImageInput
from phoneiqa.loading import load

SCORE_PRECISION = 0.1
"""Scores closer than this are a tie, broken by the issues (the score is shown with one decimal)."""


@dataclass(frozen=True)
class RankedShot:
    """One shot in a ranking: its position in the input, its name (path or ``input i (...)``) and assessment."""

    index: int
    name: str
    assessment: Assessment


def issue_burden(assessment: Assessment) -> tuple[int, int, float]:
    """How much is wrong with a shot, smaller is better: (sum of levels, worst level, expected sum of levels)."""
    levels = list(assessment.issues.values())
    expected = sum(sum(k * p for k, p in enumerate(probs)) for probs in assessment.probabilities.values())
    return sum(levels), max(levels, default=0), expected


def rank_order(assessments: Sequence[Assessment]) -> list[int]:
    """Positions of ``assessments`` best first (see the module docstring for the order)."""

    def key(i: int) -> tuple:
        score = assessments[i].score
        rounded = 0 if score is None else -round(score / SCORE_PRECISION)
        return (rounded, *issue_burden(assessments[i]), i)

    return sorted(range(len(assessments)), key=key)


def rank(
    images: Sequence[ImageInput], model: str | os.PathLike | Assessor = "default", batch_size: int = 32
) -> list[RankedShot]:
    """Assess the shots of one scene (paths or any input :func:`phoneiqa.assess` takes) and return them
    best first, each with its input position, name and assessment.

    ``model``: a loaded model (``phoneiqa.load(...)``, to rank many scenes without reloading it), a
    shipped model name or a checkpoint path (``"default"`` is the model :func:`phoneiqa.assess`
    shares).  Raises :class:`phoneiqa.ImageError` naming an input that cannot be read.
    """
    if isinstance(images, (str, bytes)) or not isinstance(images, Sequence):
        raise TypeError("rank() takes a list of shots; assess() takes one")
    images = list(images)
    if isinstance(model, Assessor):
        results = model.assess(images, batch_size=batch_size)
    elif model == "default":
        results = assess(images, batch_size=batch_size)
    else:
        results = load(model).assess(images, batch_size=batch_size)
    return [RankedShot(i, input_name(images[i], i), results[i]) for i in rank_order(results)]
