"""The bootstrap stability report of one explanation: zero extra model calls."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from torchlime._random import resolve_generator
from torchlime.functional.bootstrap import bootstrap_coef, gap_test, quantile
from torchlime.functional.fit import refit
from torchlime.functional.ranking import top_k_mask
from torchlime.stability._recipe import recipe_alpha, recipe_design, recipe_surrogate, samples_of
from torchlime.stability._verdict import (
    Boundary,
    compact_repr,
    describe,
    headline_stats,
    tensors_to,
)
from torchlime.stability.agreement import jaccard

__all__ = ["StabilityReport", "stability_report"]


class StabilityReport(NamedTuple):
    """A bootstrap stability report: every tensor field has leading dimensions (B, T).

    ``print(report)`` (or :meth:`summary`) says in words, per example and target, which
    top-k features are stable, whether positions k and k + 1 are a tie, and about how many
    samples would resolve it; ``repr`` gives shapes and a few headline numbers.

    Terms (the replicates are bootstrap resamples of the explanation's own samples, each
    refitted with its recipe):

    - **top-k**: the k features with the largest ``|coef|`` in the full fit (ties to the
      lower index); positions count from 1 in that order.
    - **top_k_frequency**: the fraction of replicates whose own top k holds the feature; a
      top-k feature is called *stable* when that fraction is at least ``confidence``.
    - **Jaccard**: ``|A ∩ B| / |A ∪ B|`` for two top-k sets A, B (1: the same features,
      0: none shared), averaged over pairs of replicates: what two runs of the explainer
      would share.
    - **sign_stability**: the fraction of replicates whose coefficient has the full fit's
      sign.
    - **gap**: ``|coef|`` at position k minus ``|coef|`` at position k + 1, the margin by
      which the k-th feature made the cut (inf with at most k features).
    - **gap_se**: the standard error of the gap: the standard deviation over replicates of
      each replicate's gap between the full fit's top-k set and the rest.
    - **tie**: the boundary is not resolved at ``confidence``: ``gap <= z gap_se``, ``z``
      the one-sided normal quantile (1.64 at 95 %).
    - **n_needed**: samples that would resolve the boundary. The surrogate is a weighted
      least-squares fit of N independent samples, so the covariance of its coefficients,
      and the variance of the gap (a difference of two of them, the boundary held fixed),
      fall as 1/N: ``gap_se(N) = gap_se(n) sqrt(n / N)`` from the n samples used. The gap
      exceeds ``z gap_se(N)`` once ``N > n (z gap_se / gap)²``: that is ``n_needed``, the
      gap held at its current estimate (S-LIME, Zhou et al. 2021). Below n when the
      boundary is already resolved; inf for an exact tie (gap 0). The ridge penalty does
      not grow with N, so the estimate is asymptotic (alpha small against N).
    """

    coef: Tensor
    """(B, T, K) the surrogate refitted on all samples with the explanation's own recipe
    (equal to ``Explanation.coef``)."""
    coef_std: Tensor
    """(B, T, K) bootstrap standard deviation of each coefficient (0 when not fitted)."""
    coef_low: Tensor
    """(B, T, K) lower end of the percentile interval at ``confidence``."""
    coef_high: Tensor
    """(B, T, K) upper end of the percentile interval."""
    jaccard: Tensor
    """(B, T) expected top-k Jaccard index between two runs (mean over replicate pairs)."""
    sign_stability: Tensor
    """(B, T, K) fraction of replicates whose coefficient has the full fit's sign."""
    top_k_frequency: Tensor
    """(B, T, K) fraction of replicates that put the feature in their top k."""
    gap: Tensor
    """(B, T) ``|coef|`` of the k-th feature minus the largest outside the top k (inf if
    there are at most k features)."""
    gap_se: Tensor
    """(B, T) bootstrap standard error of that gap."""
    n_needed: Tensor
    """(B, T) samples that would resolve the boundary, ``n (z gap_se / gap)²`` (see above)."""
    tie: Tensor
    """(B, T) bool: the top-k boundary is not resolved at ``confidence`` (gap <= z se)."""
    n_samples: Tensor
    """(B,) int64 samples the explanation used (rows with positive weight)."""
    k: int = 5
    """The size of the top set that was checked."""
    confidence: float = 0.95
    """The confidence of the intervals and of the tie test."""
    n_boot: int = 0
    """R, the bootstrap replicates."""
    explanation: Any = None
    """The explanation that was bootstrapped (feature and target names for the summary)."""

    def summary(self, max_examples: int = 3) -> str:
        """The report in words: per example and target, the verdict on its top k.

        Args:
            max_examples: examples shown (the others are counted).

        Returns:
            a few lines per (example, target): the top k with their coefficients, how many
            are stable, whether positions k and k + 1 are a tie and about how many samples
            would resolve them, sign flips, the expected Jaccard; then the terms.
        """
        return describe(
            Boundary(
                kind="report",
                coef=self.coef,
                top_k_frequency=self.top_k_frequency,
                gap=self.gap,
                gap_se=self.gap_se,
                n_needed=self.n_needed,
                tie=self.tie,
                n_samples=self.n_samples,
                n_features=_n_features(self.explanation, self.coef),
                k=self.k,
                confidence=self.confidence,
                replicates=self.n_boot,
                explanation=self.explanation,
                agreement={"Jaccard": self.jaccard},
                sign_stability=self.sign_stability,
            ),
            max_examples,
        )

    def to(self, *args: Any, **kwargs: Any) -> StabilityReport:
        """Every tensor field moved by ``Tensor.to`` (the other fields kept)."""
        return tensors_to(self, *args, **kwargs)

    def cpu(self) -> StabilityReport:
        """Every tensor field on the CPU (the explanation stays where it is)."""
        return self.to("cpu")

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        ties = f"ties {int(self.tie.sum())} of {self.tie.numel()}"
        head = (
            f"k={self.k}, confidence={self.confidence}, n_boot={self.n_boot}, "
            f"{headline_stats('jaccard', self.jaccard)}, {ties}"
        )
        return compact_repr(self, head)


