"""Public aliases for the strategies an explainer takes: what each callable receives and returns.

These are documentation as much as types: every option that accepts a callable names its
alias here, with the shapes in the letter table (B batch, N samples, K features, T targets,
O model outputs, C, H, W image, D columns, L tokens).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

__all__ = ["Baseline", "Output", "Sampler", "Segmenter"]

Output = str | Callable[[Tensor], Tensor]
"""``"softmax"``, ``"identity"``, ``"sigmoid"``, ``"log_softmax"``, or ``(n, O) -> (n, O)``:
the map from raw model outputs to the scores that are explained."""

Segmenter = Callable[[Tensor], Tensor]
"""``(B, C, H, W) float -> (B, H, W)`` integer superpixel ids (relabelled to ``0..K_b-1``)."""

Baseline = str | float | Tensor | Callable[[Tensor, Tensor], Tensor]
"""What hidden superpixels show: ``"mean"`` (each superpixel's mean colour, lime's default),
``"blur"``, a constant, a tensor broadcastable to (B, C, H, W), or ``(x, segments) ->
(B, C, H, W)``."""

Sampler = str | Callable[..., Tensor]
"""``"lime"``, ``"bernoulli"``, ``"paired"``, ``"stratified"``, ``"binomial"``, or a callable
with :func:`~torchlime.functional.sample_masks`' signature ``(batch, n_samples, n_features,
*, generator, device) -> (B, N, K) bool`` (row 0 is forced to all True)."""
