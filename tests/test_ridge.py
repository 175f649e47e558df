"""The ridge score head against scikit-learn's RidgeCV on the same standardised features."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge, RidgeCV
from sklearn.preprocessing import StandardScaler

from phoneiqa.heads import create_head
from phoneiqa.training import TrainConfig, fit_head, validate_score

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
    curves = fit_head(head, x[:40], y[:40], x[40:], y[40:], validate_score, TrainConfig(train_data=[]), "ridge")
    assert len(curves["val"]) == 1 and not list(head.parameters())
    state = create_head("ridge", in_features=4)
    state.load_state_dict(head.state_dict())
    assert torch.equal(state.predict(x), head.predict(x))
    with pytest.raises(ValueError, match="positive"):
        create_head("ridge", in_features=4, alphas=[0.0])
