"""The local surrogate: weighted ridge regression and lime's feature-selection modes.

Everything is batched over leading dimensions (examples, bootstrap replicates, kernel
widths, ...) and over the T targets, which share the design matrix and the weights: one
Gram matrix per example, one Cholesky factorisation, every target in one solve.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

__all__ = [
    "FEATURE_SELECTION",
    "Moments",
    "RidgeFit",
    "forward_selection",
    "highest_weights",
    "ridge_from_moments",
    "select_features",
    "weighted_moments",
    "weighted_ridge",
]

FEATURE_SELECTION = ("none", "auto", "highest_weights", "forward_selection", "lasso_path")


class RidgeFit(NamedTuple):
    """A fitted weighted ridge regression, every field batched like its inputs."""

    coef: Tensor
    """(..., T, K) weights; 0 for features outside ``feature_mask``."""
    intercept: Tensor
    """(..., T)"""
    score: Tensor
    """(..., T) weighted R² on the fitted samples, as scikit-learn's ``Ridge.score``."""


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
    _check_design(X, y, weight, "weighted_ridge")
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0; got {alpha}")
    if solve_dtype not in (torch.float32, torch.float64):
        raise ValueError(f"solve_dtype must be torch.float32 or torch.float64; got {solve_dtype}")
    out_dtype = torch.promote_types(y.dtype, torch.float32)
    mask = _feature_mask(feature_mask, X.shape[-1], X.ndim, y.shape[-1], device=X.device)
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
    _check_design(X, y, weight, "weighted_moments")
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
    return Moments(Xs.mT @ Xs, Xs.mT @ ys, xm, ym, yy, tss)


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
    score = _r2(moments, _rss(moments, coef))
    return RidgeFit(coef, intercept.expand(coef.shape[:-1]), score)


def _rss(moments: Moments, coef: Tensor) -> Tensor:
    """(..., T) weighted residual sum of squares of coef (..., T, K), from the moments alone."""
    explained = (coef * moments.cross.mT).sum(-1)
    quadratic = torch.einsum("...tk,...kl,...tl->...t", coef, moments.gram, coef)
    return (moments.yy - 2 * explained + quadratic).clamp(min=0)


def _r2(moments: Moments, rss: Tensor) -> Tensor:
    """Weighted R² as scikit-learn's ``r2_score`` (zero denominator: 1 if rss is 0, else 0)."""
    tss = moments.tss
    score = 1.0 - rss / torch.where(tss != 0, tss, 1.0)
    return torch.where(tss != 0, score, torch.where(rss == 0, 1.0, 0.0))


def highest_weights(
    X: Tensor,
    y: Tensor,
    weight: Tensor,
    max_features: int,
    *,
    feature_mask: Tensor | None = None,
    moments: Moments | None = None,
) -> Tensor:
    """Lime's ``highest_weights``: ridge (alpha=0.01) on all features, keep the top ``|coef·x0|``.

    ``x0`` is the first sample (the original input; all ones for image and text masks).
    Ties keep the lower feature index first, as lime's stable sort does.

    Args:
        X: (..., N, K) float or bool. Interpretable samples, row 0 the original.
        y: (..., N, T) float. Scores.
        weight: (..., N) float. Sample weights.
        max_features: k >= 1, how many features to keep per target.
        feature_mask: (..., K) bool valid features (padding excluded); ``None``: all.
        moments: the fit's :func:`weighted_moments`, if already computed (saves a pass).

    Returns:
        (..., T, K) bool, the selected features per target.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> X = torch.rand(50, 4, generator=g) < 0.5
        >>> y = (3.0 * X[:, 2] - X[:, 0].double())[:, None]
        >>> highest_weights(X, y, torch.ones(50), 2)
        tensor([[ True, False,  True, False]])
    """
    _check_design(X, y, weight, "highest_weights")
    mask = _feature_mask(
        feature_mask, X.shape[-1], X.ndim, y.shape[-1], shared_only=True, device=X.device
    )
    moments = moments if moments is not None else weighted_moments(X, y, weight)
    fit = ridge_from_moments(moments, alpha=0.01, feature_mask=mask[..., None, :])
    x0 = X[..., 0, :].to(fit.coef.dtype)
    strength = torch.where(mask[..., None, :], (fit.coef * x0[..., None, :]).abs(), -1.0)
    order = strength.sort(dim=-1, descending=True, stable=True).indices
    positions = torch.arange(X.shape[-1], device=X.device).expand_as(order)
    rank = torch.empty_like(order).scatter_(-1, order, positions)
    return (rank < max_features) & mask[..., None, :]


