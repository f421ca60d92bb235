"""What one explainer call works on: the inputs with their features, and the samples.

The explainer template (:mod:`torchlime._explainer`) passes these between its steps and
to the modality hooks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

import torch
from torch import Tensor

__all__ = ["Features", "Run", "Samples"]

F = TypeVar("F", bound="Features")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Features:
    """One call's inputs and their interpretable features.

    Tensor fields (and dicts of tensors) have leading dimension B, except those declared
    with ``metadata={"shared": True}``; :meth:`take` and :meth:`repeat` rely on it.
    """

    inputs: Any
    """The B originals in the model's input format (a tensor, or a dict of tensors)."""
    n_features: Tensor
    """(B,) int64 valid features ``K_b``."""
    k: int
    """K, the padded number of features."""
    padded: bool = True
    """Whether examples may have fewer than K features (False for tables: K = D)."""

    def __len__(self) -> int:
        return self.n_features.shape[0]

    @property
    def device(self) -> torch.device:
        """Where the call's tensors live."""
        return self.n_features.device

    def take(self: F, index: Tensor) -> F:
        """The features of the examples ``index`` ((B',) int64)."""
        return self._map(lambda t: t[index])

    def repeat(self: F, r: int) -> F:
        """Every example R times, replicate-major (rows ``r * B .. r * B + B - 1``)."""
        return self._map(lambda t: t.repeat(r, *([1] * (t.ndim - 1))))

    def _map(self: F, fn: Callable[[Tensor], Tensor]) -> F:
        changes: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.metadata.get("shared"):
                continue
            if isinstance(value, Tensor):
                changes[f.name] = fn(value)
            elif isinstance(value, dict):
                changes[f.name] = {key: fn(v) for key, v in value.items()}
            elif isinstance(value, tuple) and all(isinstance(v, Tensor) for v in value):
                changes[f.name] = tuple(fn(v) for v in value)
        return dataclasses.replace(self, **changes)


class Samples(NamedTuple):
    """A call's samples: what the surrogate sees and what the inputs are composed from."""

    X: Tensor
    """(B, N, K) interpretable samples (bool masks, or float), row 0 the original."""
    data: Tensor
    """What ``_compose`` reads: the masks themselves for images and text, (B, N, D) rows
    for tables, or one (N - 1, D) pool of rows when ``shared``."""
    shared: bool = False
    """The N - 1 perturbed inputs are the same for every example: the model runs them once."""
    weights: Tensor | None = None
    """(B, N) sample weights given with the samples, instead of the kernel's."""


class Run(NamedTuple):
    """One call's samples with their scores and weights (and, adaptively, how far it went)."""

    samples: Samples
    scores: Tensor
    weights: Tensor
    resolved: Tensor | None = None
    used: Tensor | None = None

    def n_samples(self) -> Tensor:
        """(B,) int64 samples behind each example's fit."""
        if self.used is not None:
            return self.used
        b, n = self.weights.shape
        return torch.full((b,), n, dtype=torch.long, device=self.weights.device)
