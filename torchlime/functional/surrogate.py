"""The local surrogate: weighted ridge regression from weighted moments.

Everything is batched over leading dimensions (examples, bootstrap replicates, kernel
widths, ...) and over the T targets, which share the design matrix and the weights: one
Gram matrix per example, one Cholesky factorisation, every target in one solve.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from torchlime import _checks
from torchlime._repr import compact_repr

__all__ = [
    "Moments",
    "RidgeFit",
    "r2_score",
    "residual_sum_of_squares",
    "ridge_from_moments",
    "ridge_std",
    "weighted_moments",
    "weighted_ridge",
]


class RidgeFit(NamedTuple):
    """A fitted weighted ridge regression, every field batched like its inputs."""

    coef: Tensor
    """(..., T, K) weights; 0 for features outside ``feature_mask``."""
    intercept: Tensor
    """(..., T)"""
    score: Tensor
    """(..., T) weighted R² on the fitted samples, as scikit-learn's ``Ridge.score``."""

    def __repr__(self) -> str:
        return compact_repr(self, "")


class Moments(NamedTuple):
    """Weighted second moments of a design and its targets: all that a ridge fit needs.

    Computed once per example (:func:`weighted_moments`), they serve feature selection, the
    final fit and its R² without another pass over the N samples.
    """

    gram: Tensor
    """(..., K, K) ``XcᵀWXc`` (centred by the weighted means when fitting an intercept)."""
    cross: Tensor
    """(..., K, T) ``XcᵀWyc``."""
    x_mean: Tensor
    """(..., K) weighted means of the columns (0 without intercept)."""
    y_mean: Tensor
    """(..., T) weighted means of the targets (0 without intercept)."""
    yy: Tensor
    """(..., T) ``ycᵀWyc``."""
    tss: Tensor
    """(..., T) ``Σw(y - ȳ_w)²``, the R² denominator (always around the weighted mean)."""
    weight_sum: Tensor
    """(..., 1) ``Σw``: scikit-learn's Lasso and BayesianRidge scale by it."""

    def __repr__(self) -> str:
        return compact_repr(self, "")


def weighted_ridge(
    X: Tensor,
    y: Tensor,
    weight: Tensor,
    alpha: float = 1.0,
    fit_intercept: bool = True,
    *,
    feature_mask: Tensor | None = None,
    solve_dtype: torch.dtype = torch.float64,
) -> RidgeFit:
    """Weighted ridge regression, equal to scikit-learn's ``Ridge(alpha).fit(X, y, sample_weight)``.

    Centres ``X`` and ``y`` by their weighted means (the intercept is not penalised),
    solves ``(Xcᵀ W Xc + alpha I) β = Xcᵀ W yc`` by Cholesky on the Gram matrix, and scores
    with the weighted R² ``1 - Σw(y - ŷ)² / Σw(y - ȳ_w)²`` (1 or 0 when the denominator is
    0, as scikit-learn's ``r2_score``).

    Args:
        X: (..., N, K) float or bool. Design matrix (interpretable samples).
        y: (..., N, T) float. Targets; all T share ``X`` and ``weight``.
        weight: (..., N) float >= 0. Sample weights (not normalised, as in scikit-learn:
            ``alpha`` acts relative to their sum).
        alpha: L2 penalty >= 0. With 0 the fit is weighted least squares; a rank-deficient
            design then gets the minimum-norm solution, as scikit-learn's fallback gives.
        fit_intercept: centre the data and fit an unpenalised intercept.
        feature_mask: (..., K) or (..., T, K) bool. Features to use (per target, when
            given per target); the others get coefficient 0 and leave the fit as if their
            columns did not exist. ``None`` uses every column.
        solve_dtype: precision of the Gram matrix and the solve (float64 by default: cheap
            at K x K, and safe from TF32 matmuls). Never half precision.

    Returns:
        :class:`RidgeFit` with coef (..., T, K), intercept (..., T), score (..., T), in
        ``y``'s floating dtype (at least float32).

    Raises:
        ValueError: for mismatched shapes or a negative ``alpha``.

    Example:
        >>> X = torch.tensor([[0.0], [1.0], [2.0]])
        >>> fit = weighted_ridge(X, 2 * X + 1, torch.ones(3), alpha=0.0)
        >>> fit.coef, fit.intercept
        (tensor([[2.]]), tensor([1.]))
    """
    _checks.design(X, y, weight, "weighted_ridge")
    if not alpha >= 0:
        raise ValueError(f"alpha must be >= 0; got {alpha}")
    if solve_dtype not in (torch.float32, torch.float64):
        raise ValueError(f"solve_dtype must be torch.float32 or torch.float64; got {solve_dtype}")
    out_dtype = torch.promote_types(y.dtype, torch.float32)
    mask = _checks.feature_mask(feature_mask, X.shape[-1], X.ndim, y.shape[-1], device=X.device)
    if mask.ndim < X.ndim:  # (..., K): shared by every target
        mask = mask[..., None, :]
    moments = weighted_moments(X, y, weight, fit_intercept, dtype=solve_dtype)
    fit = ridge_from_moments(moments, alpha, feature_mask=mask, fit_intercept=fit_intercept)
    return RidgeFit(*(field.to(out_dtype) for field in fit))


