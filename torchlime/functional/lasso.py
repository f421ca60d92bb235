"""The Lasso surrogate (captum's default), batched over examples and targets on the device.

scikit-learn's ``Lasso(alpha).fit(X, y, sample_weight)`` rescales the weights to sum to N,
so it minimises ``Σ w r² / (2 Σw) + alpha ‖β‖₁`` with an unpenalised intercept. From the
weighted moments (``XcᵀWXc``, ``XcᵀWyc``) that objective needs no further pass over the
samples: FISTA (accelerated proximal gradient with adaptive restart) solves every example
and target at once, and its loop runs over iterations, never over features or samples.
"""

from __future__ import annotations

import torch
from torch import Tensor

from torchlime.functional.surrogate import (
    Moments,
    RidgeFit,
    r2_score,
    residual_sum_of_squares,
)

__all__ = ["lasso_from_moments"]


def lasso_from_moments(
    moments: Moments,
    alpha: float,
    *,
    feature_mask: Tensor | None = None,
    max_iter: int = 20_000,
    tol: float = 1e-10,
    check_every: int = 50,
) -> RidgeFit:
    """Weighted Lasso from moments, equal to scikit-learn's ``Lasso(alpha)`` with sample weights.

    Args:
        moments: from :func:`~torchlime.functional.weighted_moments` (centred, float64).
        alpha: the L1 penalty, >= 0, on scikit-learn's scale (per unit of mean weight).
        feature_mask: (..., T, K) or (..., 1, K) bool features in the model (None: all);
            the others get coefficient 0.
        max_iter: the most FISTA iterations.
        tol: stop when no coefficient moved by more than ``tol`` times the largest one over
            ``check_every`` iterations (one host sync per check).
        check_every: iterations between convergence checks.

    Returns:
        :class:`~torchlime.functional.RidgeFit`: coef (..., T, K), intercept and weighted R²
        (..., T), in the moments' dtype.

    Example:
        >>> from torchlime.functional import weighted_moments
        >>> g = torch.Generator().manual_seed(0)
        >>> X = torch.randn(200, 3, generator=g, dtype=torch.float64)
        >>> y = X @ torch.tensor([[2.0], [0.0], [-1.0]], dtype=torch.float64)
        >>> fit = lasso_from_moments(weighted_moments(X, y, torch.ones(200)), 0.1)
        >>> [round(c, 2) + 0.0 for c in fit.coef[0].tolist()]  # shrunk by ~alpha; 0 stays 0
        [1.91, 0.0, -0.92]
    """
    if not alpha >= 0:
        raise ValueError(f"alpha must be >= 0; got {alpha}")
    gram, cross = moments.gram, moments.cross  # (..., K, K), (..., K, T)
    s = moments.weight_sum[..., None]  # (..., 1, 1)
    k, t = gram.shape[-1], cross.shape[-1]
    mask = torch.ones(*gram.shape[:-2], t, k, dtype=torch.bool, device=gram.device)
    if feature_mask is not None:
        mask = mask & feature_mask
    pair = mask[..., :, None] & mask[..., None, :]
    g = torch.where(pair, gram[..., None, :, :], 0.0) / s[..., None]  # (..., T, K, K)
    c = torch.where(mask, cross.mT, 0.0) / s  # (..., T, K)
    step = 1.0 / torch.linalg.eigvalsh(g).amax(-1, keepdim=True).clamp(min=1e-300)
    threshold = alpha * step
    beta = torch.zeros_like(c)
    z, momentum = beta, 1.0
    for i in range(1, max_iter + 1):
        grad = (g @ z[..., None])[..., 0] - c
        moved = z - step * grad
        new = torch.sign(moved) * (moved.abs() - threshold).clamp(min=0)
        following = ((new - beta) * (z - new)).sum(-1, keepdim=True) <= 0  # else restart
        next_momentum = (1 + (1 + 4 * momentum**2) ** 0.5) / 2
        z = torch.where(following, new + (momentum - 1) / next_momentum * (new - beta), new)
        change = (new - beta).abs().amax()
        beta, momentum = new, next_momentum
        converged = change <= tol * beta.abs().amax().clamp(min=1e-300)
        if i % check_every == 0 and not torch.compiler.is_compiling() and bool(converged):
            break
    intercept = moments.y_mean - (moments.x_mean[..., None, :] * beta).sum(-1)
    score = r2_score(moments, residual_sum_of_squares(moments, beta))
    return RidgeFit(beta, intercept, score)