def forward_selection(
    X: Tensor,
    y: Tensor,
    weight: Tensor,
    max_features: int,
    *,
    feature_mask: Tensor | None = None,
    moments: Moments | None = None,
) -> Tensor:
    """Lime's ``forward_selection``: greedily add the feature that most raises the weighted R².

    Each step scores every candidate at once with a batched Cholesky on Gram sub-blocks of
    the weighted least-squares fit (``Ridge(alpha=0)`` with intercept, as lime fits).
    Ties go to the lower feature index, as lime's strict ``>`` does.

    Args:
        X: (..., N, K) float or bool. Interpretable samples.
        y: (..., N, T) float. Scores.
        weight: (..., N) float. Sample weights.
        max_features: k >= 1 steps (at most the number of valid features).
        feature_mask: (..., K) bool valid features (padding excluded); ``None``: all.
        moments: the fit's :func:`weighted_moments`, if already computed (saves a pass).

    Returns:
        (..., T, K) bool, the selected features per target.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> X = torch.rand(50, 4, generator=g) < 0.5
        >>> y = (3.0 * X[:, 2] - X[:, 0].double())[:, None]
        >>> forward_selection(X, y, torch.ones(50), 1)
        tensor([[False, False,  True, False]])
    """
    _check_design(X, y, weight, "forward_selection")
    if max_features < 1:
        raise ValueError(f"max_features must be >= 1; got {max_features}")
    batch_shape = torch.broadcast_shapes(X.shape[:-2], y.shape[:-2], weight.shape[:-1])
    k, t = X.shape[-1], y.shape[-1]
    mask = _feature_mask(feature_mask, k, X.ndim, t, shared_only=True, device=X.device)
    mask = mask.expand(*batch_shape, k)
    moments = moments if moments is not None else weighted_moments(X, y, weight)
    gram, rhs = moments.gram, moments.cross
    gram = gram.expand(*batch_shape, k, k).reshape(-1, k, k)  # (P, K, K)
    rhs = rhs.expand(*batch_shape, k, t).reshape(-1, k, t).mT  # (P, T, K)
    valid = mask.reshape(-1, 1, k).expand(-1, t, k)  # (P, T, K)
    p = gram.shape[0]
    chosen = torch.zeros(p, t, k, dtype=torch.bool, device=X.device)
    order = torch.zeros(p, t, 0, dtype=torch.long, device=X.device)
    candidates = torch.arange(k, device=X.device).expand(p, t, k)
    pi = torch.arange(p, device=X.device)[:, None, None, None, None]
    ti = torch.arange(t, device=X.device)[None, :, None, None]
    for _ in range(min(max_features, k)):
        idx = torch.cat([order[:, :, None, :].expand(p, t, k, -1), candidates[..., None]], -1)
        sub = gram[pi, idx[..., :, None], idx[..., None, :]]  # (P, T, K, s+1, s+1)
        b = rhs[torch.arange(p, device=X.device)[:, None, None, None], ti, idx]  # (P,T,K,s+1)
        chol, info = torch.linalg.cholesky_ex(sub)
        sol = torch.cholesky_solve(b[..., None], chol)[..., 0]
        explained = (b * sol).sum(-1)  # ESS: maximising it maximises R² (TSS is fixed)
        usable = valid & ~chosen & (info == 0)
        explained = torch.where(usable, explained, -torch.inf)
        best = explained.argmax(-1)  # first maximum, like lime's strict '>'
        has_any = usable.any(-1)
        chosen = chosen | (torch.nn.functional.one_hot(best, k).bool() & has_any[..., None])
        # An element with no candidate left appends a meaningless index: every later
        # candidate of it is already chosen or invalid, so nothing more is selected.
        order = torch.cat([order, best[..., None]], -1)
    return chosen.reshape(*batch_shape, t, k)


