"""Best-shot selection: order shots of one scene best first, and the rules the order follows.

>>> import phoneiqa
>>> shots = phoneiqa.rank(["burst_1.jpg", "burst_2.jpg", "burst_3.jpg"])   # doctest: +SKIP
>>> shots[0].name, shots[0].assessment.score                                # doctest: +SKIP
('burst_2.jpg', 71.4)

The order is :func:`rank_order`'s: the score less :data:`ISSUE_COST` (10) points per expected issue level
and :data:`EXPOSURE_COST` (10) points per stop that the shot's key departs from the median key of the
shots (:func:`keep_value`), highest first, compared at the precision scores are shown with
(:data:`SCORE_PRECISION`); shots that agree there come in the order of fewer and lighter issues (sum of
levels, then the worst level, then the expected sum of levels under the probabilities), then in input
order.  A model without a score head ranks by the issues and keys.  Each shot is decoded once: its key
(:func:`phoneiqa.groups.exposure_key`) is read from the pixels the model assesses.  The audit ranks its
bursts by the same rules (:mod:`phoneiqa.audit.bursts`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from phoneiqa.assessment import Assessment, Assessor, input_name
from phoneiqa.errors import ImageError
from phoneiqa.groups import exposure_key
from phoneiqa.image import ImageInput
from phoneiqa.loading import default_model, load

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


@dataclass(frozen=True)
class RankedShot:
    """One shot in a ranking: its position in the input, its name (path or ``input i (...)``) and assessment;
    for a shot that could not be read (``rank(..., errors="return")``), no assessment and its ``error``."""

    index: int
    name: str
    assessment: Assessment | None
    error: ImageError | None = None


def rank(
    images: Sequence[ImageInput],
    model: str | os.PathLike | Assessor = "default",
    batch_size: int = 32,
    errors: str = "raise",
) -> list[RankedShot]:
    """Assess the shots of one scene (paths or any input :func:`phoneiqa.assess` takes) and return them
    best first, each with its input position, name and assessment.

    ``model``: a loaded model (``phoneiqa.load(...)``, to rank many scenes without reloading it), a
    shipped model name or a checkpoint path (``"default"`` is the model :func:`phoneiqa.assess`
    shares).  Raises :class:`phoneiqa.ImageError` naming an input that cannot be read; with
    ``errors="return"`` the shots that cannot be read come last instead, in input order, each with its
    error and no assessment, and the others are ranked.
    """
    if isinstance(images, (str, bytes)) or not isinstance(images, Sequence):
        raise TypeError("rank() takes a list of shots; assess() takes one")
    images = list(images)
    names = [input_name(image, i) for i, image in enumerate(images)]
    sources = [image.read() if hasattr(image, "read") else image for image in images]  # file objects: read once
    if isinstance(model, Assessor):
        runner = model
    elif model == "default":
        runner = default_model()
    else:
        runner = load(model)
    results = runner.assess_with(sources, exposure_key, batch_size=batch_size, errors=errors)
    done = [i for i, result in enumerate(results) if not isinstance(result, ImageError)]
    order = rank_order([results[i][0] for i in done], [results[i][1] for i in done])
    ranked = [RankedShot(done[k], names[done[k]], results[done[k]][0]) for k in order]
    failed = [
        RankedShot(i, names[i], None, result) for i, result in enumerate(results) if isinstance(result, ImageError)
    ]
    return ranked + failed
