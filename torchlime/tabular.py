"""LimeTabular: LIME for tabular models, every row of a batch at once, on the input's device.

lime 0.2.0.1's ``LimeTabularExplainer`` semantics, with its per-row loop and scipy sampling
replaced by batched tensor work:

- **Training statistics** (built once, kept as buffers): a ``StandardScaler``-style mean
  and scale per column, and for every discretized column its bin edges (quartiles,
  deciles or the thresholds of a depth-3 entropy tree), the mean, standard deviation,
  minimum and maximum of the training values in each bin, and how often each bin occurs;
  for every categorical column its values and their frequencies.
- **Sampling** (:func:`sample_tabular`): each discretized or categorical column draws a
  bin / value from the training frequencies; a discretized column then draws its value
  from a normal truncated to that bin (lime's ``undiscretize``), by the inverse CDF; a
  continuous column draws ``N(0, 1) * scale + mean`` (or ``+ x`` with
  ``sample_around_instance``). With ``share_samples=True`` one such set serves every
  row of the call (lime's perturbations never depend on the row; only their
  representation does), and the model runs on it once.
- **Interpretable representation** (:func:`tabular_representation`): 1 where a
  discretized / categorical column falls in the instance's bin / equals its value,
  0 otherwise; continuous columns are standardised ``(value - mean) / scale``.
- **Weights**: lime's exponential kernel on the euclidean distance of each
  representation row to the instance's, width ``0.75 * sqrt(D)`` by default.
- **Surrogate**: the engine's feature selection and weighted ridge (lime's Ridge(alpha=1)).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from torchlime import _engine
from torchlime.explanation import TabularExplanation
from torchlime.functional.kernels import exponential_kernel
from torchlime.functional.sampling import resolve_generator

__all__ = [
    "DISCRETIZERS",
    "MODES",
    "LimeTabular",
    "TabularSamples",
    "TabularStats",
    "discretize",
    "euclidean_distance",
    "sample_tabular",
    "tabular_representation",
    "tabular_stats",
]

DISCRETIZERS = ("quartile", "decile", "entropy")
MODES = ("classification", "regression")
_PERCENTILES = {
    "quartile": (0.25, 0.5, 0.75),
    "decile": (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
}


class TabularStats(NamedTuple):
    """What lime keeps from the training data, as (D, ...) tensors (float64 when built).

    ``E`` is the largest number of bin edges of a discretized column (at least 1), ``V``
    the largest number of bins or categorical values of a column (at least 1). Padding
    edges are ``+inf``; padding bins and values have frequency 0.
    """

    mean: Tensor
    """(D,) column means for standardising; 0 for discretized and categorical columns."""
    scale: Tensor
    """(D,) column standard deviations (1 where constant); 1 for discretized/categorical."""
    discretized: Tensor
    """(D,) bool, columns replaced by their bin."""
    categorical: Tensor
    """(D,) bool, columns given as categorical (integer codes)."""
    edges: Tensor
    """(D, E) sorted distinct bin edges of discretized columns; a value ``v`` is in bin
    ``#{edges < v}``, as lime's ``np.searchsorted``. ``+inf`` padding."""
    bin_mean: Tensor
    """(D, V) mean of the training values in each bin (0 for an empty bin)."""
    bin_std: Tensor
    """(D, V) their standard deviation plus 1e-11 (lime's guard)."""
    bin_lo: Tensor
    """(D, V) the lower end of each bin: the column minimum, then the edges."""
    bin_hi: Tensor
    """(D, V) the upper end of each bin: the edges, then the column maximum."""
    values: Tensor
    """(D, V) the sorted distinct values of each categorical column (bin ids 0..V-1 for a
    discretized one); padding repeats the last value."""
    freq: Tensor
    """(D, V) how often each bin / value occurs in the training data (sums to 1)."""


class TabularSamples(NamedTuple):
    """Perturbations of B rows: what the model sees and what the surrogate sees."""

    values: Tensor
    """(B, N, D) rows for the model, in ``x``'s dtype; row 0 is ``x``."""
    X: Tensor
    """(B, N, D) interpretable samples: bool when every column is discretized or
    categorical, else ``x``'s floating dtype; row 0 is the instance."""


# --------------------------------------------------------------------------- statistics


