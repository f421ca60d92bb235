"""Ranking helpers shared by the analysis tools: top-k sets, tie-aware ranks, valid features.

Coefficients may carry leading replicate dimensions (seeds, bootstrap replicates) before
the ones that ``n_features`` describes: ``lead`` counts them.
"""

from __future__ import annotations

import statistics

import torch
from torch import Tensor

__all__ = ["average_ranks", "normal_quantile", "pearson", "top_k_mask", "valid_features"]


def valid_features(coef: Tensor, n_features: Tensor | None, lead: int = 0) -> Tensor:
    """Bool mask of the valid (unpadded) features, broadcastable to ``coef`` (..., K).

    Args:
        coef: (..., K) coefficients.
        n_features: int64 K_b valid features, shaped like ``coef``'s dimensions that follow
            the first ``lead`` ones, or a prefix of them (e.g. (B,) for (R, B, T, K)
            coefficients with ``lead=1``); None: all K are valid.
        lead: leading dimensions of ``coef`` that ``n_features`` does not describe.

    Returns:
        bool, broadcastable to ``coef``.

    Example:
        >>> valid_features(torch.zeros(2, 1, 3), torch.tensor([1, 3])).tolist()
        [[[True, False, False]], [[True, True, True]]]
    """
    columns = torch.arange(coef.shape[-1], device=coef.device)
    if n_features is None:
        return torch.ones_like(columns, dtype=torch.bool)
    n = n_features.to(coef.device)
    if n.ndim > coef.ndim - 1 - lead or tuple(n.shape) != tuple(coef.shape[lead : lead + n.ndim]):
        raise ValueError(
            f"n_features must have the shape of coef's leading dimensions "
            f"{tuple(coef.shape[lead:-1])} or a prefix of them; got {tuple(n.shape)}"
        )
    n = n.reshape(*n.shape, *([1] * (coef.ndim - 1 - lead - n.ndim)))
    return columns < n[..., None]


def top_k_mask(coef: Tensor, k: int, n_features: Tensor | None = None, *, lead: int = 0) -> Tensor:
    """The k features with the largest ``|coef|`` (ties to the lower index), as a mask.

    Args:
        coef: (..., K) float coefficients.
        k: how many features, >= 1 (all valid ones when fewer).
        n_features: int64 K_b valid features (see :func:`valid_features`); padded
            features are never chosen. ``None``: all K are valid.
        lead: leading replicate dimensions of ``coef`` that ``n_features`` does not cover.

    Returns:
        (..., K) bool.

    Example:
        >>> top_k_mask(torch.tensor([0.1, -0.5, 0.3]), 2).tolist()
        [False, True, True]
    """
    if k < 1:
        raise ValueError(f"k must be >= 1; got {k}")
    valid = valid_features(coef, n_features, lead)
    strength = torch.where(valid, coef.abs(), -1.0)
    order = strength.sort(dim=-1, descending=True, stable=True).indices
    rank = torch.empty_like(order).scatter_(
        -1, order, torch.arange(coef.shape[-1], device=coef.device).expand_as(order)
    )
    return (rank < k) & valid


def average_ranks(values: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
    """1-based ranks among valid entries, ties sharing their mean, and ``Σ (t³ - t)``.

    Pairwise comparisons (O(K²) per row, fine for feature counts): the rank of ``v`` is
    ``1 + #{u < v} + (#{u == v} - 1) / 2``.

    Args:
        values: (..., K) float.
        valid: (..., K) bool, the entries that take part (others get rank 0).

    Returns:
        ranks (..., K) float and the tie term (...) float64, ``Σ (c² - 1)`` over entries
        whose tie group has size ``c`` (that is ``Σ (t³ - t)`` over tie groups).

    Example:
        >>> average_ranks(torch.tensor([3.0, 1.0, 3.0]), torch.ones(3, dtype=torch.bool))[0]
        tensor([2.5000, 1.0000, 2.5000])
    """
    v = values.to(torch.float64)
    pair = valid[..., None, :] & valid[..., :, None]
    less = ((v[..., None, :] < v[..., :, None]) & pair).sum(-1)
    equal = ((v[..., None, :] == v[..., :, None]) & pair).sum(-1)
    ranks = 1 + less + (equal - 1) / 2
    ties = torch.where(valid, equal.double() ** 2 - 1, 0.0).sum(-1)
    return torch.where(valid, ranks, 0.0), ties


def normal_quantile(p: float) -> float:
    """The standard normal quantile, a Python float (no tensor, no transfer).

    Example:
        >>> round(normal_quantile(0.975), 4)
        1.96
    """
    if not 0 < p < 1:
        raise ValueError(f"confidence must be in (0, 1); got a quantile {p}")
    return statistics.NormalDist().inv_cdf(p)


def pearson(a: Tensor, b: Tensor, valid: Tensor | None = None) -> Tensor:
    """Pearson correlation along the last dimension (0 where a side is constant).

    Args:
        a: (..., M) float.
        b: (..., M) float.
        valid: (..., M) bool entries that take part (None: all).

    Returns:
        (...) float64 in [-1, 1].

    Example:
        >>> pearson(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([2.0, 4.0, 7.0])).item() > 0.99
        True
    """
    a, b = a.double(), b.double()
    m = torch.ones_like(a) if valid is None else valid.double()
    n = m.sum(-1, keepdim=True).clamp(min=1)
    ac = (a - (a * m).sum(-1, keepdim=True) / n) * m
    bc = (b - (b * m).sum(-1, keepdim=True) / n) * m
    den = ((ac**2).sum(-1) * (bc**2).sum(-1)).sqrt()
    return torch.where(den > 0, (ac * bc).sum(-1) / torch.where(den > 0, den, 1.0), 0.0)
