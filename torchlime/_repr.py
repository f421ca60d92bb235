"""Readable reprs for result tuples: shapes and a headline, never a tensor dump."""

from __future__ import annotations

from typing import Any

from torch import Tensor

__all__ = ["compact_repr"]


def compact_repr(obj: Any, headline: str = "") -> str:
    """``Name(headline; field, field: (shape) dtype; ...)`` of a NamedTuple of tensors.

    Fields of the same shape and dtype are listed together; other fields (numbers,
    strings) belong in the headline.

    Example:
        >>> from typing import NamedTuple
        >>> import torch
        >>> class Fit(NamedTuple):
        ...     coef: Tensor
        ...     intercept: Tensor
        >>> compact_repr(Fit(torch.zeros(2, 3), torch.zeros(2)), "alpha 1")
        'Fit(alpha 1; coef: (2, 3) float32; intercept: (2,) float32)'
    """
    groups: dict[str, list[str]] = {}
    for name, value in obj._asdict().items():
        if isinstance(value, Tensor):
            key = f"{tuple(value.shape)} {str(value.dtype).removeprefix('torch.')}"
            groups.setdefault(key, []).append(name)
    shapes = "; ".join(f"{', '.join(names)}: {key}" for key, names in groups.items())
    return f"{type(obj).__name__}({'; '.join(p for p in (headline, shapes) if p)})"
