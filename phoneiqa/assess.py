"""``phoneiqa.assess``: a quality score and six issue levels per photo, with the default model.

>>> import phoneiqa
>>> a = phoneiqa.assess("photo.jpg")            # doctest: +SKIP
>>> a.score, a.issues["dark"], a.probabilities["dark"]   # doctest: +SKIP
(61.3, 0, [0.93, 0.05, 0.015, 0.005])

The default model is loaded once, on first use, and shared by every thread (see
:mod:`phoneiqa.loading`; how it was trained: ``phoneiqa/pretrained/TRAINING-default.md``).  This
module, like the compiled runtime, imports neither torch nor the training code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import overload

from phoneiqa.assessment import Assessment
from phoneiqa.errors import ImageError
from phoneiqa.image import ImageInput
from phoneiqa.loading import default_model


@overload
def assess(images: ImageInput, batch_size: int = 32, errors: str = "raise", explain: bool = False) -> Assessment: ...
@overload
def assess(
    images: Sequence[ImageInput], batch_size: int = 32, errors: str = "raise", explain: bool = False
) -> list[Assessment | ImageError]: ...
def assess(
    images: ImageInput | Sequence[ImageInput], batch_size: int = 32, errors: str = "raise", explain: bool = False
) -> Assessment | list[Assessment | ImageError]:
    """Assess one photo, or a list of photos (results in the same order), with the default model.

    An image is a path, ``bytes``, a binary file object, a ``PIL.Image``, a numpy array
    (H×W, H×W×3 or H×W×4; uint8, uint16 or float in 0..1) or a torch tensor (C×H×W); see
    :func:`phoneiqa.image.load_image`.  Raises :class:`phoneiqa.ImageError` naming the input
    that cannot be used; ``errors="return"`` instead puts that error in the input's place in the
    list and assesses the rest.  ``explain=True`` adds where the exposure problems are
    (``Assessment.explanation``, drawn by ``Assessment.overlay()``; :mod:`phoneiqa.explain`).  Same as
    ``phoneiqa.load().assess(...)``, without reloading the model.
    """
    return default_model().assess(images, batch_size=batch_size, errors=errors, explain=explain)
