"""Contiguous relabelling of segment maps, batched and without host syncs."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["relabel"]


def relabel(segments: Tensor) -> tuple[Tensor, Tensor]:
    """Map the segment ids of each image to contiguous ``0..K_b-1``, keeping their order.

    Any integer ids are accepted (negative, gapped, starting at 1 as scikit-image's
    ``slic`` does). Ids are relabelled per image: the smallest id of image ``b`` becomes 0.

    Args:
        segments: (B, H, W) integer. Segment ids per pixel.

    Returns:
        A pair ``(labels, n_segments)``: labels (B, H, W) int64 with ids ``0..K_b-1``,
        and n_segments (B,) int64, the number of distinct ids ``K_b`` of each image.

    Raises:
        ValueError: if ``segments`` is not 3-D.
        TypeError: if ``segments`` is not an integer tensor.

    Example:
        >>> labels, n = relabel(torch.tensor([[[5, 5], [9, 2]]]))
        >>> labels.tolist(), n.tolist()
        ([[[1, 1], [2, 0]]], [3])
    """
    if segments.ndim != 3:
        raise ValueError(f"segments must be (B, H, W); got shape {tuple(segments.shape)}")
    if segments.dtype.is_floating_point or segments.dtype in (torch.bool, torch.complex64):
        raise TypeError(f"segments must be an integer tensor; got dtype {segments.dtype}")
    flat = segments.flatten(1).long()
    ordered, order = flat.sort(dim=1)
    is_new = torch.ones_like(ordered, dtype=torch.bool)
    is_new[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    rank = is_new.long().cumsum(1) - 1
    labels = torch.empty_like(rank).scatter_(1, order, rank)
    return labels.view(segments.shape), rank[:, -1] + 1
