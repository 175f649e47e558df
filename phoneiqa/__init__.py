"""phoneiqa: how good a smartphone photo looks, and which exposure problems it has.

The public API is re-exported here; see the README for a tour.
"""

from phoneiqa.assess import Assessment, assess, load
from phoneiqa.encoders import create_encoder, list_encoders
from phoneiqa.errors import DataFormatError, ImageError, PhoneIQAError
from phoneiqa.heads import create_head, list_heads
from phoneiqa.labels import LABELS, LEVELS, load_graph, read_labels_csv
from phoneiqa.train import DataSource, HeadConfig, TrainConfig, train

__version__ = "0.1.0"

__all__ = [
    "LABELS",
    "LEVELS",
    "Assessment",
    "DataFormatError",
    "DataSource",
    "HeadConfig",
    "ImageError",
    "PhoneIQAError",
    "TrainConfig",
    "__version__",
    "assess",
    "create_encoder",
    "create_head",
    "list_encoders",
    "list_heads",
    "load",
    "load_graph",
    "read_labels_csv",
    "train",
]
