"""The ``slic`` encoder: superpixel slots as per-cell coverage fractions."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_sample_image
from torch.nn import functional as F

from phoneiqa.encoders import create_encoder
from phoneiqa.encoders.superpixels import SuperpixelEncoder, cell_bounds, slot_fractions, superpixel_labels
from phoneiqa.preprocess import resize_image


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return Image.fromarray(load_sample_image("china.jpg"))


def reference_masks(labels: np.ndarray, n_slots: int) -> np.ndarray:
    """One 0/1 mask per slot, slots = labels sorted by pixel count (largest first, ties by label)."""
    values, counts = np.unique(labels, return_counts=True)
    ranked = sorted(zip(values, counts, strict=True), key=lambda vc: (-vc[1], vc[0]))
    masks = np.zeros((n_slots, *labels.shape))
    for k, (value, _) in enumerate(ranked[:n_slots]):
        masks[k] = labels == value
    return masks


def blob_labels(height: int, width: int, n_labels: int, seed: int) -> np.ndarray:
    """A label map of nearest-seed regions of unequal sizes."""
    rng = np.random.default_rng(seed)
    seeds = rng.uniform(0, 1, size=(n_labels, 2)) * (height, width)
    weights = rng.uniform(0.5, 2.0, size=n_labels)
    yy, xx = np.mgrid[:height, :width]
    dist = ((yy[..., None] - seeds[:, 0]) ** 2 + (xx[..., None] - seeds[:, 1]) ** 2) * weights
    return dist.argmin(-1)


def test_cell_bounds_are_those_of_adaptive_pooling():
    start, stop = cell_bounds(10, 4)
    assert start.tolist() == [0, 2, 5, 7] and stop.tolist() == [3, 5, 8, 10]
    start, stop = cell_bounds(56, 14)
    assert np.array_equal(start, np.arange(14) * 4) and np.array_equal(stop, np.arange(1, 15) * 4)


@pytest.mark.parametrize("n_slots", [3, 6, 9])
def test_fractions_equal_block_averages_of_the_slot_masks(n_slots):
    labels = blob_labels(56, 84, 6, seed=n_slots)
    got = slot_fractions(labels, n_slots, 14)
    masks = reference_masks(labels, n_slots)
    expected = masks.reshape(n_slots, 14, 4, 14, 6).mean(axis=(2, 4))
    assert got.shape == (n_slots, 14, 14) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-6)
    sums = got.sum(0)
    if n_slots >= 6:  # every label has a slot: the cells are fully covered, the extra slots empty
        np.testing.assert_allclose(sums, 1.0, atol=1e-6)
        assert not got[6:].any()
    else:  # the smallest labels' pixels are left out
        assert sums.max() <= 1 + 1e-6 and sums.min() < 1


def test_fractions_match_torch_adaptive_pooling_on_uneven_sizes():
    labels = blob_labels(37, 53, 5, seed=1)
    got = slot_fractions(labels, 4, 6)
    masks = torch.as_tensor(reference_masks(labels, 4), dtype=torch.float64)
    expected = F.adaptive_avg_pool2d(masks, 6).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_features_are_fractions_that_cover_the_image(photo):
    enc = create_encoder("slic", n_segments=16, grid=14)
    features = enc.encode([photo])
    assert features.shape == (1, 16 * 14 * 14) and features.dtype == torch.float32
    assert features.min() >= 0 and features.max() <= 1
    maps = features.view(16, 14, 14)
    labels = superpixel_labels(np.asarray(resize_image(photo, enc.preprocess)), 16, 10.0)
    sums = maps.sum(0)
    assert sums.max() <= 1 + 1e-5
    if labels.max() + 1 <= 16:  # every superpixel has a slot (7 with scikit-image 0.26)
        torch.testing.assert_close(sums, torch.ones(14, 14), atol=1e-5, rtol=0)
    else:  # the smallest superpixels are left out
        assert sums.min() < 1
    areas = maps.sum((1, 2))
    assert torch.all(areas[:-1] >= areas[1:] - 1e-5)  # largest first


def test_two_flat_halves_give_two_half_slots():
    pixels = np.zeros((64, 128, 3), np.uint8)
    pixels[:, :64, 0] = 255  # red left half
    pixels[:, 64:, 2] = 255  # blue right half
    enc = SuperpixelEncoder(n_segments=2, grid=4, short_side=64, max_long_side=128)
    maps = enc.encode([Image.fromarray(pixels)]).view(2, 4, 4)
    left = maps[:, :, :2].mean((1, 2))
    first, second = (0, 1) if left[0] > left[1] else (1, 0)
    assert torch.equal(maps[first, :, :2], torch.ones(4, 2)) and torch.equal(maps[first, :, 2:], torch.zeros(4, 2))
    assert torch.equal(maps[second, :, 2:], torch.ones(4, 2)) and torch.equal(maps[second, :, :2], torch.zeros(4, 2))


def test_deterministic(photo):
    small = photo.resize((160, 107))
    a = SuperpixelEncoder(n_segments=8, grid=5, short_side=96).encode([small, photo])
    b = SuperpixelEncoder(n_segments=8, grid=5, short_side=96).encode([small, photo])
    assert torch.equal(a, b)


def test_layout_and_concatenation(photo):
    enc = create_encoder("slic", n_segments=5, grid=3, short_side=96)
    assert enc.layout() == [(5, 3, 3)] and enc.feature_dim == 45 and not enc.onnx_exportable
    both = create_encoder("photometric+slic", slic={"n_segments": 5, "grid": 3, "short_side": 96})
    assert both.layout() == [(56,), (5, 3, 3)] and both.feature_dim == 56 + 45
    features = both.encode([photo])
    assert torch.equal(features[:, 56:], enc.encode([photo]))
    assert both.encoder_id().endswith(enc.encoder_id())


def test_encoder_id_names_every_parameter_and_the_skimage_version():
    import skimage

    base = SuperpixelEncoder()
    assert f"skimage{'.'.join(skimage.__version__.split('.')[:2])}" in base.encoder_id()
    variants = [
        base,
        SuperpixelEncoder(n_segments=8),
        SuperpixelEncoder(compactness=20.0),
        SuperpixelEncoder(grid=7),
        SuperpixelEncoder(short_side=192),
        SuperpixelEncoder(max_long_side=384),
    ]
    assert len({v.encoder_id() for v in variants}) == len(variants)
    assert SuperpixelEncoder().encoder_id() == base.encoder_id()


@pytest.mark.parametrize("kwargs", [{"n_segments": 0}, {"grid": 0}, {"compactness": 0.0}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        SuperpixelEncoder(**kwargs)


def test_importing_phoneiqa_does_not_import_skimage():
    code = "import sys, phoneiqa.encoders, phoneiqa.heads; print('skimage' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