def tabular_stats(
    training_data: Tensor,
    *,
    categorical_features: Sequence[int] = (),
    discretizer: str | None = "quartile",
    training_labels: Tensor | None = None,
) -> TabularStats:
    """Summarise training data the way lime's ``LimeTabularExplainer`` does.

    Args:
        training_data: (M, D) float training rows (any floating dtype; statistics are
            computed in float64 on the data's device).
        categorical_features: indices of the categorical columns (integer codes). They
            are never discretized.
        discretizer: ``"quartile"``, ``"decile"``, ``"entropy"`` or None (lime's
            ``discretize_continuous=False``: continuous columns stay continuous).
        training_labels: (M,) class labels, needed by ``"entropy"`` only (a per-column
            ``DecisionTreeClassifier(criterion="entropy", max_depth=3)`` from
            scikit-learn, as lime fits).

    Returns:
        :class:`TabularStats`.

    Raises:
        ValueError: for a non-2-D or non-finite table, column indices out of range, an
            unknown discretizer, or ``"entropy"`` without labels.
        ImportError: for ``"entropy"`` without scikit-learn.

    Example:
        >>> data = torch.arange(20.0).view(10, 2)
        >>> stats = tabular_stats(data)
        >>> stats.edges[0].tolist()
        [4.5, 9.0, 13.5]
    """
    data = _check_training_data(training_data)
    m, d = data.shape
    categorical = _categorical_mask(categorical_features, d, data.device)
    if discretizer is not None and discretizer not in DISCRETIZERS:
        raise ValueError(f"discretizer must be one of {DISCRETIZERS} or None; got {discretizer!r}")
    discretized = ~categorical if discretizer is not None else torch.zeros_like(categorical)

    # lime: StandardScaler(with_mean=False).fit(data), then mean 0 / scale 1 for every
    # column it treats as categorical (all of them once discretized).
    mean = data.mean(0)
    var = data.var(0, unbiased=False)
    eps = torch.finfo(torch.float64).eps
    constant = var <= m * eps * var + (m * mean * eps) ** 2  # scikit-learn's rule
    scale = torch.where(constant, 1.0, var.sqrt())
    tabled = discretized | categorical
    mean = torch.where(tabled, 0.0, mean)
    scale = torch.where(tabled, 1.0, scale)

    edges = _edges(data, discretized, discretizer, training_labels)  # (D, E)
    n_edges = torch.isfinite(edges).sum(1)
    bins = discretize(data, edges)  # (M, D)

    # categorical values: sorted distinct codes, with their counts
    cat_idx = categorical.nonzero().flatten().tolist()
    uniques = [data[:, c].unique(return_counts=True) for c in cat_idx]
    v = max([int(n_edges.max()) + 1, 1] + [len(u) for u, _ in uniques])
    values = torch.arange(v, dtype=torch.float64, device=data.device).expand(d, v).clone()
    counts = torch.zeros(d, v, dtype=torch.float64, device=data.device)
    counts.scatter_add_(1, bins.T, torch.ones_like(bins.T, dtype=torch.float64))
    for c, (u, n) in zip(cat_idx, uniques, strict=True):
        values[c, : len(u)] = u
        values[c, len(u) :] = u[-1]
        counts[c] = 0
        counts[c, : len(u)] = n.double()
    continuous = ~tabled
    counts[continuous] = 0
    counts[continuous, 0] = 1  # a harmless one-bin table for columns that never use it
    freq = counts / counts.sum(1, keepdim=True)

    # per-bin moments of the training values (lime's BaseDiscretizer), two-pass
    ones = torch.ones_like(data)
    n_in = torch.zeros(d, v, dtype=torch.float64, device=data.device).scatter_add_(
        1, bins.T, ones.T
    )
    sums = torch.zeros_like(n_in).scatter_add_(1, bins.T, data.T)
    bin_mean = torch.where(n_in > 0, sums / n_in.clamp(min=1), 0.0)
    dev = (data.T - bin_mean.gather(1, bins.T)) ** 2
    sq = torch.zeros_like(n_in).scatter_add_(1, bins.T, dev)
    bin_std = torch.where(n_in > 0, (sq / n_in.clamp(min=1)).sqrt(), 0.0) + 1e-11
    # bin k of a column with n edges q: [min, q0], (q0, q1], ..., (q_{n-1}, max]
    col_min, col_max = data.min(0).values[:, None], data.max(0).values[:, None]
    slot = torch.arange(v, device=data.device)
    inf = torch.full((d, v), math.inf, dtype=torch.float64, device=data.device)
    upper = torch.cat([edges, inf], 1)[:, :v]  # edge k closes bin k
    lower = torch.cat([col_min, upper[:, : v - 1]], 1)  # edge k-1 opens bin k
    bin_hi = torch.where(slot < n_edges[:, None], upper, col_max)
    bin_lo = torch.where(slot <= n_edges[:, None], lower, col_max)  # padding: empty at max
    return TabularStats(
        mean=mean,
        scale=scale,
        discretized=discretized,
        categorical=categorical,
        edges=edges,
        bin_mean=bin_mean,
        bin_std=bin_std,
        bin_lo=bin_lo,
        bin_hi=bin_hi,
        values=values,
        freq=freq,
    )


def discretize(x: Tensor, edges: Tensor) -> Tensor:
    """Bin of every value, per column: ``#{edges[d] < x[..., d]}`` (lime's ``searchsorted``).

    Args:
        x: (..., D) float values.
        edges: (D, E) sorted edges per column, ``+inf`` padded.

    Returns:
        (..., D) int64 bins in ``0..E``.

    Example:
        >>> discretize(torch.tensor([[0.5, 2.0]]), torch.tensor([[1.0, 2.0], [1.0, 2.0]]))
        tensor([[0, 1]])
    """
    d = x.shape[-1]
    flat = x.reshape(-1, d).T.contiguous().to(edges.dtype)  # (D, n)
    bins = torch.searchsorted(edges.contiguous(), flat, right=False)  # (D, n)
    return bins.T.reshape(x.shape)


