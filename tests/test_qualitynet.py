"""The QualityNet head: attention gates against hand computations, loss, learning, checkpoints, ONNX, training."""

from __future__ import annotations

import io
import json
import math
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.stats import pearsonr, spearmanr

import phoneiqa
from phoneiqa.cli import main
from phoneiqa.heads import create_head
from phoneiqa.heads.qualitynet import AttentionStream, ChannelAttention, SpatialAttention
from phoneiqa.losses import plcc_loss
from phoneiqa.model import Model
from phoneiqa.runtime import Runtime
from phoneiqa.training import OptimConfig, fit_head, validate_score


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _spatial_gate_by_hand(x: np.ndarray, weight: np.ndarray, bias: float) -> np.ndarray:
    """``[C, H, W]`` map -> ``[H, W]`` gate: 3×3 cross-correlation of the zero-padded mean/max maps."""
    pooled = np.stack([x.mean(0), x.max(0)])  # [2, H, W]
    padded = np.pad(pooled, ((0, 0), (1, 1), (1, 1)))
    _, h, w = pooled.shape
    out = np.full((h, w), bias)
    for i in range(h):
        for j in range(w):
            out[i, j] += (padded[:, i : i + 3, j : j + 3] * weight).sum()
    return _sigmoid(out)


def _channel_gate_by_hand(x: np.ndarray, w1, b1, w2, b2) -> np.ndarray:
    """``[C, H, W]`` map -> ``[C]`` gate: shared bottleneck on the spatial mean and max, summed."""

    def fc(v):
        return w2 @ np.maximum(w1 @ v + b1, 0.0) + b2

    return _sigmoid(fc(x.mean((1, 2))) + fc(x.max((1, 2))))


