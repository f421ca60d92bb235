"""How much to trust an explanation: bootstrap and multi-seed stability, adaptive sampling.

LIME's top features change from one random seed to the next (Monte-Carlo noise plus
near-ties in the ranking). This module measures that, on the device, without a Python
loop over samples or features:

- :func:`stability_report`: from one explanation kept with ``keep_samples=True``, a
  bootstrap over its samples (zero extra model calls; every replicate is one leading
  dimension of a single batched :func:`~torchlime.functional.weighted_ridge`) gives each
  coefficient's spread and interval, the expected top-k Jaccard between two runs, sign
  stability, and whether the top-k boundary is resolved or a tie.
- :func:`seed_stability`: R seeds explained as one batch, scored with top-k Jaccard,
  Visani's VSI and CSI, and Kendall's W.
- :func:`adaptive_sampling`: S-LIME-style rounds (used by ``n_samples="auto"``): more
  samples until the gap between the k-th and (k+1)-th ``|coef|`` is significant, keeping
  earlier samples, or a tie reported when the budget is spent.
- :func:`kernel_width_sweep`: refits for many kernel widths from the same model outputs.
- :func:`bayesian_ridge`: BayLIME's surrogate, with a posterior standard deviation per
  coefficient.

The pairwise metrics (:func:`jaccard`, :func:`vsi`, :func:`csi`, :func:`kendall_w`) take
coefficients with the replicate (seed or bootstrap) dimension R first: ``(R, ..., K)``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

from torchlime.explanation import Explanation
from torchlime.functional.kernels import cosine_distance, exponential_kernel
from torchlime.functional.sampling import resolve_generator
from torchlime.functional.surrogate import (
    RidgeFit,
    _r2,
    _rss,
    ridge_from_moments,
    weighted_moments,
    weighted_ridge,
)

__all__ = [
    "AdaptiveResult",
    "BayesianRidgeFit",
    "SeedStability",
    "StabilityReport",
    "adaptive_sampling",
    "bayesian_ridge",
    "bootstrap_weights",
    "csi",
    "gap_test",
    "jaccard",
    "kendall_w",
    "kernel_width_sweep",
    "ridge_std",
    "seed_stability",
    "stability_report",
    "top_k_mask",
    "vsi",
]


DESIGNS = ("iid", "paired", "stratified")

# --------------------------------------------------------------------------- result types


class StabilityReport(NamedTuple):
    """A bootstrap stability report: every field has leading dimensions (B, T)."""

    coef: Tensor
    """(B, T, K) the surrogate refitted on all samples (equal to ``Explanation.coef``)."""
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
    """(B, T) samples that would resolve the boundary, ``n (z se / gap)²`` (S-LIME)."""
    tie: Tensor
    """(B, T) bool: the top-k boundary is not resolved at ``confidence`` (gap <= z se)."""
    n_samples: Tensor
    """(B,) int64 samples the explanation used (rows with positive weight)."""


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
    """(R, B, T, K) each seed's analytic (sandwich) coefficient standard deviation."""
    explanation: Explanation
    """The R * B explanations (replicate-major, samples kept), e.g. for a
    :func:`stability_report` of every seed."""


class AdaptiveResult(NamedTuple):
    """Samples gathered in rounds; rows past ``n_samples[b]`` are padding with weight 0."""

    masks: Tensor
    """(B, N, K) bool."""
    scores: Tensor
    """(B, N, T) float."""
    weights: Tensor
    """(B, N) float, 0 on padding rows."""
    resolved: Tensor
    """(B, T) bool: the top-k boundary is resolved (False: a tie at the budget)."""
    n_samples: Tensor
    """(B,) int64 rows used per example, the original included."""


class BayesianRidgeFit(NamedTuple):
    """A Bayesian ridge fit (BayLIME): posterior mean and spread per coefficient."""

    coef: Tensor
    """(..., T, K) posterior mean; 0 outside ``feature_mask``."""
    intercept: Tensor
    """(..., T)"""
    score: Tensor
    """(..., T) weighted R² of the posterior mean."""
    coef_std: Tensor
    """(..., T, K) posterior standard deviation; 0 outside ``feature_mask``."""
    noise_precision: Tensor
    """(..., T) the evidence-maximising noise precision (scikit-learn's ``alpha_``)."""
    prior_precision: Tensor
    """(..., T) the evidence-maximising weight precision (scikit-learn's ``lambda_``)."""


# --------------------------------------------------------------------------- pairwise metrics


def top_k_mask(coef: Tensor, k: int, n_features: Tensor | None = None) -> Tensor:
    """The k features with the largest ``|coef|`` (ties to the lower index), as a mask.

    Args:
        coef: (..., K) float coefficients.
        k: how many features, >= 1 (all valid ones when fewer).
        n_features: int64 K_b valid features, shaped like a prefix of ``coef``'s leading
            dimensions (e.g. (B,) for (B, T, K) coefficients); padded features are never
            chosen. ``None``: all K are valid.

    Returns:
        (..., K) bool.

    Example:
        >>> top_k_mask(torch.tensor([0.1, -0.5, 0.3]), 2).tolist()
        [False, True, True]
    """
    return _top_k(coef, k, n_features, 0)


def _top_k(coef: Tensor, k: int, n_features: Tensor | None, lead: int) -> Tensor:
    if k < 1:
        raise ValueError(f"k must be >= 1; got {k}")
    valid = _valid(coef, n_features, lead)
    strength = torch.where(valid, coef.abs(), -1.0)
    order = strength.sort(dim=-1, descending=True, stable=True).indices
    rank = torch.empty_like(order).scatter_(
        -1, order, torch.arange(coef.shape[-1], device=coef.device).expand_as(order)
    )
    return (rank < k) & valid


