"""Tabular sampling: lime's perturbations of table rows, batched on the rows' device.

Every column goes through one table-driven pipeline fed by one uniform ``u`` per value: a
discretized or categorical column picks the bin / value whose slot of the training
frequencies ``u`` falls in; a discretized column's value is then a normal with the bin's
mean and standard deviation truncated to the bin (lime's ``undiscretize``), by the inverse
CDF of ``u``'s position inside the slot (itself uniform). A continuous column is a single
untruncated bin: ``N(0, 1) * scale + mean`` (``+ x`` with ``sample_around_instance``), a
categorical value a zero-width one.

The samplers differ only in their uniforms, so every one keeps each column's law:

- ``"lime"``: independent uniforms (lime's sampling);
- ``"paired"``: antithetic pairs, ``u`` then ``1 - u`` (mirror quantiles of every column);
- ``"stratified"``: a Latin hypercube, each column's N - 1 uniforms one per stratum
  ``[i / (N - 1), (i + 1) / (N - 1))``, in random order;
- ``"binomial"`` (GLIME): lime's kernel folded into the law, so the samples are fitted
  with unit weights. The tabular kernel ``exp(-d² / (2 w²))`` on the euclidean distance
  of the representation factorises over columns, so the tilted law is exact column by
  column: a binary column stays in the row's bin with its frequency re-weighted by
  ``exp(1 / (2 w²))`` against the other bins (a piecewise-linear map of ``u``), and a
  continuous column is the product of two normals, ``N(μ', σ'²)`` with
  ``1 / σ'² = 1 + 1 / w²``.

Masks over columns (a custom sampler's, (B, N, D) bool: True keeps the row's bin or
value) are honoured the same way: ``u`` is drawn inside, or outside, the row's slot.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from torchlime._random import resolve_generator
from torchlime.functional.tabular import (
    TabularStats,
    instance_representation,
    row_bins,
)

__all__ = [
    "TABULAR_SAMPLERS",
    "TabularPool",
    "TabularSamples",
    "sample_tabular",
    "sample_tabular_pool",
]

TABULAR_SAMPLERS = ("lime", "paired", "stratified", "binomial")


class TabularSamples(NamedTuple):
    """Perturbations of B rows: what the model sees and what the surrogate sees."""

    values: Tensor
    """(B, N, D) rows for the model, in ``x``'s dtype; row 0 is ``x``."""
    X: Tensor
    """(B, N, D) interpretable samples: bool when every column is discretized or
    categorical, else ``x``'s floating dtype; row 0 is the instance."""


class TabularPool(NamedTuple):
    """One set of perturbations shared by B rows (:func:`sample_tabular_pool`)."""

    pool: Tensor
    """(N - 1, D) perturbed rows for the model, the same for every row."""
    X: Tensor
    """(B, N, D) each row's interpretable samples (row 0: the instance)."""