def weighted_moments(
    X: Tensor,
    y: Tensor,
    weight: Tensor,
    fit_intercept: bool = True,
    *,
    dtype: torch.dtype = torch.float64,
) -> Moments:
    """The weighted moments of a regression, centred before the Gram (never ``XᵀWX - ...``).

    Args:
        X: (..., N, K) float or bool. Design matrix.
        y: (..., N, T) float. Targets.
        weight: (..., N) float >= 0. Sample weights.
        fit_intercept: centre by the weighted means.
        dtype: the precision of the moments (float64 by default).

    Returns:
        :class:`Moments`, in ``dtype``, broadcast over the leading dimensions.

    Example:
        >>> m = weighted_moments(torch.tensor([[0.0], [2.0]]), torch.tensor([[1.0], [5.0]]),
        ...                      torch.ones(2))
        >>> m.gram.item(), m.cross.item(), m.x_mean.item(), m.y_mean.item()
        (2.0, 4.0, 1.0, 3.0)
    """
    _checks.design(X, y, weight, "weighted_moments")
    batch = torch.broadcast_shapes(X.shape[:-2], y.shape[:-2], weight.shape[:-1])
    n, k = X.shape[-2:]
    w, yd = weight.to(dtype), y.to(dtype)
    sw = w.sum(-1)[..., None]
    ym_w = torch.einsum("...n,...nt->...t", w, yd) / sw
    # One working copy of X, stored feature-major (the Gram's matmul reads (..., K, N)
    # memory fastest), centred and scaled by sqrt(w) in place: Xs = sqrt(W) Xc.
    Xs = torch.empty(*batch, k, n, dtype=dtype, device=X.device).copy_(X.mT).mT
    root = w.sqrt()[..., :, None]
    if fit_intercept:
        xm = torch.einsum("...n,...nk->...k", w, Xs) / sw
        ym = ym_w
        Xs.sub_(xm[..., None, :])
        ys = (yd - ym[..., None, :]) * root
    else:
        xm = Xs.new_zeros(k).expand(*batch, k)
        ym = yd.new_zeros(yd.shape[-1]).expand(*batch, yd.shape[-1])
        ys = yd * root
    Xs.mul_(root)
    yy = (ys * ys).sum(-2)
    tss = yy if fit_intercept else (w[..., :, None] * (yd - ym_w[..., None, :]) ** 2).sum(-2)
    return Moments(Xs.mT @ Xs, Xs.mT @ ys, xm, ym, yy, tss, sw.expand(*batch, 1))


