"""What the analysis tools read from an explanation: its kept samples and its recipe."""

from __future__ import annotations

import warnings
from typing import Any

from torch import Tensor

__all__ = ["recipe_alpha", "recipe_design", "samples_of"]


def samples_of(exp: Any, where: str) -> tuple[Tensor, Tensor, Tensor]:
    """The kept samples (B, N, K), scores (B, N, T) and weights (B, N) of ``exp``."""
    if getattr(exp, "masks", None) is None or exp.scores is None or exp.weights is None:
        raise ValueError(
            f"{where} needs the explanation's samples: explain with keep_samples=True "
            "(masks (B, N, K), scores (B, N, T) and weights (B, N) are kept on it)"
        )
    return exp.masks, exp.scores, exp.weights


def recipe_alpha(exp: Any, alpha: float | None, where: str) -> float:
    """The ridge penalty: the caller's, else the recipe's (lime's 1 for a recipe-less one)."""
    if alpha is not None:
        return float(alpha)
    config = getattr(exp, "config", {})
    if "alpha" not in config:
        warnings.warn(
            f"{where}: the explanation carries no recipe (saved by an older torchlime); "
            "assuming lime's alpha=1. Pass alpha= to be sure.",
            stacklevel=3,
        )
        return 1.0
    return float(config["alpha"])


def recipe_design(exp: Any) -> str | None:
    """How the samples were drawn (``"iid"``, ``"paired"``, ``"stratified"``), if recorded."""
    return getattr(exp, "config", {}).get("design")
