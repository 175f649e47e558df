"""The DPAM-style score head: superpixel region tokens, masking, loss, learning, checkpoints, training."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.stats import spearmanr

import phoneiqa
from phoneiqa.encoders.superpixels import slot_fractions
from phoneiqa.heads import create_head
from phoneiqa.heads.dpam import DPAMHead, superpixel_tokens
from phoneiqa.losses import plcc_loss
from phoneiqa.model import Model
from phoneiqa.training import (
    DataConfig,
    DataSource,
    HeadConfig,
    ModelConfig,
    OptimConfig,
    TrainConfig,
    fit_head,
    train,
    validate_score,
)

C, G, DV = 6, 4, 3  # semantic channels, grid cells per side, vector features


def layout(slots: int) -> list[list[int]]:
    return [[C, G, G], [slots, G, G], [DV]]


def width(slots: int) -> int:
    return C * G * G + slots * G * G + DV


def synthetic(n: int, slots: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Features of ``n`` made-up images (random regions of a G×G grid, random maps and vectors) and
    scores = mean of semantic channel 0 inside the largest region + half the first vector feature."""
    rng = np.random.default_rng(seed)
    semantic = rng.normal(size=(n, C, G, G))
    vectors = rng.normal(size=(n, DV))
    yy, xx = np.mgrid[:G, :G]
    assignment = np.zeros((n, slots, G, G))
    for b in range(n):
        centres = rng.uniform(0, G, size=(slots, 2))
        labels = ((yy[..., None] - centres[:, 0]) ** 2 + (xx[..., None] - centres[:, 1]) ** 2).argmin(-1)
        assignment[b] = slot_fractions(labels, slots, G)  # one pixel per cell: 0/1 fractions
    largest = assignment[:, 0]
    scores = (semantic[:, 0] * largest).sum((1, 2)) / largest.sum((1, 2)) + 0.5 * vectors[:, 0]
    features = np.concatenate([semantic.reshape(n, -1), assignment.reshape(n, -1), vectors], axis=1)
    return torch.as_tensor(features, dtype=torch.float32), torch.as_tensor(scores, dtype=torch.float32)


def small_head(slots: int = 4, **kwargs) -> DPAMHead:
    torch.manual_seed(0)
    args = {"dim": 16, "heads": 2, "dropout": 0.0, **kwargs}
    return create_head("dpam", in_features=width(slots), layout=layout(slots), **args)


