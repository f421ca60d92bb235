"""Lime's feature-selection modes: which features enter the surrogate, per target.

``"none"``, ``"highest_weights"``, ``"forward_selection"``, ``"lasso_path"`` (LARS, in
:mod:`torchlime.functional._lars`) and ``"auto"``, batched over leading dimensions and
targets, from the weighted moments the fit computes anyway.
"""

from __future__ import annotations

import torch
from torch import Tensor

from torchlime import _checks
from torchlime.functional.surrogate import Moments, ridge_from_moments, weighted_moments

__all__ = ["FEATURE_SELECTION", "forward_selection", "highest_weights", "select_features"]

FEATURE_SELECTION = ("none", "auto", "highest_weights", "forward_selection", "lasso_path")


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
    _checks.design(X, y, weight, "highest_weights")
    mask = _checks.feature_mask(
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
    _checks.design(X, y, weight, "forward_selection")
    if max_features < 1:
        raise ValueError(f"max_features must be >= 1; got {max_features}")
    batch_shape = torch.broadcast_shapes(X.shape[:-2], y.shape[:-2], weight.shape[:-1])
    k, t = X.shape[-1], y.shape[-1]
    mask = _checks.feature_mask(feature_mask, k, X.ndim, t, shared_only=True, device=X.device)
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
    mask = _checks.feature_mask(
        feature_mask, X.shape[-1], X.ndim, t, shared_only=True, device=X.device
    )
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