def jaccard(coef: Tensor, k: int = 5, n_features: Tensor | None = None) -> Tensor:
    """Mean top-k Jaccard index ``|S_i ∩ S_j| / |S_i ∪ S_j|`` over all pairs of replicates.

    Args:
        coef: (R, ..., K) coefficients of R >= 2 replicates (seeds or bootstrap samples).
        k: size of the top sets (by ``|coef|``).
        n_features: K_b valid features per example (see :func:`top_k_mask`).

    Returns:
        (...) float in [0, 1]; 1 when every replicate picks the same k features.

    Example:
        >>> coef = torch.tensor([[3.0, 2.0, 1.0], [3.0, 1.0, 2.0]])
        >>> jaccard(coef, k=2)  # {0, 1} vs {0, 2}
        tensor(0.3333)
    """
    inter, size = _pair_overlaps(coef, k, n_features)
    union = size[..., :, None] + size[..., None, :] - inter
    return _mean_off_diagonal(inter / union.clamp(min=1)).to(_float(coef))


def vsi(coef: Tensor, k: int = 5, n_features: Tensor | None = None) -> Tensor:
    """Visani et al.'s variables stability index: mean ``|S_i ∩ S_j| / k`` over pairs.

    Args:
        coef: (R, ..., K) coefficients of R >= 2 replicates.
        k: size of the top sets (by ``|coef|``).
        n_features: K_b valid features per example (see :func:`top_k_mask`).

    Returns:
        (...) float in [0, 1] (the paper reports x100). With fewer than k valid features
        the denominator is their number.

    Example:
        >>> vsi(torch.tensor([[3.0, 2.0, 1.0], [3.0, 1.0, 2.0]]), k=2)
        tensor(0.5000)
    """
    inter, size = _pair_overlaps(coef, k, n_features)
    return _mean_off_diagonal(inter / size[..., :, None].clamp(min=1)).to(_float(coef))


def csi(
    coef: Tensor,
    coef_std: Tensor,
    confidence: float = 0.95,
    n_features: Tensor | None = None,
) -> Tensor:
    """Visani et al.'s coefficients stability index: how often replicates' intervals overlap.

    Each replicate gives every feature the interval ``coef ± z std`` (``z`` the two-sided
    normal quantile at ``confidence``); a pair agrees on a feature when the intervals
    overlap. The index is the fraction of agreeing pairs, averaged over valid features.

    Args:
        coef: (R, ..., K) coefficients of R >= 2 replicates.
        coef_std: (R, ..., K) their standard deviations (e.g. :func:`ridge_std`).
        confidence: coverage of each interval, in (0, 1).
        n_features: K_b valid features per example (see :func:`top_k_mask`).

    Returns:
        (...) float in [0, 1].

    Example:
        >>> coef = torch.tensor([[1.0, 0.0], [1.1, 5.0]])
        >>> csi(coef, torch.full_like(coef, 0.1))  # feature 0 overlaps, feature 1 does not
        tensor(0.5000)
    """
    _check_replicates(coef, "csi")
    z = _normal_quantile(0.5 + confidence / 2)
    c, s = coef.movedim(0, -1), coef_std.movedim(0, -1)  # (..., K, R)
    low, high = c - z * s, c + z * s
    overlap = (low[..., :, None] <= high[..., None, :]) & (low[..., None, :] <= high[..., :, None])
    per_feature = _mean_off_diagonal(overlap.to(coef.dtype))  # (..., K)
    valid = _valid(coef[0], n_features)
    return (per_feature * valid).sum(-1) / valid.sum(-1).clamp(min=1)


def kendall_w(coef: Tensor, n_features: Tensor | None = None, *, absolute: bool = True) -> Tensor:
    """Kendall's coefficient of concordance of R rankings of the features (tie-corrected).

    Each replicate ranks the valid features by ``|coef|`` (by ``coef`` with
    ``absolute=False``), ties sharing their mean rank. ``W = 12 S / (R² (K³ - K) - R Σ(t³ - t))``
    with ``S`` the spread of the rank sums and ``t`` the tie-group sizes: 1 for identical
    rankings, about 0 for unrelated ones. Equal to the Friedman statistic over ``R (K - 1)``.

    Args:
        coef: (R, ..., K) coefficients of R >= 2 replicates.
        n_features: K_b valid features per example (see :func:`top_k_mask`).
        absolute: rank by magnitude (importance) rather than signed value.

    Returns:
        (...) float in [0, 1] (0 when every replicate ties all features).

    Example:
        >>> kendall_w(torch.tensor([[3.0, 2.0, 1.0], [3.0, 2.0, 1.0]]))
        tensor(1.)
    """
    _check_replicates(coef, "kendall_w")
    r = coef.shape[0]
    valid = _valid(coef[0], n_features)  # (..., K)
    values = coef.abs() if absolute else coef
    ranks, ties = _average_ranks(values, valid.expand_as(values))
    k_b = valid.sum(-1).to(ranks.dtype)
    sums = torch.where(valid, ranks.sum(0), 0.0)
    spread = torch.where(valid, (sums - r * (k_b[..., None] + 1) / 2) ** 2, 0.0).sum(-1)
    den = r**2 * (k_b**3 - k_b) - r * ties.sum(0)
    w = torch.where(den > 0, 12 * spread / torch.where(den > 0, den, 1.0), 0.0)
    return w.to(_float(coef))


# --------------------------------------------------------------------------- bootstrap