def sample_tabular(
    x: Tensor,
    stats: TabularStats,
    n_samples: int,
    *,
    sample_around_instance: bool = False,
    sampler: str = "lime",
    kernel_width: float | None = None,
    masks: Tensor | None = None,
    shared: bool = False,
    generator: torch.Generator | None = None,
) -> TabularSamples:
    """Draw lime's tabular perturbations around every row, on ``x``'s device.

    Args:
        x: (B, D) float rows.
        stats: :class:`~torchlime.functional.TabularStats` (moved to ``x``'s device).
        n_samples: N >= 1 samples per row, row 0 included.
        sample_around_instance: centre continuous columns on the row, not the mean.
        sampler: one of ``TABULAR_SAMPLERS`` (see the module docstring).
        kernel_width: the tabular kernel's width, for ``"binomial"`` only.
        masks: (B, N, D) bool, which columns keep the row's bin or value (row 0 ignored),
            instead of a sampler; every column must be discretized or categorical.
        shared: every row reads the same uniforms (common random numbers).
        generator: source of randomness on ``x``'s device (None: a fresh seed).

    Returns:
        :class:`TabularSamples` with values (B, N, D) and X (B, N, D).

    Raises:
        ValueError: for an unknown sampler, ``"binomial"`` without a width, or masks of
            the wrong shape or over continuous columns.

    Example:
        >>> from torchlime.functional import tabular_stats
        >>> stats = tabular_stats(torch.randn(50, 3, generator=torch.Generator().manual_seed(0)))
        >>> g = torch.Generator().manual_seed(1)
        >>> s = sample_tabular(torch.zeros(2, 3), stats, 10, generator=g)
        >>> s.values.shape, s.X.dtype, bool(s.X[:, 0].all())
        (torch.Size([2, 10, 3]), torch.bool, True)
    """
    if sampler not in TABULAR_SAMPLERS:
        raise ValueError(f"sampler must be one of {TABULAR_SAMPLERS}; got {sampler!r}")
    generator, _ = resolve_generator(generator, x.device)
    b, d = x.shape
    per = n_samples - 1
    tilt = _kernel_width(sampler, kernel_width)
    plan = _plan(stats, x, sample_around_instance, tilt)
    if masks is not None:
        masks = _check_masks(masks, plan, b, n_samples, d)
    values = x.new_empty(b, n_samples, d)
    values[:, 0] = x
    X = torch.empty(b, n_samples, d, dtype=x.dtype if plan.mixed else torch.bool, device=x.device)
    X[:, 0] = instance_representation(x, stats) if plan.mixed else True
    if per == 0:
        return TabularSamples(values, X)
    budget = _GROUP_ELEMENTS_CUDA if x.is_cuda else _GROUP_ELEMENTS
    rows = b if shared else max(1, budget // (per * d))
    u_shared = _uniforms(sampler, (1, per, d), x.dtype, generator) if shared else None
    # Groups of rows bound the temporaries. Each group draws its rows' uniforms in row
    # order, so on the CPU a row's samples depend on the seed and its index only, not on
    # the grouping or on B.
    for g0 in range(0, b, rows):
        g1 = min(b, g0 + rows)
        out = values[g0:g1, 1:]
        if u_shared is None:
            u = _uniforms(sampler, tuple(out.shape), x.dtype, generator)
        else:
            u = u_shared.expand(g1 - g0, -1, -1).clone()
        if tilt is not None:
            u = _tilt(u, plan, g0, g1)
        if masks is not None:
            u = _conditional(u, masks[g0:g1, 1:], plan, g0, g1)
        j = _values(plan, u, out=out)
        if plan.shift is not None:
            out += plan.shift[g0:g1, None, :]
        _represent(plan, out, j, plan.row_bin[g0:g1, None, :], out=X[g0:g1, 1:])
    return TabularSamples(values, X)


def sample_tabular_pool(
    x: Tensor,
    stats: TabularStats,
    n_samples: int,
    *,
    sampler: str = "lime",
    generator: torch.Generator | None = None,
) -> TabularPool:
    """One set of N - 1 perturbations for every row: lime's law for each row, one model pass.

    Without ``sample_around_instance`` lime's perturbations do not depend on the row: only
    their interpretable representation (same bin as the row?) does. So one set serves the
    whole batch and the model runs on it once. The perturbations are those
    :func:`sample_tabular` draws for ``x[:1]`` with the same generator.

    Args:
        x: (B, D) float rows.
        stats: :class:`~torchlime.functional.TabularStats`.
        n_samples: N >= 2 samples per row, row 0 included.
        sampler: ``"lime"``, ``"paired"`` or ``"stratified"`` (``"binomial"`` tilts each
            row's law towards its own bins: its perturbations depend on the row).
        generator: source of randomness on ``x``'s device (None: a fresh seed).

    Returns:
        :class:`TabularPool`: pool (N - 1, D) and X (B, N, D).

    Example:
        >>> from torchlime.functional import tabular_stats
        >>> stats = tabular_stats(torch.randn(50, 3, generator=torch.Generator().manual_seed(0)))
        >>> p = sample_tabular_pool(torch.zeros(4, 3), stats, 10)
        >>> p.pool.shape, p.X.shape
        (torch.Size([9, 3]), torch.Size([4, 10, 3]))
    """
    if sampler not in ("lime", "paired", "stratified"):
        raise ValueError(
            f"a shared pool needs perturbations that do not depend on the row: sampler "
            f"'lime', 'paired' or 'stratified'; got {sampler!r}"
        )
    generator, _ = resolve_generator(generator, x.device)
    plan = _plan(stats, x, False, None)
    b, d = x.shape
    pool = x.new_empty(n_samples - 1, d)
    j = _values(plan, _uniforms(sampler, (n_samples - 1, d), x.dtype, generator), out=pool)
    X = torch.empty(b, n_samples, d, dtype=x.dtype if plan.mixed else torch.bool, device=x.device)
    X[:, 0] = instance_representation(x, stats) if plan.mixed else True
    _represent(plan, pool[None], j[None], plan.row_bin[:, None, :], out=X[:, 1:])
    return TabularPool(pool, X)


# --------------------------------------------------------------------------- the pipeline

_GROUP_ELEMENTS = 1 << 21
_GROUP_ELEMENTS_CUDA = 1 << 24
_SQRT2 = math.sqrt(2.0)


class _Plan(NamedTuple):
    """Per-column lookup tables for the sampling pipeline, in ``x``'s dtype."""

    thresholds: Tensor  # (V-1, D) a uniform u picks bin #{v : u >= thresholds[v]}
    table: Tensor  # (V, D, 4) offset, slope, centre, spread, packed for one gather
    shift: Tensor | None  # (B, D) added to continuous columns (around the row; GLIME's mean)
    row_bin: Tensor  # (B, D) int64 the row's bin / value index (0 for continuous)
    start: Tensor  # (B, D) where the row's bin's slot starts in [0, 1)
    width: Tensor  # (B, D) its frequency (the slot's width)
    continuous: Tensor  # (D,) bool
    mean: Tensor  # (D,) for the standardised representation of continuous columns
    scale: Tensor  # (D,)
    mixed: bool  # some continuous column: X is float
    odds: float  # GLIME: a binary column leaves the row's bin exp(-1 / (2 w^2)) times as often


def _plan(stats: TabularStats, x: Tensor, around: bool, tilt: float | None) -> _Plan:
    """Fold the statistics into the tables the sampler gathers from (float64, then cast).

    For a uniform ``u`` in bin ``j``'s frequency slot, ``q = offset[j] + slope[j] * u``
    runs over ``(2 Phi(a_j) - 1, 2 Phi(b_j) - 1)`` and
    ``centre[j] + spread[j] * erfinv(q)`` is the truncated normal's inverse CDF.
    """
    st = TabularStats(*(t.to(x.device) for t in stats))
    f64 = torch.float64
    freq = st.freq.to(f64)
    has = (freq > 0).int()
    later = has.flip(1).cumsum(1).flip(1) - has  # bins with mass after this one
    cdf = torch.where(later > 0, freq.cumsum(1), 1.0)  # exactly 1 once no mass is left
    start = cdf - freq
    mean, std = st.bin_mean.to(f64), st.bin_std.to(f64)
    phi_a = torch.special.ndtr((st.bin_lo.to(f64) - mean) / std)
    phi_b = torch.special.ndtr((st.bin_hi.to(f64) - mean) / std)
    slope = torch.where(freq > 0, 2.0 * (phi_b - phi_a) / freq.clamp(min=1e-300), 0.0)
    offset = 2.0 * phi_a - 1.0 - start * slope
    centre, spread = mean, _SQRT2 * std
    # a categorical value is a zero-width bin: the value itself
    cat = st.categorical[:, None]
    offset, slope = torch.where(cat, 0.0, offset), torch.where(cat, 0.0, slope)
    centre, spread = torch.where(cat, st.values.to(f64), centre), torch.where(cat, 0.0, spread)
    # a continuous column is one untruncated bin: q = 2u - 1, value = mean + scale * z
    continuous = ~(st.discretized | st.categorical)
    cont = continuous[:, None]
    mixed = bool(continuous.any())
    around = around and mixed
    # GLIME on a continuous column: z ~ N(m0, 1) times exp(-(z - z0)^2 / (2 w^2)) is
    # N((m0 + z0 / w^2) s2, s2) with s2 = 1 / (1 + 1 / w^2); z0 is the row's standard score.
    s2 = 1.0 if tilt is None else 1.0 / (1.0 + 1.0 / tilt**2)
    offset, slope = torch.where(cont, -1.0, offset), torch.where(cont, 2.0, slope)
    centre = torch.where(cont, 0.0 if around else st.mean.to(f64)[:, None], centre)
    spread = torch.where(cont, _SQRT2 * math.sqrt(s2) * st.scale.to(f64)[:, None], spread)
    thresholds = torch.where(cont, 2.0, cdf)[:, :-1]
    table = torch.stack([offset, slope, centre, spread], -1).transpose(0, 1)  # (V, D, 4)
    row_bin = torch.where(continuous, 0, row_bins(x, st))
    shift = torch.where(continuous, x, 0.0) if around else None
    if tilt is not None and mixed:
        z0 = (x.to(f64) - st.mean.to(f64)) / st.scale.to(f64)
        m0 = z0 if around else torch.zeros_like(z0)
        # value = mean + scale * (the tilted normal's mean) + spread * erfinv(2u - 1); the
        # table's centre is the mean, or 0 around the row (then the shift carries the mean)
        moved = st.scale.to(f64) * (m0 + z0 / tilt**2) * s2
        centre_of_table = st.mean.to(f64) if around else 0.0
        shift = torch.where(continuous, moved + centre_of_table, 0.0).to(x.dtype)
    return _Plan(
        thresholds=thresholds.T.to(x.dtype).contiguous(),
        table=table.to(x.dtype).contiguous(),
        shift=shift,
        row_bin=row_bin,
        start=start.gather(1, row_bin.T).T,
        width=freq.gather(1, row_bin.T).T,
        continuous=continuous,
        mean=st.mean.to(x.dtype),
        scale=st.scale.to(x.dtype),
        mixed=mixed,
        odds=0.0 if tilt is None else math.exp(-1.0 / (2.0 * tilt**2)),
    )


def _uniforms(
    sampler: str, shape: tuple[int, ...], dtype: torch.dtype, generator: torch.Generator
) -> Tensor:
    """(..., M, D) uniforms in [0, 1) for M samples of D columns, as ``sampler`` draws them."""
    device = generator.device
    if sampler == "paired":  # u, 1 - u, u', 1 - u', ...
        m = shape[-2]
        half = torch.rand(*shape[:-2], -(-m // 2), shape[-1], generator=generator, device=device)
        both = torch.stack([half, 1.0 - half], -2).flatten(-3, -2)[..., :m, :]
        return both.to(dtype).clamp_(max=1.0 - torch.finfo(dtype).eps)
    u = torch.empty(shape, dtype=dtype, device=device).uniform_(generator=generator)
    if sampler == "stratified":  # a Latin hypercube over the M samples of each column
        keys = torch.rand(shape, generator=generator, device=device)
        stratum = keys.argsort(-2).to(dtype)
        u = ((stratum + u) / shape[-2]).clamp_(max=1.0 - torch.finfo(dtype).eps)
    return u


def _tilt(u: Tensor, plan: _Plan, g0: int, g1: int) -> Tensor:
    """GLIME on binary columns: uniforms of the tilted law mapped to the base law's.

    Under the tilted law the row's bin has mass ``p0 / Z`` and every other bin its base
    mass times ``c / Z`` (``c = plan.odds``, ``Z = p0 + c (1 - p0)``): a map that is linear
    on the three pieces before, inside and after the row's slot takes the tilted uniform
    to the base one, which then picks the bin and the value inside it as lime's does.
    """
    start, p0 = plan.start[g0:g1, None, :], plan.width[g0:g1, None, :]
    c = plan.odds
    z = p0 + c * (1.0 - p0)
    a = c * start / z
    b = a + p0 / z
    before = u * z / c
    inside = start + (u - a) * z
    after = start + p0 + (u - b) * z / c
    tilted = torch.where(u < a, before, torch.where(u < b, inside, after)).to(u.dtype)
    limit = 1.0 - torch.finfo(u.dtype).eps
    return torch.where(plan.continuous, u, tilted.clamp_(0.0, limit))


def _conditional(u: Tensor, masks: Tensor, plan: _Plan, g0: int, g1: int) -> Tensor:
    """Uniforms inside the row's slot where ``masks`` keeps its bin, outside elsewhere."""
    start, p0 = plan.start[g0:g1, None, :], plan.width[g0:g1, None, :]
    inside = start + u * p0
    outside = u * (1.0 - p0)
    outside = outside + (outside >= start) * p0
    limit = 1.0 - torch.finfo(u.dtype).eps
    return torch.where(masks, inside, outside).to(u.dtype).clamp_(0.0, limit)


def _values(plan: _Plan, u: Tensor, *, out: Tensor) -> Tensor:
    """Turn uniforms (..., D) into perturbations, written into ``out``; return the bins.

    The index has the values' shape: uint8 for tables of up to 17 entries, else int64.
    """
    thresholds = plan.thresholds
    d = thresholds.shape[1]
    shape = out.shape
    n_thresholds = thresholds.shape[0]
    if n_thresholds <= 16:  # a few compares beat a binary search per value
        j = torch.zeros(shape, dtype=torch.uint8, device=u.device)
        for v in range(n_thresholds):  # over table entries (<= 16), not samples
            j += (u >= thresholds[v]).view(torch.uint8)
    else:
        flat = u.reshape(-1, d).T.contiguous()
        j = torch.searchsorted(thresholds.T.contiguous(), flat, right=True).T.reshape(shape)
    table = _gather_rows(plan.table, j.view(-1, d).long()).view(*shape, 4)
    offset, slope, centre, spread = table.unbind(-1)
    q = torch.addcmul(offset, slope, u)
    limit = 1.0 - torch.finfo(u.dtype).eps
    q.clamp_(-limit, limit).erfinv_()
    torch.addcmul(centre, spread, q, out=out)
    return j


def _represent(plan: _Plan, values: Tensor, j: Tensor, row_bin: Tensor, *, out: Tensor) -> None:
    """Write interpretable samples from drawn values and table indices into ``out``.

    ``values`` and ``j`` broadcast with ``row_bin`` to ``out``'s shape. Binary columns:
    1 where the drawn bin / value is the row's; continuous columns: the standardised
    value. ``out`` is bool when every column is binary.
    """
    if not plan.mixed:
        torch.eq(j, row_bin.to(j.dtype), out=out)
        return
    same = (j == row_bin.to(j.dtype)).to(values.dtype)
    scaled = (values - plan.mean) / plan.scale
    torch.where(plan.continuous, scaled, same, out=out)


_WIDE = {2: torch.int16, 4: torch.int32, 8: torch.int64, 16: torch.complex128}


def _gather_rows(table: Tensor, index: Tensor) -> Tensor:
    """``table[index[m, d], d, :]`` for a (V, D, P) table and (M, D) index: (M, D, P).

    On the CPU the P values of an entry move as one wide word when they fit in 16 bytes
    (one gather instead of P: a gather's cost is in its index, not its width).
    """
    v, d, p = table.shape
    width = p * table.element_size()
    if width in _WIDE and table.device.type == "cpu":  # on GPUs, plain gathers
        wide = table.view(_WIDE[width]).view(v, d)
        return wide.gather(0, index).view(table.dtype).view(*index.shape, p)
    return torch.stack([table[..., i].gather(0, index) for i in range(p)], -1)


def _kernel_width(sampler: str, kernel_width: float | None) -> float | None:
    if sampler != "binomial":
        return None
    if kernel_width is None or not kernel_width > 0:
        raise ValueError(f"sampler='binomial' needs the kernel width (> 0); got {kernel_width}")
    return float(kernel_width)


def _check_masks(masks: Tensor, plan: _Plan, b: int, n: int, d: int) -> Tensor:
    if not isinstance(masks, Tensor) or tuple(masks.shape) != (b, n, d):
        got = tuple(masks.shape) if isinstance(masks, Tensor) else type(masks).__name__
        raise ValueError(f"masks must be (B, N, D) = {(b, n, d)}; got {got}")
    if plan.mixed:
        raise ValueError(
            "masks over columns keep or leave each column's bin: every column must be "
            "discretized or categorical (continuous columns are drawn from a normal)"
        )
    return masks.to(device=plan.row_bin.device, dtype=torch.bool)
