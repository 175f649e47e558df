"""Best-shot selection: order shots of one scene best first.

>>> import phoneiqa
>>> shots = phoneiqa.rank(["burst_1.jpg", "burst_2.jpg", "burst_3.jpg"])   # doctest: +SKIP
>>> shots[0].name, shots[0].assessment.score                                # doctest: +SKIP
('burst_2.jpg', 71.4)

The order is :func:`phoneiqa.assessment.rank_order`'s: the score less ``ISSUE_COST`` (5) points per
expected issue level and ``EXPOSURE_COST`` (10) points per stop that the shot's key departs from the
median key of the shots (:func:`phoneiqa.assessment.keep_value`), highest first, compared at the
precision scores are shown with (``SCORE_PRECISION``); shots that agree there come in the order of
fewer and lighter issues (sum of levels, then the worst level, then the expected sum of levels under
the probabilities), then in input order.  A model without a score head ranks by the issues and keys.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from phoneiqa.assess import assess
from phoneiqa.assessment import Assessment, Assessor, input_name, rank_order
from phoneiqa.groups import source_exposure
from phoneiqa.image import ImageInput
from phoneiqa.loading import load


@dataclass(frozen=True)
class RankedShot:
    """One shot in a ranking: its position in the input, its name (path or ``input i (...)``) and assessment."""

    index: int
    name: str
    assessment: Assessment


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
    names = [input_name(image, i) for i, image in enumerate(images)]
    sources = [image.read() if hasattr(image, "read") else image for image in images]  # file objects: read once
    if isinstance(model, Assessor):
        results = model.assess(sources, batch_size=batch_size)
    elif model == "default":
        results = assess(sources, batch_size=batch_size)
    else:
        results = load(model).assess(sources, batch_size=batch_size)
    exposures = [source_exposure(s, n) for s, n in zip(sources, names, strict=True)]
    return [RankedShot(i, names[i], results[i]) for i in rank_order(results, exposures)]
