"""What every registered encoder and head must do (parametrised over the registries, as timm's tests are)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from phoneiqa.encoders import create_encoder, list_encoders
from phoneiqa.evaluate import evaluate
from phoneiqa.heads import HEADS, list_heads
from phoneiqa.heads.base import ScoreHead
from phoneiqa.model import Model
from phoneiqa.preprocess import load_scaled
from phoneiqa.runtime import RuntimeUnsupported, load_runtime
from phoneiqa.training import DataConfig, DataSource, HeadConfig, ModelConfig, OptimConfig, TrainConfig, train

SMALL = {"short_side": 64, "max_long_side": 128}
ENCODER_ARGS = {
    "effnet-lite0": SMALL,
    "effnet-lite1": SMALL,
    "effnet-lite2": SMALL,
    "photometric": SMALL,
    "exposure": SMALL,
    "slic": {"n_segments": 4, "grid": 4},
}
"""Small, offline arguments per encoder (CLIP gets the tiny random config of ``conftest.tiny_clip``)."""
SCORE_HEAD_ENCODERS = {
    "qualitynet": ("effnet-lite0", {"effnet-lite0": {"stages": [6], "grid": 2, **SMALL}}),
    "dpam": (
        "effnet-lite0+slic+photometric",
        {
            "effnet-lite0": {"stages": [4], "grid": 4, **SMALL},
            "slic": {"n_segments": 4, "grid": 4},
            "photometric": SMALL,
        },
    ),
}
"""The encoder each map-reading score head is made for; the others read photometric statistics."""
SCORE_HEADS = [name for name in list_heads() if issubclass(HEADS.get(name), ScoreHead)]
NO_RUNTIME = {"slic", "clip", "qcern"}
"""Encoders and heads with no ONNX (or numpy) form: their models run on the PyTorch backend only."""


@pytest.mark.parametrize("name", list_encoders())
def test_every_encoder_builds_offline_and_encodes_what_it_declares(name, request, scored_images):
    encoder = request.getfixturevalue("tiny_clip") if name == "clip" else create_encoder(name, **ENCODER_ARGS[name])
    _, paths = scored_images
    images = [load_scaled(p, 64) for p in paths[:3]]
    with torch.no_grad():
        features = encoder.encode(images)
        again = encoder.encode(images[:1])
    assert features.shape == (3, encoder.feature_dim) and torch.isfinite(features).all()
    torch.testing.assert_close(again[0], features[0], rtol=1e-4, atol=1e-4)  # a batch of one agrees
    assert encoder.encoder_id() == encoder.encoder_id() and name.split("-")[0] in encoder.encoder_id()


def test_score_heads_are_all_covered():
    assert set(SCORE_HEADS) == {"dpam", "kernel-ridge", "mlp", "qcern", "qualitynet", "ridge"}


@pytest.mark.parametrize("name", SCORE_HEADS)
def test_every_score_head_trains_round_trips_compiles_and_evaluates(name, scored_images, tmp_path):
    """Trained for one epoch: the checkpoint reloads bit-identically, the model compiles into the runtime
    (or says why it cannot) and ``evaluate`` writes its metrics and both figures."""
    csv, paths = scored_images
    encoder, encoder_args = SCORE_HEAD_ENCODERS.get(name, ("photometric", {"photometric": SMALL}))
    cfg = TrainConfig(
        DataConfig(train=[DataSource(str(csv))], cache_dir=str(tmp_path / "cache")),
        model=ModelConfig(
            encoder=encoder,
            encoder_args=encoder_args.get(encoder, encoder_args) if "+" not in encoder else encoder_args,
            score_head=HeadConfig(name),
            issue_head=None,
        ),
        optim=OptimConfig(epochs=1, batch_size=8),
    )
    result = train(cfg, tmp_path / "run")
    loaded = Model.load(result.checkpoint)
    images = [load_scaled(p, loaded.short_side) for p in paths[:4]]
    assert torch.equal(loaded.predict_images(images).scores, result.model.predict_images(images).scores)

    if {*encoder.split("+"), name} & NO_RUNTIME:
        with pytest.raises(RuntimeUnsupported, match="has no ONNX"):
            load_runtime(result.checkpoint, cache_dir=tmp_path / "runtime")
    else:  # compiling checks the runtime against the PyTorch model (1e-4) and fails otherwise
        runtime = load_runtime(result.checkpoint, cache_dir=tmp_path / "runtime")
        assert np.isfinite([a.score for a in runtime.assess(paths[:4])]).all()

    metrics = evaluate(loaded, [DataSource(str(csv))], out_dir=tmp_path / "eval", figures=True)
    assert metrics["score"]["n"] == len(paths)
    assert (tmp_path / "eval" / "tsne.png").stat().st_size > 0 and (tmp_path / "eval" / "ranking.jpg").exists()
    assert len(pd.read_csv(tmp_path / "eval" / "predictions.csv")) == len(paths)


@pytest.mark.parametrize(
    ("kind", "name", "arguments", "message"),
    [
        ("head", "mlp", {"hiden": 32}, "head 'mlp' has no parameter 'hiden' (did you mean 'hidden'?)"),
        ("head", "hex-linear", {"hiden": 3}, "head 'hex-linear' has no parameter 'hiden' (did you mean 'hidden'?)"),
        ("head", "kernel-ridge", {"width": [1.0]}, "has no parameter 'width' (did you mean 'widths'?)"),
        ("encoder", "photometric", {"shortside": 3}, "encoder 'photometric' has no parameter 'shortside'"),
        ("head", "mlp", {"hidden": -1}, "mlp: hidden must be a positive integer, got -1"),
        ("head", "qcern", {"n_pivots": 1}, "qcern: n_pivots must be at least 2, got 1"),
        ("head", "hex-linear", {"dropout": 1.5}, "hex-linear: dropout must be in [0, 1), got 1.5"),
    ],
)
def test_a_bad_parameter_is_named_with_its_value(kind, name, arguments, message):
    from phoneiqa.encoders import create_encoder
    from phoneiqa.errors import ConfigError
    from phoneiqa.heads import create_head

    with pytest.raises(ConfigError) as info:
        if kind == "head":
            create_head(name, in_features=4, **arguments)
        else:
            create_encoder(name, **arguments)
    assert message in str(info.value)


def test_a_head_is_named_by_its_registry_and_its_config_is_its_signature():
    """``config`` holds every constructor parameter with the value given or its default (base classes'
    too), so ``create_head(name, in_features=D, **head.config)`` rebuilds the same head."""
    import inspect

    from phoneiqa.heads import create_head

    for name in list_heads():
        assert HEADS.get(name).name == name
    mlp = create_head("mlp", in_features=4, hidden=8)
    assert mlp.config == {"hidden": 8, "dropout": 0.1}
    hex_head = create_head("hex-linear", in_features=4, loss="nll")
    base_defaults = {
        k: p.default
        for k, p in inspect.signature(HEADS.get("hex-linear").__mro__[1].__init__).parameters.items()
        if k not in ("self", "in_features")
    }
    assert hex_head.config == {**base_defaults, "loss": "nll", "hidden": 0, "dropout": 0.1}
    rebuilt = create_head("hex-linear", in_features=4, **hex_head.config)
    assert rebuilt.config == hex_head.config and rebuilt.net[-1].out_features == hex_head.net[-1].out_features
