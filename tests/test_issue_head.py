"""The HEX issue heads: legal outputs, exact losses, checkpoint round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from phoneiqa.heads import create_head, list_heads
from phoneiqa.heads.issues import node_phrases
from phoneiqa.labels import load_graph


def levels_batch(n: int, seed: int = 0) -> torch.Tensor:
    """Random legal level combinations: per exclusive pair, at most one label is >= 1."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, 6), dtype=np.int64)
    for pair in ((0, 1), (2, 3), (4, 5)):
        which = rng.integers(0, 2, size=n)
        level = rng.integers(0, 4, size=n)
        out[np.arange(n), np.array(pair)[which]] = level
    return torch.as_tensor(out)


def test_registered():
    assert {"hex-linear", "hex-coop", "qcern", "mlp"} <= set(list_heads())


def test_predictions_are_always_legal():
    torch.manual_seed(0)
    head = create_head("hex-linear", in_features=8).eval()
    x = torch.randn(500, 8) * 5
    pred = head.predict(x)
    graph = load_graph()
    states = graph.encode_levels(pred.levels)
    assert graph.is_legal(states.numpy()).all()
    assert pred.probabilities.shape == (500, 6, 4)
    torch.testing.assert_close(pred.probabilities.sum(-1), torch.ones(500, 6))


def test_nll_loss_equals_brute_force():
    torch.manual_seed(0)
    head = create_head("hex-linear", in_features=5, loss="nll", dropout=0.0).eval()
    x, levels = torch.randn(7, 5), levels_batch(7)
    loss, _ = head.loss(x, levels)
    graph = load_graph()
    f = head.potentials(x).double()
    legal = torch.tensor(graph.legal_states(), dtype=torch.float64)  # [343, 18]
    y = graph.encode_levels(levels, dtype=torch.float64)
    expected = -((f * y).sum(1) - torch.logsumexp(f @ legal.T, dim=1)).mean()
    assert float(loss.detach()) == pytest.approx(float(expected.detach()), rel=1e-5)


def test_class_balanced_weights_favour_rare_nodes():
    head = create_head("hex-linear", in_features=4, class_balanced=True)
    levels = torch.zeros(200, 6, dtype=torch.int64)
    levels[:5, 1] = 2  # dark is rare, everything else never present
    levels[:100, 2] = 1  # low_contrast is common
    head.prepare(torch.randn(200, 4), levels)
    w = head.node_weights
    graph = load_graph()
    dark1, low1 = graph.index["dark>=1"], graph.index["low_contrast>=1"]
    assert w[dark1] != w[low1]
    assert torch.isfinite(w).all() and (w > 0).all()


def test_state_dict_round_trip_is_exact():
    torch.manual_seed(0)
    head = create_head("hex-linear", in_features=6, hidden=16)
    head.prepare(torch.randn(50, 6) * 3 + 1, levels_batch(50))
    head.eval()
    clone = create_head("hex-linear", in_features=6, **head.config)
    clone.load_state_dict(head.state_dict())
    clone.eval()
    x = torch.randn(9, 6)
    assert torch.equal(head.predict(x).probabilities, clone.predict(x).probabilities)


def test_training_learns_a_separable_rule():
    # feature 0 > 1 means dark level 2; feature 0 < -1 means bright level 1; else none
    torch.manual_seed(0)
    x = torch.randn(600, 4) * 1.5
    levels = torch.zeros(600, 6, dtype=torch.int64)
    levels[x[:, 0] > 1, 1] = 2
    levels[x[:, 0] < -1, 0] = 1
    head = create_head("hex-linear", in_features=4, dropout=0.0, hidden=32)
    head.prepare(x, levels)
    opt = torch.optim.AdamW(head.parameters(), lr=1e-2)
    for _ in range(300):
        loss, _ = head.loss(x, levels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    head.eval()
    pred = head.predict(x).levels
    assert (pred[:, :2] == levels[:, :2]).all(dim=1).float().mean() > 0.9


def test_a_rater_who_flags_readily_is_learned_as_an_offset_and_predictions_keep_the_unnamed_scale():
    """Unnamed rows call feature 0 > 1 dark (level 1); rater 0 calls it from feature 0 > 0, a lower threshold.  With
    the rater's offsets learned as a nuisance the head predicts the unnamed rows' threshold; without them it lands
    between the two."""
    torch.manual_seed(0)
    x = torch.randn(1200, 3) * 1.5
    levels = torch.zeros(1200, 6, dtype=torch.int64)
    levels[:600, 1] = (x[:600, 0] > 1).long()
    levels[600:, 1] = (x[600:, 0] > 0).long()
    raters = torch.full((1200,), -1)
    raters[600:] = 0

    def trained(named: torch.Tensor | None) -> torch.Tensor:
        torch.manual_seed(1)
        head = create_head("hex-linear", in_features=3, dropout=0.0, hidden=0, loss="nll")
        head.prepare(x, levels, named)
        opt = torch.optim.AdamW(head.parameters(), lr=5e-2, weight_decay=0.0)
        for _ in range(400):
            loss, _ = head.loss(x, levels, named)
            opt.zero_grad()
            loss.backward()
            opt.step()
        assert "rater_offsets" not in " ".join(head.state_dict())
        return head.eval().predict(x).levels[:, 1]

    truth = (x[:, 0] > 1).long()
    with_offsets = (trained(raters) == truth).float().mean()
    without = (trained(None) == truth).float().mean()
    assert with_offsets > 0.9 and with_offsets > without + 0.05


def test_node_phrases():
    phrases = node_phrases(load_graph())
    assert len(phrases) == 18
    assert phrases[0] == "too bright, normal" and phrases[2] == "too bright, blocking"
