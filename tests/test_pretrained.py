"""The shipped models' packed runtime form: current, faithful to the PyTorch models, and small."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from PIL import Image

from phoneiqa.loading import PRETRAINED, PRETRAINED_DIR, packed_spec, pretrained_path

SHIPPED = sorted({name for name, file in PRETRAINED.items() if name == file.removesuffix(".pt")})
"""One name per shipped file."""


@pytest.mark.parametrize("name", SHIPPED)
def test_packed_runtime_is_built_from_the_shipped_checkpoint(name):
    spec = json.loads(packed_spec(name).read_text(encoding="utf-8"))
    digest = hashlib.sha256(pretrained_path(name).read_bytes()).hexdigest()
    assert spec["checkpoint_sha256"] == digest, "rebuild: python benchmarks/train_shipped_models.py --record-only"
    for shard, _ in spec["external"].values():
        assert (PRETRAINED_DIR / shard).is_file()


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_packed_runtime_agrees_with_the_pytorch_model(name, tmp_path):
    """Float16 weights move the score by hundredths of a point (of 0..100); the issue probabilities and
    levels match (the issue heads' weights are small enough to stay float32)."""
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
    np.testing.assert_allclose(packed["probabilities"], torch_model.issues.probabilities.numpy(), atol=1e-4)
    np.testing.assert_array_equal(packed["levels"], torch_model.issues.levels.numpy())


def test_shipped_files_fit_the_size_budget():
    """Each file under 20 MB, all of them together under 40 MB."""
    sizes = {p.name: p.stat().st_size for p in PRETRAINED_DIR.iterdir() if p.suffix in {".pt", ".onnx", ".npz"}}
    assert max(sizes.values()) < 20e6 and sum(sizes.values()) < 40e6, sizes
