"""``phoneiqa.xmp``: an audit's results as XMP sidecars that Lightroom Classic, darktable and digiKam read.

>>> table = phoneiqa.audit("~/Pictures/phone", groups=True)     # doctest: +SKIP
>>> print(phoneiqa.xmp.write_sidecars(table, model="default"))   # doctest: +SKIP
xmp: 812 sidecars written, 0 unchanged

The implementation, the rating mapping and the sidecar's layout: :mod:`phoneiqa.audit.reports.xmp`.
"""

from phoneiqa.audit.reports.xmp import (
    LEVEL_CAPS,
    LEVEL_LABELS,
    NAMINGS,
    STAR_BANDS,
    SidecarReport,
    keywords,
    label,
    rating,
    sidecar_path,
    write_sidecars,
)
from phoneiqa.audit.reports.xmp_packet import PHONEIQA_NS

__all__ = [
    "LEVEL_CAPS",
    "LEVEL_LABELS",
    "NAMINGS",
    "PHONEIQA_NS",
    "STAR_BANDS",
    "SidecarReport",
    "keywords",
    "label",
    "rating",
    "sidecar_path",
    "write_sidecars",
]
