"""Proximity kernels: how much each perturbation sample counts in the surrogate fit."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["cosine_distance", "exponential_kernel", "lime_kernel"]


def cosine_distance(masks: Tensor, n_features: Tensor | None = None) -> Tensor:
    """Cosine distance of each binary sample to the all-ones row, as lime computes it.

    For a row with ``k`` of ``K`` features kept the distance is ``1 - sqrt(k / K)``; an
    all-zero row is at distance 1 (scikit-learn's convention for a zero vector).

    Args:
        masks: (..., N, K) bool. Interpretable samples.
        n_features: (...,) int64, the valid features ``K_b`` of each example; columns at or
            beyond it are padding and are ignored. ``None``: all K columns are valid.

    Returns:
        (..., N) float64 distances in [0, 1].

    Example:
        >>> cosine_distance(torch.tensor([[True, True, True, True], [True, False, False, False]]))
        tensor([0.0000, 0.5000], dtype=torch.float64)
    """
    k_total = masks.shape[-1]
    if n_features is None:
        kept = masks.sum(-1, dtype=torch.float64)
        total = torch.tensor(float(k_total), dtype=torch.float64, device=masks.device)
    else:
        valid = torch.arange(k_total, device=masks.device) < n_features[..., None]  # (..., K)
        kept = (masks & valid[..., None, :]).sum(-1, dtype=torch.float64)
        total = n_features.to(torch.float64)[..., None]
    return 1.0 - torch.sqrt(kept / total)


def exponential_kernel(distances: Tensor, kernel_width: float) -> Tensor:
    """Lime's default kernel: ``sqrt(exp(-d**2 / kernel_width**2))``.

    Args:
        distances: (..., N) float. Distances of the samples to the original input.
        kernel_width: the kernel's width, > 0.

    Returns:
        (..., N) weights in (0, 1], same dtype as ``distances``.

    Example:
        >>> exponential_kernel(torch.tensor([0.0, 0.25]), 0.25)
        tensor([1.0000, 0.6065])
    """
    if kernel_width <= 0:
        raise ValueError(f"kernel_width must be > 0; got {kernel_width}")
    return torch.exp(-(distances**2) / (2.0 * kernel_width**2))


def lime_kernel(
    masks: Tensor,
    kernel_width: float = 0.25,
    n_features: Tensor | None = None,
    *,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Weight perturbation samples by proximity to the original input, as lime does for images.

    ``sqrt(exp(-d**2 / kernel_width**2))`` with ``d`` the cosine distance of each row to the
    all-ones row. lime's text explainer uses the same weights (width 25 on ``100 * d``).

    Args:
        masks: (..., N, K) bool. Interpretable samples; row 0 is the original (all True).
        kernel_width: width of the exponential kernel on cosine distance.
        n_features: (...,) int64 valid features per example (see :func:`cosine_distance`).
        dtype: floating dtype of the result.

    Returns:
        (..., N) weights in (0, 1].

    Example:
        >>> from torchlime.functional import sample_masks
        >>> masks = sample_masks(2, 8, 5, generator=torch.Generator().manual_seed(0))
        >>> lime_kernel(masks).shape
        torch.Size([2, 8])
    """
    return exponential_kernel(cosine_distance(masks, n_features), kernel_width).to(dtype)
