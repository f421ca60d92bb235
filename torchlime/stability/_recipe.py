"""What the analysis tools read from an explanation: its kept samples and its recipe."""

from __future__ import annotations

import warnings
from typing import Any

from torch import Tensor

__all__ = ["recipe_alpha", "recipe_design", "recipe_surrogate", "samples_of"]


def samples_of(exp: Any, where: str) -> tuple[Tensor, Tensor, Tensor]:
    """The kept samples (B, N, K), scores (B, N, T) and weights (B, N) of ``exp``."""
    if getattr(exp, "masks", None) is None or exp.scores is None or exp.weights is None:
        raise ValueError(
            f"{where} needs the explanation's samples: explain with keep_samples=True "
            "(masks (B, N, K), scores (B, N, T) and weights (B, N) are kept on it)"
        )
    adjust = getattr(exp, "config", {}).get("adjust")
    if adjust is not None:
        warnings.warn(
            f"{where}: the explanation is regression-adjusted (adjust={adjust!r}); this tool "
            "refits its samples with lime's plain fit, so it describes lime's estimator on "
            "these samples (a wider spread than the adjusted one). seed_stability re-explains "
            "with the explainer itself.",
            stacklevel=3,
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


def recipe_surrogate(exp: Any, surrogate: Any, where: str) -> Any:
    """The surrogate to refit with: the caller's, else the recipe's (lime's ridge if none)."""
    if surrogate is not None:
        return surrogate
    name = getattr(exp, "config", {}).get("surrogate", "ridge")
    if isinstance(name, str) and name.startswith("callable:"):
        raise ValueError(
            f"{where}: the explanation was fitted with a surrogate callable ({name}), which "
            "the recipe cannot hold: pass it again as surrogate="
        )
    return name
