"""An explanation's surrogate: feature selection, then the fit, from one pass over the samples.

:func:`fit_surrogate` is the last stage of every explainer, and what the analysis tools
call to refit an explanation's samples with its own recipe (``exp.config``): the same
inputs give the same coefficients.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from torchlime.functional.selection import FEATURE_SELECTION, select_features
from torchlime.functional.surrogate import Moments, ridge_from_moments, weighted_moments

__all__ = ["SURROGATES", "Surrogate", "fit_chunk", "fit_surrogate"]

SURROGATES = ("ridge",)

_FIT_ELEMENTS = 1 << 20


class Surrogate(NamedTuple):
    """The fitted local model of every example and target."""

    coef: Tensor
    """(B, T, K) weights, 0 outside ``selected``."""
    intercept: Tensor
    """(B, T)"""
    score: Tensor
    """(B, T) weighted R² on the samples."""
    local_pred: Tensor
    """(B, T) the surrogate's prediction at row 0 (the original input)."""
    selected: Tensor
    """(B, T, K) bool, the features in the surrogate."""


def fit_surrogate(
    X: Tensor,
    scores: Tensor,
    weights: Tensor,
    n_features: Tensor,
    *,
    alpha: float = 1.0,
    feature_selection: str = "none",
    max_features: int | None = None,
    surrogate: str = "ridge",
    selected: Tensor | None = None,
    chunk_size: int | None = None,
) -> Surrogate:
    """Select features and fit the weighted ridge surrogate for every example and target.

    Args:
        X: (B, N, K) interpretable samples (bool masks or floats); row 0 is the original.
        scores: (B, N, T) float model scores.
        weights: (B, N) sample weights.
        n_features: (B,) int64 valid features per example; columns beyond are padding.
        alpha: ridge penalty of the final fit.
        feature_selection: one of lime's modes (``FEATURE_SELECTION``).
        max_features: lime's ``num_features``; None keeps every feature.
        surrogate: the local model (``"ridge"``, lime's).
        selected: (B, T, K) bool features to fit, instead of selecting them (a refit).
        chunk_size: compute the moments (the one pass over the N samples) this many
            examples at a time (None: all at once; see :func:`fit_chunk`); selection and
            solve then run for every example together. Examples are independent, so the
            result is the same. ``"lasso_path"``, which makes its own copies of the
            samples, also selects chunk by chunk.

    Returns:
        :class:`Surrogate`, in ``scores``' floating dtype (at least float32).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> X = torch.rand(1, 100, 3, generator=g) < 0.5
        >>> y = X.double() @ torch.tensor([[1.0], [2.0], [0.0]], dtype=torch.float64)
        >>> fit = fit_surrogate(X, y, torch.ones(1, 100), torch.tensor([3]), alpha=0.0)
        >>> [round(c, 6) for c in fit.coef[0, 0].tolist()], round(fit.score.item(), 6)
        ([1.0, 2.0, 0.0], 1.0)
    """
    if surrogate not in SURROGATES:
        raise ValueError(f"surrogate must be one of {SURROGATES}; got {surrogate!r}")
    if feature_selection not in FEATURE_SELECTION:
        raise ValueError(
            f"feature_selection must be one of {FEATURE_SELECTION}; got {feature_selection!r}"
        )
    b = X.shape[0]
    step = b if chunk_size is None else max(1, chunk_size)
    spans = [slice(i, i + step) for i in range(0, b, step)]
    valid = torch.arange(X.shape[-1], device=X.device) < n_features[:, None]
    parts = [weighted_moments(X[s], scores[s], weights[s]) for s in spans]  # float64
    if len(parts) > 1:
        moments = Moments(*(torch.cat(field) for field in zip(*parts, strict=True)))
    else:
        moments = parts[0]
    if selected is None and feature_selection == "lasso_path" and len(spans) > 1:
        selected = torch.cat(
            [
                select_features(
                    "lasso_path", X[s], scores[s], weights[s], max_features, feature_mask=valid[s]
                )
                for s in spans
            ]
        )
    elif selected is None:
        selected = select_features(
            feature_selection, X, scores, weights, max_features, feature_mask=valid, moments=moments
        )
    fit = ridge_from_moments(moments, alpha, feature_mask=selected)
    out = torch.promote_types(scores.dtype, torch.float32)
    x0 = X[:, 0, :].to(fit.coef.dtype)
    local_pred = fit.intercept + (fit.coef * x0[:, None, :]).sum(-1)
    return Surrogate(
        fit.coef.to(out), fit.intercept.to(out), fit.score.to(out), local_pred.to(out), selected
    )


def fit_chunk(X: Tensor) -> int | None:
    """Examples per moments pass: about ``2**20`` samples x features on the CPU, all on GPUs.

    The moments make one float64 copy of their (examples, N, K) input; chunks of a few MB
    keep it in cache and reuse the allocation (measured on tabular rows of 5000 x 30: 0.51
    ms per row against 0.88 for 1 row at a time, and several times that for all at once).

    Args:
        X: (B, N, K) interpretable samples.

    Returns:
        the ``chunk_size`` for :func:`fit_surrogate`.

    Example:
        >>> fit_chunk(torch.zeros(64, 5000, 30, dtype=torch.bool))
        6
    """
    if X.is_cuda:
        return None
    return max(1, _FIT_ELEMENTS // max(X.shape[1] * X.shape[2], 1))
