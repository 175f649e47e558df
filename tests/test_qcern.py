"""The score heads: QCERN pieces (pivot placement, projection scoring, grouping, bank) and both heads end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from phoneiqa.heads import create_head
from phoneiqa.heads.qcern import (
    ComparisonTransformer,
    bank_indices,
    group_layout,
    lloyd_max_levels,
    project_scores,
    uniform_levels,
)

SMALL = {"width": 32, "heads": 4, "n_pivots": 21, "n_images": 6, "n_transformers": 2}


# ------------------------------------------------------------------ projection scoring
def test_project_scores_on_a_hand_built_chain():
    # five pivots on the x axis at x = 0..4 with uneven scores
    pivots = torch.zeros(5, 3)
    pivots[:, 0] = torch.arange(5.0)
    theta = torch.tensor([0.0, 10.0, 15.0, 30.0, 50.0])
    h = torch.tensor(
        [
            [2.25, 0.1, 0.0],  # a quarter of the way from pivot 2 to 3, slightly off the line
            [0.5, 0.0, -0.2],  # halfway between pivots 0 and 1
            [3.9, 0.0, 0.0],
            [1.0, 0.0, 0.0],  # exactly on pivot 1
            [6.0, 0.0, 0.0],  # beyond the last pivot: clamped to its score
            [-1.0, 0.3, 0.0],  # before the first pivot
        ]
    )
    expected = torch.tensor([18.75, 5.0, 48.0, 10.0, 50.0, 0.0])
    assert torch.allclose(project_scores(h, pivots, theta), expected, atol=1e-5)


def test_project_scores_per_group_pivots():
    theta = torch.tensor([0.0, 1.0, 2.0])
    line = torch.zeros(3, 2)
    line[:, 0] = torch.arange(3.0)
    pivots = torch.stack([line, 2 * line])  # group 1 has its chain stretched by two
    h = torch.tensor([[[1.5, 0.0]], [[1.5, 0.0]]])
    assert torch.allclose(project_scores(h, pivots, theta), torch.tensor([[1.5], [0.75]]))


# ------------------------------------------------------------------ pivot placement
def test_lloyd_max_matches_the_gaussian_quantiser():
    values = torch.randn(200_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    # Max (1960): optimal levels of the unit Gaussian
    assert lloyd_max_levels(values, 2).numpy() == pytest.approx([-0.7979, 0.7979], abs=0.01)
    assert lloyd_max_levels(values, 4).numpy() == pytest.approx([-1.510, -0.4528, 0.4528, 1.510], abs=0.015)


def test_lloyd_max_moves_levels_to_the_clusters():
    gen = torch.Generator().manual_seed(1)
    values = torch.cat([torch.rand(750, generator=gen), 10 + torch.rand(250, generator=gen)])
    # the quantile start puts both levels in the big cluster; the iteration must move one across
    levels = lloyd_max_levels(values, 2)
    assert levels.numpy() == pytest.approx([float(values[:750].mean()), float(values[750:].mean())], abs=1e-6)
    levels = lloyd_max_levels(values, 8)
    assert not ((levels > 1.0) & (levels < 10.0)).any()


def test_lloyd_max_on_uniform_data_is_nearly_uniform():
    values = torch.rand(100_000, generator=torch.Generator().manual_seed(2))
    levels = lloyd_max_levels(values, 10)
    assert levels.numpy() == pytest.approx((np.arange(10) + 0.5) / 10, abs=0.01)


def test_levels_are_strictly_increasing_for_discrete_scores():
    values = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0]).repeat(20)
    levels = lloyd_max_levels(values, 11)
    assert (levels.diff() > 0).all()
    assert uniform_levels(values, 5).numpy() == pytest.approx([1, 2, 3, 4, 5])
    with pytest.raises(ValueError, match="two different values"):
        lloyd_max_levels(torch.ones(10), 5)


# ------------------------------------------------------------------ grouping and bank
@pytest.mark.parametrize(
    ("batch", "sizes"), [(36, [18, 18]), (20, [10, 10]), (19, [10, 9]), (1, [1]), (40, [14, 13, 13])]
)
def test_group_layout_covers_the_batch_once_in_even_groups(batch, sizes):
    index, valid = group_layout(batch, 18)
    assert sorted(index[valid].tolist()) == list(range(batch))
    assert valid.sum(1).tolist() == sizes


def test_bank_takes_the_image_nearest_each_interval_centre():
    scores = torch.tensor([9.0, 0.0, 2.0, 1.0, 10.0])
    # intervals [0, 5) and [5, 10]: centres 2.5 and 7.5 -> scores 2 and 9
    assert bank_indices(scores, 2).tolist() == [2, 0]


def test_padding_images_do_not_affect_real_ones():
    torch.manual_seed(0)
    ct = ComparisonTransformer(width=16, heads=2, ff_mult=2, dropout=0.0)
    h, p = torch.randn(1, 3, 16), torch.randn(1, 5, 16)
    valid = torch.tensor([[True, True, False]])
    h_out, p_out = ct(h, p, valid)
    h2 = h.clone()
    h2[0, 2] = 100.0
    h2_out, p2_out = ct(h2, p, valid)
    assert torch.allclose(h_out[:, :2], h2_out[:, :2], atol=1e-6) and torch.allclose(p_out, p2_out, atol=1e-6)


# ------------------------------------------------------------------ the heads end to end
def synthetic(n: int, seed: int, dim: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Features with a score that is a fixed linear function of them plus noise (score range about 20..80)."""
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(dim, generator=torch.Generator().manual_seed(123))
    x = torch.randn(n, dim, generator=gen)
    return x, 50 + 10 * x @ w / dim**0.5 + torch.randn(n, generator=gen)


