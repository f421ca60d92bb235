"""Agreement between replicates of an explanation: top-k Jaccard, VSI, CSI, Kendall's W.

Every metric takes coefficients with the replicate (seed or bootstrap) dimension R first,
``(R, ..., K)``, and returns ``(...)``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from torchlime.functional.ranking import (
    average_ranks,
    normal_quantile,
    top_k_mask,
    valid_features,
)

__all__ = ["csi", "jaccard", "kendall_w", "top_k_mask", "vsi"]


def jaccard(coef: Tensor, k: int = 5, n_features: Tensor | None = None) -> Tensor:
    """Mean top-k Jaccard index ``|S_i ∩ S_j| / |S_i ∪ S_j|`` over all pairs of replicates.

    Args:
        coef: (R, ..., K) coefficients of R >= 2 replicates (seeds or bootstrap samples).
        k: size of the top sets (by ``|coef|``).
        n_features: K_b valid features per example (see :func:`top_k_mask`).

    Returns:
        (...) float in [0, 1]; 1 when every replicate picks the same k features.

    Example:
        >>> coef = torch.tensor([[3.0, 2.0, 1.0], [3.0, 1.0, 2.0]])
        >>> jaccard(coef, k=2)  # {0, 1} vs {0, 2}
        tensor(0.3333)
    """
    inter, size = _pair_overlaps(coef, k, n_features)
    union = size[..., :, None] + size[..., None, :] - inter
    return _mean_off_diagonal(inter / union.clamp(min=1)).to(_float(coef))


def vsi(coef: Tensor, k: int = 5, n_features: Tensor | None = None) -> Tensor:
    """Visani et al.'s variables stability index: mean ``|S_i ∩ S_j| / k`` over pairs.

    Args:
        coef: (R, ..., K) coefficients of R >= 2 replicates.
        k: size of the top sets (by ``|coef|``).
        n_features: K_b valid features per example (see :func:`top_k_mask`).

    Returns:
        (...) float in [0, 1] (the paper reports x100). With fewer than k valid features
        the denominator is their number.

    Example:
        >>> vsi(torch.tensor([[3.0, 2.0, 1.0], [3.0, 1.0, 2.0]]), k=2)
        tensor(0.5000)
    """
    inter, size = _pair_overlaps(coef, k, n_features)
    return _mean_off_diagonal(inter / size[..., :, None].clamp(min=1)).to(_float(coef))


def csi(
    coef: Tensor,
    coef_std: Tensor,
    confidence: float = 0.95,
    n_features: Tensor | None = None,
) -> Tensor:
    """Visani et al.'s coefficients stability index: how often replicates' intervals overlap.

    Each replicate gives every feature the interval ``coef ± z std`` (``z`` the two-sided
    normal quantile at ``confidence``); a pair agrees on a feature when the intervals
    overlap. The index is the fraction of agreeing pairs, averaged over valid features.

    Args:
        coef: (R, ..., K) coefficients of R >= 2 replicates.
        coef_std: (R, ..., K) their standard deviations (e.g. :func:`ridge_std`).
        confidence: coverage of each interval, in (0, 1).
        n_features: K_b valid features per example (see :func:`top_k_mask`).

    Returns:
        (...) float in [0, 1].

    Example:
        >>> coef = torch.tensor([[1.0, 0.0], [1.1, 5.0]])
        >>> csi(coef, torch.full_like(coef, 0.1))  # feature 0 overlaps, feature 1 does not
        tensor(0.5000)
    """
    _check_replicates(coef, "csi")
    z = normal_quantile(0.5 + confidence / 2)
    c, s = coef.movedim(0, -1), coef_std.movedim(0, -1)  # (..., K, R)
    low, high = c - z * s, c + z * s
    overlap = (low[..., :, None] <= high[..., None, :]) & (low[..., None, :] <= high[..., :, None])
    per_feature = _mean_off_diagonal(overlap.to(coef.dtype))  # (..., K)
    valid = valid_features(coef[0], n_features)
    return (per_feature * valid).sum(-1) / valid.sum(-1).clamp(min=1)


def kendall_w(coef: Tensor, n_features: Tensor | None = None, *, absolute: bool = True) -> Tensor:
    """Kendall's coefficient of concordance of R rankings of the features (tie-corrected).

    Each replicate ranks the valid features by ``|coef|`` (by ``coef`` with
    ``absolute=False``), ties sharing their mean rank. ``W = 12 S / (R² (K³ - K) - R Σ(t³ - t))``
    with ``S`` the spread of the rank sums and ``t`` the tie-group sizes: 1 for identical
    rankings, about 0 for unrelated ones. Equal to the Friedman statistic over ``R (K - 1)``.

    Args:
        coef: (R, ..., K) coefficients of R >= 2 replicates.
        n_features: K_b valid features per example (see :func:`top_k_mask`).
        absolute: rank by magnitude (importance) rather than signed value.

    Returns:
        (...) float in [0, 1] (0 when every replicate ties all features).

    Example:
        >>> kendall_w(torch.tensor([[3.0, 2.0, 1.0], [3.0, 2.0, 1.0]]))
        tensor(1.)
    """
    _check_replicates(coef, "kendall_w")
    r = coef.shape[0]
    valid = valid_features(coef[0], n_features)  # (..., K)
    values = coef.abs() if absolute else coef
    ranks, ties = average_ranks(values, valid.expand_as(values))
    k_b = valid.sum(-1).to(ranks.dtype)
    sums = torch.where(valid, ranks.sum(0), 0.0)
    spread = torch.where(valid, (sums - r * (k_b[..., None] + 1) / 2) ** 2, 0.0).sum(-1)
    den = r**2 * (k_b**3 - k_b) - r * ties.sum(0)
    w = torch.where(den > 0, 12 * spread / torch.where(den > 0, den, 1.0), 0.0)
    return w.to(_float(coef))


def _float(t: Tensor) -> torch.dtype:
    """The result dtype for statistics of ``t``: its own if floating, at least float32."""
    return torch.promote_types(t.dtype, torch.float32)


def _check_replicates(coef: Tensor, where: str) -> None:
    if coef.ndim < 2 or coef.shape[0] < 2:
        raise ValueError(
            f"{where} needs coefficients (R, ..., K) with R >= 2 replicates; "
            f"got shape {tuple(coef.shape)}"
        )


def _pair_overlaps(coef: Tensor, k: int, n_features: Tensor | None) -> tuple[Tensor, Tensor]:
    """Top-k intersections (..., R, R) between replicates and the set sizes (..., R)."""
    _check_replicates(coef, "pairwise stability")
    top = top_k_mask(coef, k, n_features, lead=1).movedim(0, -2).to(torch.float64)  # (..., R, K)
    return top @ top.mT, top.sum(-1)


def _mean_off_diagonal(m: Tensor) -> Tensor:
    """Mean of the off-diagonal entries of (..., R, R)."""
    r = m.shape[-1]
    return (m.sum((-2, -1)) - m.diagonal(dim1=-2, dim2=-1).sum(-1)) / (r * (r - 1))
