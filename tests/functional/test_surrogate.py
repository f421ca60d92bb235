"""weighted_ridge against scikit-learn's Ridge; feature selection against lime's own code."""

import numpy as np
import pytest
import torch
from _helpers import assert_close
from _helpers import lime_problem as _problem
from lime.lime_base import LimeBase
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score

from torchlime import stability
from torchlime.functional import (
    forward_selection,
    highest_weights,
    lime_kernel,
    sample_masks,
    select_features,
    weighted_ridge,
)


def _lime_problem(batch, n, k, t, seed):
    """LIME-like data: binary masks, lime's kernel weights, nonlinear scores of the masks."""
    g = torch.Generator().manual_seed(seed)
    masks = sample_masks(batch, n, k, generator=g)
    weight = lime_kernel(masks, dtype=torch.float64)
    z = masks.double()
    proj = torch.randn(batch, k, t, generator=g, dtype=torch.float64)
    pairs = z[..., :1] * z[..., 1:2]
    y = torch.tanh(z @ proj / k**0.5) + 0.3 * pairs + 0.05 * torch.randn(batch, n, t, generator=g)
    return masks, y, weight


def _sk_ridge(X, y, w, alpha, fit_intercept=True):
    ref = Ridge(alpha=alpha, fit_intercept=fit_intercept).fit(X, y, sample_weight=w)
    # Per-target R² from each target's own fit (Ridge.score averages over targets).
    score = np.array(
        [
            Ridge(alpha=alpha, fit_intercept=fit_intercept)
            .fit(X, y[:, j], sample_weight=w)
            .score(X, y[:, j], sample_weight=w)
            for j in range(y.shape[1])
        ]
    )
    return ref.coef_, np.broadcast_to(ref.intercept_, (y.shape[1],)), score