def fit(head, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float, batch: int = 36) -> None:
    head.prepare(x, y)
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=5e-4)
    gen = torch.Generator().manual_seed(0)
    head.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), batch):
            idx = order[start : start + batch]
            loss, _ = head.loss(x[idx], y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()


@pytest.fixture(scope="module")
def trained_qcern():
    torch.manual_seed(0)
    x, y = synthetic(400, seed=1)
    head = create_head("qcern", in_features=32, **SMALL)
    fit(head, x, y, epochs=4, lr=3e-3)
    return head


@pytest.mark.parametrize("name", ["mlp", "qcern"])
def test_heads_learn_a_linear_score(name, trained_qcern):
    x_test, y_test = synthetic(300, seed=2)
    if name == "qcern":
        head = trained_qcern
    else:
        torch.manual_seed(0)
        head = create_head("mlp", in_features=32)
        fit(head, *synthetic(400, seed=1), epochs=10, lr=1e-3)
    pred = head.predict(x_test)
    assert spearmanr(pred.numpy(), y_test.numpy())[0] > 0.9
    assert abs(float(pred.mean() - y_test.mean())) < 3.0  # scores come back on the original scale


def test_qcern_single_image_equals_batch_and_is_deterministic(trained_qcern):
    x, _ = synthetic(7, seed=3)
    trained_qcern.train()  # predict must switch dropout off by itself
    batch = trained_qcern.predict(x)
    single = torch.cat([trained_qcern.predict(x[i : i + 1]) for i in range(len(x))])
    assert torch.allclose(batch, single, atol=1e-4)
    assert torch.equal(batch, trained_qcern.predict(x))
    assert trained_qcern.training  # and restore the mode it found
    tokens, pivots, theta = trained_qcern.embed(x)
    assert tokens.shape == (7, 32) and pivots.shape == (21, 32) and torch.equal(theta, trained_qcern.pivot_scores)


@pytest.mark.parametrize("name", ["mlp", "qcern"])
def test_state_dict_round_trip_rebuilds_the_head(name, trained_qcern):
    if name == "qcern":
        head = trained_qcern
    else:
        head = create_head("mlp", in_features=32, hidden=16)
        head.prepare(*synthetic(50, seed=4))
    config = json.loads(json.dumps(head.config))
    clone = create_head(name, in_features=32, **config)
    clone.load_state_dict(head.state_dict())
    x, _ = synthetic(9, seed=5)
    assert torch.equal(clone.predict(x), head.predict(x))


def test_qcern_prepare_places_pivots_and_bank():
    x, y = synthetic(300, seed=6)
    head = create_head("qcern", in_features=32, **SMALL)
    with pytest.raises(RuntimeError, match="prepare"):
        head.predict(x)
    head.prepare(x, y)
    theta, bank = head.pivot_scores, head.bank_scores
    assert len(theta) == 21 and (theta.diff() > 0).all() and y.min() < theta[0] and theta[-1] < y.max()
    # the pivots are re-spaced along their initial segment in proportion to the pivot scores
    gaps = head.pivots.detach().diff(dim=0).norm(dim=1)
    assert torch.allclose(gaps / gaps.sum(), theta.diff() / (theta[-1] - theta[0]), atol=1e-5)
    # five bank images, one per fifth of the score range, in increasing order
    assert len(bank) == 5 and (bank.diff() > 0).all()
    width = float(y.max() - y.min()) / 5
    centres = float(y.min()) + width * (torch.arange(5) + 0.5)
    assert ((bank - centres).abs() < width / 2).all()
    uniform = create_head("qcern", in_features=32, **{**SMALL, "pivot_placement": "uniform"})
    uniform.prepare(x, y)
    assert torch.allclose(uniform.pivot_scores, torch.linspace(float(y.min()), float(y.max()), 21))


@pytest.mark.parametrize("batch", [1, 5, 13, 37])
def test_qcern_loss_on_any_batch_size(batch):
    torch.manual_seed(0)
    x, y = synthetic(60, seed=7)
    head = create_head("qcern", in_features=32, **SMALL)
    head.prepare(x, y)
    loss, parts = head.loss(x[:batch], y[:batch])
    loss.backward()
    assert set(parts) == {"order", "metric", "center", "mae"}
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in head.parameters() if p.grad is not None)


def test_qcern_ablation_switches():
    x, y = synthetic(60, seed=8)
    head = create_head("qcern", in_features=32, **{**SMALL, "losses": {"mae": 1, "center": 0.5}})
    assert head.loss_weights == {"order": 0.0, "metric": 0.0, "center": 0.5, "mae": 1.0}
    assert create_head("qcern", in_features=32, **head.config).loss_weights == head.loss_weights
    head.prepare(x, y)
    loss, parts = head.loss(x, y)
    assert set(parts) == {"center", "mae"}
    assert float(loss.detach()) == pytest.approx(0.5 * parts["center"] + parts["mae"], rel=1e-5)
    solo = create_head("qcern", in_features=32, **{**SMALL, "n_images": 1})  # no auxiliary images
    solo.prepare(x, y)
    assert solo.bank_features.shape == (0, 32)
    solo.loss(x, y)[0].backward()
    assert torch.isfinite(solo.predict(x)).all()
    with pytest.raises(ValueError, match="unknown qcern losses"):
        create_head("qcern", in_features=32, losses={"ranking": 1})
    with pytest.raises(ValueError, match="positive weight"):
        create_head("qcern", in_features=32, losses={"mae": 0})
    with pytest.raises(ValueError, match="pivot_placement"):
        create_head("qcern", in_features=32, pivot_placement="kmeans")