def select_features(
    method: str,
    X: Tensor,
    y: Tensor,
    weight: Tensor,
    max_features: int | None,
    *,
    feature_mask: Tensor | None = None,
    moments: Moments | None = None,
) -> Tensor:
    """Dispatch to one of lime's feature-selection modes.

    ``"none"`` keeps every valid feature; ``"auto"`` is ``forward_selection`` when
    ``max_features <= 6`` and ``highest_weights`` otherwise (lime's rule);
    ``"lasso_path"`` walks lime's LARS lasso path. ``max_features=None`` keeps all.

    Args:
        method: one of ``FEATURE_SELECTION``.
        X: (..., N, K) float or bool. Interpretable samples.
        y: (..., N, T) float. Scores.
        weight: (..., N) float. Sample weights.
        max_features: k, or ``None`` for every valid feature.
        feature_mask: (..., K) bool valid features; ``None``: all.
        moments: the fit's :func:`weighted_moments`, if already computed (saves a pass).

    Returns:
        (..., T, K) bool, the selected features per target.

    Example:
        >>> X = torch.ones(3, 2, dtype=torch.bool)
        >>> select_features("none", X, torch.zeros(3, 1), torch.ones(3), None).tolist()
        [[True, True]]
    """
    if method not in FEATURE_SELECTION:
        raise ValueError(f"feature_selection must be one of {FEATURE_SELECTION}; got {method!r}")
    t = y.shape[-1]
    mask = _feature_mask(feature_mask, X.shape[-1], X.ndim, t, shared_only=True, device=X.device)
    batch_shape = torch.broadcast_shapes(X.shape[:-2], y.shape[:-2], weight.shape[:-1])
    if method == "none" or max_features is None or max_features >= X.shape[-1]:
        return mask[..., None, :].expand(*batch_shape, t, X.shape[-1])
    if max_features < 1:
        raise ValueError(f"max_features must be >= 1 or None; got {max_features}")
    if method == "auto":
        method = "forward_selection" if max_features <= 6 else "highest_weights"
    if method == "forward_selection":
        return forward_selection(X, y, weight, max_features, feature_mask=mask, moments=moments)
    if method == "highest_weights":
        return highest_weights(X, y, weight, max_features, feature_mask=mask, moments=moments)
    from torchlime.functional._lars import lasso_path_select

    return lasso_path_select(X, y, weight, max_features, feature_mask=mask)


# --------------------------------------------------------------------------- helpers


def _check_design(X: Tensor, y: Tensor, weight: Tensor, where: str) -> None:
    if X.ndim < 2 or y.ndim < 2 or weight.ndim < 1:
        raise ValueError(
            f"{where} needs X (..., N, K), y (..., N, T) and weight (..., N); got shapes "
            f"{tuple(X.shape)}, {tuple(y.shape)} and {tuple(weight.shape)}"
        )
    n = X.shape[-2]
    if y.shape[-2] != n or weight.shape[-1] != n:
        raise ValueError(
            f"{where}: X (..., N, K), y (..., N, T) and weight (..., N) must agree on N; "
            f"got shapes {tuple(X.shape)}, {tuple(y.shape)} and {tuple(weight.shape)}"
        )
    if not y.dtype.is_floating_point:
        raise TypeError(f"{where}: y must be floating point; got {y.dtype}")


def _feature_mask(
    feature_mask: Tensor | None,
    k: int,
    ndim: int,
    t: int,
    *,
    shared_only: bool = False,
    device: torch.device | None = None,
) -> Tensor:
    """Validate a (..., K) or (..., T, K) mask for a design of ``ndim`` dims (..., N, K)."""
    if feature_mask is None:
        return torch.ones(k, dtype=torch.bool, device=device)
    if feature_mask.dtype != torch.bool or feature_mask.shape[-1] != k:
        raise ValueError(
            f"feature_mask must be bool (..., K) or (..., T, K) with K={k}; got "
            f"{feature_mask.dtype} of shape {tuple(feature_mask.shape)}"
        )
    per_target = feature_mask.ndim == ndim and feature_mask.shape[-2] == t
    if shared_only and feature_mask.ndim >= ndim:
        raise ValueError(
            f"feature_mask must be (..., K) here; got shape {tuple(feature_mask.shape)}"
        )
    if not per_target and feature_mask.ndim > ndim - 1:
        raise ValueError(
            f"feature_mask must be (..., K) or (..., T, K) with T={t}; got shape "
            f"{tuple(feature_mask.shape)}"
        )
    return feature_mask


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