def _set_spatial(block: SpatialAttention, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    weight, bias = rng.normal(size=(2, 3, 3)), 0.3
    with torch.no_grad():
        block.conv.weight.copy_(torch.as_tensor(weight)[None])
        block.conv.bias.fill_(bias)
    return weight, bias


def _set_channel(block: ChannelAttention, rng: np.random.Generator) -> list[np.ndarray]:
    first, second = block.fc[0], block.fc[2]
    params = [
        rng.normal(size=tuple(first.weight.shape)),
        rng.normal(size=tuple(first.bias.shape)),
        rng.normal(size=tuple(second.weight.shape)),
        rng.normal(size=tuple(second.bias.shape)),
    ]
    with torch.no_grad():
        for tensor, value in zip((first.weight, first.bias, second.weight, second.bias), params, strict=True):
            tensor.copy_(torch.as_tensor(value))
    return params


# ------------------------------------------------------------------ attention blocks by hand
def test_spatial_gate_matches_a_hand_computation():
    rng = np.random.default_rng(0)
    block = SpatialAttention().double()
    weight, bias = _set_spatial(block, rng)
    x = rng.normal(size=(2, 3, 4, 5))  # batch of two 3-channel 4×5 maps
    gate = block.gate(torch.as_tensor(x)).detach().numpy()
    assert gate.shape == (2, 1, 4, 5)
    for b in range(2):
        np.testing.assert_allclose(gate[b, 0], _spatial_gate_by_hand(x[b], weight, bias), rtol=1e-10)
    out = block(torch.as_tensor(x)).detach().numpy()
    np.testing.assert_allclose(out, x * gate, rtol=1e-12)


def test_channel_gate_matches_a_hand_computation():
    rng = np.random.default_rng(1)
    block = ChannelAttention(8, reduction=4).double()
    assert block.fc[0].out_features == 2 and ChannelAttention(8, reduction=16).fc[0].out_features == 1
    params = _set_channel(block, rng)
    x = rng.normal(size=(3, 8, 2, 3))
    gate = block.gate(torch.as_tensor(x)).detach().numpy()
    assert gate.shape == (3, 8, 1, 1)
    for b in range(3):
        np.testing.assert_allclose(gate[b, :, 0, 0], _channel_gate_by_hand(x[b], *params), rtol=1e-10)


def test_a_stream_gates_spatially_then_by_channel_then_pools():
    rng = np.random.default_rng(2)
    stream = AttentionStream(4, reduction=2).double()
    weight, bias = _set_spatial(stream.spatial, rng)
    params = _set_channel(stream.channel, rng)
    x = rng.normal(size=(2, 4, 3, 3))
    got = stream(torch.as_tensor(x)).detach().numpy()
    for b in range(2):
        y = x[b] * _spatial_gate_by_hand(x[b], weight, bias)[None]
        y = y * _channel_gate_by_hand(y, *params)[:, None, None]
        np.testing.assert_allclose(got[b], y.mean((1, 2)), rtol=1e-10)


# ------------------------------------------------------------------ layout
def test_layout_validation():
    with pytest.raises(ValueError, match="holds 40 values but in_features is 41"):
        create_head("qualitynet", in_features=41, layout=[[4, 3, 3], [4]])
    with pytest.raises(ValueError, match="no \\[C, H, W\\] map"):
        create_head("qualitynet", in_features=10, layout=[[10]])
    with pytest.raises(ValueError, match="\\[C, H, W\\] or \\[D\\]"):
        create_head("qualitynet", in_features=12, layout=[[4, 3]])
    with pytest.raises(ValueError, match="non-empty list"):
        create_head("qualitynet", in_features=12, layout=[])
    with pytest.raises(ValueError, match="dropout"):
        create_head("qualitynet", in_features=36, layout=[[4, 3, 3]], dropout=1.0)
    head = create_head("qualitynet", in_features=40, layout=((4, 3, 3), (4,)), hidden=(8,))
    assert head.config["layout"] == [[4, 3, 3], [4]] and json.loads(json.dumps(head.config)) == head.config


def test_every_segment_feeds_the_score():
    torch.manual_seed(0)
    layout = [[4, 3, 3], [5], [2, 2, 2]]
    head = create_head("qualitynet", in_features=36 + 5 + 8, layout=layout, hidden=[16, 8]).eval()
    x = torch.randn(6, 49)
    base = head.predict(x)
    assert base.shape == (6,)
    for start, stop in ((0, 36), (36, 41), (41, 49)):
        changed = x.clone()
        changed[:, start:stop] += torch.randn(6, stop - start)
        assert not torch.allclose(head.predict(changed), base), (start, stop)
    # the vector segment reaches the regressor standardised and unchanged otherwise
    assert torch.equal(head.embed(x)[:, 4:9], x[:, 36:41])
    assert head.embed(x).shape == (6, 4 + 5 + 2)


def test_prepare_standardises_each_map_per_channel():
    layout = [[3, 2, 2], [2]]
    x = torch.randn(50, 14) * torch.linspace(0.5, 3, 14) + torch.arange(14.0)
    head = create_head("qualitynet", in_features=14, layout=layout, hidden=[4])
    head.prepare(x, torch.randn(50))
    per_channel = x[:, :12].reshape(50, 3, 4).transpose(0, 1).reshape(3, -1)
    torch.testing.assert_close(head.feature_mean[:12], per_channel.mean(1).repeat_interleave(4))
    torch.testing.assert_close(head.feature_std[:12], per_channel.std(1).repeat_interleave(4))
    torch.testing.assert_close(head.feature_std[12:], x[:, 12:].std(0))


# ------------------------------------------------------------------ loss
def test_plcc_loss_is_one_minus_pearson_and_safe_when_undefined():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=12), rng.normal(size=12)
    b += a
    value = plcc_loss(torch.as_tensor(a), torch.as_tensor(b))
    assert float(value) == pytest.approx(1.0 - pearsonr(a, b)[0], abs=1e-12)

    for pred, target in (
        (torch.tensor([0.7]), torch.tensor([0.2])),  # one sample
        (torch.full((5,), 0.3), torch.randn(5)),  # constant predictions
        (torch.randn(5), torch.full((5,), -1.0)),  # constant targets
    ):
        pred.requires_grad_(True)
        loss = plcc_loss(pred, target)
        loss.backward()
        assert float(loss.detach()) == 0.0 and torch.isfinite(pred.grad).all()


def test_loss_parts_and_a_training_batch_of_one():
    torch.manual_seed(0)
    head = create_head("qualitynet", in_features=20, layout=[[5, 2, 2]], hidden=[8, 4], plcc_weight=10.0)
    x, y = torch.randn(16, 20), torch.randn(16)
    head.prepare(x, y)
    head.train()
    loss, parts = head.loss(x, y)
    assert set(parts) == {"mae", "plcc"}
    assert float(loss.detach()) == pytest.approx(parts["mae"] + 10.0 * parts["plcc"], rel=1e-5)
    norm = head.regressor[1]
    before = norm.running_mean.clone()
    loss, parts = head.loss(x[:1], y[:1])  # BatchNorm1d alone would raise here
    loss.backward()
    assert math.isfinite(float(loss.detach())) and parts["plcc"] == 0.0
    assert torch.equal(norm.running_mean, before) and norm.training and head.training


