"""An explanation's surrogate: feature selection, then the fit, from one pass over the samples.

:func:`fit_surrogate` is the last stage of every explainer; :func:`refit` is what the
analysis tools call to fit an explanation's samples again with its own recipe
(``exp.config``: surrogate, alpha, selected features): the same inputs give the same
coefficients. The surrogates, every one weighted and with an unpenalised intercept, equal
scikit-learn's with ``sample_weight``:

- ``"ridge"``: ``Ridge(alpha)``, lime's (alpha 1);
- ``"lasso"``: ``Lasso(alpha)``, captum's default (alpha 0.01);
- ``"ols"``: ``LinearRegression()`` (the minimum-norm solution when rank-deficient);
- ``"bayesian"``: ``BayesianRidge()`` (BayLIME), alpha unused;
- ``"shapley"``: KernelSHAP's least squares under the efficiency constraint
  (:func:`~torchlime.functional.shapley_fit`), for the Shapley kernel's samples;
- a callable ``(X (B, N, K), y (B, N, T), weight (B, N), feature_mask (B, T, K)) ->
  (coef (B, T, K), intercept (B, T))``, given every example and target at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from torchlime.functional.bayesian import bayesian_from_moments
from torchlime.functional.lasso import lasso_from_moments
from torchlime.functional.selection import FEATURE_SELECTION, select_features
from torchlime.functional.shapley import shapley_fit
from torchlime.functional.surrogate import (
    Moments,
    RidgeFit,
    ridge_from_moments,
    weighted_moments,
)

__all__ = ["SURROGATES", "Surrogate", "SurrogateFn", "fit_chunk", "fit_surrogate", "refit"]

SURROGATES = ("ridge", "lasso", "ols", "bayesian", "shapley")
SurrogateFn = Callable[[Tensor, Tensor, Tensor, Tensor], tuple[Tensor, Tensor]]

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
    surrogate: str | SurrogateFn = "ridge",
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
        surrogate: the local model: a name in ``SURROGATES`` or a callable (see the module
            docstring).
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
    _check_surrogate(surrogate)
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
    fit = solve(surrogate, moments, selected, alpha, X, scores, weights)
    out = torch.promote_types(scores.dtype, torch.float32)
    x0 = X[:, 0, :].to(fit.coef.dtype)
    local_pred = fit.intercept + (fit.coef * x0[:, None, :]).sum(-1)
    return Surrogate(
        fit.coef.to(out), fit.intercept.to(out), fit.score.to(out), local_pred.to(out), selected
    )


def refit(
    X: Tensor,
    scores: Tensor,
    weights: Tensor,
    selected: Tensor,
    *,
    surrogate: str | SurrogateFn = "ridge",
    alpha: float = 1.0,
) -> RidgeFit:
    """Fit the surrogate again on given samples and features: a recipe's refit.

    Args:
        X: (B, N, K) interpretable samples.
        scores: (B, N, T) float scores.
        weights: (..., B, N) sample weights; leading dimensions (bootstrap replicates,
            kernel widths) are fitted together.
        selected: (B, T, K) bool, the features to fit.
        surrogate: a name in ``SURROGATES`` or a callable.
        alpha: the penalty of ridge or lasso.

    Returns:
        :class:`~torchlime.functional.RidgeFit` with (..., B, T[, K]) fields, in
        ``scores``' floating dtype (at least float32).

    Example:
        >>> X = torch.tensor([[[1.0], [0.0], [1.0], [0.0]]])
        >>> y = 3 * X
        >>> refit(X, y, torch.ones(1, 4), torch.ones(1, 1, 1, dtype=torch.bool),
        ...       surrogate="ols").coef
        tensor([[[3.]]])
    """
    _check_surrogate(surrogate)
    out = torch.promote_types(scores.dtype, torch.float32)
    lead = weights.shape[:-2]
    if callable(surrogate) and lead:  # the callable takes (B, ...): flatten the replicates
        b = X.shape[0]
        flat = weights.reshape(-1, *weights.shape[-1:])
        r = flat.shape[0] // b
        fit = refit(X.repeat(r, 1, 1), scores.repeat(r, 1, 1), flat, selected.repeat(r, 1, 1),
                    surrogate=surrogate, alpha=alpha)  # fmt: skip
        return RidgeFit(*(f.unflatten(0, (*lead, b)) for f in fit))
    moments = weighted_moments(X, scores, weights)
    fit = solve(surrogate, moments, selected, alpha, X, scores, weights)
    return RidgeFit(*(f.to(out) for f in fit))


def solve(
    surrogate: str | SurrogateFn,
    moments: Moments,
    selected: Tensor,
    alpha: float,
    X: Tensor,
    scores: Tensor,
    weights: Tensor,
) -> RidgeFit:
    """The surrogate's coefficients, intercepts and weighted R² from the moments (float64).

    A callable is given the samples themselves; its R² is computed from its predictions.
    """
    if surrogate == "ridge":
        return ridge_from_moments(moments, alpha, feature_mask=selected)
    if surrogate == "ols":
        return ridge_from_moments(moments, 0.0, feature_mask=selected)
    if surrogate == "lasso":
        return lasso_from_moments(moments, alpha, feature_mask=selected)
    if surrogate == "bayesian":
        return RidgeFit(*bayesian_from_moments(moments, selected)[:3])
    if surrogate == "shapley":  # every valid feature is selected: K_b = their count
        return shapley_fit(X, scores, weights, selected[..., 0, :].sum(-1).reshape(-1))
    fn: SurrogateFn = surrogate  # type: ignore[assignment]
    coef, intercept = fn(X, scores, weights, selected)
    b, t, k = selected.shape[-3:]
    if not (isinstance(coef, Tensor) and isinstance(intercept, Tensor)) or (
        tuple(coef.shape[-3:]),
        tuple(intercept.shape[-2:]),
    ) != ((b, t, k), (b, t)):
        raise ValueError(
            f"a surrogate callable must return coef (B, T, K) = {(b, t, k)} and intercept "
            f"(B, T) = {(b, t)}; got {getattr(coef, 'shape', coef)}, "
            f"{getattr(intercept, 'shape', intercept)}"
        )
    coef = torch.where(selected, coef.to(torch.float64), 0.0)
    intercept = intercept.to(torch.float64)
    pred = torch.einsum("...nk,...tk->...nt", X.to(torch.float64), coef) + intercept[..., None, :]
    rss = (weights.to(torch.float64)[..., None] * (scores.to(torch.float64) - pred) ** 2).sum(-2)
    tss = moments.tss
    score = torch.where(tss != 0, 1 - rss / torch.where(tss != 0, tss, 1.0), (rss == 0).double())
    return RidgeFit(coef, intercept, score)


def _check_surrogate(surrogate: object) -> None:
    if not callable(surrogate) and surrogate not in SURROGATES:
        raise ValueError(f"surrogate must be one of {SURROGATES} or a callable; got {surrogate!r}")


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
