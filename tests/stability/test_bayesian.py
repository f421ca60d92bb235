"""bayesian_ridge (BayLIME's surrogate) against scikit-learn's BayesianRidge."""

import itertools

import numpy as np
import pytest
import torch
from _helpers import assert_close
from _helpers import lime_problem as _problem
from _modalities import explained
from sklearn.linear_model import BayesianRidge
from sklearn.metrics import r2_score

from torchlime import stability


def test_bayesian_ridge_equals_sklearn_with_sample_weights(device):
    masks, y, w = _problem(b=2, n=150, k=7, t=2, seed=17)
    fit = stability.bayesian_ridge(masks.to(device), y.to(device), w.to(device), n_iter=300)
    fit = type(fit)(*(t.cpu() for t in fit))
    assert fit.coef.shape == fit.coef_std.shape == (2, 2, 7)
    for i, j in itertools.product(range(2), range(2)):
        X, yy, ww = masks[i].double().numpy(), y[i, :, j].numpy(), w[i].numpy()
        ref = BayesianRidge(max_iter=300, tol=1e-300).fit(X, yy, sample_weight=ww)
        tol = {"rtol": 1e-6, "atol": 1e-9}
        assert_close(fit.coef[i, j], ref.coef_, **tol)
        assert_close(fit.intercept[i, j], torch.tensor(ref.intercept_), **tol)
        assert_close(fit.coef_std[i, j], np.sqrt(np.diag(ref.sigma_)), **tol)
        assert fit.noise_precision[i, j].item() == pytest.approx(float(ref.alpha_), rel=1e-6)
        assert fit.prior_precision[i, j].item() == pytest.approx(float(ref.lambda_), rel=1e-6)
        r2 = r2_score(yy, ref.predict(X), sample_weight=ww)
        assert fit.score[i, j].item() == pytest.approx(r2, abs=1e-9)


def test_bayesian_ridge_stays_finite_with_fewer_samples_than_features():
    masks, y, w = _problem(b=1, n=12, k=20, t=1, seed=19)
    fit = stability.bayesian_ridge(masks, y, w)
    assert torch.isfinite(fit.coef_std).all() and (fit.coef_std > 0).all()
    assert (fit.noise_precision > 0).all()


def test_bayesian_ridge_feature_mask_fits_only_those_columns():
    masks, y, w = _problem(b=1, n=150, k=6, t=2, seed=18)
    keep = torch.tensor([[[True, False, True, True, False, True], [True] * 3 + [False] * 3]])
    fit = stability.bayesian_ridge(masks, y, w, n_iter=50, feature_mask=keep)
    for j in range(2):
        cols = keep[0, j].nonzero()[:, 0].numpy()
        X = masks[0].double().numpy()[:, cols]
        ref = BayesianRidge(max_iter=50, tol=1e-300).fit(X, y[0, :, j].numpy(), w[0].numpy())
        assert_close(fit.coef[0, j, cols], ref.coef_, rtol=1e-6, atol=1e-9)
        assert_close(fit.coef_std[0, j, cols], np.sqrt(np.diag(ref.sigma_)), rtol=1e-6, atol=1e-9)
        assert (fit.coef[0, j, ~keep[0, j]] == 0).all()
        assert (fit.coef_std[0, j, ~keep[0, j]] == 0).all()


def test_bayesian_ridge_of_an_explanation_equals_sklearn(modality):
    _, exp = explained(modality, 1.0)
    if modality.kind == "kernel_shap":  # sklearn: a negative noise precision, NaN spreads
        with pytest.raises(ValueError, match="efficiency constraint"):
            stability.bayesian_ridge(exp)
        return
    fit = stability.bayesian_ridge(exp, n_iter=300)
    assert fit.coef.shape == exp.coef.shape and (fit.coef[~exp.selected] == 0).all()
    sel = exp.selected[0, 0].numpy()
    X = exp.masks[0][:, sel].double().numpy()
    ref = BayesianRidge(max_iter=300, tol=1e-300).fit(
        X, exp.scores[0, :, 0].double().numpy(), sample_weight=exp.weights[0].numpy()
    )
    np.testing.assert_allclose(fit.coef[0, 0][sel].double().numpy(), ref.coef_, rtol=1e-3)