# ------------------------------------------------------------------ learning, checkpoints, ONNX
def _synthetic(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Two streams (8×4×4, 16×4×4): a 2×2 blob of amplitude a at a random place; score = 3a + noise."""
    a = torch.rand(n, generator=generator)
    first = 0.5 * torch.randn(n, 8, 4, 4, generator=generator)
    second = 0.5 * torch.randn(n, 16, 4, 4, generator=generator)
    rows = torch.randint(0, 3, (n,), generator=generator)
    cols = torch.randint(0, 3, (n,), generator=generator)
    for k in range(n):
        r, c = int(rows[k]), int(cols[k])
        first[k, 0, r : r + 2, c : c + 2] += 3 * a[k]
        second[k, 5, r : r + 2, c : c + 2] += 2 * a[k]
    score = 3 * a + 0.1 * torch.randn(n, generator=generator)
    return torch.cat([first.flatten(1), second.flatten(1)], dim=1), score


LAYOUT = [[8, 4, 4], [16, 4, 4]]


@pytest.fixture(scope="module")
def fitted():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    x, y = _synthetic(384, gen)
    head = create_head("qualitynet", in_features=x.shape[1], layout=LAYOUT, reduction=4, hidden=[64, 32, 16])
    cfg = OptimConfig(epochs=25, batch_size=32, lr=3e-3, weight_decay=1e-4, patience=25)
    curves = fit_head(head, x[:200], y[:200], x[200:256], y[200:256], validate_score, cfg, "qualitynet")
    return head, x[256:], y[256:], curves


def test_learns_a_spatial_pattern(fitted):
    head, x_test, y_test, curves = fitted
    srcc = spearmanr(head.predict(x_test).numpy(), y_test.numpy())[0]
    assert srcc > 0.8, (srcc, curves["val"])
    assert not head.training


def test_checkpoint_round_trip_gives_identical_predictions(fitted):
    head, x_test, _, _ = fitted
    config = json.loads(json.dumps(head.config))
    rebuilt = create_head("qualitynet", in_features=head.in_features, **config)
    rebuilt.load_state_dict(head.state_dict())
    assert torch.equal(rebuilt.predict(x_test), head.predict(x_test))
    torch.testing.assert_close(head.predict(x_test[:1]), head.predict(x_test)[:1], rtol=1e-5, atol=1e-5)


def test_exports_to_onnx(fitted):
    import onnxruntime as ort

    head, x_test, _, _ = fitted
    head.eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            head,
            (x_test[:4],),
            buffer,
            input_names=["features"],
            output_names=["score"],
            dynamic_axes={"features": {0: "batch"}, "score": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    got = session.run(None, {"features": x_test[:7].numpy()})[0]
    np.testing.assert_allclose(got, head.predict(x_test[:7]).numpy(), rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------ end to end
def test_trains_and_evaluates_from_the_cli(scored_images, tmp_path, capsys):
    csv, paths = scored_images
    config = {
        "model": {
            "encoder": "effnet-lite0",
            "encoder_args": {"stages": [6], "grid": 3, "short_side": 64, "max_long_side": 96},
            "score_head": {"name": "qualitynet", "args": {"hidden": [32, 16, 8]}},
            "issue_head": None,
        },
        "data": {"train": [{"csv": str(csv)}], "cache_dir": str(tmp_path / "cache")},
        "optim": {"epochs": 2, "batch_size": 8},
    }
    (tmp_path / "qualitynet.json").write_text(json.dumps(config))
    assert main(["train", str(tmp_path / "qualitynet.json"), "--out", str(tmp_path / "run")]) == 0
    checkpoint = tmp_path / "run" / "model.pt"
    assert main(["evaluate", str(checkpoint), str(csv)]) == 0
    assert "score (n=24): SRCC" in capsys.readouterr().out

    model = Model.load(checkpoint)
    assert model.score_head.config["layout"] == [[320, 3, 3]]
    images = [Image.open(p).convert("RGB") for p in paths[:5]]
    scores = model.predict_images(images).scores
    assert torch.isfinite(scores).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # grid pooling compiles: no fallback warning
        backend = phoneiqa.load(checkpoint)
    assert isinstance(backend, Runtime)
    odd = Image.open(paths[3]).convert("RGB").resize((77, 61))  # a size the export never saw
    assert backend.assess(odd).score == pytest.approx(model.assess(odd).score, abs=1e-3)
    assert backend.assess(images[3]).score == pytest.approx(float(scores[3]), abs=1e-3)