def bootstrap_weights(
    weights: Tensor,
    n_boot: int = 200,
    *,
    method: str = "multinomial",
    pairs: bool = False,
    strata: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Bootstrap replicates of sample weights: resample the rows, keep row 0 (the original).

    ``"multinomial"`` is the classic bootstrap: each replicate draws as many random rows
    as there are (rows with positive weight), with replacement, and a row's new weight is
    its weight times how often it was drawn. ``"poisson"`` multiplies each row's weight by
    an independent Poisson(1) count instead. Row 0 is not random in LIME and keeps its
    weight. With ``pairs`` the rows ``2j + 1, 2j + 2`` (the paired sampler's ``z``, ``~z``)
    are resampled together; with ``strata`` the multinomial draws stay within each stratum
    (as many draws as the stratum has rows), as the stratified sampler's design requires.

    Args:
        weights: (B, N) float >= 0 sample weights; rows with weight 0 are padding.
        n_boot: R replicates, >= 2.
        method: ``"multinomial"`` or ``"poisson"``.
        pairs: resample consecutive row pairs as units.
        strata: (B, N) int64 stratum of each row (e.g. its number of kept features), or
            None for one stratum.
        generator: source of randomness on ``weights``' device (None: a fresh seed).

    Returns:
        (R, B, N) float, ``weights`` times the resampling counts.

    Example:
        >>> w = bootstrap_weights(torch.ones(1, 5), 3, generator=torch.Generator().manual_seed(0))
        >>> w.shape, w[:, 0, 0].tolist(), w[:, 0, 1:].sum(-1).tolist()
        (torch.Size([3, 1, 5]), [1.0, 1.0, 1.0], [4.0, 4.0, 4.0])
    """
    if weights.ndim != 2:
        raise ValueError(f"weights must be (B, N); got shape {tuple(weights.shape)}")
    if n_boot < 2:
        raise ValueError(f"n_boot must be >= 2; got {n_boot}")
    if method not in ("multinomial", "poisson"):
        raise ValueError(f"method must be 'multinomial' or 'poisson'; got {method!r}")
    if strata is not None and strata.shape != weights.shape:
        raise ValueError(
            f"strata must be (B, N) like weights {tuple(weights.shape)}; got {tuple(strata.shape)}"
        )
    b, n = weights.shape
    device = weights.device
    generator = _generator(generator, device)
    block = 2 if pairs else 1
    n_units = -(-(n - 1) // block)
    if n_units == 0:
        return weights.expand(n_boot, b, n).clone()
    first = 1 + block * torch.arange(n_units, device=device)  # (U,) first row of each unit
    unit = (torch.arange(1, n, device=device) - 1) // block  # (N - 1,) unit of each row
    live = torch.zeros(b, n_units, device=device, dtype=torch.float64)
    live.scatter_reduce_(1, unit.expand(b, -1), (weights[:, 1:] > 0).double(), "amax")
    live = live > 0
    if method == "poisson":
        rate = live.to(torch.float64)[None].expand(n_boot, b, n_units).contiguous()
        counts = torch.poisson(rate, generator=generator)
    else:
        # Units sorted by stratum (padding in a stratum of its own, where draws are harmless:
        # its weight is 0); each sorted position draws one unit of its own stratum.
        label = torch.zeros(b, n_units, dtype=torch.long, device=device)
        if strata is not None:
            label = strata[:, first].long() + 1 - strata.min()
        label = torch.where(live, label, -1)
        order = label.argsort(dim=-1, stable=True)
        sorted_label = label.gather(1, order)
        change = torch.ones_like(sorted_label, dtype=torch.bool)
        change[:, 1:] = sorted_label[:, 1:] != sorted_label[:, :-1]
        positions = torch.arange(n_units, device=device).expand(b, -1)
        start = torch.where(change, positions, 0).cummax(1).values
        group = change.cumsum(1) - 1
        size = torch.zeros_like(group).scatter_add_(1, group, torch.ones_like(group))
        size = size.gather(1, group)
        u = torch.rand(n_boot, b, n_units, generator=generator, device=device, dtype=torch.float64)
        pick = start + (u * size).long().clamp(max=size - 1)
        drawn = order.expand(n_boot, b, n_units).gather(2, pick)
        counts = torch.zeros(n_boot, b, n_units, device=device, dtype=torch.float64)
        counts.scatter_add_(2, drawn, torch.ones_like(counts))
    row_counts = torch.cat(
        [counts.new_ones(n_boot, b, 1), counts.gather(2, unit.expand(n_boot, b, -1))], 2
    )
    return weights * row_counts.to(weights.dtype)


def gap_test(
    coef: Tensor,
    coef_boot: Tensor,
    k: int,
    n_samples: Tensor,
    *,
    n_features: Tensor | None = None,
    confidence: float = 0.95,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """S-LIME's question for the top-k set: is the boundary resolved, or how many samples?

    ``S`` is the full fit's top k by ``|coef|``; a replicate's gap is the smallest
    ``|coef|`` inside ``S`` minus the largest outside. The boundary is resolved when the
    full fit's gap exceeds ``z se`` (``z`` the one-sided normal quantile at
    ``confidence``, ``se`` the replicates' standard deviation of the gap), and
    ``n_needed = n (z se / gap)²`` (Zhou et al., 2021) estimates the samples that would
    resolve it.

    Args:
        coef: (B, T, K) the full fit.
        coef_boot: (R, B, T, K) bootstrap replicates.
        k: size of the top set, >= 1.
        n_samples: (B,) int64 samples behind ``coef``.
        n_features: (B,) int64 valid features (None: all K).
        confidence: one-sided confidence of the test, in (0, 1).

    Returns:
        gap (B, T), its standard error (B, T), n_needed (B, T) float (inf for an exact
        tie, n when resolved beyond doubt) and resolved (B, T) bool. With at most k valid
        features the gap is inf and the boundary resolved.

    Example:
        >>> coef = torch.tensor([[[3.0, 1.0, 0.5]]])
        >>> g = torch.Generator().manual_seed(0)
        >>> boot = coef + 0.01 * torch.randn(50, 1, 1, 3, generator=g)
        >>> gap_test(coef, boot, 1, torch.tensor([1000]))[3]
        tensor([[True]])
    """
    inside = top_k_mask(coef, k, n_features)
    outside = _valid(coef, n_features) & ~inside

    def gaps(c: Tensor) -> Tensor:
        low = torch.where(inside, c.abs(), torch.inf).amin(-1)
        high = torch.where(outside, c.abs(), -torch.inf).amax(-1)
        return low - high

    gap = gaps(coef)
    finite = torch.isfinite(gap)
    boot = gaps(coef_boot)
    se = torch.where(finite, torch.where(finite, boot, 0.0).std(0), 0.0)
    z = _normal_quantile(confidence)
    resolved = ~finite | (gap > z * se)
    n = n_samples.to(coef.dtype)[:, None]
    ratio = torch.where(gap > 0, z * se / torch.where(gap > 0, gap, 1.0), torch.inf)
    n_needed = torch.where(finite, n * ratio**2, n)
    return gap, se, n_needed, resolved


def stability_report(
    exp: Any,
    k: int = 5,
    *,
    n_boot: int = 200,
    alpha: float = 1.0,
    confidence: float = 0.95,
    method: str = "multinomial",
    design: str | None = None,
    generator: torch.Generator | None = None,
    max_elements: int = 2**23,
) -> StabilityReport:
    """Bootstrap an explanation's own samples: how stable are its coefficients and top k?

    No model call: the kept masks, scores and weights are resampled (see
    :func:`bootstrap_weights`) and the surrogate is refitted on every replicate with one
    batched :func:`~torchlime.functional.weighted_ridge` whose leading dimension is the
    replicate (in chunks of at most ``max_elements`` elements per temporary). Feature
    selection is held fixed (the explanation's ``selected``).

    Args:
        exp: an :class:`~torchlime.Explanation` made with ``keep_samples=True``.
        k: size of the top set that is checked (by ``|coef|``).
        n_boot: R bootstrap replicates.
        alpha: the explainer's ridge penalty (1 for lime's default).
        confidence: for the percentile intervals (two-sided) and the tie test (one-sided).
        method: ``"multinomial"`` or ``"poisson"`` resampling.
        design: how the samples were drawn, so the bootstrap mimics it: ``"iid"``
            (lime's Bernoulli, GLIME's binomial), ``"paired"`` (row pairs resampled
            together) or ``"stratified"`` (rows resampled within their kept-feature
            count). None: ``"paired"`` if the masks hold complementary pairs, else
            ``"iid"`` (one host sync).
        generator: source of randomness on the explanation's device (None: a fresh seed).
        max_elements: memory bound for each chunk of replicates.

    Returns:
        :class:`StabilityReport`.

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
    """
    masks, scores, weights = _samples(exp, "stability_report")
    if design is None:
        design = "paired" if _looks_paired(masks, weights, exp.n_features) else "iid"
    generator = _generator(generator, masks.device)
    full = weighted_ridge(masks, scores, weights, alpha, feature_mask=exp.selected)
    coef = full.coef
    boot = _bootstrap_coef(
        masks,
        scores,
        weights,
        exp.selected,
        exp.n_features,
        alpha,
        n_boot,
        method,
        design,
        generator,
        max_elements,
    )
    n_used = (weights > 0).sum(-1)
    gap, se, n_needed, resolved = gap_test(
        coef, boot, k, n_used, n_features=exp.n_features, confidence=confidence
    )
    low, high = _quantile(boot, (1 - confidence) / 2), _quantile(boot, (1 + confidence) / 2)
    sign = torch.sign(coef)
    return StabilityReport(
        coef=coef,
        coef_std=boot.std(0),
        coef_low=low,
        coef_high=high,
        jaccard=jaccard(boot, k, exp.n_features),
        sign_stability=(torch.sign(boot) == sign).to(coef.dtype).mean(0),
        top_k_frequency=_top_k(boot, k, exp.n_features, 1).to(coef.dtype).mean(0),
        gap=gap,
        gap_se=se,
        n_needed=n_needed,
        tie=~resolved,
        n_samples=n_used,
    )


# --------------------------------------------------------------------------- multi-seed


def seed_stability(
    explainer: Callable[..., Any],
    x: Tensor,
    target: int | Tensor | None = None,
    *,
    n_seeds: int = 10,
    k: int = 5,
    top_labels: int | None = None,
    segments: Tensor | None = None,
    confidence: float = 0.95,
    generator: torch.Generator | None = None,
) -> SeedStability:
    """Explain the same inputs with R seeds, all in one batched call, and compare the runs.

    The inputs are repeated R times (replicate-major: rows ``r * B .. r * B + B - 1``) and
    explained in a single call, so each image gets R independent sets of samples. With
    an image explainer the segmentation is computed once and shared by every seed.

    Args:
        explainer: a torchlime explainer (e.g. :class:`~torchlime.LimeImage`), called as
            ``explainer(x, target, top_labels=..., generator=..., keep_samples=True)``.
        x: (B, ...) the inputs.
        target: as for the explainer (an int, (B,) or (B, T)); None explains each input's
            top label(s), the same for every seed.
        n_seeds: R >= 2.
        k: size of the top sets for Jaccard and VSI.
        top_labels: as for the explainer.
        segments: (B, H, W) superpixels for an image explainer (default: its segmenter).
        confidence: interval coverage for CSI.
        generator: source of randomness on ``x``'s device (None: a fresh seed).

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
    b = x.shape[0]
    kwargs: dict[str, Any] = {"keep_samples": True, "generator": _generator(generator, x.device)}
    if top_labels is not None:
        kwargs["top_labels"] = top_labels
    if segments is None and hasattr(explainer, "segmenter"):
        from torchlime.segmentation import relabel

        segments = relabel(explainer.segmenter(x))[0]
    if segments is not None:
        kwargs["segments"] = segments.repeat(n_seeds, *([1] * (segments.ndim - 1)))
    if isinstance(target, Tensor) and target.ndim > 0:
        target = target.repeat(n_seeds, *([1] * (target.ndim - 1)))
    exp = explainer(x.repeat(n_seeds, *([1] * (x.ndim - 1))), target, **kwargs)
    coef = exp.coef.unflatten(0, (n_seeds, b))
    n_features = exp.n_features[:b]
    alpha = float(getattr(explainer, "alpha", 1.0))
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


def ridge_std(
    X: Tensor,
    y: Tensor,
    weight: Tensor,
    alpha: float = 1.0,
    *,
    feature_mask: Tensor | None = None,
) -> Tensor:
    """Analytic standard deviation of weighted ridge coefficients (the sandwich estimator).

    ``Var(β) = σ² A⁻¹ G A⁻¹`` with ``G = Xcᵀ W Xc`` over the fitted features,
    ``A = G + alpha I`` and ``σ² = Σ w r² / (n - p - 1)`` from the ridge's own residuals
    (``n`` rows with positive weight, ``p`` fitted features). Visani et al. take ``σ²``
    from an unpenalised fit; with lime's ``alpha = 1`` against ``Σw`` in the hundreds the
    two agree closely.

    Args:
        X: (B, N, K) bool or float design.
        y: (B, N, T) float scores.
        weight: (B, N) float sample weights.
        alpha: ridge penalty, > 0.
        feature_mask: (B, K) or (B, T, K) bool fitted features (None: all).

    Returns:
        (B, T, K) float, 0 outside ``feature_mask``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> X = torch.rand(1, 400, 3, generator=g) < 0.5
        >>> y = X.double() @ torch.tensor([[1.0], [2.0], [0.0]], dtype=torch.float64)
        >>> y = y + 0.1 * torch.randn(1, 400, 1, generator=g, dtype=torch.float64)
        >>> ridge_std(X, y, torch.ones(1, 400)).shape
        torch.Size([1, 1, 3])
    """
    if alpha <= 0:
        raise ValueError(f"ridge_std needs alpha > 0; got {alpha}")
    t, kk = y.shape[-1], X.shape[-1]
    mask = _per_target_mask(feature_mask, X, t)  # (B, T, K)
    moments = weighted_moments(X, y, weight)
    fit = ridge_from_moments(moments, alpha, feature_mask=mask)
    gram = moments.gram
    rss = _rss(moments, fit.coef)  # (B, T)
    w = weight.to(torch.float64)
    dof = (w > 0).sum(-1, keepdim=True) - mask.sum(-1) - 1
    sigma2 = rss / dof.clamp(min=1)
    pair = mask[..., :, None] & mask[..., None, :]
    g = torch.where(pair, gram[:, None], 0.0)
    eye = torch.eye(kk, dtype=torch.float64, device=X.device)
    a = g + torch.where(mask, alpha, 1.0)[..., None] * eye
    chol, _ = torch.linalg.cholesky_ex(a)
    a_inv = torch.cholesky_inverse(chol)
    var = (a_inv @ g @ a_inv).diagonal(dim1=-2, dim2=-1) * sigma2[..., None]
    out_dtype = torch.promote_types(y.dtype, torch.float32)
    return torch.where(mask, var.clamp(min=0).sqrt(), 0.0).to(out_dtype)


# --------------------------------------------------------------------------- adaptive


def adaptive_sampling(
    draw: Callable[[Tensor, int], tuple[Tensor, Tensor]],
    weigh: Callable[[Tensor, Tensor], Tensor],
    masks: Tensor,
    scores: Tensor,
    n_features: Tensor,
    *,
    k: int = 5,
    max_samples: int = 10_000,
    confidence: float = 0.95,
    n_boot: int = 200,
    alpha: float = 1.0,
    design: str = "iid",
    generator: torch.Generator | None = None,
) -> AdaptiveResult:
    """Sample in rounds until each example's top-k boundary is resolved or the budget is spent.

    After each round a bootstrap (:func:`gap_test`) asks, for every example and target,
    whether the gap between the k-th and (k+1)-th ``|coef|`` is significant. Examples
    that are resolved for all their targets stop; the others get more samples, as S-LIME
    does (Zhou et al., 2021), up to ``min(n_needed, 2 n, max_samples)`` in total, but
    earlier samples are kept and only the additional ones are drawn and scored. An
    example still unresolved at ``max_samples`` is reported as a tie (``resolved`` False)
    rather than pretending to a certain top k. One host sync per round decides who goes on.

    Args:
        draw: ``draw(index, n_extra)`` draws and scores ``n_extra`` new samples for the
            examples ``index`` ((B',) int64): returns masks (B', n_extra, K) and scores
            (B', n_extra, T).
        weigh: ``weigh(masks, index)`` sample weights (B', N') of masks (B', N', K) of the
            examples ``index`` (the kernel; ones for a kernel-folded sampler).
        masks: (B, N0, K) bool first-round samples, row 0 the original.
        scores: (B, N0, T) float their scores.
        n_features: (B,) int64 valid features.
        k: size of the top set to resolve.
        max_samples: the budget per example, the original included (>= N0).
        confidence: one-sided confidence of the gap test.
        n_boot: bootstrap replicates per round.
        alpha: the ridge penalty of the surrogate.
        design: how the sampler draws (``"iid"``, ``"paired"``, ``"stratified"``; see
            :func:`stability_report`); paired rounds add an even number of samples.
        generator: source of randomness for the bootstrap, on the samples' device.

    Returns:
        :class:`AdaptiveResult`.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> truth = torch.tensor([5.0, 4.0, 1.0, 0.9, 0.0])  # a near-tie at k = 3
        >>> def score(m):
        ...     noise = 0.5 * torch.randn(*m.shape[:2], 1, generator=g)
        ...     return (m.float() @ truth)[..., None] + noise
        >>> def draw(index, n):
        ...     m = torch.rand(len(index), n, 5, generator=g) < 0.5
        ...     return m, score(m)
        >>> m0 = torch.rand(2, 50, 5, generator=g) < 0.5
        >>> out = adaptive_sampling(draw, lambda m, i: torch.ones(m.shape[:2]), m0, score(m0),
        ...                         torch.tensor([5, 5]), k=3, max_samples=4000, generator=g)
        >>> out.resolved.tolist(), out.n_samples.tolist()
        ([[True], [True]], [400, 400])
    """
    b, n, kk = masks.shape
    device = masks.device
    generator = _generator(generator, device)
    if max_samples < n:
        raise ValueError(f"max_samples must be >= the first round's {n} samples; got {max_samples}")
    all_rows = torch.arange(b, device=device)
    weights = weigh(masks, all_rows)
    resolved = torch.zeros(b, scores.shape[-1], dtype=torch.bool, device=device)
    n_used = torch.full((b,), n, dtype=torch.long, device=device)
    active = all_rows
    n_cur = n
    valid_features = torch.arange(kk, device=device) < n_features[:, None]
    while True:
        sub = (masks[active], scores[active], weights[active])
        coef = weighted_ridge(*sub, alpha, feature_mask=valid_features[active]).coef
        boot = _bootstrap_coef(
            *sub,
            valid_features[active],
            n_features[active],
            alpha,
            n_boot,
            "multinomial",
            design,
            generator,
            2**23,
        )
        n_active = n_used[active]
        _, _, needed, ok = gap_test(
            coef, boot, k, n_active, n_features=n_features[active], confidence=confidence
        )
        resolved[active] = ok
        going = ~ok.all(-1)
        goal = torch.where(going[:, None], needed, 0.0).amax().clamp(max=2.0 * n_cur)
        step = torch.stack([goal.ceil() - n_cur, going.sum().to(goal.dtype)])
        n_extra, n_going = (int(v) for v in step.tolist())  # the round's one host sync
        n_extra = min(max(n_extra, 2), max_samples - n_cur)
        if design == "paired":
            n_extra -= n_extra % 2
        if n_going == 0 or n_extra < 1:
            break
        active = active[going]
        new_masks, new_scores = draw(active, n_extra)
        rows = masks.shape[1]
        masks = _grow(masks, active, new_masks, rows)
        scores = _grow(scores, active, new_scores.to(scores.dtype), rows)
        new_weights = weigh(masks[active], active)
        weights = _grow(weights, active, new_weights[:, rows:].to(weights.dtype), rows)
        n_used[active] += n_extra
        n_cur += n_extra
    return AdaptiveResult(masks, scores, weights, resolved, n_used)


# --------------------------------------------------------------------------- kernel widths


def kernel_width_sweep(
    exp: Any, kernel_widths: Sequence[float] | Tensor, *, alpha: float = 1.0
) -> RidgeFit:
    """Refit an explanation's surrogate at many kernel widths, from the same model outputs.

    Only the sample weights depend on the width, so the W refits are one batched
    :func:`~torchlime.functional.weighted_ridge` with a leading width dimension and no
    model call (OptiLIME's search, done exhaustively). Weights are lime's kernel on the
    cosine distance of the kept masks; padding rows (weight 0) stay out.

    Args:
        exp: an explanation made with ``keep_samples=True`` (lime's weighted sampling).
        kernel_widths: W widths, each > 0.
        alpha: the explainer's ridge penalty.

    Returns:
        :class:`~torchlime.functional.RidgeFit` with coef (W, B, T, K), intercept and
        score (W, B, T): the weighted R² per width, to pick one by (OptiLIME: the largest
        width whose R² reaches a target).

    Example:
        >>> from torch import nn
        >>> from torchlime import Grid, LimeImage
        >>> model = nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(12, 3))
        >>> exp = LimeImage(model, segmenter=Grid(8, 8), n_samples=100, progress=False)(
        ...     torch.rand(1, 3, 16, 16), keep_samples=True)
        >>> kernel_width_sweep(exp, [0.1, 0.25, 1.0]).score.shape
        torch.Size([3, 1, 1])
    """
    masks, scores, weights = _samples(exp, "kernel_width_sweep")
    widths = [float(w) for w in kernel_widths]
    if not widths:
        raise ValueError("kernel_widths must hold at least one width")
    distance = cosine_distance(masks, exp.n_features)
    live = (weights > 0).to(torch.float64)
    stacked = torch.stack([exponential_kernel(distance, w) * live for w in widths])
    return weighted_ridge(masks, scores, stacked, alpha, feature_mask=exp.selected)


# --------------------------------------------------------------------------- Bayesian ridge


def bayesian_ridge(
    X: Tensor,
    y: Tensor,
    weight: Tensor,
    *,
    n_iter: int = 300,
    alpha_1: float = 1e-6,
    alpha_2: float = 1e-6,
    lambda_1: float = 1e-6,
    lambda_2: float = 1e-6,
    feature_mask: Tensor | None = None,
) -> BayesianRidgeFit:
    """Bayesian ridge regression with sample weights (BayLIME's surrogate), batched.

    Equal to scikit-learn's ``BayesianRidge(max_iter=n_iter, tol=0).fit(X, y,
    sample_weight)`` for each example and target: a Gaussian prior ``β ~ N(0, 1/λ)``, noise
    precision ``α``, both chosen by evidence maximisation (MacKay's fixed-point updates
    with Gamma hyper-priors). One batched ``eigh`` of the weighted Gram matrix, then
    ``n_iter`` updates of (B, T) scalars in the eigenbasis: a fixed count, no convergence
    test, so no host sync. The posterior covariance ``(λ I + α XᵀWX)⁻¹`` gives each
    coefficient's standard deviation.

    One guard differs from scikit-learn: the noise update's residual degrees of freedom
    ``Σw - γ`` are floored at 0. They turn negative only when the weights sum to less than
    the number of well-determined parameters (e.g. fewer samples than features with lime's
    weights), where scikit-learn returns a negative precision and NaN deviations.

    Args:
        X: (..., N, K) bool or float design.
        y: (..., N, T) float targets.
        weight: (..., N) float sample weights (0 drops a row).
        n_iter: evidence iterations (scikit-learn's default ``max_iter`` is 300).
        alpha_1: shape of the Gamma hyper-prior on ``α``.
        alpha_2: rate of the Gamma hyper-prior on ``α``.
        lambda_1: shape of the Gamma hyper-prior on ``λ``.
        lambda_2: rate of the Gamma hyper-prior on ``λ``.
        feature_mask: (..., K) or (..., T, K) bool features in the model (None: all).

    Returns:
        :class:`BayesianRidgeFit`, fields (..., T[, K]) in ``y``'s dtype (at least float32).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> X = torch.rand(200, 2, generator=g, dtype=torch.float64)
        >>> noise = 0.01 * torch.randn(200, 1, generator=g, dtype=torch.float64)
        >>> y = (X @ torch.tensor([2.0, -1.0], dtype=torch.float64))[:, None] + noise
        >>> fit = bayesian_ridge(X, y, torch.ones(200, dtype=torch.float64))
        >>> [round(c, 2) for c in fit.coef[0].tolist()], bool((fit.coef_std < 0.01).all())
        ([2.0, -1.0], True)
    """
    if n_iter < 0:
        raise ValueError(f"n_iter must be >= 0; got {n_iter}")
    if X.ndim < 2 or y.ndim < 2 or y.shape[-2] != X.shape[-2] or weight.shape[-1] != X.shape[-2]:
        raise ValueError(
            f"bayesian_ridge needs X (..., N, K), y (..., N, T) and weight (..., N); got "
            f"shapes {tuple(X.shape)}, {tuple(y.shape)} and {tuple(weight.shape)}"
        )
    out_dtype = torch.promote_types(y.dtype, torch.float32)
    t = y.shape[-1]
    moments = weighted_moments(X, y, weight)
    gram, rhs, xm, ym = moments.gram, moments.cross, moments.x_mean, moments.y_mean
    mask = _per_target_mask(feature_mask, X, t)  # (..., T, K)
    pair = mask[..., :, None] & mask[..., None, :]
    g = torch.where(pair, gram[..., None, :, :], 0.0)  # (..., T, K, K)
    evals, evecs = torch.linalg.eigh(g)
    evals = evals.clamp(min=0)
    b_rot = (evecs.mT @ torch.where(mask, rhs.mT, 0.0)[..., None])[..., 0]  # (..., T, K)
    w = weight.to(torch.float64)
    sw = w.sum(-1)[..., None]  # (..., 1)
    y_var = moments.yy / sw  # (..., T)
    # The residual of the unpenalised fit, once: later SSEs add only a well-conditioned term.
    cutoff = evals.amax(-1, keepdim=True) * evals.shape[-1] * torch.finfo(torch.float64).eps
    inv = torch.where(evals > cutoff, 1.0 / torch.where(evals > cutoff, evals, 1.0), 0.0)
    ols = (evecs @ (inv * b_rot)[..., None])[..., 0]
    sse0 = _rss(moments, ols)

    def update(noise: Tensor, prior: Tensor) -> tuple[Tensor, Tensor]:
        ratio = (prior / noise)[..., None]
        c_rot = b_rot / (evals + ratio)
        sse = sse0 + (inv * (b_rot * ratio / (evals + ratio)) ** 2).sum(-1)
        return c_rot, sse

    noise = 1.0 / (y_var + torch.finfo(torch.float64).eps)
    prior = torch.ones_like(noise)
    for _ in range(n_iter):
        c_rot, sse = update(noise, prior)
        gamma = (noise[..., None] * evals / (prior[..., None] + noise[..., None] * evals)).sum(-1)
        prior = (gamma + 2 * lambda_1) / ((c_rot**2).sum(-1) + 2 * lambda_2)
        noise = ((sw - gamma).clamp(min=0) + 2 * alpha_1) / (sse + 2 * alpha_2)
    c_rot, _ = update(noise, prior)
    coef = torch.where(mask, (evecs @ c_rot[..., None])[..., 0], 0.0)
    var = (evecs**2 / (noise[..., None] * evals + prior[..., None])[..., None, :]).sum(-1)
    std = torch.where(mask, var.sqrt(), 0.0)
    intercept = ym - (xm[..., None, :] * coef).sum(-1)
    score = _r2(moments, _rss(moments, coef))
    return BayesianRidgeFit(
        coef.to(out_dtype),
        intercept.to(out_dtype),
        score.to(out_dtype),
        std.to(out_dtype),
        noise.to(out_dtype),
        prior.to(out_dtype),
    )


# --------------------------------------------------------------------------- helpers


def _samples(exp: Any, where: str) -> tuple[Tensor, Tensor, Tensor]:
    if getattr(exp, "masks", None) is None or exp.scores is None or exp.weights is None:
        raise ValueError(
            f"{where} needs the explanation's samples: explain with keep_samples=True "
            "(masks (B, N, K), scores (B, N, T) and weights (B, N) are kept on it)"
        )
    return exp.masks, exp.scores, exp.weights


def _generator(generator: torch.Generator | None, device: torch.device) -> torch.Generator:
    return resolve_generator(generator, device)[0]


def _valid(coef: Tensor, n_features: Tensor | None, lead: int = 0) -> Tensor:
    """Bool mask of valid features, broadcastable to ``coef`` (..., K).

    ``n_features`` names the dimensions of ``coef`` that follow the first ``lead`` ones
    (e.g. (B,) for (R, B, T, K) coefficients with ``lead=1``).
    """
    columns = torch.arange(coef.shape[-1], device=coef.device)
    if n_features is None:
        return torch.ones_like(columns, dtype=torch.bool)
    n = n_features.to(coef.device)
    if n.ndim > coef.ndim - 1 - lead or tuple(n.shape) != tuple(coef.shape[lead : lead + n.ndim]):
        raise ValueError(
            f"n_features must have the shape of coef's leading dimensions "
            f"{tuple(coef.shape[lead:-1])} or a prefix of them; got {tuple(n.shape)}"
        )
    n = n.reshape(*n.shape, *([1] * (coef.ndim - 1 - lead - n.ndim)))
    return columns < n[..., None]


def _float(t: Tensor) -> torch.dtype:
    """The result dtype for statistics of ``t``: its own if floating, at least float32."""
    return torch.promote_types(t.dtype, torch.float32)


def _check_replicates(coef: Tensor, where: str) -> None:
    if coef.ndim < 2 or coef.shape[0] < 2:
        raise ValueError(
            f"{where} needs coefficients (R, ..., K) with R >= 2 replicates; "
            f"got shape {tuple(coef.shape)}"
        )


def _pair_overlaps(coef: Tensor, k: int, n_features: Tensor | None) -> tuple[Tensor, Tensor]:
    """Top-k intersections (..., R, R) between replicates and the set sizes (..., R)."""
    _check_replicates(coef, "pairwise stability")
    top = _top_k(coef, k, n_features, 1).movedim(0, -2).to(torch.float64)  # (..., R, K)
    return top @ top.mT, top.sum(-1)


def _mean_off_diagonal(m: Tensor) -> Tensor:
    """Mean of the off-diagonal entries of (..., R, R)."""
    r = m.shape[-1]
    return (m.sum((-2, -1)) - m.diagonal(dim1=-2, dim2=-1).sum(-1)) / (r * (r - 1))


def _average_ranks(values: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
    """1-based ranks among valid entries, ties sharing their mean, and ``Σ (t³ - t)``.

    Pairwise comparisons (O(K²) per row, fine for superpixel counts): the rank of ``v`` is
    ``1 + #{u < v} + (#{u == v} - 1) / 2``. Also returns each row's tie term, from each
    entry's tie-group size ``c`` as ``Σ (c² - 1)``.
    """
    v = values.to(torch.float64)
    pair = valid[..., None, :] & valid[..., :, None]
    less = ((v[..., None, :] < v[..., :, None]) & pair).sum(-1)
    equal = ((v[..., None, :] == v[..., :, None]) & pair).sum(-1)
    ranks = 1 + less + (equal - 1) / 2
    ties = torch.where(valid, equal.double() ** 2 - 1, 0.0).sum(-1)
    return torch.where(valid, ranks, 0.0), ties


def _normal_quantile(p: float) -> float:
    """The standard normal quantile, a Python float (no tensor, no transfer)."""
    if not 0 < p < 1:
        raise ValueError(f"confidence must be in (0, 1); got a quantile {p}")
    return statistics.NormalDist().inv_cdf(p)


def _quantile(x: Tensor, q: float) -> Tensor:
    """Linear-interpolation quantile along dim 0 (NumPy's default), without size limits."""
    s = x.sort(0).values
    pos = q * (x.shape[0] - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, x.shape[0] - 1)
    return torch.lerp(s[lo], s[hi], pos - lo)


def _per_target_mask(feature_mask: Tensor | None, X: Tensor, t: int) -> Tensor:
    """Feature mask as (..., T, K) bool."""
    k = X.shape[-1]
    if feature_mask is None:
        return torch.ones(*X.shape[:-2], t, k, dtype=torch.bool, device=X.device)
    if feature_mask.ndim == X.ndim - 1:
        feature_mask = feature_mask[..., None, :]
    return feature_mask.expand(*feature_mask.shape[:-2], t, k)


def _bootstrap_coef(
    masks: Tensor,
    scores: Tensor,
    weights: Tensor,
    feature_mask: Tensor,
    n_features: Tensor,
    alpha: float,
    n_boot: int,
    method: str,
    design: str,
    generator: torch.Generator,
    max_elements: int,
) -> Tensor:
    """(R, B, T, K) refits on bootstrap weights, chunked over replicates to bound memory."""
    if design not in DESIGNS:
        raise ValueError(f"design must be one of {DESIGNS}; got {design!r}")
    strata = None
    if design == "stratified":
        valid = torch.arange(masks.shape[-1], device=masks.device) < n_features[:, None, None]
        strata = (masks & valid).sum(-1)
    replicate_weights = bootstrap_weights(
        weights,
        n_boot,
        method=method,
        pairs=design == "paired",
        strata=strata,
        generator=generator,
    )
    b, n, kk = masks.shape
    per_replicate = b * n * max(kk, scores.shape[-1])
    chunk = max(1, max_elements // max(per_replicate, 1))
    fits = [
        weighted_ridge(
            masks, scores, replicate_weights[i : i + chunk], alpha, feature_mask=feature_mask
        ).coef
        for i in range(0, n_boot, chunk)
    ]
    return torch.cat(fits)


def _looks_paired(masks: Tensor, weights: Tensor, n_features: Tensor) -> bool:
    """Whether live rows 2j + 1 and 2j + 2 complement each other on valid features (one sync)."""
    pairs = (masks.shape[1] - 1) // 2
    if pairs == 0:
        return False
    valid = torch.arange(masks.shape[2], device=masks.device) < n_features[:, None, None]
    first, second = masks[:, 1 : 1 + 2 * pairs : 2], masks[:, 2 : 2 + 2 * pairs : 2]
    live = (weights[:, 1 : 1 + 2 * pairs : 2] > 0)[..., None]
    return bool(((first ^ second) | ~valid | ~live).all())


def _grow(t: Tensor, index: Tensor, new: Tensor, rows: int) -> Tensor:
    """Append ``new`` (B', M, ...) after row ``rows`` for examples ``index``; zeros elsewhere."""
    pad = t.new_zeros(t.shape[0], new.shape[1], *t.shape[2:])
    out = torch.cat([t, pad], 1)
    out[index, rows:] = new
    return out
