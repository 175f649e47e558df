"""phoneiqa.losses against hand-worked values and independent numpy computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from phoneiqa import losses


def t(x) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64)


# ------------------------------------------------------------------ order loss
def test_order_loss_hand_values():
    straight = t([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0]])
    assert float(losses.order_loss(straight)) == pytest.approx(0.0, abs=1e-12)
    # m=1 turns by a right angle (cos 0 -> 1), m=2 goes straight on (cos -1 -> 0): mean 0.5
    bent = t([[0.0, 1.0], [0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    assert float(losses.order_loss(bent)) == pytest.approx(0.5)
    folded = t([[0.0, 0.0], [1.0, 0.0], [0.5, 0.0]])
    assert float(losses.order_loss(folded)) == pytest.approx(2.0)
    # leading dimensions are independent groups: the mean over both
    assert float(losses.order_loss(torch.stack([straight, folded]))) == pytest.approx(1.0)


# ------------------------------------------------------------------ GOL metric loss
def gol_reference(h, s, p, ps, margin):
    """Straight from the definition: every ordered pair, every pivot, on L2-normalised vectors."""
    h = h / np.linalg.norm(h, axis=1, keepdims=True)
    p = p / np.linalg.norm(p, axis=1, keepdims=True)
    total, count = 0.0, 0
    for x in range(len(h)):
        for y in range(len(h)):
            if not s[x] > s[y]:
                continue
            for r in range(len(p)):
                dx, dy = np.linalg.norm(h[x] - p[r]), np.linalg.norm(h[y] - p[r])
                if ps[r] <= s[y]:
                    total += max(dy - dx + margin, 0.0)
                    count += 1
                if ps[r] >= s[x]:
                    total += max(dx - dy + margin, 0.0)
                    count += 1
    return total / max(count, 1)


def test_gol_metric_loss_hand_values():
    pivots = t([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])  # scores 0, 1, 2
    ps = t([0.0, 1.0, 2.0])
    s = t([1.5, 0.5])  # image 0 is better than image 1
    right = t([[0.0, 2.0], [3.0, 0.0]])  # the better image is farther from pivot 0, nearer pivot 2
    assert float(losses.gol_metric_loss(right, s, pivots, ps)) == pytest.approx(0.0)
    # swapped: terms (√2 + γ) for pivot 0 and (2 - √2 + γ) for pivot 2, mean (2 + 2γ) / 2
    wrong = right.flip(0)
    assert float(losses.gol_metric_loss(wrong, s, pivots, ps, margin=0.25)) == pytest.approx(1.25)


def test_gol_metric_loss_matches_reference_and_masks_padding():
    rng = np.random.default_rng(0)
    h, p = rng.normal(size=(6, 4)), rng.normal(size=(7, 4))
    s, ps = rng.uniform(0, 10, 6), np.sort(rng.uniform(0, 10, 7))
    got = losses.gol_metric_loss(t(h), t(s), t(p), t(ps), margin=0.3)
    assert float(got) == pytest.approx(gol_reference(h, s, p, ps, 0.3), rel=1e-9)
    valid = torch.tensor([True, True, False, True, False, True])
    got = losses.gol_metric_loss(t(h), t(s), t(p), t(ps), margin=0.3, valid=valid)
    keep = valid.numpy()
    assert float(got) == pytest.approx(gol_reference(h[keep], s[keep], p, ps, 0.3), rel=1e-9)


def test_gol_metric_loss_groups_do_not_mix():
    rng = np.random.default_rng(1)
    h, p = rng.normal(size=(2, 5, 3)), rng.normal(size=(2, 4, 3))
    s, ps = rng.uniform(0, 1, (2, 5)), np.sort(rng.uniform(0, 1, 4))
    # with a constant number of terms per group the overall mean is the mean of per-group means
    s[1] = s[0]
    got = float(losses.gol_metric_loss(t(h), t(s), t(p), t(ps)))
    expected = np.mean([gol_reference(h[g], s[g], p[g], ps, 0.25) for g in range(2)])
    assert got == pytest.approx(expected, rel=1e-9)


def test_gol_metric_loss_gradient_finite_when_token_equals_pivot():
    p = t([[1.0, 0.0], [0.0, 1.0]])
    h = t([[1.0, 0.0], [0.0, 1.0]]).requires_grad_()
    losses.gol_metric_loss(h, t([1.0, 0.0]), p, t([0.0, 1.0])).backward()
    assert torch.isfinite(h.grad).all()


# ------------------------------------------------------------------ center loss
def test_center_loss_hand_values():
    pivots = t([[0.0, 0.0], [2.0, 0.0], [2.0, 2.0]])
    ps = t([0.0, 1.0, 2.0])
    # θ=0.5 -> midpoint (1,0): distance 1;  θ=1.5 -> (2,1): distance 0.5;  θ=3 -> end pivot (2,2): distance 2
    h = t([[1.0, 1.0], [2.0, 1.5], [2.0, 4.0]])
    assert float(losses.center_loss(h, t([0.5, 1.5, 3.0]), pivots, ps)) == pytest.approx((1 + 0.5 + 2) / 3)
    valid = torch.tensor([True, True, False])
    assert float(losses.center_loss(h, t([0.5, 1.5, 3.0]), pivots, ps, valid=valid)) == pytest.approx(0.75)


def test_center_loss_gradient_finite_at_zero_distance():
    pivots = t([[0.0, 0.0], [2.0, 0.0]])
    h = t([[1.0, 0.0]]).requires_grad_()
    value = losses.center_loss(h, t([0.5]), pivots, t([0.0, 1.0]))
    value.backward()
    assert float(value.detach()) == 0.0 and torch.isfinite(h.grad).all()


# ------------------------------------------------------------------ MAE, PLCC
def test_mae_loss_is_smooth_l1():
    # |e| = 0.5 < 1: 0.5 * 0.25 = 0.125;  |e| = 3 >= 1: 3 - 0.5 = 2.5
    assert float(losses.mae_loss(t([0.0, 3.0]), t([0.5, 0.0]))) == pytest.approx((0.125 + 2.5) / 2)
    # β = 0.1: |e| = 0.5 is linear: 0.45
    assert float(losses.mae_loss(t([0.0]), t([0.5]), beta=0.1)) == pytest.approx(0.45)


def test_plcc_loss_values():
    x = t([1.0, 2.0, 4.0, 7.0])
    assert float(losses.plcc_loss(3 * x + 1, x)) == pytest.approx(0.0, abs=1e-8)
    assert float(losses.plcc_loss(-x, x)) == pytest.approx(2.0, abs=1e-8)
    y = t([2.0, 1.0, 5.0, 6.0])
    assert float(losses.plcc_loss(y, x)) == pytest.approx(1 - np.corrcoef(y, x)[0, 1], rel=1e-9)


@pytest.mark.parametrize("pred", [[3.0, 3.0], [5.0]])
def test_plcc_loss_is_zero_without_a_correlation_to_measure(pred):
    p = t(pred).requires_grad_()
    value = losses.plcc_loss(p, t([1.0, 2.0][: len(pred)]))
    value.backward()
    assert float(value.detach()) == 0.0 and torch.equal(p.grad, torch.zeros_like(p))


# ------------------------------------------------------------------ focal losses
P = t([0.8, 0.8, 0.3, 0.64, 0.64])
G = t([1.0, 0.0, 1.0, 1.0, 0.0])


def test_focal_bce_hand_values():
    # g=1, p=0.8: 0.25 · 0.2² · -ln 0.8;  g=0, p=0.8: 0.75 · 0.8² · -ln 0.2
    got = losses.focal_bce(t([0.8, 0.8]), t([1.0, 0.0]), gamma=2, alpha=0.25)
    expected = (0.25 * 0.04 * -math.log(0.8) + 0.75 * 0.64 * -math.log(0.2)) / 2
    assert float(got) == pytest.approx(expected)


def test_focal_fidelity_hand_values():
    # g=1, p=0.64: F = 1 - 0.8 = 0.2, α_t = 0.75, (1 - 0.64)² = 0.1296
    # g=0, p=0.64: F = 1 - 0.6 = 0.4, α_t = 0.25, (0.64)² = 0.4096
    got = losses.focal_fidelity(t([0.64, 0.64]), t([1.0, 0.0]), gamma=2, alpha=0.75)
    assert float(got) == pytest.approx((0.2 * 0.75 * 0.1296 + 0.4 * 0.25 * 0.4096) / 2)


def test_focal_losses_reduce_to_plain_losses():
    assert float(losses.focal_bce(P, G, gamma=0, alpha=None)) == pytest.approx(float(F.binary_cross_entropy(P, G)))
    fidelity = 1 - np.sqrt(P.numpy() * G.numpy()) - np.sqrt((1 - P.numpy()) * (1 - G.numpy()))
    assert float(losses.focal_fidelity(P, G, gamma=0, alpha=None)) == pytest.approx(fidelity.mean())


def test_focal_weight_multiplies_positive_terms_only():
    # per-node weights broadcast over a batch of two rows
    p, g = torch.stack([P, P.flip(0)]), torch.stack([G, 1 - G])
    w = t([1.0, 2.0, 3.0, 4.0, 5.0])
    factor = torch.where(g == 1, w, torch.ones_like(w))
    bce = F.binary_cross_entropy(p, g, reduction="none")
    fidelity = 1 - torch.sqrt(p * g) - torch.sqrt((1 - p) * (1 - g))
    got = losses.focal_bce(p, g, gamma=0, alpha=None, weight=w)
    assert float(got) == pytest.approx(float((factor * bce).mean()))
    got = losses.focal_fidelity(p, g, gamma=0, alpha=None, weight=w)
    assert float(got) == pytest.approx(float((factor * fidelity).mean()))


@pytest.mark.parametrize("fn", [losses.focal_bce, losses.focal_fidelity])
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_focal_losses_finite_at_certain_probabilities(fn, gamma):
    p = t([0.0, 1.0, 0.0, 1.0]).requires_grad_()
    g = t([0.0, 0.0, 1.0, 1.0])
    value = fn(p, g, gamma=gamma)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(p.grad).all()
    # marginals from a sigmoid that saturates: gradients reach the logits
    logits = t([-40.0, 40.0, -40.0, 40.0, 0.3]).requires_grad_()
    fn(torch.sigmoid(logits), t([0.0, 0.0, 1.0, 1.0, 1.0]), gamma=gamma).backward()
    assert torch.isfinite(logits.grad).all()


def test_class_balanced_weights():
    targets = t([[1, 0, 1], [1, 0, 0], [1, 0, 1], [0, 0, 0]])
    # node 0: 3 positives, 1 negative; β = 0.5: E(3) = 1.75, E(1) = 1 -> 1 / 1.75
    # node 1: no positives (counted as 1), 4 negatives: E(4) = 1.875
    # node 2: 2 and 2 -> 1
    w = losses.class_balanced_weights(targets, beta=0.5)
    assert w.numpy() == pytest.approx([1 / 1.75, 1.875, 1.0])
    assert losses.class_balanced_weights(targets, beta=1.0).numpy() == pytest.approx([1 / 3, 4.0, 1.0])
    assert losses.class_balanced_weights(targets, beta=0.0).numpy() == pytest.approx([1.0, 1.0, 1.0])
