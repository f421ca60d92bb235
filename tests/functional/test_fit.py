"""Every surrogate against scikit-learn fitted with the same sample weights, and refits."""

import numpy as np
import pytest
import torch
from _helpers import lime_problem
from sklearn.linear_model import BayesianRidge, Lasso, LinearRegression, Ridge

from torchlime.functional import fit_surrogate, refit

REFERENCES = {
    "ridge": lambda alpha: Ridge(alpha=alpha),
    "lasso": lambda alpha: Lasso(alpha=alpha, tol=1e-12, max_iter=200_000),
    "ols": lambda alpha: LinearRegression(),
    "bayesian": lambda alpha: BayesianRidge(max_iter=300, tol=1e-300),
}


def _gaussian_problem(b=2, n=300, k=7, t=2, seed=3):
    """Correlated float columns (tabular-like) and non-uniform weights."""
    g = torch.Generator().manual_seed(seed)
    mix = torch.eye(k, dtype=torch.float64) + 0.4 * torch.randn(
        k, k, generator=g, dtype=torch.float64
    )
    X = torch.randn(b, n, k, generator=g, dtype=torch.float64) @ mix
    y = torch.tanh(X @ torch.randn(b, k, t, generator=g, dtype=torch.float64) / 2)
    y = y + 0.05 * torch.randn(b, n, t, generator=g, dtype=torch.float64)
    return X, y, torch.rand(b, n, generator=g, dtype=torch.float64) + 0.1


@pytest.mark.parametrize("problem", ["masks", "gaussian"])
@pytest.mark.parametrize("surrogate", list(REFERENCES))
def test_each_surrogate_equals_scikit_learn(surrogate, problem):
    X, y, w = (
        lime_problem(b=2, n=300, k=7, t=2, seed=5) if problem == "masks" else _gaussian_problem()
    )
    alpha = {"ridge": 1.0, "lasso": 0.002}.get(surrogate, 0.0)
    n_features = torch.tensor([7, 5])
    fit = fit_surrogate(X, y, w, n_features, alpha=alpha, surrogate=surrogate)
    for b in range(2):
        k_b = int(n_features[b])
        for t in range(2):
            ref = REFERENCES[surrogate](alpha).fit(
                X[b, :, :k_b].double().numpy(), y[b, :, t].numpy(), sample_weight=w[b].numpy()
            )
            coef = fit.coef[b, t, :k_b].double().numpy()
            scale = max(np.abs(ref.coef_).max(), 1e-12)
            assert np.abs(coef - ref.coef_).max() / scale < 1e-5, (surrogate, b, t)
            assert abs(fit.intercept[b, t].item() - ref.intercept_) < 1e-5 * max(1, scale)
            assert (fit.coef[b, t, k_b:] == 0).all()
            r2 = ref.score(X[b, :, :k_b].double().numpy(), y[b, :, t].numpy(), w[b].numpy())
            assert fit.score[b, t].item() == pytest.approx(r2, abs=1e-5)


def test_lasso_zeroes_weak_features_and_alpha_zero_is_least_squares():
    X, y, w = _gaussian_problem(b=1, t=1)
    n = torch.tensor([7])
    strong = fit_surrogate(X, y, w, n, alpha=0.5, surrogate="lasso")
    assert (strong.coef == 0).sum() >= 3  # a large penalty empties features, as L1 does
    free = fit_surrogate(X, y, w, n, alpha=0.0, surrogate="lasso")
    ols = fit_surrogate(X, y, w, n, surrogate="ols")
    torch.testing.assert_close(free.coef, ols.coef, rtol=1e-6, atol=1e-8)


def test_a_callable_surrogate_gets_every_example_and_target():
    X, y, w = lime_problem(b=3, n=200, k=5, t=2, seed=6)
    seen = {}

    def least_squares(X, y, weight, feature_mask):  # a user's: torch's lstsq, by hand
        seen["shapes"] = (
            tuple(X.shape),
            tuple(y.shape),
            tuple(weight.shape),
            tuple(feature_mask.shape),
        )
        Xd = torch.cat([X.double(), torch.ones_like(X[..., :1]).double()], -1)
        root = weight.double().sqrt()[..., None]
        sol = torch.linalg.lstsq(Xd * root, y.double() * root).solution  # (B, K + 1, T)
        return sol[:, :-1].mT, sol[:, -1]

    mine = fit_surrogate(X, y, w, torch.tensor([5, 5, 5]), surrogate=least_squares)
    ols = fit_surrogate(X, y, w, torch.tensor([5, 5, 5]), surrogate="ols")
    assert seen["shapes"] == ((3, 200, 5), (3, 200, 2), (3, 200), (3, 2, 5))
    torch.testing.assert_close(mine.coef, ols.coef, rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(mine.score, ols.score, rtol=1e-6, atol=1e-8)
    with pytest.raises(ValueError, match="coef"):
        fit_surrogate(X, y, w, torch.tensor([5, 5, 5]), surrogate=lambda *a: (a[0], a[1]))


@pytest.mark.parametrize("surrogate", list(REFERENCES))
def test_refit_with_leading_weights_equals_one_fit_per_weighting(surrogate):
    X, y, w = lime_problem(b=2, n=150, k=6, t=1, seed=7)
    selected = torch.ones(2, 1, 6, dtype=torch.bool)
    g = torch.Generator().manual_seed(8)
    stacked = w * torch.rand(3, 2, 150, generator=g, dtype=torch.float64)  # (R, B, N)
    alpha = 0.005 if surrogate == "lasso" else 1.0
    fits = refit(X, y, stacked, selected, surrogate=surrogate, alpha=alpha)
    for r in range(3):
        one = refit(X, y, stacked[r], selected, surrogate=surrogate, alpha=alpha)
        torch.testing.assert_close(fits.coef[r], one.coef, rtol=1e-6, atol=1e-8)
