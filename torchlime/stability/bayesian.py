"""BayLIME's surrogate on an explanation's own samples, or on any regression."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from torchlime.explanation import Explanation
from torchlime.functional.bayesian import BayesianRidgeFit
from torchlime.functional.bayesian import bayesian_ridge as _fit
from torchlime.stability._recipe import samples_of

__all__ = ["BayesianRidgeFit", "bayesian_ridge"]


def bayesian_ridge(
    X: Tensor | Explanation,
    y: Tensor | None = None,
    weight: Tensor | None = None,
    **kwargs: Any,
) -> BayesianRidgeFit:
    """Bayesian ridge (BayLIME) with sample weights, on a regression or on an explanation.

    ``bayesian_ridge(exp)`` refits the samples an explanation kept (``keep_samples=True``),
    with its weights and its selected features, for any explainer but KernelSHAP;
    ``bayesian_ridge(X, y, weight)`` is :func:`torchlime.functional.bayesian_ridge`.

    Args:
        X: (..., N, K) design, or an explanation with kept samples.
        y: (..., N, T) targets (not with an explanation).
        weight: (..., N) sample weights (not with an explanation).
        **kwargs: :func:`torchlime.functional.bayesian_ridge`'s options (``n_iter``,
            ``feature_mask``, the hyper-priors).

    Returns:
        :class:`~torchlime.functional.BayesianRidgeFit`.

    Example:
        >>> import torch
        >>> X = torch.rand(100, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        >>> fit = bayesian_ridge(X, X @ torch.tensor([[1.0], [2.0]], dtype=torch.float64),
        ...                      torch.ones(100, dtype=torch.float64))
        >>> [round(c, 2) for c in fit.coef[0].tolist()]
        [1.0, 2.0]
    """
    if isinstance(X, Explanation):
        if y is not None or weight is not None:
            raise ValueError("bayesian_ridge(exp) takes its scores and weights from exp")
        if X.config.get("kernel") == "shapley":
            raise ValueError(
                "bayesian_ridge(exp): a KernelSHAP explanation is fitted under the efficiency "
                "constraint, and the Shapley kernel's weights are relative (they sum to less "
                "than its parameters, so the evidence is degenerate); use "
                "stability.stability_report(exp) for its uncertainty"
            )
        X_, y, weight = samples_of(X, "bayesian_ridge")
        kwargs.setdefault("feature_mask", X.selected)
        return _fit(X_, y, weight, **kwargs)
    if y is None or weight is None:
        raise ValueError("bayesian_ridge(X, y, weight) needs y (..., N, T) and weight (..., N)")
    return _fit(X, y, weight, **kwargs)
