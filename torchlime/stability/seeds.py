"""Seed-to-seed stability: R independent explanations of the same inputs, in one batch."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from torchlime.explanation import Explanation
from torchlime.functional.surrogate import ridge_std
from torchlime.stability._recipe import recipe_alpha
from torchlime.stability.agreement import csi, jaccard, kendall_w, vsi

__all__ = ["SeedStability", "seed_stability"]


class SeedStability(NamedTuple):
    """Seed-to-seed stability of R independent explanations of the same inputs."""

    jaccard: Tensor
    """(B, T) mean top-k Jaccard index over seed pairs."""
    vsi: Tensor
    """(B, T) Visani's variables stability index in [0, 1] (x100 for the paper's scale)."""
    csi: Tensor
    """(B, T) Visani's coefficients stability index in [0, 1]."""
    kendall_w: Tensor
    """(B, T) Kendall's coefficient of concordance of the R rankings by ``|coef|``."""
    coef: Tensor
    """(R, B, T, K) the coefficients of each seed."""
    coef_std: Tensor
    """(R, B, T, K) each seed's analytic (sandwich) coefficient standard deviation (of the
    ridge at the recipe's alpha; of least squares for the other surrogates)."""
    explanation: Explanation
    """The R * B explanations (replicate-major, samples kept), e.g. for a
    :func:`~torchlime.stability.stability_report` of every seed."""


def seed_stability(
    explainer: Any,
    x: Any,
    target: int | Tensor | None = None,
    *,
    n_seeds: int = 10,
    k: int = 5,
    top_labels: int | None = None,
    confidence: float = 0.95,
    generator: torch.Generator | int | None = None,
    **call_kwargs: Any,
) -> SeedStability:
    """Explain the same inputs with R seeds, all in one batched call, and compare the runs.

    The explainer explains every input R times (its ``repeats=``): the features
    (superpixels, words) are found once and shared by every seed, each replicate draws its
    own samples, and the R * B explanations come back replicate-major (rows ``r * B ..
    r * B + B - 1``). Works for every torchlime explainer.

    Args:
        explainer: a torchlime explainer (:class:`~torchlime.LimeImage`,
            :class:`~torchlime.LimeTabular`, :class:`~torchlime.LimeText`).
        x: (B, ...) the inputs, as the explainer takes them.
        target: as for the explainer (an int, (B,) or (B, T)); None explains each input's
            top label(s), the same for every seed.
        n_seeds: R >= 2.
        k: size of the top sets for Jaccard and VSI.
        top_labels: as for the explainer.
        confidence: interval coverage for CSI.
        generator: source of randomness on ``x``'s device (None: a fresh seed).
        **call_kwargs: the explainer's other inputs (``segments=``, ``attention_mask=``).

    Returns:
        :class:`SeedStability` with (B, T) indices and the (R, B, T, K) coefficients.

    Example:
        >>> from torch import nn
        >>> from torchlime import Grid, LimeImage
        >>> model = nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(12, 3))
        >>> explainer = LimeImage(model, segmenter=Grid(8, 8), n_samples=100, progress=False)
        >>> g = torch.Generator().manual_seed(0)
        >>> s = seed_stability(explainer, torch.rand(2, 3, 16, 16, generator=g), n_seeds=3,
        ...                    generator=g)
        >>> s.jaccard.shape, s.coef.shape
        (torch.Size([2, 1]), torch.Size([3, 2, 1, 64]))
    """
    if n_seeds < 2:
        raise ValueError(f"n_seeds must be >= 2; got {n_seeds}")
    if top_labels is not None:
        call_kwargs["top_labels"] = top_labels
    exp = explainer(
        x, target, repeats=n_seeds, keep_samples=True, generator=generator, **call_kwargs
    )
    b = len(exp) // n_seeds
    coef = exp.coef.unflatten(0, (n_seeds, b))
    n_features = exp.n_features[:b]
    alpha = recipe_alpha(exp, None, "seed_stability")
    if exp.config.get("surrogate", "ridge") != "ridge" or alpha == 0:
        alpha = 1e-8  # CSI's intervals: the sandwich of (nearly) least squares
    std = ridge_std(exp.masks, exp.scores, exp.weights, alpha, feature_mask=exp.selected)
    std = std.unflatten(0, (n_seeds, b))
    return SeedStability(
        jaccard=jaccard(coef, k, n_features),
        vsi=vsi(coef, k, n_features),
        csi=csi(coef, std, confidence, n_features),
        kendall_w=kendall_w(coef, n_features),
        coef=coef,
        coef_std=std,
        explanation=exp,
    )
