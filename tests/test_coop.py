"""CoOp prompt learning on a tiny randomly initialised open_clip model (no network)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from phoneiqa.coop import PromptLearner
from phoneiqa.encoders.clip import ClipEncoder

PHRASES = ["bright, none", "bright, severe", "over_suppressed, blocking"]


@pytest.fixture
def clip(tiny_clip) -> ClipEncoder:
    return tiny_clip


def reference_features(clip: ClipEncoder, prompts: list[str]) -> torch.Tensor:
    """open_clip's own text features of plain-text prompts."""
    with torch.no_grad():
        return F.normalize(clip.model.encode_text(clip.tokenizer(prompts)), dim=-1)


def test_shapes_unified_and_class_specific(clip):
    unified = PromptLearner(clip, PHRASES, n_ctx=4)
    assert unified.ctx.shape == (4, 64) and list(unified.state_dict()) == ["ctx"]
    specific = PromptLearner(clip, PHRASES, n_ctx=4, class_specific=True)
    assert specific.ctx.shape == (3, 4, 64)
    for learner in (unified, specific):
        text = learner()
        assert text.shape == (3, 32) and torch.allclose(text.norm(dim=1), torch.ones(3))


def test_random_init_scale(clip):
    torch.manual_seed(1)
    ctx = PromptLearner(clip, PHRASES, n_ctx=16).ctx
    assert ctx.mean().abs() < 0.003 and 0.018 < ctx.std() < 0.022


def test_phrase_init_is_the_phrase(clip):
    learner = PromptLearner(clip, PHRASES, init="a photo of a")
    tokens = clip.tokenizer(["a photo of a"])[0]
    assert learner.n_ctx == 4
    assert torch.equal(learner.ctx, clip.model.token_embedding(tokens[1:5]))
    # before training, the prompts are exactly the text "a photo of a <phrase>."
    expected = reference_features(clip, [f"a photo of a {phrase}." for phrase in PHRASES])
    assert torch.allclose(learner.cached_text_features(), expected, atol=1e-6)


def test_one_step_moves_only_the_context(clip):
    tower = [p.detach().clone() for p in clip.text_tower().parameters()]
    learner = PromptLearner(clip, PHRASES, n_ctx=4)
    before = learner.ctx.detach().clone()
    optimiser = torch.optim.Adam(learner.parameters(), lr=0.01)
    image = F.normalize(torch.randn(2, 32), dim=-1)
    loss = F.cross_entropy(20 * image @ learner().T, torch.tensor([0, 2]))
    loss.backward()
    optimiser.step()
    assert not torch.equal(learner.ctx, before)
    params = clip.text_tower().parameters()
    assert all(not p.requires_grad and p.grad is None for p in params)
    assert all(torch.equal(p, q) for p, q in zip(params, tower, strict=True))


def test_class_specific_contexts_learn_separately(clip):
    learner = PromptLearner(clip, PHRASES, n_ctx=2, class_specific=True)
    learner().sum(0)[0].backward()  # every class contributes, each through its own context
    assert all(learner.ctx.grad[c].abs().sum() > 0 for c in range(3))
    torch.nn.init.zeros_(learner.ctx.grad)
    learner()[1, 0].backward()  # only class 1's features
    assert learner.ctx.grad[1].abs().sum() > 0 and learner.ctx.grad[[0, 2]].abs().sum() == 0


def test_cached_features_follow_the_context(clip):
    learner = PromptLearner(clip, PHRASES)
    cached = learner.cached_text_features()
    assert not cached.requires_grad and torch.equal(cached, learner().detach())
    assert learner.cached_text_features() is cached
    with torch.no_grad():
        learner.ctx.add_(0.1)
    assert not torch.equal(learner.cached_text_features(), cached)


def test_hex_coop_head_trains_from_the_config_and_reloads_without_the_text_tower(tiny_clip, tmp_path):
    """phoneiqa.training with the hex-coop head end to end; the checkpoint carries the cached text
    features, so the reloaded head gives the same potentials without a trained text tower."""
    from PIL import Image
    from sklearn.datasets import load_sample_image

    from phoneiqa.model import Model
    from phoneiqa.synth import generate_dataset
    from phoneiqa.training import DataConfig, DataSource, HeadConfig, ModelConfig, OptimConfig, TrainConfig, train

    bases = []
    for i, name in enumerate(("china.jpg", "flower.jpg", "china.jpg")):
        path = tmp_path / f"base{i}.png"
        Image.fromarray(load_sample_image(name)[i * 60 : i * 60 + 200, :300]).save(path)
        bases.append(path)
    generate_dataset(bases, tmp_path / "set", per_image=6, seed=0, fractions=(0.66, 0.34))
    cfg = TrainConfig(
        DataConfig(
            train=[DataSource(str(tmp_path / "set" / "labels_train.csv"))],
            val=[DataSource(str(tmp_path / "set" / "labels_val.csv"))],
            cache_dir=str(tmp_path / "cache"),
        ),
        model=ModelConfig(
            encoder="clip",
            encoder_args={"model_name": tiny_clip.model_name},
            score_head=None,
            issue_head=HeadConfig("hex-coop", {"n_ctx": 2}),
        ),
        optim=OptimConfig(epochs=3),
    )
    result = train(cfg, tmp_path / "run")
    head = result.model.issue_head
    assert head.name == "hex-coop" and head.text_features.abs().sum() > 0
    assert not any(p.requires_grad for p in result.model.encoder.parameters())
    assert len(result.model.meta["curves"]["issues"]["val"]) == 3
    loaded = Model.load(result.checkpoint)
    features = torch.randn(5, head.in_features)
    assert torch.allclose(loaded.issue_head.potentials(features), head.potentials(features), atol=1e-6)
