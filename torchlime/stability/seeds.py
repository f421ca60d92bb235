"""Seed-to-seed stability: R independent explanations of the same inputs, in one batch."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from torchlime.explanation import Explanation
from torchlime.functional.bootstrap import gap_test
from torchlime.functional.ranking import top_k_mask
from torchlime.functional.surrogate import ridge_std
from torchlime.stability._recipe import recipe_alpha
from torchlime.stability._verdict import (
    Boundary,
    compact_repr,
    describe,
    headline_stats,
    tensors_to,
)
from torchlime.stability.agreement import csi, jaccard, kendall_w, vsi

__all__ = ["SeedStability", "seed_stability"]


class SeedStability(NamedTuple):
    """Seed-to-seed stability of R independent explanations of the same inputs.

    ``print(result)`` (or :meth:`summary`) says in words, per example and target, which
    top-k features every seed agrees on, whether positions k and k + 1 are a tie and about
    how many samples would resolve it; ``repr`` gives shapes and a few headline numbers.

    Terms (A, B: the top-k sets of two seeds, by ``|coef|``):

    - **Jaccard**: ``|A ∩ B| / |A ∪ B|``, averaged over seed pairs (1: the same features).
    - **VSI** (Visani et al.'s variables stability index): ``|A ∩ B| / k``, averaged over
      seed pairs, in [0, 1] (the paper reports x100).
    - **CSI** (coefficients stability index): for each feature, the share of seed pairs
      whose ``confidence`` intervals ``coef ± z coef_std`` overlap, averaged over features.
    - **Kendall's W**: the concordance of the R full rankings by ``|coef|`` (1: identical,
      about 0: unrelated).
    - **consensus**: the mean coefficient over the seeds; its top k and positions (from 1)
      are the ones the summary names.
    - **top_k_frequency**: the fraction of seeds whose top k holds the feature; a feature
      is *stable* when that fraction is at least ``confidence``.
    - **gap**: ``|consensus coef|`` at position k minus at position k + 1.
    - **gap_se**: the seed-to-seed standard deviation of one run's gap (each seed's
      smallest ``|coef|`` in the consensus top k minus its largest outside): the standard
      error of a single explanation's gap at its n samples.
    - **tie**: ``gap <= z gap_se``, ``z`` the one-sided normal quantile at ``confidence``.
    - **n_needed**: ``n (z gap_se / gap)²``: the gap's standard error falls as
      ``1 / sqrt(N)`` with the samples N of one run, so one run resolves the boundary once
      ``gap > z gap_se sqrt(n / N)`` (see :class:`~torchlime.stability.StabilityReport`).
    """

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
    top_k_frequency: Tensor
    """(B, T, K) fraction of seeds that put the feature in their top k."""
    gap: Tensor
    """(B, T) the consensus gap between positions k and k + 1 (inf with at most k
    features)."""
    gap_se: Tensor
    """(B, T) seed-to-seed standard deviation of one run's gap."""
    n_needed: Tensor
    """(B, T) samples per run that would resolve the boundary, ``n (z gap_se / gap)²``."""
    tie: Tensor
    """(B, T) bool: the top-k boundary is not resolved at ``confidence``."""
    n_samples: Tensor
    """(B,) int64 samples of each run (rows with positive weight)."""
    k: int = 5
    """The size of the top sets."""
    confidence: float = 0.95
    """The confidence of CSI's intervals and of the tie test."""

    def summary(self, max_examples: int = 3) -> str:
        """The result in words: per example and target, the verdict on the top k.

        Args:
            max_examples: examples shown (the others are counted).

        Returns:
            a few lines per (example, target): the consensus top k, how many features
            every seed agrees on, whether positions k and k + 1 are a tie and about how
            many samples would resolve them, Jaccard, VSI, CSI and Kendall's W; then the
            terms.
        """
        return describe(
            Boundary(
                kind="seeds",
                coef=self.coef.mean(0),
                top_k_frequency=self.top_k_frequency,
                gap=self.gap,
                gap_se=self.gap_se,
                n_needed=self.n_needed,
                tie=self.tie,
                n_samples=self.n_samples,
                n_features=self.explanation.n_features[: self.coef.shape[1]],
                k=self.k,
                confidence=self.confidence,
                replicates=self.coef.shape[0],
                explanation=self.explanation,
                agreement={
                    "Jaccard": self.jaccard,
                    "VSI": self.vsi,
                    "CSI": self.csi,
                    "Kendall's W": self.kendall_w,
                },
            ),
            max_examples,
        )

    def to(self, *args: Any, **kwargs: Any) -> SeedStability:
        """Every tensor field moved by ``Tensor.to`` (the explanation stays where it is)."""
        return tensors_to(self, *args, **kwargs)

    def cpu(self) -> SeedStability:
        """Every tensor field on the CPU."""
        return self.to("cpu")

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        stats = ", ".join(
            headline_stats(name, getattr(self, name))
            for name in ("jaccard", "vsi", "csi", "kendall_w")
        )
        head = (
            f"R={self.coef.shape[0]} seeds, k={self.k}, confidence={self.confidence}, {stats}, "
            f"ties {int(self.tie.sum())} of {self.tie.numel()}, "
            f"explanation: {type(self.explanation).__name__} of {len(self.explanation)}"
        )
        return compact_repr(self, head)


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
        confidence: interval coverage for CSI, and the confidence of the tie test.
        generator: source of randomness on ``x``'s device (None: a fresh seed).
        **call_kwargs: the explainer's other inputs (``segments=``, ``attention_mask=``).

    Returns:
        :class:`SeedStability` with (B, T) indices and the (R, B, T, K) coefficients;
        ``print`` it for the verdict in words.

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
    # The verdict: the consensus (mean over seeds) top k against each seed's gap.
    n_used = (exp.weights > 0).sum(-1)[:b]
    gap, gap_se, n_needed, resolved = gap_test(
        coef.mean(0), coef, k, n_used, n_features=n_features, confidence=confidence
    )
    return SeedStability(
        jaccard=jaccard(coef, k, n_features),
        vsi=vsi(coef, k, n_features),
        csi=csi(coef, std, confidence, n_features),
        kendall_w=kendall_w(coef, n_features),
        coef=coef,
        coef_std=std,
        explanation=exp,
        top_k_frequency=top_k_mask(coef, k, n_features, lead=1).to(coef.dtype).mean(0),
        gap=gap,
        gap_se=gap_se,
        n_needed=n_needed,
        tie=~resolved,
        n_samples=n_used,
        k=k,
        confidence=confidence,
    )
