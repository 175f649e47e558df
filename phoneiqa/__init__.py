"""phoneiqa: how good a smartphone photo looks, and which exposure problems it has.

The public API is re-exported here; see the README for a tour.
"""

from phoneiqa.errors import DataFormatError, ImageError, PhoneIQAError
from phoneiqa.labels import LABELS, LEVELS, load_graph, read_labels_csv

__version__ = "0.1.0"

__all__ = [
    "LABELS",
    "LEVELS",
    "DataFormatError",
    "ImageError",
    "PhoneIQAError",
    "__version__",
    "load_graph",
    "read_labels_csv",
]