def _edges(
    data: Tensor, discretized: Tensor, discretizer: str | None, labels: Tensor | None
) -> Tensor:
    """(D, E) sorted distinct edges per discretized column, +inf padded."""
    d = data.shape[1]
    cols = discretized.nonzero().flatten()
    if discretizer is None or len(cols) == 0:
        return torch.full((d, 1), math.inf, dtype=torch.float64, device=data.device)
    if discretizer == "entropy":
        raw = _entropy_edges(data[:, cols], labels)
    else:
        q = torch.tensor(_PERCENTILES[discretizer], dtype=torch.float64, device=data.device)
        raw = torch.quantile(data[:, cols], q, dim=0).T  # (Dd, Q), numpy's "linear"
    raw = raw.sort(1).values
    dup = torch.zeros_like(raw, dtype=torch.bool)
    dup[:, 1:] = raw[:, 1:] == raw[:, :-1]
    raw = torch.where(dup, math.inf, raw).sort(1).values  # np.unique: distinct, sorted
    e = max(int(torch.isfinite(raw).sum(1).max()), 1)
    edges = torch.full((d, e), math.inf, dtype=torch.float64, device=data.device)
    edges[cols] = raw[:, :e]
    return edges


def _entropy_edges(data: Tensor, labels: Tensor | None) -> Tensor:
    """Thresholds of a depth-3 entropy tree per column, as lime's ``EntropyDiscretizer``."""
    if labels is None:
        raise ValueError(
            "discretizer='entropy' needs training_labels= (M,) class labels, as lime's "
            "EntropyDiscretizer"
        )
    try:
        from sklearn.tree import DecisionTreeClassifier
    except ImportError:  # pragma: no cover - scikit-learn is in the test extra
        raise ImportError(
            "discretizer='entropy' fits scikit-learn decision trees: pip install scikit-learn "
            "(or use discretizer='quartile' / 'decile')"
        ) from None
    import numpy as np

    y = torch.as_tensor(labels).detach().cpu().numpy()
    if y.shape != (data.shape[0],):
        raise ValueError(
            f"training_labels must be (M,) with M={data.shape[0]}; got shape {tuple(y.shape)}"
        )
    cols = data.detach().cpu().numpy()
    per_column = []
    for j in range(cols.shape[1]):  # construction only: one small tree per column
        tree = DecisionTreeClassifier(criterion="entropy", max_depth=3, random_state=0)
        tree.fit(cols[:, j : j + 1], y)
        thresholds = tree.tree_.threshold[tree.tree_.children_left > -1]
        if thresholds.shape[0] == 0:
            thresholds = np.array([np.median(cols[:, j])])
        per_column.append(torch.from_numpy(np.sort(thresholds)))
    width = max(len(t) for t in per_column)
    out = torch.full((len(per_column), width), math.inf, dtype=torch.float64)
    for j, t in enumerate(per_column):
        out[j, : len(t)] = t
    return out.to(data.device)


# --------------------------------------------------------------------------- sampling


