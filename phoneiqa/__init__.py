"""phoneiqa: how good a smartphone photo looks, and which exposure problems it has.

The public API is re-exported here; see the README for a tour.  ``import phoneiqa`` and
``phoneiqa.assess`` do not import torch: the encoder/head factories and training are loaded on
first access (``phoneiqa.create_encoder``, ``phoneiqa.train``, ...).
"""

from importlib import import_module
from typing import Any

from phoneiqa import xmp
from phoneiqa.assess import assess
from phoneiqa.assessment import Assessment, Assessor
from phoneiqa.audit import audit
from phoneiqa.errors import (
    ConfigError,
    DataFormatError,
    ImageError,
    ModelNotFoundError,
    ParameterError,
    PhoneIQAError,
)
from phoneiqa.extras import MissingExtraError, needs_extras
from phoneiqa.labels import LABELS, load_graph, read_labels_csv
from phoneiqa.loading import list_models, load
from phoneiqa.rank import RankedShot, rank
from phoneiqa.version import __version__

_LAZY = {
    "create_encoder": "phoneiqa.encoders",
    "list_encoders": "phoneiqa.encoders",
    "create_head": "phoneiqa.heads",
    "list_heads": "phoneiqa.heads",
    "DataConfig": "phoneiqa.training_config",
    "DataSource": "phoneiqa.training_config",
    "HeadConfig": "phoneiqa.training_config",
    "ModelConfig": "phoneiqa.training_config",
    "OptimConfig": "phoneiqa.training_config",
    "TrainConfig": "phoneiqa.training_config",
    "train": "phoneiqa.training",
}


def __getattr__(name: str) -> Any:
    """The torch-dependent parts of the API, imported on first access."""
    if name in _LAZY:
        with needs_extras(f"phoneiqa.{name}", "train"):
            return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'phoneiqa' has no attribute {name!r}")


__all__ = [
    "LABELS",
    "Assessment",
    "Assessor",
    "ConfigError",
    "DataConfig",
    "DataFormatError",
    "DataSource",
    "HeadConfig",
    "ImageError",
    "MissingExtraError",
    "ModelConfig",
    "ModelNotFoundError",
    "OptimConfig",
    "ParameterError",
    "PhoneIQAError",
    "RankedShot",
    "TrainConfig",
    "__version__",
    "assess",
    "audit",
    "create_encoder",
    "create_head",
    "list_encoders",
    "list_heads",
    "list_models",
    "load",
    "load_graph",
    "rank",
    "read_labels_csv",
    "train",
    "xmp",
]