def ridge_from_moments(
    moments: Moments,
    alpha: float = 1.0,
    *,
    feature_mask: Tensor | None = None,
    fit_intercept: bool = True,
) -> RidgeFit:
    """Solve the ridge system from precomputed moments, every target at once.

    The R² comes from the moments too: ``RSS = ycᵀWyc - 2βᵀXcᵀWyc + βᵀ(XcᵀWXc)β``.

    Args:
        moments: from :func:`weighted_moments`.
        alpha: L2 penalty >= 0 (see :func:`weighted_ridge`).
        feature_mask: (..., T, K) bool features to use per target, or (..., 1, K) for one
            set shared by every target (one factorisation for all); ``None``: all.
        fit_intercept: whether ``moments`` were centred (adds the intercept).

    Returns:
        :class:`RidgeFit` in the moments' dtype.

    Example:
        >>> m = weighted_moments(torch.tensor([[0.0], [2.0]]), torch.tensor([[1.0], [5.0]]),
        ...                      torch.ones(2))
        >>> round(ridge_from_moments(m, 0.0).coef.item(), 12)
        2.0
    """
    gram, cross = moments.gram, moments.cross
    k, t = gram.shape[-1], cross.shape[-1]
    if feature_mask is None:
        feature_mask = torch.ones(1, k, dtype=torch.bool, device=gram.device)
    if (
        feature_mask.dtype != torch.bool
        or feature_mask.ndim < 2
        or feature_mask.shape[-1] != k
        or feature_mask.shape[-2] not in (1, t)
    ):
        raise ValueError(
            f"feature_mask must be bool (..., T, K) or (..., 1, K) with T={t}, K={k}; got "
            f"{feature_mask.dtype} of shape {tuple(feature_mask.shape)}"
        )
    if feature_mask.shape[-2] == 1:  # shared by all targets: one system, T right-hand sides
        mask = feature_mask[..., 0, :]
        pair = mask[..., :, None] & mask[..., None, :]
        a = torch.where(mask, alpha, 1.0).to(gram.dtype)
        system = torch.where(pair, gram, 0.0) + torch.diag_embed(a)
        rhs = torch.where(mask[..., None], cross, 0.0)
        coef = _spd_solve(system, rhs, alpha).mT  # (..., T, K)
    else:  # per target: (..., T, K)
        mask = feature_mask
        pair = mask[..., :, None] & mask[..., None, :]  # (..., T, K, K)
        a = torch.where(mask, alpha, 1.0).to(gram.dtype)
        system = torch.where(pair, gram[..., None, :, :], 0.0) + torch.diag_embed(a)
        rhs = torch.where(mask, cross.mT, 0.0)[..., None]  # (..., T, K, 1)
        coef = _spd_solve(system, rhs, alpha)[..., 0]  # (..., T, K)
    intercept = moments.y_mean - (moments.x_mean[..., None, :] * coef).sum(-1)
    intercept = intercept if fit_intercept else torch.zeros_like(intercept)
    score = r2_score(moments, residual_sum_of_squares(moments, coef))
    return RidgeFit(coef, intercept.expand(coef.shape[:-1]), score)


def residual_sum_of_squares(moments: Moments, coef: Tensor) -> Tensor:
    """(..., T) weighted residual sum of squares of coef (..., T, K), from the moments alone.

    ``RSS = ycᵀWyc - 2βᵀXcᵀWyc + βᵀ(XcᵀWXc)β``, clamped at 0.

    Example:
        >>> m = weighted_moments(torch.tensor([[0.0], [2.0]]), torch.tensor([[1.0], [5.0]]),
        ...                      torch.ones(2))
        >>> residual_sum_of_squares(m, torch.tensor([[[2.0]]], dtype=torch.float64)).item()
        0.0
    """
    explained = (coef * moments.cross.mT).sum(-1)
    quadratic = torch.einsum("...tk,...kl,...tl->...t", coef, moments.gram, coef)
    return (moments.yy - 2 * explained + quadratic).clamp(min=0)


def r2_score(moments: Moments, rss: Tensor) -> Tensor:
    """(..., T) weighted R² as scikit-learn's ``r2_score`` (zero denominator: 1 if rss is 0).

    Example:
        >>> m = weighted_moments(torch.tensor([[0.0], [2.0]]), torch.tensor([[1.0], [5.0]]),
        ...                      torch.ones(2))
        >>> r2_score(m, torch.zeros(1, dtype=torch.float64)).item()
        1.0
    """
    tss = moments.tss
    score = 1.0 - rss / torch.where(tss != 0, tss, 1.0)
    return torch.where(tss != 0, score, torch.where(rss == 0, 1.0, 0.0))


