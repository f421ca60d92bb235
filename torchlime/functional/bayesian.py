"""Bayesian ridge regression with sample weights: BayLIME's surrogate, batched on the device."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from torchlime import _checks
from torchlime._repr import compact_repr
from torchlime.functional.surrogate import (
    Moments,
    r2_score,
    residual_sum_of_squares,
    weighted_moments,
)

__all__ = ["BayesianRidgeFit", "bayesian_from_moments", "bayesian_ridge"]


class BayesianRidgeFit(NamedTuple):
    """A Bayesian ridge fit (BayLIME): posterior mean and spread per coefficient."""

    coef: Tensor
    """(..., T, K) posterior mean; 0 outside ``feature_mask``."""
    intercept: Tensor
    """(..., T)"""
    score: Tensor
    """(..., T) weighted R² of the posterior mean."""
    coef_std: Tensor
    """(..., T, K) posterior standard deviation; 0 outside ``feature_mask``."""
    noise_precision: Tensor
    """(..., T) the evidence-maximising noise precision (scikit-learn's ``alpha_``)."""
    prior_precision: Tensor
    """(..., T) the evidence-maximising weight precision (scikit-learn's ``lambda_``)."""

    def __repr__(self) -> str:
        return compact_repr(self, "")


def bayesian_ridge(
    X: Tensor,
    y: Tensor,
    weight: Tensor,
    *,
    n_iter: int = 300,
    alpha_1: float = 1e-6,
    alpha_2: float = 1e-6,
    lambda_1: float = 1e-6,
    lambda_2: float = 1e-6,
    feature_mask: Tensor | None = None,
) -> BayesianRidgeFit:
    """Bayesian ridge regression with sample weights (BayLIME's surrogate), batched.

    Equal to scikit-learn's ``BayesianRidge(max_iter=n_iter, tol=0).fit(X, y,
    sample_weight)`` for each example and target: a Gaussian prior ``β ~ N(0, 1/λ)``, noise
    precision ``α``, both chosen by evidence maximisation (MacKay's fixed-point updates
    with Gamma hyper-priors). One batched ``eigh`` of the weighted Gram matrix, then
    ``n_iter`` updates of (B, T) scalars in the eigenbasis: a fixed count, no convergence
    test, so no host sync. The posterior covariance ``(λ I + α XᵀWX)⁻¹`` gives each
    coefficient's standard deviation.

    One guard differs from scikit-learn: the noise update's residual degrees of freedom
    ``Σw - γ`` are floored at 0. They turn negative only when the weights sum to less than
    the number of well-determined parameters (e.g. fewer samples than features with lime's
    weights), where scikit-learn returns a negative precision and NaN deviations.

    Args:
        X: (..., N, K) bool or float design.
        y: (..., N, T) float targets.
        weight: (..., N) float sample weights (0 drops a row).
        n_iter: evidence iterations (scikit-learn's default ``max_iter`` is 300).
        alpha_1: shape of the Gamma hyper-prior on ``α``.
        alpha_2: rate of the Gamma hyper-prior on ``α``.
        lambda_1: shape of the Gamma hyper-prior on ``λ``.
        lambda_2: rate of the Gamma hyper-prior on ``λ``.
        feature_mask: (..., K) or (..., T, K) bool features in the model (None: all).

    Returns:
        :class:`BayesianRidgeFit`, fields (..., T[, K]) in ``y``'s dtype (at least float32).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> X = torch.rand(200, 2, generator=g, dtype=torch.float64)
        >>> noise = 0.01 * torch.randn(200, 1, generator=g, dtype=torch.float64)
        >>> y = (X @ torch.tensor([2.0, -1.0], dtype=torch.float64))[:, None] + noise
        >>> fit = bayesian_ridge(X, y, torch.ones(200, dtype=torch.float64))
        >>> [round(c, 2) for c in fit.coef[0].tolist()], bool((fit.coef_std < 0.01).all())
        ([2.0, -1.0], True)
    """
    if n_iter < 0:
        raise ValueError(f"n_iter must be >= 0; got {n_iter}")
    if X.ndim < 2 or y.ndim < 2 or y.shape[-2] != X.shape[-2] or weight.shape[-1] != X.shape[-2]:
        raise ValueError(
            f"bayesian_ridge needs X (..., N, K), y (..., N, T) and weight (..., N); got "
            f"shapes {tuple(X.shape)}, {tuple(y.shape)} and {tuple(weight.shape)}"
        )
    out_dtype = torch.promote_types(y.dtype, torch.float32)
    mask = _checks.per_target_mask(feature_mask, X, y.shape[-1])  # (..., T, K)
    fit = bayesian_from_moments(
        weighted_moments(X, y, weight), mask, n_iter=n_iter, alpha_1=alpha_1, alpha_2=alpha_2,
        lambda_1=lambda_1, lambda_2=lambda_2,
    )  # fmt: skip
    return BayesianRidgeFit(*(field.to(out_dtype) for field in fit))


def bayesian_from_moments(
    moments: Moments,
    feature_mask: Tensor,
    *,
    n_iter: int = 300,
    alpha_1: float = 1e-6,
    alpha_2: float = 1e-6,
    lambda_1: float = 1e-6,
    lambda_2: float = 1e-6,
) -> BayesianRidgeFit:
    """:func:`bayesian_ridge` from weighted moments (no pass over the samples).

    Args:
        moments: from :func:`~torchlime.functional.weighted_moments` (centred, float64).
        feature_mask: (..., T, K) bool features in the model.
        n_iter: evidence iterations.
        alpha_1: shape of the Gamma hyper-prior on the noise precision.
        alpha_2: its rate.
        lambda_1: shape of the Gamma hyper-prior on the weight precision.
        lambda_2: its rate.

    Returns:
        :class:`BayesianRidgeFit` in the moments' dtype.
    """
    gram, rhs, xm, ym = moments.gram, moments.cross, moments.x_mean, moments.y_mean
    mask = feature_mask.expand(*gram.shape[:-2], rhs.shape[-1], gram.shape[-1])
    pair = mask[..., :, None] & mask[..., None, :]
    g = torch.where(pair, gram[..., None, :, :], 0.0)  # (..., T, K, K)
    evals, evecs = torch.linalg.eigh(g)
    evals = evals.clamp(min=0)
    b_rot = (evecs.mT @ torch.where(mask, rhs.mT, 0.0)[..., None])[..., 0]  # (..., T, K)
    sw = moments.weight_sum  # (..., 1)
    y_var = moments.yy / sw  # (..., T)
    # The residual of the unpenalised fit, once: later SSEs add only a well-conditioned term.
    cutoff = evals.amax(-1, keepdim=True) * evals.shape[-1] * torch.finfo(torch.float64).eps
    inv = torch.where(evals > cutoff, 1.0 / torch.where(evals > cutoff, evals, 1.0), 0.0)
    ols = (evecs @ (inv * b_rot)[..., None])[..., 0]
    sse0 = residual_sum_of_squares(moments, ols)

    def update(noise: Tensor, prior: Tensor) -> tuple[Tensor, Tensor]:
        ratio = (prior / noise)[..., None]
        c_rot = b_rot / (evals + ratio)
        sse = sse0 + (inv * (b_rot * ratio / (evals + ratio)) ** 2).sum(-1)
        return c_rot, sse

    noise = 1.0 / (y_var + torch.finfo(torch.float64).eps)
    prior = torch.ones_like(noise)
    for _ in range(n_iter):
        c_rot, sse = update(noise, prior)
        gamma = (noise[..., None] * evals / (prior[..., None] + noise[..., None] * evals)).sum(-1)
        prior = (gamma + 2 * lambda_1) / ((c_rot**2).sum(-1) + 2 * lambda_2)
        noise = ((sw - gamma).clamp(min=0) + 2 * alpha_1) / (sse + 2 * alpha_2)
    c_rot, _ = update(noise, prior)
    coef = torch.where(mask, (evecs @ c_rot[..., None])[..., 0], 0.0)
    var = (evecs**2 / (noise[..., None] * evals + prior[..., None])[..., None, :]).sum(-1)
    std = torch.where(mask, var.sqrt(), 0.0)
    intercept = ym - (xm[..., None, :] * coef).sum(-1)
    score = r2_score(moments, residual_sum_of_squares(moments, coef))
    return BayesianRidgeFit(coef, intercept, score, std, noise, prior)
