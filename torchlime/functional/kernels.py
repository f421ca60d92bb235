"""Proximity kernels: how much each perturbation sample counts in the surrogate fit.

A sample's weight is a kernel of its distance to the original input (row 0) in the
interpretable space: lime's images and text use the cosine distance of binary masks
(text on a scale of 100), its tables the euclidean distance of the representation.
:func:`kernel_weights` is that composition, exactly as every explainer computes it, so an
explanation's recipe (``exp.config``) recomputes its weights bit for bit.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "DISTANCES",
    "cosine_distance",
    "euclidean_distance",
    "exponential_kernel",
    "kernel_weights",
    "lime_kernel",
]

DISTANCES = ("cosine", "euclidean")


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
    if masks.dtype != torch.bool:
        raise TypeError(
            f"cosine_distance needs bool masks (..., N, K); got {masks.dtype} (tabular samples "
            "with continuous columns are weighed by euclidean_distance)"
        )
    k_total = masks.shape[-1]
    if n_features is None:
        kept = masks.sum(-1, dtype=torch.float64)
        total = torch.tensor(float(k_total), dtype=torch.float64, device=masks.device)
    else:
        valid = torch.arange(k_total, device=masks.device) < n_features[..., None]  # (..., K)
        kept = (masks & valid[..., None, :]).sum(-1, dtype=torch.float64)
        total = n_features.to(torch.float64)[..., None]
    return 1.0 - torch.sqrt(kept / total)


def euclidean_distance(X: Tensor, n_features: Tensor | None = None) -> Tensor:
    """Euclidean distance of every interpretable sample to row 0 (lime's tabular metric).

    Args:
        X: (B, N, K) bool or float samples; row 0 is the instance.
        n_features: (B,) int64 valid features; padding columns are ignored. ``None``: all.

    Returns:
        (B, N) float64.

    Example:
        >>> euclidean_distance(torch.tensor([[[True, True], [False, False]]]))
        tensor([[0.0000, 1.4142]], dtype=torch.float64)
    """
    if n_features is not None:  # padding columns copy row 0: they add nothing
        padded = torch.arange(X.shape[-1], device=X.device) >= n_features[:, None, None]
        X = torch.where(padded, X[:, :1], X)
    if X.dtype == torch.bool:
        squared = _count_differences(X).double()
    else:
        diff = (X - X[:, :1]).double()
        squared = (diff * diff).sum(-1)
    return squared.sqrt()


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
    if not kernel_width > 0:
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


def kernel_weights(
    X: Tensor,
    n_features: Tensor | None,
    kernel_width: float,
    *,
    distance: str = "cosine",
    distance_scale: float = 1.0,
) -> Tensor:
    """Sample weights of an explainer: lime's exponential kernel on a distance to row 0.

    Args:
        X: (B, N, K) interpretable samples (bool for ``"cosine"``), row 0 the original.
        n_features: (B,) int64 valid features (padding ignored), or None for all K.
        kernel_width: the kernel's width, > 0.
        distance: ``"cosine"`` (lime's images and text) or ``"euclidean"`` (its tables).
        distance_scale: a factor on the distance (lime's text: 100, with width 25).

    Returns:
        (B, N) float64 weights in (0, 1].

    Example:
        >>> masks = torch.tensor([[[True, True], [True, False]]])
        >>> kernel_weights(masks, None, 25.0, distance_scale=100.0)
        tensor([[1.0000, 0.5034]], dtype=torch.float64)
    """
    if distance == "cosine":
        d = cosine_distance(X, n_features)
    elif distance == "euclidean":
        d = euclidean_distance(X, n_features)
    else:
        raise ValueError(f"distance must be one of {DISTANCES}; got {distance!r}")
    return exponential_kernel(d * distance_scale if distance_scale != 1.0 else d, kernel_width)


_BYTE_SUM = 0x0101010101010101  # x * this: the sum of x's 8 bytes lands in the top byte
_PACK_BYTES = 1 << 23


def _count_differences(X: Tensor) -> Tensor:
    """(B, N) int64 number of columns where each bool sample differs from row 0.

    Summing a short last dimension (K ~ 30) is slow in a reduction kernel, so the
    differences (bytes 0 / 1) are packed 8 to an int64 word and the words added: a byte
    of the sum counts at most K / 8 ones, and one multiply adds the 8 bytes of a word.
    Exact while K < 128 (no byte and no sign overflows); a plain sum beyond. Rows go
    through one reused buffer of about 8 MB.
    """
    b, n, k = X.shape
    if k >= 128:
        return (X ^ X[:, :1]).sum(-1)
    u = X.contiguous().view(torch.uint8)
    width = -(-k // 8) * 8
    rows = max(1, min(b, _PACK_BYTES // max(n * width, 1)))
    packed = torch.empty(rows, n, width, dtype=torch.uint8, device=X.device)
    packed[..., k:] = 0
    words = torch.empty(b, n, dtype=torch.int64, device=X.device)
    for i in range(0, b, rows):  # over groups of examples, not samples
        part = packed[: min(rows, b - i)]
        torch.bitwise_xor(u[i : i + rows], u[i : i + rows, :1], out=part[..., :k])
        torch.sum(part.view(torch.int64), -1, out=words[i : i + rows])
    return (words * _BYTE_SUM) >> 56
