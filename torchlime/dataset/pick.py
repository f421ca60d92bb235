"""SP-LIME's submodular pick: a few explanations that together cover the important features."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["submodular_pick"]


def submodular_pick(importance: Tensor, budget: int) -> Tensor:
    """SP-LIME: pick ``budget`` explanations that together cover the most important features.

    lime's greedy algorithm: feature ``j`` has global importance ``sqrt(Σ_i |W_ij|)``;
    repeatedly add the explanation whose features add the most uncovered importance (ties
    go to the later explanation, as lime's ``>=`` does).

    Args:
        importance: (B, D) feature weights of B explanations over D shared features (e.g.
            ``coef.sum(1)`` of a tabular or text explanation, summed over targets as lime
            does: columns or vocabulary); the absolute value is taken here.
        budget: how many explanations to pick.

    Returns:
        (min(budget, B),) int64 indices, in the order they were picked.

    Example:
        >>> W = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 4.0]])
        >>> submodular_pick(W, 2).tolist()
        [1, 2]
    """
    if importance.ndim != 2:
        raise ValueError(f"importance must be (B, D); got shape {tuple(importance.shape)}")
    weights = importance.abs()
    global_importance = weights.sum(0).sqrt()  # (D,)
    uses = weights > 0  # (B, D)
    covered = torch.zeros_like(uses[0])
    taken = torch.zeros_like(uses[:, 0])
    picks = []
    for _ in range(min(budget, weights.shape[0])):
        gain = ((uses & ~covered) * global_importance).sum(1)
        gain = torch.where(taken, -1.0, gain)
        best = len(gain) - 1 - gain.flip(0).argmax()  # the last maximum, as lime
        picks.append(best)
        taken = taken | (torch.arange(len(taken), device=taken.device) == best)
        covered = covered | uses[best]
    if not picks:
        return torch.zeros(0, dtype=torch.long, device=importance.device)
    return torch.stack(picks)
