"""Validation at the public boundary, shared by the front-ends and the metrics.

Each check names the argument, the expected shape in the letter table and what came in.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


def images(x: Any) -> Tensor:
    """``x`` as (B, C, H, W) float, channels first, at least one non-empty image."""
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a (B, C, H, W) tensor; got {type(x).__name__}")
    if x.ndim != 4:
        hint = " (add a batch dimension: x[None])" if x.ndim == 3 else ""
        raise ValueError(f"x must be (B, C, H, W); got shape {tuple(x.shape)}{hint}")
    if not x.is_floating_point():
        raise TypeError(
            f"x must be a floating-point tensor; got {x.dtype} (convert with x.float() / 255)"
        )
    if x.shape[1] > 4 and x.shape[-1] in (1, 3, 4):
        raise ValueError(
            f"x must be channels-first (B, C, H, W); got shape {tuple(x.shape)}, which looks "
            "channels-last: use x.permute(0, 3, 1, 2)"
        )
    if x.shape[0] == 0 or x.shape[-1] == 0 or x.shape[-2] == 0:
        raise ValueError(f"x must hold at least one non-empty image; got shape {tuple(x.shape)}")
    return x


def segments(segments: Any, x: Tensor, name: str = "segments") -> Tensor:
    """Integer superpixel ids of shape (B, H, W) matching ``x`` (B, C, H, W)."""
    expected = (x.shape[0], *x.shape[-2:])
    if not isinstance(segments, Tensor) or tuple(segments.shape) != expected:
        got = tuple(segments.shape) if isinstance(segments, Tensor) else type(segments).__name__
        raise ValueError(f"{name} must be (B, H, W) = {expected}; got {got}")
    if segments.is_floating_point() or segments.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer ids; got dtype {segments.dtype}")
    return segments


def masks(masks: Any, b: int, device: torch.device, k: int | None = None) -> Tensor:
    """Caller-supplied samples as (B, N, K) bool on ``device``, row 0 forced to all True.

    ``k`` fixes K when the feature count is known (text); images accept any K at least
    their superpixel count, checked by the caller.
    """
    expected = f"({b}, N, {k})" if k is not None else f"(B, N, K) with B={b}"
    if (
        not isinstance(masks, Tensor)
        or masks.ndim != 3
        or masks.shape[0] != b
        or (k is not None and masks.shape[2] != k)
    ):
        got = tuple(masks.shape) if isinstance(masks, Tensor) else type(masks).__name__
        raise ValueError(f"masks must be (B, N, K) = {expected}; got {got}")
    if masks.shape[1] < 2:
        raise ValueError(
            f"masks need N >= 2 samples (the original and one perturbation); got {masks.shape[1]}"
        )
    checked = masks.to(device=device, dtype=torch.bool).clone()
    checked[:, 0] = True  # lime overwrites row 0 with the original
    return checked