def sample_tabular(
    x: Tensor,
    stats: TabularStats,
    n_samples: int,
    *,
    sample_around_instance: bool = False,
    generator: torch.Generator | None = None,
) -> TabularSamples:
    """Draw lime's tabular perturbations around every row, on ``x``'s device.

    Discretized and categorical columns draw a bin / value from the training
    frequencies; a discretized column's value is then a normal with the bin's mean and
    standard deviation truncated to the bin (lime's ``undiscretize``), by the inverse CDF
    of the same uniform (its position inside the bin's frequency slot is itself uniform).
    Continuous columns draw ``N(0, 1) * scale + mean`` (``+ x`` with
    ``sample_around_instance``). Row 0 is the row itself.

    Every column goes through one table-driven pipeline (a continuous column is a single
    untruncated bin, a categorical value a zero-width one), one uniform per value, in
    groups of rows so that temporaries stay small.

    Args:
        x: (B, D) float rows.
        stats: :class:`TabularStats` (any device; moved to ``x``'s).
        n_samples: N >= 1 samples per row, row 0 included.
        sample_around_instance: centre continuous columns on the row, not the mean.
        generator: source of randomness on ``x``'s device (None: a fresh seed).

    Returns:
        :class:`TabularSamples` with values (B, N, D) and X (B, N, D).

    Example:
        >>> stats = tabular_stats(torch.randn(50, 3, generator=torch.Generator().manual_seed(0)))
        >>> g = torch.Generator().manual_seed(1)
        >>> s = sample_tabular(torch.zeros(2, 3), stats, 10, generator=g)
        >>> s.values.shape, s.X.dtype, bool(s.X[:, 0].all())
        (torch.Size([2, 10, 3]), torch.bool, True)
    """
    generator, _ = resolve_generator(generator, x.device)
    b, d = x.shape
    per = n_samples - 1
    plan = _plan(stats, x, sample_around_instance)
    values = x.new_empty(b, n_samples, d)
    values[:, 0] = x
    X = torch.empty(b, n_samples, d, dtype=x.dtype if plan.mixed else torch.bool, device=x.device)
    X[:, 0] = _first_row(x, stats) if plan.mixed else True
    if per == 0:
        return TabularSamples(values, X)
    budget = _GROUP_ELEMENTS_CUDA if x.is_cuda else _GROUP_ELEMENTS
    rows = max(1, budget // (per * d))
    # Groups of rows bound the temporaries. Each group draws its rows' uniforms in row
    # order, so on the CPU a row's samples depend on the seed and its index only, not on
    # the grouping or on B.
    for g0 in range(0, b, rows):
        g1 = min(b, g0 + rows)
        _sample_group(plan, values[g0:g1, 1:], X[g0:g1, 1:], g0, g1, generator)
    return TabularSamples(values, X)


def _sample_shared(
    x: Tensor, stats: TabularStats, n_samples: int, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """One set of N - 1 perturbations for every row (lime's distribution for each row).

    Without ``sample_around_instance`` lime's perturbations do not depend on the row:
    only the interpretable representation (same bin as the row?) does. The perturbations
    are those :func:`sample_tabular` draws for ``x[:1]`` with the same generator.

    Returns:
        pool (N - 1, D) in ``x``'s dtype, and X (B, N, D) as :func:`sample_tabular`'s.
    """
    plan = _plan(stats, x, sample_around_instance=False)
    b, d = x.shape
    pool = x.new_empty(n_samples - 1, d)
    j = _draw(plan, generator, out=pool)
    X = torch.empty(b, n_samples, d, dtype=x.dtype if plan.mixed else torch.bool, device=x.device)
    X[:, 0] = _first_row(x, stats) if plan.mixed else True
    _represent(plan, pool[None], j[None], plan.row_bin[:, None, :], out=X[:, 1:])
    return pool, X


_GROUP_ELEMENTS = 1 << 21
_FIT_ELEMENTS = 1 << 20
_GROUP_ELEMENTS_CUDA = 1 << 24
_SQRT2 = math.sqrt(2.0)


class _Plan(NamedTuple):
    """Per-column lookup tables for the sampling pipeline, in ``x``'s dtype."""

    thresholds: Tensor  # (V-1, D) a uniform u picks bin #{v : u >= thresholds[v]}
    table: Tensor  # (V, D, 4) offset, slope, centre, spread, packed for one gather
    shift: Tensor | None  # (B, D) added to continuous columns (sample_around_instance)
    row_bin: Tensor  # (B, D) int64 the row's bin / value index (0 for continuous)
    continuous: Tensor  # (D,) bool
    mean: Tensor  # (D,) for the standardised representation of continuous columns
    scale: Tensor  # (D,)
    mixed: bool  # some continuous column: X is float


def _plan(stats: TabularStats, x: Tensor, sample_around_instance: bool) -> _Plan:
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
    around = sample_around_instance and bool(continuous.any())
    offset, slope = torch.where(cont, -1.0, offset), torch.where(cont, 2.0, slope)
    centre = torch.where(cont, 0.0 if around else st.mean.to(f64)[:, None], centre)
    spread = torch.where(cont, _SQRT2 * st.scale.to(f64)[:, None], spread)
    thresholds = torch.where(cont, 2.0, cdf)[:, :-1]
    table = torch.stack([offset, slope, centre, spread], -1).transpose(0, 1)  # (V, D, 4)
    return _Plan(
        thresholds=thresholds.T.to(x.dtype).contiguous(),
        table=table.to(x.dtype).contiguous(),
        shift=torch.where(continuous, x, 0.0) if around else None,
        row_bin=torch.where(continuous, 0, _table_index(x, st)),
        continuous=continuous,
        mean=st.mean.to(x.dtype),
        scale=st.scale.to(x.dtype),
        mixed=bool(continuous.any()),
    )


def _sample_group(
    plan: _Plan,
    values: Tensor,
    X: Tensor,
    g0: int,
    g1: int,
    generator: torch.Generator,
) -> None:
    """Fill ``values`` (G, per, D) and ``X`` (G, per, D) for rows ``g0..g1-1``."""
    j = _draw(plan, generator, out=values)
    if plan.shift is not None:
        values += plan.shift[g0:g1, None, :]
    _represent(plan, values, j, plan.row_bin[g0:g1, None, :], out=X)


def _draw(plan: _Plan, generator: torch.Generator, *, out: Tensor) -> Tensor:
    """Draw perturbations into ``out`` (..., D); return their table indices.

    One uniform per value picks the bin (its frequency slot) and, by its position inside
    the slot, the value of the bin's truncated normal. The index has the values' shape:
    uint8 for tables of up to 17 entries, else int64.
    """
    thresholds = plan.thresholds
    d = thresholds.shape[1]
    shape = out.shape
    u = torch.empty(shape, dtype=thresholds.dtype, device=thresholds.device)
    u.uniform_(generator=generator)
    n_thresholds = thresholds.shape[0]
    if n_thresholds <= 16:  # a few compares beat a binary search per value
        j = torch.zeros(shape, dtype=torch.uint8, device=u.device)
        for v in range(n_thresholds):  # over table entries (<= 16), not samples
            j += (u >= thresholds[v]).view(torch.uint8)
    else:
        flat = u.view(-1, d).T.contiguous()
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


def _first_row(x: Tensor, stats: TabularStats) -> Tensor:
    """Row 0 of a float representation: 1 for binary columns, standardised continuous."""
    continuous = ~(stats.discretized | stats.categorical).to(x.device)
    scaled = (x - stats.mean.to(x)) / stats.scale.to(x)
    return torch.where(continuous, scaled, 1.0)


def _table_index(x: Tensor, st: TabularStats) -> Tensor:
    """(B, D) index of each row's bin (discretized) or value (categorical) in its table.

    Bins compare the values with the float64 edges, as lime does (and as the explanation's
    ``bins`` do): edges rounded to ``x``'s dtype could move a value across an edge.
    """
    bins = discretize(x, st.edges)
    first = (x[:, :, None] == st.values.to(x.dtype)[None]).int().argmax(-1)
    return torch.where(st.discretized, bins, torch.where(st.categorical, first, 0))


def tabular_representation(samples: Tensor, x: Tensor, stats: TabularStats) -> Tensor:
    """The interpretable representation lime gives perturbed rows (for injected samples).

    Discretized columns: 1 where the sample's bin equals the row's; categorical: 1 where
    the value equals the row's; continuous: ``(value - mean) / scale``.

    Args:
        samples: (B, N, D) perturbed rows (row 0 the row itself).
        x: (B, D) the rows.
        stats: :class:`TabularStats`.

    Returns:
        (B, N, D): bool when every column is discretized or categorical, else float.

    Example:
        >>> stats = tabular_stats(torch.arange(20.0).view(10, 2))
        >>> samples = torch.tensor([[[1.0, 1.0], [12.0, 1.0]]])
        >>> tabular_representation(samples, torch.tensor([[1.0, 1.0]]), stats)
        tensor([[[ True,  True],
                 [False,  True]]])
    """
    edges = stats.edges.to(samples.device)  # float64, as lime's (see _table_index)
    same_bin = discretize(samples, edges) == discretize(x, edges)[:, None]
    st = _cast(stats, samples.dtype)
    same_value = samples == x[:, None]
    binary = torch.where(st.discretized, same_bin, same_value)
    continuous = ~(st.discretized | st.categorical)
    if not bool(continuous.any()):
        return binary
    scaled = (samples - st.mean) / st.scale
    return torch.where(continuous, scaled, binary.to(samples.dtype))


def euclidean_distance(X: Tensor) -> Tensor:
    """Euclidean distance of every interpretable sample to row 0 (lime's tabular metric).

    Args:
        X: (B, N, K) bool or float samples; row 0 is the instance.

    Returns:
        (B, N) float64.

    Example:
        >>> euclidean_distance(torch.tensor([[[True, True], [False, False]]]))
        tensor([[0.0000, 1.4142]], dtype=torch.float64)
    """
    if X.dtype == torch.bool:
        squared = _count_differences(X).double()
    else:
        diff = (X - X[:, :1]).double()
        squared = (diff * diff).sum(-1)
    return squared.sqrt()


_BYTE_SUM = 0x0101010101010101  # x * this: the sum of x's 8 bytes lands in the top byte


def _count_differences(X: Tensor) -> Tensor:
    """(B, N) int64 number of columns where each bool sample differs from row 0.

    Summing a short last dimension (K ~ 30) is slow in a reduction kernel, so the
    differences (bytes 0 / 1) are packed 8 to an int64 word and the words added: a byte
    of the sum counts at most K / 8 ones, and one multiply adds the 8 bytes of a word.
    Exact while K < 128 (no byte and no sign overflows); a plain sum beyond. Rows go
    through one reused buffer of about 8 MB.
    """
    b, n, k = X.shape
    if k >= 128:
        return (X ^ X[:, :1]).sum(-1)
    u = X.view(torch.uint8)
    width = -(-k // 8) * 8
    rows = max(1, min(b, _PACK_BYTES // (n * width)))
    packed = torch.empty(rows, n, width, dtype=torch.uint8, device=X.device)
    packed[..., k:] = 0
    words = torch.empty(b, n, dtype=torch.int64, device=X.device)
    for i in range(0, b, rows):  # over groups of examples, not samples
        part = packed[: min(rows, b - i)]
        torch.bitwise_xor(u[i : i + rows], u[i : i + rows, :1], out=part[..., :k])
        torch.sum(part.view(torch.int64), -1, out=words[i : i + rows])
    return (words * _BYTE_SUM) >> 56


_PACK_BYTES = 1 << 23


def _cast(stats: TabularStats, dtype: torch.dtype) -> TabularStats:
    return TabularStats(*(t.to(dtype) if t.is_floating_point() else t for t in stats))


# --------------------------------------------------------------------------- module


class LimeTabular(nn.Module):
    """LIME for tabular models: explains (B, D) rows at once, as lime's LimeTabularExplainer.

    The training statistics (scaler, bin edges, per-bin moments, value frequencies) are
    buffers, so ``explainer.to(device)`` moves them with the model; the model is stored
    as ``self.model`` (a submodule when it is an ``nn.Module``, so ``state_dict()`` holds
    its weights). A model found in training mode is explained in eval mode and handed
    back exactly as found.

    Feature names are not stored on explanations (every field of an explanation is a
    tensor): ``exp.as_list(explainer.feature_names)`` names the features as lime does
    (``"mean radius <= 13.37"``, ``"colour=2"``).

    Args:
        model: callable ``(n, D) -> (n, O)`` raw outputs (logits), or ``(n,)`` / ``(n, 1)``
            for ``mode="regression"``.
        training_data: (M, D) training rows (tensor or array).
        training_labels: (M,) labels, for ``discretizer="entropy"``.
        categorical_features: indices of categorical columns (integer codes).
        categorical_names: names of the codes, ``{column: [name of code 0, ...]}``, as lime.
        feature_names: D column names (default ``"0"``, ``"1"``, ...).
        discretizer: ``"quartile"`` (lime's default), ``"decile"``, ``"entropy"``, or None
            (lime's ``discretize_continuous=False``).
        kernel_width: width of the exponential kernel on euclidean distance (None:
            ``0.75 * sqrt(D)``, lime's default).
        sample_around_instance: centre continuous columns' samples on the row (only
            without a discretizer, as lime).
        share_samples: draw one set of N - 1 perturbations and give it to every row of a
            call. Each row's samples still follow lime's distribution exactly (lime's
            tabular perturbations never depend on the row, except with
            ``sample_around_instance``), so each explanation is distributed as lime's;
            what changes is that rows explained together share their sampling noise
            (their explanations are correlated) and the model runs on ``B + N - 1`` rows
            instead of ``B * N``. A row then gets the same explanation alone or in any
            batch, for one seed. Not with ``sample_around_instance`` on continuous columns.
        mode: ``"classification"`` or ``"regression"`` (sets the default ``output``:
            softmax or identity, and the default target: the top label or output 0).
        output: ``"softmax"``, ``"identity"``, ``"sigmoid"``, ``"log_softmax"`` or a
            callable ``(n, O) -> (n, O)``; None follows ``mode``.
        n_samples: N >= 2 samples per row, the row included (lime: 5000).
        batch_size: perturbed rows per model call.
        alpha: ridge penalty of the surrogate (lime: 1).
        feature_selection: ``"auto"``, ``"none"``, ``"highest_weights"``,
            ``"forward_selection"`` or ``"lasso_path"``, as lime.
        max_features: lime's ``num_features`` (10, lime's default); None keeps every column.
        progress: progress bar on stderr (None: only on a terminal).
        eval_mode: borrow eval mode for the model during the call.
        validate: check inputs and outputs (one host sync each).

    Example:
        >>> data = torch.randn(100, 4, generator=torch.Generator().manual_seed(0))
        >>> model = nn.Linear(4, 3)
        >>> explainer = LimeTabular(model, data, n_samples=200, progress=False)
        >>> exp = explainer(data[:5], generator=torch.Generator().manual_seed(0))
        >>> exp.coef.shape, len(exp.as_list(explainer.feature_names))
        (torch.Size([5, 1, 4]), 4)
    """

    mean: Tensor
    scale: Tensor
    discretized: Tensor
    categorical: Tensor
    edges: Tensor
    bin_mean: Tensor
    bin_std: Tensor
    bin_lo: Tensor
    bin_hi: Tensor
    values: Tensor
    freq: Tensor

    def __init__(
        self,
        model: Callable[[Tensor], Tensor],
        training_data: Tensor | Any,
        *,
        training_labels: Tensor | Any | None = None,
        categorical_features: Sequence[int] | None = None,
        categorical_names: dict[int, Sequence[str]] | None = None,
        feature_names: Sequence[str] | None = None,
        discretizer: str | None = "quartile",
        kernel_width: float | None = None,
        sample_around_instance: bool = False,
        share_samples: bool = False,
        mode: str = "classification",
        output: _engine.Output | None = None,
        n_samples: int = 5000,
        batch_size: int = 8192,
        alpha: float = 1.0,
        feature_selection: str = "auto",
        max_features: int | None = 10,
        progress: bool | None = None,
        eval_mode: bool = True,
        validate: bool = True,
    ) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}; got {mode!r}")
        if output is None:
            output = "softmax" if mode == "classification" else "identity"
        _engine.check_config(
            n_samples=n_samples,
            batch_size=batch_size,
            output=output,
            feature_selection=feature_selection,
            max_features=max_features,
            kernel_width=kernel_width,
            alpha=alpha,
        )
        data = _check_training_data(training_data)
        d = data.shape[1]
        if kernel_width is None:
            kernel_width = 0.75 * math.sqrt(d)
        if feature_names is None:
            feature_names = [str(i) for i in range(d)]
        if len(feature_names) != d:
            raise ValueError(
                f"feature_names must name the D={d} columns; got {len(feature_names)} names"
            )
        labels = None if training_labels is None else torch.as_tensor(training_labels)
        stats = tabular_stats(
            data,
            categorical_features=list(categorical_features or ()),
            discretizer=discretizer,
            training_labels=labels,
        )
        for name, value in stats._asdict().items():
            self.register_buffer(name, value)
        self.model = model
        self.feature_names = [str(n) for n in feature_names]
        self.categorical_names = {int(k): list(v) for k, v in (categorical_names or {}).items()}
        self.discretizer = discretizer
        self.kernel_width = float(kernel_width)
        self.sample_around_instance = sample_around_instance
        continuous = ~(stats.discretized | stats.categorical)
        if share_samples and sample_around_instance and bool(continuous.any()):
            raise ValueError(
                "share_samples=True needs perturbations that do not depend on the row; "
                "sample_around_instance=True centres the continuous columns on each row"
            )
        self.share_samples = share_samples
        self.mode = mode
        self.output = output
        self.n_samples = n_samples
        self.batch_size = batch_size
        self.alpha = alpha
        self.feature_selection = feature_selection
        self.max_features = max_features
        self.progress = progress
        self.eval_mode = eval_mode
        self.validate = validate

    @property
    def stats(self) -> TabularStats:
        """The training statistics, as the buffers hold them now."""
        return TabularStats(*(getattr(self, name) for name in TabularStats._fields))

    def extra_repr(self) -> str:
        """Configuration shown in ``repr``."""
        return (
            f"n_columns={self.mean.shape[0]}, discretizer={self.discretizer!r}, "
            f"categorical={self.categorical.nonzero().flatten().tolist()}, "
            f"kernel_width={self.kernel_width:.4g}, mode={self.mode!r}, output={self.output!r}, "
            f"n_samples={self.n_samples}, batch_size={self.batch_size}, alpha={self.alpha}, "
            f"feature_selection={self.feature_selection!r}, max_features={self.max_features}, "
            f"share_samples={self.share_samples}"
        )

    def forward(
        self,
        x: Tensor,
        target: int | Tensor | None = None,
        *,
        top_labels: int | None = None,
        samples: Tensor | None = None,
        generator: torch.Generator | None = None,
        keep_samples: bool = False,
        differentiable: bool = False,
    ) -> TabularExplanation:
        """Explain a batch of rows.

        Args:
            x: (B, D) float rows, as the model takes them.
            target: an int, (B,) or (B, T) output indices; None explains each row's
                ``top_labels`` most probable outputs (classification) or output 0
                (regression).
            top_labels: T, with ``target=None``: each row's T top outputs.
            samples: (B, N, D) perturbed rows to use instead of drawing them (row 0 is
                replaced by ``x``); their interpretable representation follows lime's
                rules (:func:`tabular_representation`). Given samples are used as they
                are, shared or not.
            generator: source of randomness on ``x``'s device. None uses a fresh seed,
                recorded in ``Explanation.seed``. One seed gives different streams on
                CPU and CUDA: pass ``samples=`` for cross-device equality.
            keep_samples: keep the interpretable samples (as ``masks``: bool, or float
                when some column is continuous), the scores and the weights.
            differentiable: keep the autograd graph from the model to the coefficients.

        Returns:
            :class:`~torchlime.explanation.TabularExplanation`.

        Raises:
            ValueError: for rows of the wrong width, NaN/inf values, categorical values
                never seen in training, samples of the wrong shape, targets out of
                range, or a model output that is not (n, O).
            TypeError: for non-tensor or non-float rows, or non-integer targets.
        """
        x = self._check_rows(x)
        b, d = x.shape
        if target is None and top_labels is None and self.mode == "regression":
            target = 0
        target_bt = _engine.normalise_target(target, top_labels, b)
        generator, seed = _engine.new_generator(generator, x.device)
        stats = self.stats
        shared = samples is None and self.share_samples
        if shared:
            pool, X = _sample_shared(x, stats, self.n_samples, generator)
        elif samples is None:
            values, X = sample_tabular(
                x,
                stats,
                self.n_samples,
                sample_around_instance=self.sample_around_instance,
                generator=generator,
            )
        else:
            values = _check_samples(samples, x)
            X = tabular_representation(values, x, stats)
        n = X.shape[1]
        weights = exponential_kernel(euclidean_distance(X), self.kernel_width)
        per = n - 1

        scratch: list[Tensor] = []

        def compose_rows(start: int, stop: int) -> Tensor:
            if shared:  # the pool itself: a view
                return pool[start:stop]
            pieces = list(_engine.runs(start, stop, per))
            if len(pieces) == 1:  # inside one row's samples: a view, no copy
                i, s0, s1, _, _ = pieces[0]
                return values[i, 1 + s0 : 1 + s1]
            if not scratch or differentiable:  # reused chunk after chunk, unless graphs are kept
                scratch[:] = [values.new_empty(self.batch_size, d)]
            buf = scratch[0][: stop - start]
            for i, s0, s1, o0, o1 in pieces:
                buf[o0:o1] = values[i, 1 + s0 : 1 + s1]
            return buf

        with _engine.borrowed_eval(self.model, self.eval_mode):
            result = _engine.score_samples(
                self._model_fn,
                x,
                compose_rows,
                batch=b,
                n_samples=n,
                target=target_bt,
                top_labels=top_labels,
                output=self.output,
                batch_size=self.batch_size,
                device=x.device,
                progress=self.progress,
                differentiable=differentiable,
                validate=self.validate,
                shared=shared,
            )
        n_features = torch.full((b,), d, dtype=torch.long, device=x.device)
        fit = _engine.fit_surrogate(
            X,
            result.scores,
            weights,
            n_features,
            alpha=self.alpha,
            feature_selection=self.feature_selection,
            max_features=self.max_features,
            chunk_size=_fit_chunk(X),
        )
        return TabularExplanation(
            **_engine.explanation_fields(
                fit,
                result.scores,
                result.target,
                X,
                weights,
                n_features,
                seed,
                keep_samples=keep_samples,
            ),
            x=x,
            bins=torch.where(self.discretized, discretize(x, self.edges), -1),
            edges=self.edges.to(x.dtype).expand(b, *self.edges.shape),
            categorical=self.categorical.expand(b, d),
        )

    def _model_fn(self, rows: Tensor) -> Tensor:
        out = self.model(rows)
        if self.mode == "regression" and isinstance(out, Tensor) and out.ndim == 1:
            out = out[:, None]
        return out

    def _check_rows(self, x: Any) -> Tensor:
        d = self.mean.shape[0]
        if not isinstance(x, Tensor):
            raise TypeError(f"x must be a (B, D) tensor; got {type(x).__name__}")
        if x.ndim == 1 and x.shape[0] == d:
            raise ValueError(
                f"x must be (B, D) with D={d}; got shape {tuple(x.shape)} (use x[None])"
            )
        if x.ndim != 2 or x.shape[1] != d:
            raise ValueError(f"x must be (B, D) with D={d}; got shape {tuple(x.shape)}")
        if not x.is_floating_point():
            raise TypeError(f"x must be a floating-point tensor; got {x.dtype}")
        if x.shape[0] == 0:
            raise ValueError("x must hold at least one row; got shape (0, D)")
        if self.validate and not torch.compiler.is_compiling():
            bad_rows = ~torch.isfinite(x).all(1)
            cat = self.categorical
            known = (x[:, :, None] == self.values.to(x.dtype)[None]).any(-1) | ~cat
            unknown = ~known.all(1) & ~bad_rows
            if bool(bad_rows.any() | unknown.any()):  # the one sync of the check
                if bool(bad_rows.any()):
                    rows = bad_rows.nonzero().flatten().tolist()[:10]
                    raise ValueError(f"x has NaN or inf values in rows {rows}")
                row = int(unknown.nonzero()[0, 0])
                cols = (~known[row]).nonzero().flatten().tolist()
                raise ValueError(
                    f"x row {row} has categorical values never seen in training in columns "
                    f"{cols} (values {x[row, cols].tolist()}); lime samples categorical "
                    "columns from their training values"
                )
        return x


def _fit_chunk(X: Tensor) -> int | None:
    """Rows per moments pass on the CPU: about ``_FIT_ELEMENTS`` samples x columns.

    The moments make one float64 copy of their (rows, N, K) input; chunks of a few MB
    keep it in cache and reuse the allocation (6 rows of 5000 x 30 per chunk: 0.51 ms
    per row against 0.88 for 1 row at a time, and several times that for all at once).
    """
    if X.is_cuda:
        return None
    return max(1, _FIT_ELEMENTS // (X.shape[1] * X.shape[2]))


def _check_training_data(data: Any) -> Tensor:
    t = torch.as_tensor(data)
    if t.ndim != 2 or t.shape[0] == 0 or t.shape[1] == 0:
        raise ValueError(
            f"training_data must be a non-empty (M, D) table; got shape {tuple(t.shape)}"
        )
    if t.dtype == torch.bool or t.is_complex():
        raise TypeError(f"training_data must be real numbers; got {t.dtype}")
    t = t.detach().to(torch.float64)
    if not bool(torch.isfinite(t).all()):
        raise ValueError("training_data has NaN or inf values")
    return t


def _categorical_mask(features: Sequence[int], d: int, device: torch.device) -> Tensor:
    mask = torch.zeros(d, dtype=torch.bool, device=device)
    for f in features:
        if not -d <= int(f) < d:
            raise ValueError(f"categorical_features must be column indices in [0, {d}); got {f}")
        mask[int(f)] = True
    return mask


def _check_samples(samples: Any, x: Tensor) -> Tensor:
    b, d = x.shape
    if (
        not isinstance(samples, Tensor)
        or samples.ndim != 3
        or samples.shape[0] != b
        or samples.shape[2] != d
    ):
        got = tuple(samples.shape) if isinstance(samples, Tensor) else type(samples).__name__
        raise ValueError(f"samples must be (B, N, D) = ({b}, N, {d}); got {got}")
    if samples.shape[1] < 2:
        raise ValueError(
            f"samples need N >= 2 rows (the row and one perturbation); got {samples.shape[1]}"
        )
    samples = samples.to(device=x.device, dtype=x.dtype).clone()
    samples[:, 0] = x
    return samples