def _n_features(exp: Any, coef: Tensor) -> Tensor:
    """K_b of each example: the explanation's, else every feature."""
    n = getattr(exp, "n_features", None)
    if isinstance(n, Tensor):
        return n
    return torch.full(coef.shape[:1], coef.shape[-1], dtype=torch.long)


def stability_report(
    exp: Any,
    k: int = 5,
    *,
    n_boot: int = 200,
    alpha: float | None = None,
    confidence: float = 0.95,
    method: str = "multinomial",
    design: str | None = None,
    generator: torch.Generator | int | None = None,
    max_elements: int = 2**23,
    surrogate: Any = None,
) -> StabilityReport:
    """Bootstrap an explanation's own samples: how stable are its coefficients and top k?

    No model call: the kept samples, scores and weights are resampled (see
    :func:`~torchlime.functional.bootstrap_weights`) and the surrogate is refitted on every
    replicate with one batched :func:`~torchlime.functional.refit` whose leading dimension
    is the replicate (in chunks of at most ``max_elements`` elements per temporary). The
    recipe (``exp.config``) gives the surrogate, its penalty and the sampler's design;
    feature selection is held fixed (the explanation's ``selected``). Works for every
    explainer: binary masks and tables' float samples alike.

    Args:
        exp: an :class:`~torchlime.Explanation` made with ``keep_samples=True``.
        k: size of the top set that is checked (by ``|coef|``).
        n_boot: R bootstrap replicates.
        alpha: the surrogate's penalty (None: the explanation's own, from its recipe).
        confidence: for the percentile intervals (two-sided) and the tie test (one-sided).
        method: ``"multinomial"`` or ``"poisson"`` resampling.
        design: how the samples were drawn, so the bootstrap mimics it: ``"iid"``,
            ``"paired"`` (row pairs resampled together) or ``"stratified"`` (rows
            resampled within their kept-feature count). None: the recipe's.
        generator: source of randomness on the explanation's device (None: a fresh seed).
        max_elements: memory bound for each chunk of replicates.
        surrogate: the surrogate to refit (None: the recipe's; a callable surrogate must
            be passed again, a recipe holds only its name).

    Returns:
        :class:`StabilityReport`; ``print`` it for the verdict in words.

    Raises:
        ValueError: if the explanation kept no samples.

    Example:
        >>> from torch import nn
        >>> from torchlime import Grid, LimeImage
        >>> model = nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(12, 3))
        >>> g = torch.Generator().manual_seed(0)
        >>> exp = LimeImage(model, segmenter=Grid(8, 8), n_samples=200, progress=False)(
        ...     torch.rand(1, 3, 16, 16, generator=g), keep_samples=True, generator=g)
        >>> report = stability_report(exp, k=3, generator=g)
        >>> report.coef_std.shape, report.jaccard.shape, report.tie.dtype
        (torch.Size([1, 1, 64]), torch.Size([1, 1]), torch.bool)
        >>> bool(torch.allclose(report.coef, exp.coef))
        True
    """
    X, scores, weights = samples_of(exp, "stability_report")
    alpha = recipe_alpha(exp, alpha, "stability_report")
    surrogate = recipe_surrogate(exp, surrogate, "stability_report")
    design = design or recipe_design(exp) or _guess_design(X, weights, exp.n_features)
    generator, _ = resolve_generator(generator, X.device)
    coef = refit(X, scores, weights, exp.selected, surrogate=surrogate, alpha=alpha).coef
    boot = bootstrap_coef(
        X, scores, weights, exp.selected, exp.n_features, alpha, n_boot, method=method,
        design=design, generator=generator, max_elements=max_elements, surrogate=surrogate,
    )  # fmt: skip
    n_used = (weights > 0).sum(-1)
    gap, se, n_needed, resolved = gap_test(
        coef, boot, k, n_used, n_features=exp.n_features, confidence=confidence
    )
    low, high = quantile(boot, (1 - confidence) / 2), quantile(boot, (1 + confidence) / 2)
    return StabilityReport(
        coef=coef,
        coef_std=boot.std(0),
        coef_low=low,
        coef_high=high,
        jaccard=jaccard(boot, k, exp.n_features),
        sign_stability=(torch.sign(boot) == torch.sign(coef)).to(coef.dtype).mean(0),
        top_k_frequency=top_k_mask(boot, k, exp.n_features, lead=1).to(coef.dtype).mean(0),
        gap=gap,
        gap_se=se,
        n_needed=n_needed,
        tie=~resolved,
        n_samples=n_used,
        k=k,
        confidence=confidence,
        n_boot=n_boot,
        explanation=exp,
    )


def _guess_design(X: Tensor, weights: Tensor, n_features: Tensor) -> str:
    """For recipe-less explanations: ``"paired"`` if live rows 2j + 1, 2j + 2 complement."""
    pairs = (X.shape[1] - 1) // 2
    if pairs == 0 or X.dtype != torch.bool:
        return "iid"
    valid = torch.arange(X.shape[2], device=X.device) < n_features[:, None, None]
    first, second = X[:, 1 : 1 + 2 * pairs : 2], X[:, 2 : 2 + 2 * pairs : 2]
    live = (weights[:, 1 : 1 + 2 * pairs : 2] > 0)[..., None]
    return "paired" if bool(((first ^ second) | ~valid | ~live).all()) else "iid"
