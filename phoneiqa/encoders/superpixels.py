"""The ``slic`` encoder: SLIC superpixels as soft assignments to a coarse grid of cells.

Heads that pool a spatial feature map by image region (the DPAM-style head,
:mod:`phoneiqa.heads.dpam`) need to know which cells of that map belong to which region.  This
encoder provides it as ordinary, cacheable features: the image is resized by its preprocessing
(short side 256 by default) and taken as 8-bit RGB, scikit-image's SLIC splits it into
superpixels, and the ``n_segments`` largest of them become *slots*, largest first.  The
feature of slot ``k`` at cell ``(i, j)`` is the fraction of the cell's pixels that belong to the
slot, so a cell's fractions sum to 1 when every superpixel has a slot.

The cells split the image as :func:`torch.nn.functional.adaptive_avg_pool2d` does (cell ``i``
of ``g`` along a side of ``n`` pixels covers pixels ``floor(i n / g)`` up to ``ceil((i + 1) n / g)``),
which is how the ``grid`` option of the EfficientNet-Lite encoders pools their maps: with the
same ``grid`` a slot's fractions line up with that map's cells, whatever each encoder's input size.

SLIC's ``n_segments`` is a target, not a promise.  When it returns fewer superpixels, the
remaining slots stay empty (all zeros; heads mask them by their zero area).  When it returns more
(connectivity enforcement can split a superpixel), the pixels of the superpixels beyond the
``n_segments`` largest are left out: their cells' fractions then sum to less than 1.

SLIC has no randomness here (its seeds start on a regular grid), so the same image always gives
the same features; the scikit-image version is part of the cache key because its segmentation
may change between releases.  scikit-image is imported when an encoder is built, not when
:mod:`phoneiqa` is.  There is no ONNX form: a model using this encoder runs in PyTorch.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from phoneiqa.encoders import ENCODERS
from phoneiqa.encoders.base import Encoder, Preprocess
from phoneiqa.extras import require


def cell_bounds(size: int, cells: int) -> tuple[np.ndarray, np.ndarray]:
    """``(start, stop)`` pixel indices of each of ``cells`` cells along a side of ``size`` pixels,
    as adaptive average pooling places them (neighbouring cells overlap when ``size`` is not a
    multiple of ``cells``)."""
    index = np.arange(cells)
    return (index * size) // cells, -((-(index + 1) * size) // cells)


def slot_map(labels: np.ndarray, n_slots: int) -> np.ndarray:
    """Each pixel's slot: its label's rank by area (0 = largest; ties by label), or ``n_slots``
    for pixels of labels ranked ``n_slots`` or lower (left out).  ``labels``: ``[H, W]``, values >= 0."""
    flat = labels.ravel()
    area = np.bincount(flat)
    order = np.argsort(-area, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return np.minimum(rank, n_slots)[flat].reshape(labels.shape)


def slot_fractions(labels: np.ndarray, n_slots: int, grid: int) -> np.ndarray:
    """``[n_slots, grid, grid]`` float32: the fraction of each grid cell covered by each slot.

    Slots are the labels of ``labels [H, W]`` (non-negative integers) ordered by area, largest
    first (see :func:`slot_map`); labels beyond the first ``n_slots`` are left out, missing ones
    give all-zero slots.  Cells as :func:`cell_bounds`.
    """
    height, width = labels.shape
    slots = slot_map(labels, n_slots)
    row_start, row_stop = cell_bounds(height, grid)
    col_start, col_stop = cell_bounds(width, grid)
    # pixels per (slot, row) within each column band; the extra slot n_slots collects left-out pixels
    rows = np.arange(height)[:, None]
    per_row = np.empty((n_slots + 1, height, grid))
    for j in range(grid):
        band = slots[:, col_start[j] : col_stop[j]]
        counts = np.bincount((band * height + rows).ravel(), minlength=(n_slots + 1) * height)
        per_row[:, :, j] = counts.reshape(n_slots + 1, height)
    # sum the rows of each row band, then divide by the cells' pixel counts
    cumulative = np.concatenate([np.zeros((n_slots + 1, 1, grid)), per_row.cumsum(axis=1)], axis=1)
    counts = cumulative[:n_slots, row_stop, :] - cumulative[:n_slots, row_start, :]
    area = np.outer(row_stop - row_start, col_stop - col_start)
    return (counts / area).astype(np.float32)


def superpixel_labels(pixels: np.ndarray, n_segments: int, compactness: float) -> np.ndarray:
    """SLIC labels ``[H, W]`` (from 0) of one 8-bit RGB image ``[H, W, 3]``, computed in CIELAB with
    scikit-image's defaults written out (10 iterations, no smoothing, connected superpixels)."""
    from skimage.segmentation import slic

    return slic(
        pixels,
        n_segments=n_segments,
        compactness=compactness,
        max_num_iter=10,
        sigma=0,
        enforce_connectivity=True,
        start_label=0,
        channel_axis=-1,
    )


class SuperpixelEncoder(Encoder):
    """SLIC superpixel assignments: ``n_segments`` slots × ``grid × grid`` cell fractions.

    ``n_segments``: the number of superpixels asked of SLIC and the number of slots kept;
    ``compactness``: SLIC's balance of colour against distance (higher: squarer superpixels);
    ``grid``: cells per side; ``short_side``/``max_long_side``: the size SLIC sees.  Features are
    the slots' maps flattened slot-major (see :meth:`layout`), each value in [0, 1].
    """

    onnx_exportable = False

    def __init__(
        self,
        n_segments: int = 16,
        compactness: float = 10.0,
        grid: int = 14,
        short_side: int = 256,
        max_long_side: int | None = 512,
    ) -> None:
        super().__init__()
        skimage = require("skimage", "the 'slic' encoder")
        if n_segments < 1:
            raise ValueError(f"n_segments must be positive, got {n_segments}")
        if grid < 1:
            raise ValueError(f"grid must be a positive number of cells, got {grid}")
        if not compactness > 0:
            raise ValueError(f"compactness must be positive, got {compactness}")
        self.n_segments = int(n_segments)
        self.compactness = float(compactness)
        self.grid = int(grid)
        self.skimage_version = ".".join(skimage.__version__.split(".")[:2])
        self.preprocess = Preprocess(short_side, max_long_side, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
        self.feature_dim = self.n_segments * self.grid * self.grid

    def weights_id(self) -> str:
        """The scikit-image major.minor version: SLIC's output may change between releases."""
        return f"skimage{self.skimage_version}"

    def encoder_id(self) -> str:
        return f"{super().encoder_id()}|n{self.n_segments}|compact{self.compactness!r}|grid{self.grid}"

    def layout(self) -> list[tuple[int, ...]]:
        return [(self.n_segments, self.grid, self.grid)]

    def features(self, pixels: np.ndarray) -> np.ndarray:
        """``[n_segments * grid * grid]`` float32 features of one 8-bit RGB image ``[H, W, 3]``."""
        labels = superpixel_labels(pixels, self.n_segments, self.compactness)
        return slot_fractions(labels, self.n_segments, self.grid).ravel()

    def forward(self, x: Tensor) -> Tensor:
        codes = x.mul(255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        out = np.stack([self.features(pixels) for pixels in codes])
        return torch.from_numpy(out).to(x.device)


ENCODERS.register("slic")(SuperpixelEncoder)
