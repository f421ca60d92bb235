"""The bootstrap over an explanation's own samples: zero extra model calls.

The samples an explainer kept (interpretable samples X, scores, weights) are resampled
(:func:`bootstrap_weights`) and the surrogate refitted on every replicate with one batched
:func:`~torchlime.functional.weighted_ridge` whose leading dimension is the replicate
(:func:`bootstrap_coef`). :func:`gap_test` asks whether the top-k boundary is resolved.
The resampling follows the sampler's design: i.i.d. rows, antithetic pairs kept
together, or rows resampled within their stratum.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from torchlime._random import resolve_generator
from torchlime.functional.fit import SurrogateFn, refit
from torchlime.functional.ranking import normal_quantile, top_k_mask, valid_features

__all__ = ["DESIGNS", "bootstrap_coef", "bootstrap_weights", "gap_test", "quantile"]

DESIGNS = ("iid", "paired", "stratified", "exact")
"""How a sampler draws, as the bootstrap must mimic it: independent rows, antithetic row
pairs (``2j + 1, 2j + 2``), rows stratified by their number of kept features, or every
coalition once (an enumeration: nothing to resample, every replicate is the fit)."""


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
    generator, _ = resolve_generator(generator, device)
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
    outside = valid_features(coef, n_features) & ~inside

    def gaps(c: Tensor) -> Tensor:
        low = torch.where(inside, c.abs(), torch.inf).amin(-1)
        high = torch.where(outside, c.abs(), -torch.inf).amax(-1)
        return low - high

    gap = gaps(coef)
    finite = torch.isfinite(gap)
    boot = gaps(coef_boot)
    se = torch.where(finite, torch.where(finite, boot, 0.0).std(0), 0.0)
    z = normal_quantile(confidence)
    resolved = ~finite | (gap > z * se)
    n = n_samples.to(coef.dtype)[:, None]
    ratio = torch.where(gap > 0, z * se / torch.where(gap > 0, gap, 1.0), torch.inf)
    n_needed = torch.where(finite, n * ratio**2, n)
    return gap, se, n_needed, resolved


def bootstrap_coef(
    X: Tensor,
    scores: Tensor,
    weights: Tensor,
    feature_mask: Tensor,
    n_features: Tensor,
    alpha: float,
    n_boot: int = 200,
    *,
    method: str = "multinomial",
    design: str = "iid",
    generator: torch.Generator | None = None,
    max_elements: int = 2**23,
    surrogate: str | SurrogateFn = "ridge",
) -> Tensor:
    """Surrogate refits on bootstrap replicates of the weights, chunked over replicates.

    Feature selection is held fixed (``feature_mask``): the replicates measure the noise
    of the fit, not of the selection.

    Args:
        X: (B, N, K) interpretable samples (bool or float).
        scores: (B, N, T) float model scores.
        weights: (B, N) float sample weights (0: padding rows).
        feature_mask: (B, K) or (B, T, K) bool, the features in the surrogate.
        n_features: (B,) int64 valid features (for the strata of ``"stratified"``).
        alpha: the surrogate's penalty.
        n_boot: R replicates, >= 2.
        method: ``"multinomial"`` or ``"poisson"`` (see :func:`bootstrap_weights`).
        design: one of ``DESIGNS``, as the samples were drawn.
        generator: source of randomness on the samples' device (None: a fresh seed).
        max_elements: memory bound for the temporaries of each chunk of replicates.
        surrogate: the surrogate refitted (``"ridge"``, ``"lasso"``, ...; see
            :func:`~torchlime.functional.refit`).

    Returns:
        (R, B, T, K) coefficients, in ``scores``' floating dtype (at least float32).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> X = torch.rand(1, 200, 3, generator=g) < 0.5
        >>> y = X.double() @ torch.tensor([[1.0], [2.0], [0.0]], dtype=torch.float64)
        >>> boot = bootstrap_coef(X, y, torch.ones(1, 200), torch.ones(1, 3, dtype=torch.bool),
        ...                       torch.tensor([3]), 0.0, 50, generator=g)
        >>> boot.shape, bool(boot.std(0).max() < 1e-6)  # noiseless: every replicate agrees
        (torch.Size([50, 1, 1, 3]), True)
    """
    if design not in DESIGNS:
        raise ValueError(f"design must be one of {DESIGNS}; got {design!r}")
    if design == "exact":  # an enumeration has no sampling noise
        mask = _per_target(feature_mask, scores)
        fit = refit(X, scores, weights, mask, surrogate=surrogate, alpha=alpha).coef
        return fit.expand(n_boot, *fit.shape)
    strata = None
    if design == "stratified":  # strata: the number of kept (valid) features
        valid = torch.arange(X.shape[-1], device=X.device) < n_features[:, None, None]
        strata = (X.bool() & valid).sum(-1)
    replicate_weights = bootstrap_weights(
        weights,
        n_boot,
        method=method,
        pairs=design == "paired",
        strata=strata,
        generator=generator,
    )
    generator, _ = resolve_generator(generator, X.device)
    b, n, kk = X.shape
    per_replicate = b * n * max(kk, scores.shape[-1])
    chunk = max(1, max_elements // max(per_replicate, 1))
    fits = [
        refit(
            X,
            scores,
            replicate_weights[i : i + chunk],
            _per_target(feature_mask, scores),
            surrogate=surrogate,
            alpha=alpha,
        ).coef
        for i in range(0, n_boot, chunk)
    ]
    return torch.cat(fits)


def quantile(x: Tensor, q: float) -> Tensor:
    """Linear-interpolation quantile along dim 0 (NumPy's default), without size limits.

    Example:
        >>> quantile(torch.tensor([1.0, 2.0, 3.0, 4.0]), 0.5)
        tensor(2.5000)
    """
    s = x.sort(0).values
    pos = q * (x.shape[0] - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, x.shape[0] - 1)
    return torch.lerp(s[lo], s[hi], pos - lo)


def _per_target(feature_mask: Tensor, scores: Tensor) -> Tensor:
    """A (B, K) or (B, T, K) feature mask as (B, T, K)."""
    if feature_mask.ndim == 2:
        feature_mask = feature_mask[:, None, :]
    return feature_mask.expand(scores.shape[0], scores.shape[-1], feature_mask.shape[-1])