# ------------------------------------------------------------------ token pooling
def test_superpixel_tokens_are_masked_averages():
    # 2×2 cells; slot 0 covers cell 0 fully and half of cell 1, slot 1 the rest, slot 2 nothing
    assignment = np.array([[1.0, 0.5, 0.0, 0.0], [0.0, 0.5, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    semantic = np.array([[1.0, 3.0, 5.0, 7.0], [-2.0, 0.0, 4.0, 10.0]])
    expected = np.zeros((3, 2))
    for k in range(3):
        if assignment[k].sum() > 0:
            expected[k] = (assignment[k] * semantic).sum(1) / assignment[k].sum()
    assert np.allclose(expected[0], [5 / 3, -4 / 3]) and np.allclose(expected[1], [5.4, 5.6])
    tokens, area = superpixel_tokens(torch.tensor(assignment)[None], torch.tensor(semantic)[None])
    np.testing.assert_allclose(tokens[0].numpy(), expected, atol=1e-12)
    np.testing.assert_allclose(area[0].numpy(), [1.5, 2.5, 0.0])


def test_head_tokens_pool_the_standardised_map():
    features, scores = synthetic(8)
    head = small_head()
    head.prepare(features, scores)
    regions, area, _ = head.tokens(features)
    semantic = features[:, : C * G * G].view(8, C, G * G).double().numpy()
    assignment = features[:, C * G * G : C * G * G + 4 * G * G].view(8, 4, G * G).double().numpy()
    standard = (semantic - head.semantic_mean.numpy()[:, None]) / head.semantic_std.numpy()[:, None]
    for b in range(8):
        for k in range(4):
            mass = assignment[b, k].sum()
            expected = (assignment[b, k] * standard[b]).sum(1) / mass if mass > 0 else np.zeros(C)
            np.testing.assert_allclose(regions[b, k, :C].numpy(), expected, atol=1e-5)
            np.testing.assert_allclose(float(regions[b, k, C]), mass / (G * G), atol=1e-6)  # area share
    np.testing.assert_allclose(area.numpy(), assignment.sum(-1), atol=1e-5)


def test_empty_slots_change_nothing():
    features3, scores = synthetic(16, slots=3, seed=1)
    head3 = small_head(slots=3)
    head3.prepare(features3, scores)
    # the same features with a fourth, empty slot: same parameters, same predictions
    maps = C * G * G
    empty = torch.zeros(16, G * G)
    features4 = torch.cat([features3[:, : maps + 3 * G * G], empty, features3[:, maps + 3 * G * G :]], dim=1)
    head4 = small_head(slots=4)
    head4.load_state_dict(head3.state_dict())
    torch.testing.assert_close(head4.predict(features4), head3.predict(features3), atol=1e-5, rtol=1e-5)
    # garbage in an empty slot's region inputs is ignored too
    head4.eval()
    with torch.no_grad():
        regions, area, distortion = head4.tokens(features4)
        assert (area[:, 3] == 0).all()
        clean = head4.score_tokens(regions, area, distortion)
        regions[:, 3] = 1e3 * torch.randn(16, regions.shape[-1])
        torch.testing.assert_close(head4.score_tokens(regions, area, distortion), clean, atol=1e-6, rtol=0)


# ------------------------------------------------------------------ configuration
@pytest.mark.parametrize(
    ("in_features", "shapes", "kwargs", "message"),
    [
        (width(4) + 1, layout(4), {}, "in_features"),
        (C * G * G + DV, [[C, G, G], [DV]], {}, "exactly two maps"),
        (2 * C * G * G + 4 * G * G, [[C, G, G], [C, G, G], [4, G, G]], {}, "exactly two maps"),
        (C * G * G + 4 * 9 + DV, [[C, G, G], [4, 3, 3], [DV]], {}, "same grid"),
        (width(4), layout(4), {"superpixels": 2}, "superpixels"),
        (width(4), [[C, G * G], [4, G, G], [DV]], {}, r"\[C, H, W\] or \[D\]"),
        (width(4), layout(4), {"dim": 10, "heads": 4}, "multiple of heads"),
    ],
)
def test_layout_errors(in_features, shapes, kwargs, message):
    with pytest.raises(ValueError, match=message):
        create_head("dpam", in_features=in_features, layout=shapes, **kwargs)


def test_superpixels_picks_the_assignment_map():
    head = create_head("dpam", in_features=width(4), layout=[[4, G, G], [C, G, G], [DV]], superpixels=0)
    assert head.segments.slots == 4 and head.segments.channels == C
    assert head.segments.assignment == (0, 4 * G * G)


# ------------------------------------------------------------------ loss
def test_plcc_loss():
    rng = np.random.default_rng(0)
    pred, target = rng.normal(size=12), rng.normal(size=12)
    value = plcc_loss(torch.tensor(pred), torch.tensor(target))
    assert float(value) == pytest.approx(1 - np.corrcoef(pred, target)[0, 1], abs=1e-9)
    assert float(plcc_loss(torch.tensor(pred), torch.tensor(2 * pred + 1))) == pytest.approx(0, abs=1e-9)
    for p, t in [([0.3], [1.0]), ([0.1, 0.5, 0.9], [2.0, 2.0, 2.0]), ([0.7, 0.7, 0.7], [1.0, 2.0, 3.0])]:
        x = torch.tensor(p, requires_grad=True)
        value = plcc_loss(x, torch.tensor(t))
        value.backward()
        assert float(value.detach()) == 0 and torch.isfinite(x.grad).all() and not x.grad.any()


def test_loss_parts():
    features, scores = synthetic(8)
    head = small_head(mae_weight=2.0, plcc_weight=0.5)
    head.prepare(features, scores)
    value, parts = head.loss(features, scores)
    assert set(parts) == {"mae", "plcc"}
    assert float(value.detach()) == pytest.approx(2.0 * parts["mae"] + 0.5 * parts["plcc"], rel=1e-5)
    value.backward()
    assert all(torch.isfinite(p.grad).all() for p in head.parameters() if p.grad is not None)


# ------------------------------------------------------------------ learning and checkpoints
def test_learns_where_the_largest_region_is():
    features, scores = synthetic(256, seed=2)
    head = small_head(dim=32, dropout=0.1)
    cfg = OptimConfig(epochs=150, batch_size=32, lr=1e-3, weight_decay=1e-4, patience=150, seed=2)
    fit_head(head, features[:160], scores[:160], features[160:192], scores[160:192], validate_score, cfg, "dpam")
    srcc = spearmanr(head.predict(features[192:]).numpy(), scores[192:].numpy())[0]
    assert srcc > 0.8, srcc  # about 0.86 here


def test_checkpoint_round_trip():
    features, scores = synthetic(32, seed=3)
    head = small_head()
    head.prepare(features, scores)
    opt = torch.optim.AdamW(head.parameters(), lr=1e-2)
    for _ in range(3):
        loss, _ = head.loss(features, scores)
        opt.zero_grad()
        loss.backward()
        opt.step()
    config = json.loads(json.dumps(head.config))
    rebuilt = create_head("dpam", in_features=head.in_features, **config)
    rebuilt.load_state_dict(head.state_dict())
    assert torch.equal(rebuilt.predict(features), head.predict(features))
    one = torch.cat([head.predict(features[i : i + 1]) for i in range(4)])
    torch.testing.assert_close(one, head.predict(features[:4]), atol=1e-5, rtol=1e-5)


def test_real_config_size():
    head = create_head("dpam", in_features=112 * 196 + 16 * 196 + 56, layout=[[112, 14, 14], [16, 14, 14], [56]])
    assert 300_000 < sum(p.numel() for p in head.parameters()) < 500_000


# ------------------------------------------------------------------ end to end
def test_train_end_to_end(scored_images, tmp_path):
    csv, paths = scored_images
    tiny = {"short_side": 64, "max_long_side": 96}
    cfg = TrainConfig(
        DataConfig(train=[DataSource(str(csv))], cache_dir=str(tmp_path / "cache")),
        model=ModelConfig(
            encoder="effnet-lite0+slic+photometric",
            encoder_args={
                "effnet-lite0": {"stages": [4], "grid": 4, **tiny},
                "slic": {"n_segments": 4, "grid": 4, **tiny},
                "photometric": tiny,
            },
            score_head=HeadConfig("dpam", {"dim": 16, "heads": 2}),
            issue_head=None,
        ),
        optim=OptimConfig(epochs=2, batch_size=8),
    )
    result = train(cfg, tmp_path / "run")
    head = result.model.score_head
    assert isinstance(head, DPAMHead) and head.config["layout"] == [[112, 4, 4], [4, 4, 4], [56]]
    images = [Image.open(p).convert("RGB") for p in paths[:4]]
    expected = result.model.predict_images(images).scores
    loaded = Model.load(result.checkpoint)
    assert torch.equal(loaded.predict_images(images).scores, expected)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = phoneiqa.load(result.checkpoint)
    assert isinstance(model, Model)  # the slic part has no ONNX form: PyTorch
    assert any("PyTorch" in str(w.message) and "slic" in str(w.message) for w in caught)
    assessment = model.assess(paths[0])
    assert assessment.score == pytest.approx(float(expected[0]), abs=1e-3)
