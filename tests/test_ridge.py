"""The ridge score heads against scikit-learn (RidgeCV, KernelRidge) on the same standardised features."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge, RidgeCV
from sklearn.preprocessing import StandardScaler

from phoneiqa.heads import create_head
from phoneiqa.training import OptimConfig, fit_head, validate_score

ALPHAS = (0.1, 1.0, 10.0, 100.0, 1000.0)


@pytest.mark.parametrize(("n", "d"), [(60, 8), (40, 90)])  # more samples than features, and fewer
def test_ridge_head_chooses_the_penalty_and_weights_of_sklearn(n, d):
    rng = np.random.default_rng(n + d)
    x = rng.normal(size=(n, d)) * rng.uniform(0.5, 20, size=d) + rng.normal(size=d)
    y = (x[:, :3] / x[:, :3].std(0)) @ np.array([1.0, -2.0, 0.5]) + rng.normal(scale=2.0, size=n) + 50
    head = create_head("ridge", in_features=d, alphas=ALPHAS)
    head.prepare(torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32))

    z = StandardScaler().fit(x.astype(np.float32)).transform(x.astype(np.float32)).astype(np.float64)
    reference = RidgeCV(alphas=ALPHAS).fit(z, y)
    assert float(head.alpha) == pytest.approx(reference.alpha_)
    x_new = rng.normal(size=(7, d)) * 5
    z_new = (x_new - x.astype(np.float32).mean(0)) / x.astype(np.float32).std(0)
    expected = Ridge(alpha=reference.alpha_).fit(z, y).predict(z_new)
    got = head.predict(torch.as_tensor(x_new, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3)


def test_ridge_head_needs_no_gradient_training():
    x, y = torch.randn(50, 4), torch.randn(50) * 10 + 40
    head = create_head("ridge", in_features=4)
    curves = fit_head(head, x[:40], y[:40], x[40:], y[40:], validate_score, OptimConfig(), "ridge")
    assert len(curves["val"]) == 1 and not list(head.parameters())
    state = create_head("ridge", in_features=4)
    state.load_state_dict(head.state_dict())
    assert torch.equal(state.predict(x), head.predict(x))
    with pytest.raises(ValueError, match="positive"):
        create_head("ridge", in_features=4, alphas=[0.0])


def kernel_data(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores that depend on the features through a bump, which no linear map can follow."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * rng.uniform(0.5, 5, size=d) + rng.normal(size=d)
    z = (x - x.mean(0)) / x.std(0)
    y = 60 + 20 * np.exp(-0.5 * (z[:, :2] ** 2).sum(1)) + rng.normal(scale=1.0, size=n)
    return x, y


def test_kernel_ridge_head_chooses_by_brute_force_leave_one_out_and_predicts_as_sklearn():
    from sklearn.kernel_ridge import KernelRidge

    x, y = kernel_data(40, 3, 0)
    alphas, widths = (0.01, 0.1, 1.0), (0.5, 2.0)
    head = create_head("kernel-ridge", in_features=3, alphas=alphas, widths=widths)
    head.prepare(torch.as_tensor(x), torch.as_tensor(y))
    z = (x - x.mean(0)) / x.std(0)

    def loo_error(alpha: float, width: float) -> float:
        errors = []
        for i in range(len(y)):
            keep = np.arange(len(y)) != i
            fit = KernelRidge(alpha=alpha, kernel="rbf", gamma=width / 3).fit(z[keep], y[keep] - y[keep].mean())
            errors.append(y[i] - y[keep].mean() - fit.predict(z[i : i + 1])[0])
        return float(np.mean(np.square(errors)))

    best = min(((a, w) for a in alphas for w in widths), key=lambda aw: loo_error(*aw))
    assert (float(head.alpha), float(head.gamma) * 3) == pytest.approx(best, rel=1e-5)
    reference = KernelRidge(alpha=best[0], kernel="rbf", gamma=best[1] / 3).fit(z, y - y.mean())
    x_new = x[:5] + 0.3
    expected = reference.predict((x_new - x.mean(0)) / x.std(0)) + y.mean()
    # the head keeps the training features at half precision (relative rounding 2**-11)
    np.testing.assert_allclose(head.predict(torch.as_tensor(x_new)).numpy(), expected, rtol=2e-3, atol=2e-3)


def test_kernel_ridge_head_follows_what_a_linear_head_cannot_and_survives_a_checkpoint():
    x, y = kernel_data(300, 6, 1)
    tx, ty = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32)
    heads = {name: create_head(name, in_features=6) for name in ("ridge", "kernel-ridge")}
    for head in heads.values():
        head.prepare(tx[:200], ty[:200])
    error = {name: float((head.predict(tx[200:]) - ty[200:]).abs().mean()) for name, head in heads.items()}
    assert error["kernel-ridge"] < 0.5 * error["ridge"]
    loaded = create_head("kernel-ridge", in_features=6, **heads["kernel-ridge"].config)
    loaded.load_state_dict(heads["kernel-ridge"].state_dict())
    assert loaded.support.shape == (200, 6)
    assert torch.equal(loaded.predict(tx[200:]), heads["kernel-ridge"].predict(tx[200:]))
    with pytest.raises(ValueError, match="positive"):
        create_head("kernel-ridge", in_features=4, widths=[])
