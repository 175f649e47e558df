"""The shipped models' packed runtime form: current, faithful to the PyTorch models, and small."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from PIL import Image

from phoneiqa.loading import PRETRAINED_DIR, packed_spec, pretrained_path
from phoneiqa.specs import SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_packed_runtime_is_built_from_the_shipped_checkpoint(name):
    spec = json.loads(packed_spec(name).read_text(encoding="utf-8"))
    digest = hashlib.sha256(pretrained_path(name).read_bytes()).hexdigest()
    assert spec["checkpoint_sha256"] == digest, "rebuild: python tools/train_shipped_models.py --record-only"
    for shard, _ in spec["external"].values():
        assert (PRETRAINED_DIR / shard).is_file()


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_packed_runtime_agrees_with_the_pytorch_model(name, tmp_path):
    """Float16 weights move the score by hundredths of a point (of 0..100) and, as the issue heads read the
    EfficientNet features too, the issue probabilities by thousandths; the levels match."""
    pytest.importorskip("torch")
    from phoneiqa.model import Model
    from phoneiqa.runtime import load_packed

    rng = np.random.default_rng(1)
    ramp = np.linspace(0, 255, 300 * 400 * 3).reshape(300, 400, 3).astype(np.uint8)
    images = [Image.fromarray(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)), Image.fromarray(ramp)]
    images += [Image.fromarray((np.asarray(images[0]) * 0.3).astype(np.uint8))]  # a dark photo
    packed = load_packed(packed_spec(name), threads=2).predict_images(images)
    torch_model = Model.load(pretrained_path(name)).predict_images(images)
    np.testing.assert_allclose(packed["score"], torch_model.scores.numpy(), atol=0.05)
    np.testing.assert_allclose(packed["probabilities"], torch_model.issues.probabilities.numpy(), atol=3e-3)
    np.testing.assert_array_equal(packed["levels"], torch_model.issues.levels.numpy())


def test_shipped_files_fit_the_size_budget():
    """Each file under 20 MB, all of them together under 40 MB."""
    sizes = {p.name: p.stat().st_size for p in PRETRAINED_DIR.iterdir() if p.suffix in {".pt", ".onnx", ".npz"}}
    assert max(sizes.values()) < 20e6 and sum(sizes.values()) < 40e6, sizes


def _gain(codes: np.ndarray, stops: float) -> np.ndarray:
    """An exposure change of ``stops`` in linear light (IEC sRGB), clipped at white: written out here."""
    v = codes / 255.0
    lin = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4) * 2.0**stops
    lin = np.clip(lin, 0, 1)
    return (np.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin ** (1 / 2.4) - 0.055) * 255 + 0.5).astype(np.uint8)


@pytest.mark.parametrize("name", SHIPPED)
def test_the_shipped_levels_are_on_the_viewers_scale(name):
    """The package's sample photo (a temple under a bright sky, well exposed) as it is and one stop darker is
    left alone, as most viewers leave a one-stop change; five stops darker is dark (viewers: severe and
    worse), and three stops brighter is bright or blown; `exposure_stops` orders the changes."""
    import phoneiqa
    from phoneiqa.cli import sample_photo

    model = phoneiqa.load(name)
    photo = np.asarray(Image.open(sample_photo()).convert("RGB"))
    results = {stops: model.assess(_gain(photo, stops)) for stops in (0, -1, -5, 3)}
    assert results[0].flagged() == {} and "dark" not in results[-1].flagged()
    assert results[-5].issues["dark"] >= 1 and results[-5].issues["bright"] == 0
    assert results[3].issues["bright"] + results[3].issues["overexposed"] >= 1 and results[3].issues["dark"] == 0
    stops = [results[s].exposure_stops for s in (-5, -1, 0, 3)]
    assert stops == sorted(stops) and stops[0] < -1.5 < stops[-1]