def _spd_solve(gram: Tensor, rhs: Tensor, alpha: float) -> Tensor:
    """Solve ``gram @ x = rhs`` for symmetric positive (semi-)definite ``gram``.

    With ``alpha > 0`` the matrix is positive definite and Cholesky never fails (no host
    sync). With ``alpha == 0`` a singular matrix falls back to the minimum-norm solution
    through an eigendecomposition, which costs one host sync to detect.
    """
    chol, info = torch.linalg.cholesky_ex(gram)
    x = torch.cholesky_solve(rhs, chol)
    if alpha > 0 or torch.compiler.is_compiling():
        return x
    failed = info != 0
    if bool(failed.any()):
        evals, evecs = torch.linalg.eigh(gram)
        cutoff = evals.amax(-1, keepdim=True) * gram.shape[-1] * torch.finfo(gram.dtype).eps
        inv = torch.where(evals > cutoff, 1.0 / evals, 0.0)
        pinv = evecs @ (inv[..., :, None] * (evecs.mT @ rhs))
        x = torch.where(failed[..., None, None], pinv, x)
    return x


def ridge_std(
    X: Tensor,
    y: Tensor,
    weight: Tensor,
    alpha: float = 1.0,
    *,
    feature_mask: Tensor | None = None,
) -> Tensor:
    """Analytic standard deviation of weighted ridge coefficients (the sandwich estimator).

    ``Var(β) = σ² A⁻¹ G A⁻¹`` with ``G = Xcᵀ W Xc`` over the fitted features,
    ``A = G + alpha I`` and ``σ² = Σ w r² / (n - p - 1)`` from the ridge's own residuals
    (``n`` rows with positive weight, ``p`` fitted features). Visani et al. take ``σ²``
    from an unpenalised fit; with lime's ``alpha = 1`` against ``Σw`` in the hundreds the
    two agree closely.

    Args:
        X: (B, N, K) bool or float design.
        y: (B, N, T) float scores.
        weight: (B, N) float sample weights.
        alpha: ridge penalty, > 0.
        feature_mask: (B, K) or (B, T, K) bool fitted features (None: all).

    Returns:
        (B, T, K) float, 0 outside ``feature_mask``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> X = torch.rand(1, 400, 3, generator=g) < 0.5
        >>> y = X.double() @ torch.tensor([[1.0], [2.0], [0.0]], dtype=torch.float64)
        >>> y = y + 0.1 * torch.randn(1, 400, 1, generator=g, dtype=torch.float64)
        >>> ridge_std(X, y, torch.ones(1, 400)).shape
        torch.Size([1, 1, 3])
    """
    if not alpha > 0:
        raise ValueError(f"ridge_std needs alpha > 0; got {alpha}")
    t, kk = y.shape[-1], X.shape[-1]
    mask = _checks.per_target_mask(feature_mask, X, t)  # (B, T, K)
    moments = weighted_moments(X, y, weight)
    fit = ridge_from_moments(moments, alpha, feature_mask=mask)
    rss = residual_sum_of_squares(moments, fit.coef)  # (B, T)
    w = weight.to(torch.float64)
    dof = (w > 0).sum(-1, keepdim=True) - mask.sum(-1) - 1
    sigma2 = rss / dof.clamp(min=1)
    pair = mask[..., :, None] & mask[..., None, :]
    g = torch.where(pair, moments.gram[:, None], 0.0)
    eye = torch.eye(kk, dtype=torch.float64, device=X.device)
    a = g + torch.where(mask, alpha, 1.0)[..., None] * eye
    chol, _ = torch.linalg.cholesky_ex(a)
    a_inv = torch.cholesky_inverse(chol)
    var = (a_inv @ g @ a_inv).diagonal(dim1=-2, dim2=-1) * sigma2[..., None]
    out_dtype = torch.promote_types(y.dtype, torch.float32)
    return torch.where(mask, var.clamp(min=0).sqrt(), 0.0).to(out_dtype)
