"""Refits of an explanation at many kernel widths, from the same model outputs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from torchlime.functional.fit import refit
from torchlime.functional.kernels import DISTANCES, kernel_weights
from torchlime.functional.surrogate import RidgeFit
from torchlime.stability._recipe import recipe_alpha, recipe_surrogate, samples_of

__all__ = ["kernel_width_sweep"]


def kernel_width_sweep(
    exp: Any,
    kernel_widths: Sequence[float] | Tensor,
    *,
    alpha: float | None = None,
    surrogate: Any = None,
) -> RidgeFit:
    """Refit an explanation's surrogate at many kernel widths, from the same model outputs.

    Only the sample weights depend on the width, so the W refits are one batched
    :func:`~torchlime.functional.refit` with a leading width dimension and no
    model call (OptiLIME's search, done exhaustively). The weights are the explainer's own
    kernel, read from the recipe (``exp.config``): lime's cosine kernel for images and
    text (text on 100 x the distance), the euclidean one for tables. Padding rows (weight
    0) stay out, and the features are the explanation's ``selected``, so the refit at the
    explainer's own width is ``exp.coef``.

    Args:
        exp: an explanation made with ``keep_samples=True``.
        kernel_widths: W widths, each > 0.
        alpha: the surrogate's penalty (None: the explanation's own).
        surrogate: the surrogate (None: the recipe's; pass a callable one again).

    Returns:
        :class:`~torchlime.functional.RidgeFit` with coef (W, B, T, K), intercept and
        score (W, B, T): the weighted R² per width, to pick one by (OptiLIME: the largest
        width whose R² reaches a target).

    Raises:
        ValueError: without kept samples or widths, for a sampler that folds the kernel
            into its sampling law (``"binomial"``: its width is in the samples), or for the
            Shapley kernel (no width).

    Example:
        >>> from torch import nn
        >>> from torchlime import Grid, LimeImage
        >>> model = nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(12, 3))
        >>> exp = LimeImage(model, segmenter=Grid(8, 8), n_samples=100, progress=False)(
        ...     torch.rand(1, 3, 16, 16), keep_samples=True)
        >>> fit = kernel_width_sweep(exp, [0.1, 0.25, 1.0])
        >>> fit.score.shape, bool(torch.allclose(fit.coef[1], exp.coef))
        (torch.Size([3, 1, 1]), True)
    """
    X, scores, weights = samples_of(exp, "kernel_width_sweep")
    alpha = recipe_alpha(exp, alpha, "kernel_width_sweep")
    surrogate = recipe_surrogate(exp, surrogate, "kernel_width_sweep")
    config = getattr(exp, "config", {})
    if config.get("kernel") == "folded":
        raise ValueError(
            f"kernel_width_sweep reweights samples; the {config.get('sampler')!r} sampler "
            "folded its kernel into the sampling law (its samples are fitted with unit "
            "weights), so a width cannot be changed after sampling"
        )
    if config.get("kernel") == "shapley":
        raise ValueError("kernel_width_sweep: the Shapley kernel has no width to sweep")
    if str(config.get("kernel")).startswith("callable:"):
        raise ValueError(f"kernel_width_sweep: a user's kernel ({config['kernel']}) has no width")
    widths = [float(w) for w in kernel_widths]
    if not widths:
        raise ValueError("kernel_widths must hold at least one width")
    distance = config.get("distance", "cosine")
    scale = float(config.get("distance_scale", 1.0))
    live = (weights > 0).to(torch.float64)  # padding rows, and row 0 when it was not fitted
    if distance in DISTANCES:
        stacked = torch.stack(
            [
                kernel_weights(X, exp.n_features, w, distance=distance, distance_scale=scale) * live
                for w in widths
            ]
        )
    else:  # a distance on the inputs (not kept): exp(-d² / 2w²) = w0's weights ** (w0 / w)²
        w0 = float(config["kernel_width"])
        stacked = torch.stack([weights.double() ** ((w0 / w) ** 2) * live for w in widths])
    return refit(X, scores, stacked, exp.selected, surrogate=surrogate, alpha=alpha)
