"""Tabular stages: lime's training statistics, bins, and the interpretable representation.

lime 0.2.0.1's ``LimeTabularExplainer`` keeps, from the training data, a
``StandardScaler``-style mean and scale per column and, for every discretized column, its
bin edges (quartiles, deciles or the thresholds of a depth-3 entropy tree), the mean,
standard deviation, minimum and maximum of the training values in each bin and how often
each bin occurs; for every categorical column its values and their frequencies
(:func:`tabular_stats`). A perturbed row is represented by 1 where a discretized /
categorical column falls in the instance's bin / equals its value and 0 otherwise, with
continuous columns standardised (:func:`tabular_representation`). Sampling is in
:mod:`torchlime.functional.tabular_sampling`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

__all__ = [
    "DISCRETIZERS",
    "TabularStats",
    "discretize",
    "instance_representation",
    "row_bins",
    "stats_from_summary",
    "tabular_representation",
    "tabular_stats",
]

SUMMARY_KEYS = ("means", "stds", "mins", "maxs", "bins", "feature_values", "feature_frequencies")

DISCRETIZERS = ("quartile", "decile", "entropy")
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


def stats_from_summary(
    summary: Mapping[str, Any],
    *,
    categorical_features: Sequence[int] = (),
    n_columns: int | None = None,
) -> TabularStats:
    """Lime's ``training_data_stats`` as :class:`TabularStats`: an explainer without the data.

    lime's dict maps column -> list: ``"bins"`` the bin edges of every discretized column
    (lime's ``StatsDiscretizer`` reads them), ``"means"``, ``"stds"``, ``"mins"``,
    ``"maxs"`` one value per bin of those columns, and ``"feature_values"`` /
    ``"feature_frequencies"`` every column's values (bin ids for discretized columns,
    codes for categorical ones) and their counts. As in lime, every column that is not
    categorical is discretized (a summary has no continuous columns), and the given
    standard deviations are used as they are.

    Args:
        summary: lime's dict (keys: :data:`SUMMARY_KEYS`; column keys int or str).
        categorical_features: the categorical columns (they need no bins).
        n_columns: D (default: the number of columns in ``feature_values``).

    Returns:
        :class:`TabularStats` in float64 on the CPU.

    Raises:
        ValueError: for a missing key or column, or per-bin lists whose lengths disagree
            with the number of edges.

    Example:
        >>> summary = {"bins": {0: [1.0, 2.0]}, "means": {0: [0.5, 1.5, 2.5]},
        ...            "stds": {0: [0.1, 0.1, 0.1]}, "mins": {0: [0.0, 1.0, 2.0]},
        ...            "maxs": {0: [1.0, 2.0, 3.0]}, "feature_values": {0: [0, 1, 2]},
        ...            "feature_frequencies": {0: [2, 1, 1]}}
        >>> stats = stats_from_summary(summary)
        >>> stats.edges.tolist(), stats.freq.tolist()
        ([[1.0, 2.0]], [[0.5, 0.25, 0.25]])
    """
    missing = [key for key in SUMMARY_KEYS if key not in summary]
    if missing:
        raise ValueError(f"training_data_stats lacks the keys {missing} (lime's: {SUMMARY_KEYS})")

    def column(key: str, j: int) -> list[float]:
        table = summary[key]
        found = table.get(j, table.get(str(j))) if isinstance(table, Mapping) else table[j]
        if found is None:
            raise ValueError(f"training_data_stats[{key!r}] has no entry for column {j}")
        return [float(v) for v in found]

    d = len(summary["feature_values"]) if n_columns is None else n_columns
    f64 = torch.float64
    categorical = _categorical_mask(categorical_features, d, torch.device("cpu"))
    cat = set(categorical.nonzero().flatten().tolist())
    edges_of = {j: sorted(set(column("bins", j))) for j in range(d) if j not in cat}
    values_of = {j: column("feature_values", j) for j in range(d)}
    e = max([1] + [len(q) for q in edges_of.values()])
    v = max([1] + [len(q) + 1 for q in edges_of.values()] + [len(x) for x in values_of.values()])
    edges = torch.full((d, e), math.inf, dtype=f64)
    bin_mean, bin_lo, bin_hi = (torch.zeros(d, v, dtype=f64) for _ in range(3))
    bin_std = torch.full((d, v), 1e-11, dtype=f64)
    values = torch.arange(v, dtype=f64).expand(d, v).clone()
    counts = torch.zeros(d, v, dtype=f64)
    for j in range(d):  # a summary is small: per-column lists, read once
        found, frequencies = values_of[j], column("feature_frequencies", j)
        if len(found) != len(frequencies):
            raise ValueError(
                f"training_data_stats: column {j} has {len(found)} feature_values but "
                f"{len(frequencies)} feature_frequencies"
            )
        if j in cat:
            order = sorted(range(len(found)), key=found.__getitem__)
            values[j, : len(found)] = torch.tensor([found[i] for i in order], dtype=f64)
            values[j, len(found) :] = max(found)
            counts[j, : len(found)] = torch.tensor([frequencies[i] for i in order], dtype=f64)
            continue
        q = edges_of[j]
        n_bins = len(q) + 1
        per_bin = {key: column(key, j) for key in ("means", "stds", "mins", "maxs")}
        for key, listed in per_bin.items():
            if len(listed) != n_bins:
                raise ValueError(
                    f"training_data_stats[{key!r}] column {j} needs one value per bin "
                    f"({n_bins} for {len(q)} edges); got {len(listed)}"
                )
        edges[j, : len(q)] = torch.tensor(q, dtype=f64)
        bin_mean[j, :n_bins] = torch.tensor(per_bin["means"], dtype=f64)
        bin_std[j, :n_bins] = torch.tensor(per_bin["stds"], dtype=f64)
        bin_lo[j, :n_bins] = torch.tensor(per_bin["mins"], dtype=f64)
        bin_hi[j, :n_bins] = torch.tensor(per_bin["maxs"], dtype=f64)
        bin_lo[j, n_bins:] = bin_hi[j, n_bins:] = per_bin["maxs"][-1]  # empty at the max
        ids = [int(b) for b in found]
        if any(not 0 <= b < n_bins for b in ids):
            raise ValueError(
                f"training_data_stats['feature_values'] column {j} holds bins {ids}; "
                f"a column with {len(q)} edges has bins 0..{n_bins - 1}"
            )
        counts[j, ids] = torch.tensor(frequencies, dtype=f64)
    if bool((counts.sum(1) <= 0).any()):
        raise ValueError("training_data_stats: every column needs frequencies that sum > 0")
    return TabularStats(
        mean=torch.zeros(d, dtype=f64),
        scale=torch.ones(d, dtype=f64),
        discretized=~categorical,
        categorical=categorical,
        edges=edges,
        bin_mean=bin_mean,
        bin_std=bin_std,
        bin_lo=bin_lo,
        bin_hi=bin_hi,
        values=values,
        freq=counts / counts.sum(1, keepdim=True),
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


def instance_representation(x: Tensor, stats: TabularStats) -> Tensor:
    """Row 0 of a float representation: 1 for binary columns, standardised continuous ones.

    Args:
        x: (B, D) float rows.
        stats: :class:`TabularStats`.

    Returns:
        (B, D) in ``x``'s dtype.

    Example:
        >>> stats = tabular_stats(torch.arange(20.0).view(10, 2), discretizer=None)
        >>> instance_representation(torch.tensor([[9.0, 10.0]]), stats).abs().max().item()
        0.0
    """
    continuous = ~(stats.discretized | stats.categorical).to(x.device)
    scaled = (x - stats.mean.to(x)) / stats.scale.to(x)
    return torch.where(continuous, scaled, 1.0)


def row_bins(x: Tensor, st: TabularStats) -> Tensor:
    """(B, D) index of each row's bin (discretized) or value (categorical) in its table.

    Bins compare the values with the float64 edges, as lime does (and as the explanation's
    ``bins`` do): edges rounded to ``x``'s dtype could move a value across an edge.
    Continuous columns get 0.

    Args:
        x: (B, D) float rows.
        st: :class:`TabularStats`.

    Returns:
        (B, D) int64.

    Example:
        >>> stats = tabular_stats(torch.arange(20.0).view(10, 2))
        >>> row_bins(torch.tensor([[0.0, 19.0]]), stats).tolist()
        [[0, 3]]
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


def _cast(stats: TabularStats, dtype: torch.dtype) -> TabularStats:
    return TabularStats(*(t.to(dtype) if t.is_floating_point() else t for t in stats))


def _check_training_data(data: Any) -> Tensor:
    try:
        t = torch.as_tensor(data)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(
            f"training_data must be a (M, D) tensor or array of numbers; got "
            f"{type(data).__name__} (a DataFrame: pass df.to_numpy())"
        ) from None
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