@pytest.mark.parametrize("alpha", [0.0, 0.01, 1.0, 25.0])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_weighted_ridge_equals_sklearn_float64(alpha, fit_intercept, device):
    masks, y, w = _lime_problem(3, 200, 12, 4, seed=1)
    fit = weighted_ridge(
        masks.to(device), y.to(device), w.to(device), alpha=alpha, fit_intercept=fit_intercept
    )
    assert fit.coef.shape == (3, 4, 12)
    assert fit.intercept.shape == (3, 4)
    assert fit.score.shape == (3, 4)
    assert fit.coef.dtype == torch.float64
    for b in range(3):
        coef, intercept, score = _sk_ridge(
            masks[b].double().numpy(), y[b].numpy(), w[b].numpy(), alpha, fit_intercept
        )
        np.testing.assert_allclose(fit.coef[b].cpu().numpy(), coef, rtol=0, atol=1e-10)
        np.testing.assert_allclose(fit.intercept[b].cpu().numpy(), intercept, rtol=0, atol=1e-10)
        np.testing.assert_allclose(fit.score[b].cpu().numpy(), score, rtol=0, atol=1e-10)


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_weighted_ridge_equals_sklearn_float32(alpha, device):
    g = torch.Generator().manual_seed(2)
    X = torch.randn(2, 5, 300, 8, generator=g)  # two batch dimensions, continuous design
    y = X @ torch.randn(8, 3, generator=g) + torch.randn(2, 5, 300, 3, generator=g)
    w = torch.rand(2, 5, 300, generator=g) + 0.1
    fit = weighted_ridge(X.to(device), y.to(device), w.to(device), alpha=alpha)
    assert fit.coef.dtype == torch.float32
    for i in range(2):
        for j in range(5):
            coef, intercept, score = _sk_ridge(
                X[i, j].double().numpy(), y[i, j].double().numpy(), w[i, j].double().numpy(), alpha
            )
            np.testing.assert_allclose(fit.coef[i, j].cpu().numpy(), coef, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(fit.intercept[i, j].cpu(), intercept, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(fit.score[i, j].cpu().numpy(), score, rtol=1e-5)


def test_weighted_ridge_single_solve_in_float32_also_matches(device):
    masks, y, w = _lime_problem(2, 500, 20, 3, seed=3)
    fit = weighted_ridge(
        masks.to(device), y.float().to(device), w.float().to(device), solve_dtype=torch.float32
    )
    coef, _, score = _sk_ridge(masks[0].double().numpy(), y[0].numpy(), w[0].numpy(), 1.0)
    np.testing.assert_allclose(fit.coef[0].cpu().numpy(), coef, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(fit.score[0].cpu().numpy(), score, rtol=1e-4)


def test_feature_mask_equals_fit_on_the_subset(device):
    masks, y, w = _lime_problem(2, 150, 10, 3, seed=4)
    keep = torch.tensor([[1, 1, 0, 1, 0, 0, 1, 1, 1, 0], [1] * 7 + [0] * 3], dtype=torch.bool)
    fit = weighted_ridge(masks.to(device), y.to(device), w.to(device), feature_mask=keep.to(device))
    for b in range(2):
        cols = keep[b].nonzero().flatten().numpy()
        coef, intercept, score = _sk_ridge(
            masks[b][:, cols].double().numpy(), y[b].numpy(), w[b].numpy(), 1.0
        )
        np.testing.assert_allclose(fit.coef[b][:, cols].cpu().numpy(), coef, atol=1e-10)
        assert (fit.coef[b][:, ~keep[b]] == 0).all()
        np.testing.assert_allclose(fit.score[b].cpu().numpy(), score, atol=1e-10)
        np.testing.assert_allclose(fit.intercept[b].cpu().numpy(), intercept, atol=1e-10)


def test_per_target_feature_mask(device):
    masks, y, w = _lime_problem(1, 150, 6, 2, seed=5)
    keep = torch.tensor([[[1, 0, 1, 0, 1, 0], [0, 1, 1, 1, 0, 0]]], dtype=torch.bool)
    fit = weighted_ridge(masks.to(device), y.to(device), w.to(device), feature_mask=keep.to(device))
    for j in range(2):
        cols = keep[0, j].nonzero().flatten().numpy()
        ref = Ridge(alpha=1.0).fit(masks[0][:, cols].double().numpy(), y[0, :, j].numpy(), w[0])
        np.testing.assert_allclose(fit.coef[0, j, cols].cpu().numpy(), ref.coef_, atol=1e-10)
        np.testing.assert_allclose(fit.intercept[0, j].cpu().item(), ref.intercept_, atol=1e-10)


def test_rank_deficient_ols_gives_the_min_norm_least_squares_solution():
    g = torch.Generator().manual_seed(6)
    X = torch.randn(40, 3, generator=g, dtype=torch.float64)
    X = torch.cat([X, X[:, :1]], 1)  # duplicate column: singular Gram at alpha=0
    y = torch.randn(40, 1, generator=g, dtype=torch.float64)
    w = torch.rand(40, generator=g, dtype=torch.float64)
    fit = weighted_ridge(X, y, w, alpha=0.0)
    # Reference: numpy's SVD least squares on the weighted, centred system.
    xm, ym = np.average(X, 0, w.numpy()), np.average(y, 0, w.numpy())
    sw = np.sqrt(w.numpy())[:, None]
    coef = np.linalg.lstsq((X.numpy() - xm) * sw, (y.numpy() - ym) * sw, rcond=None)[0]
    np.testing.assert_allclose(fit.coef.numpy(), coef.T, atol=1e-8)
    pred = X.numpy() @ coef + (ym - xm @ coef)
    ref_score = r2_score(y.numpy(), pred, sample_weight=w.numpy())
    np.testing.assert_allclose(fit.score.item(), ref_score, atol=1e-10)


def test_constant_target_scores_like_sklearn():
    X = torch.rand(30, 3, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    fit = weighted_ridge(X, torch.full((30, 1), 2.0, dtype=torch.float64), torch.ones(30))
    assert fit.score.item() == 1.0  # sklearn: perfect fit of a constant
    assert torch.allclose(fit.intercept, torch.tensor([2.0], dtype=torch.float64))


def test_weighted_ridge_errors():
    X, y, w = torch.zeros(10, 3), torch.zeros(10, 2), torch.ones(10)
    with pytest.raises(ValueError, match="agree on N"):
        weighted_ridge(X, y[:9], w)
    with pytest.raises(ValueError, match="alpha"):
        weighted_ridge(X, y, w, alpha=-1.0)
    with pytest.raises(ValueError, match="feature_mask"):
        weighted_ridge(X, y, w, feature_mask=torch.ones(4, dtype=torch.bool))
    with pytest.raises(TypeError, match="floating"):
        weighted_ridge(X, y.long(), w)
    with pytest.raises(ValueError, match="solve_dtype"):
        weighted_ridge(X, y, w, solve_dtype=torch.float16)


# ------------------------------------------------------------------ feature selection vs lime

_LIME = LimeBase(kernel_fn=lambda d: d)


def _lime_select(X, y, w, k, method):
    return set(_LIME.feature_selection(X, y, w, k, method).tolist())


@pytest.mark.parametrize("method", ["forward_selection", "highest_weights", "auto", "none"])
@pytest.mark.parametrize("k", [1, 3, 6, 8])
def test_selection_equals_lime(method, k, device):
    masks, y, w = _lime_problem(6, 300, 14, 3, seed=10 + k)
    dtype_y = y.float() if k % 2 else y  # float32 scores too
    chosen = select_features(method, masks.to(device), dtype_y.to(device), w.to(device), k)
    assert chosen.shape == (6, 3, 14)
    for b in range(6):
        for t in range(3):
            ref = _lime_select(
                masks[b].double().numpy(), y[b, :, t].numpy(), w[b].numpy(), k, method
            )
            ours = set(chosen[b, t].nonzero().flatten().tolist())
            assert ours == ref, (method, k, b, t)


def test_selection_respects_padding(device):
    masks, y, w = _lime_problem(2, 300, 10, 2, seed=20)
    valid = torch.arange(10) < torch.tensor([[10], [7]])
    for fn in (forward_selection, highest_weights):
        chosen = fn(masks.to(device), y.to(device), w.to(device), 4, feature_mask=valid.to(device))
        assert not chosen[1, :, 7:].any()
        for t in range(2):
            ref = _lime_select(
                masks[1, :, :7].double().numpy(), y[1, :, t].numpy(), w[1].numpy(), 4, fn.__name__
            )
            assert set(chosen[1, t].nonzero().flatten().tolist()) == ref


def test_forward_selection_more_steps_than_features():
    masks, y, w = _lime_problem(1, 100, 4, 1, seed=21)
    valid = torch.tensor([[True, True, True, False]])
    chosen = forward_selection(masks, y, w, 6, feature_mask=valid)
    assert chosen[0, 0].tolist() == [True, True, True, False]


def test_select_features_errors():
    X, y, w = torch.zeros(10, 3, dtype=torch.bool), torch.zeros(10, 1), torch.ones(10)
    with pytest.raises(ValueError, match="feature_selection"):
        select_features("best", X, y, w, 2)
    with pytest.raises(ValueError, match="max_features"):
        select_features("auto", X, y, w, 0)


# --------------------------------------------------------------------------- ridge_std


def test_ridge_std_is_the_sandwich_estimator():
    masks, y, w = _problem(b=1, n=200, k=5, t=1, seed=16)
    X, yy, ww = masks[0].double().numpy(), y[0, :, 0].numpy(), w[0].numpy()
    ridge = Ridge(alpha=1.0).fit(X, yy, sample_weight=ww)
    resid = yy - ridge.predict(X)
    xm = np.average(X, axis=0, weights=ww)
    Xc = X - xm
    G = Xc.T @ (ww[:, None] * Xc)
    A = np.linalg.inv(G + np.eye(5))
    sigma2 = (ww * resid**2).sum() / (200 - 5 - 1)
    ref = np.sqrt(np.diag(sigma2 * A @ G @ A))
    assert_close(stability.ridge_std(masks, y, w)[0, 0], ref, rtol=1e-6, atol=1e-9)
    # with a feature mask: the same estimator on the fitted columns only, 0 elsewhere
    chosen = np.array([True, False, True, True, False])
    Xs = X[:, chosen]
    ridge = Ridge(alpha=1.0).fit(Xs, yy, sample_weight=ww)
    resid = yy - ridge.predict(Xs)
    Xc = Xs - np.average(Xs, axis=0, weights=ww)
    G = Xc.T @ (ww[:, None] * Xc)
    A = np.linalg.inv(G + np.eye(3))
    sigma2 = (ww * resid**2).sum() / (200 - 3 - 1)
    ref = np.zeros(5)
    ref[chosen] = np.sqrt(np.diag(sigma2 * A @ G @ A))
    got = stability.ridge_std(masks, y, w, feature_mask=torch.from_numpy(chosen)[None])
    assert_close(got[0, 0], ref, rtol=1e-6, atol=1e-9)
