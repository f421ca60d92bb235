"""LimeTabular: LIME for tabular models, every row of a batch at once, on the input's device.

The tabular hooks of the explainer template, with lime 0.2.0.1's ``LimeTabularExplainer``
semantics: the training statistics are buffers (:func:`~torchlime.functional.tabular_stats`),
a row's perturbations are drawn from them (:func:`~torchlime.functional.sample_tabular`;
one shared pool for the whole batch with ``share_samples=True``), the features are the
columns (1 where a discretized / categorical column keeps the row's bin / value, continuous
columns standardised), and the kernel is lime's on the euclidean distance, width
``0.75 * sqrt(D)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor, nn

from torchlime import _checks
from torchlime._engine import Compose, runs
from torchlime._explainer import Explainer, Features, Samples
from torchlime._tables import Encoding, table_rows, training_table
from torchlime.explanation import Explanation, TabularExplanation
from torchlime.functional.kernels import euclidean_distance
from torchlime.functional.tabular import (
    DISCRETIZERS,
    TabularStats,
    discretize,
    stats_from_summary,
    tabular_representation,
    tabular_stats,
)
from torchlime.functional.tabular_sampling import (
    TABULAR_SAMPLERS,
    TabularPool,
    TabularSamples,
    sample_tabular,
    sample_tabular_pool,
)
from torchlime.types import Output, Sampler

__all__ = [
    "DISCRETIZERS",
    "MODES",
    "LimeTabular",
    "TabularPool",
    "TabularSamples",
    "TabularStats",
    "discretize",
    "euclidean_distance",
    "sample_tabular",
    "tabular_representation",
    "tabular_stats",
]

MODES = ("classification", "regression")


class LimeTabular(Explainer):
    """LIME for tabular models: explains (B, D) rows at once, as lime's LimeTabularExplainer.

    The training statistics (scaler, bin edges, per-bin moments, value frequencies) are
    buffers, so ``explainer.to(device)`` moves them with the model. Tables come as users
    hold them: a tensor, a numpy array, scipy.sparse rows or a pandas DataFrame (its
    column names become the feature names, and its ``category``, ``object``, ``string``
    and ``bool`` columns categorical features named by their categories); the rows to
    explain come the same way (a DataFrame with the same columns, a Series for one row),
    cast to the model's floating dtype. The explanations' recipe records the column and
    category names, so ``exp.as_list()`` names the features as lime does (``"mean radius
    <= 13.37"``, ``"colour=red"``). The settings shared by every explainer are described
    on :class:`~torchlime._explainer.Explainer` (``class_names`` among them); for tables:

    - ``sampler``: ``"lime"``, ``"paired"`` (antithetic quantiles), ``"stratified"`` (a
      Latin hypercube per column) and ``"binomial"`` (GLIME, the kernel folded in) keep
      each column's law (:mod:`~torchlime.functional.tabular_sampling`); ``"bernoulli"``
      and callables give masks over columns (True keeps the row's bin), which needs every
      column discretized or categorical.
    - ``share_samples``: one set of perturbations for every row of a call. Each row's
      samples still follow lime's law exactly, and when the perturbations do not depend on
      the row (no ``sample_around_instance`` on continuous columns, no ``"binomial"``) the
      model runs on ``B + N - 1`` rows instead of ``B * N``; rows explained together share
      their sampling noise, and a row gets the same explanation alone or in any batch.

    Args:
        model: callable ``(n, D) -> (n, O)`` raw outputs (logits), or ``(n,)`` / ``(n, 1)``
            for ``mode="regression"``.
        training_data: (M, D) training rows: a tensor, a numpy array, scipy.sparse rows or
            a pandas DataFrame; optional with ``training_data_stats``.
        training_data_stats: lime's summary statistics instead of the data (a dict with
            ``"means"``, ``"stds"``, ``"mins"``, ``"maxs"``, ``"bins"``,
            ``"feature_values"``, ``"feature_frequencies"``; see
            :func:`~torchlime.functional.stats_from_summary`); needs a discretizer.
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
        mode: ``"classification"`` or ``"regression"`` (sets the default ``output``:
            softmax or identity, and the default target: the top label or output 0).
        output: ``"softmax"``, ``"identity"``, ``"sigmoid"``, ``"log_softmax"`` or a
            callable ``(n, O) -> (n, O)``; None follows ``mode``.
        n_samples: N >= 2 samples per row, the row included (lime: 5000), or ``"auto"``.
        batch_size: perturbed rows per model call, or ``"auto"`` (at most 8192).
        alpha: ridge penalty of the surrogate (lime: 1).
        feature_selection: ``"auto"``, ``"none"``, ``"highest_weights"``,
            ``"forward_selection"`` or ``"lasso_path"``, as lime.
        max_features: lime's ``num_features`` (10, lime's default); None keeps every column.
        sampler: see above.
        **settings: the shared settings.

    Example:
        >>> from torch import nn
        >>> data = torch.randn(100, 4, generator=torch.Generator().manual_seed(0))
        >>> explainer = LimeTabular(nn.Linear(4, 3), data, n_samples=200, progress=False)
        >>> exp = explainer(data[:5], generator=0)
        >>> exp.coef.shape, len(exp.as_list(explainer.feature_names)), exp.config["distance"]
        (torch.Size([5, 1, 4]), 4, 'euclidean')
    """

    explanation = TabularExplanation
    distance = "euclidean"
    max_batch = 8192

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
        training_data: Tensor | Any = None,
        *,
        training_data_stats: dict[str, Any] | None = None,
        training_labels: Tensor | Any | None = None,
        categorical_features: Sequence[int] | None = None,
        categorical_names: dict[int, Sequence[str]] | None = None,
        feature_names: Sequence[str] | None = None,
        discretizer: str | None = "quartile",
        kernel_width: float | None = None,
        sample_around_instance: bool = False,
        mode: str = "classification",
        output: Output | None = None,
        n_samples: int | str = 5000,
        batch_size: int | str = "auto",
        alpha: float = 1.0,
        feature_selection: str = "auto",
        max_features: int | None = 10,
        sampler: Sampler = "lime",
        **settings: Any,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}; got {mode!r}")
        labels = None if training_labels is None else torch.as_tensor(np.asarray(training_labels))
        if training_data is None and training_data_stats is None:
            raise ValueError("LimeTabular needs training_data or training_data_stats")
        data, encoding = (None, None) if training_data is None else training_table(training_data)
        if encoding is not None:  # a DataFrame: its names, its categorical columns
            feature_names = encoding.columns if feature_names is None else feature_names
            found = sorted(encoding.categories)
            given = found if categorical_features is None else list(categorical_features)
            if set(found) - set(given):
                names = [encoding.columns[j] for j in sorted(set(found) - set(given))]
                raise ValueError(
                    f"columns {names} are not numbers (categories): they must be categorical"
                )
            categorical_features = given
            named = {j: [str(c) for c in cats] for j, cats in encoding.categories.items()}
            categorical_names = {**named, **dict(categorical_names or {})}
        if training_data_stats is not None:
            if discretizer is None:
                raise ValueError(
                    "training_data_stats describes bins: it needs a discretizer (lime "
                    "ignores it with discretize_continuous=False)"
                )
            stats = stats_from_summary(
                training_data_stats,
                categorical_features=list(categorical_features or ()),
                n_columns=None if data is None else data.shape[-1],
            )
        else:
            assert data is not None  # one of the two, checked above
            stats = tabular_stats(
                data,
                categorical_features=list(categorical_features or ()),
                discretizer=discretizer,
                training_labels=labels,
            )
        d = stats.mean.shape[0]
        super().__init__(
            model,
            n_samples=n_samples,
            batch_size=batch_size,
            kernel_width=0.75 * math.sqrt(d) if kernel_width is None else kernel_width,
            alpha=alpha,
            feature_selection=feature_selection,
            max_features=max_features,
            output=output or ("softmax" if mode == "classification" else "identity"),
            sampler=sampler,
            **settings,
        )
        continuous = (~(stats.discretized | stats.categorical)).nonzero().flatten().tolist()
        adjusted = settings.get("adjust") is not None  # its free samples are masks too
        masked = (
            settings.get("kernel") == "shapley"
            or adjusted
            or not (isinstance(sampler, str) and sampler in TABULAR_SAMPLERS)
        )
        if continuous and masked:
            why = (
                "kernel='shapley'"
                if settings.get("kernel") == "shapley"
                else f"adjust={settings['adjust']!r}"
                if adjusted
                else f"sampler={sampler!r}"
            )
            raise ValueError(
                f"{why} gives masks over columns (keep the row's bin or leave it): every "
                f"column must be discretized or categorical; columns {continuous} are "
                "continuous (use a discretizer, or sampler 'lime', 'paired', 'stratified' or "
                "'binomial' with lime's kernel)"
            )
        names = [str(i) for i in range(d)] if feature_names is None else list(feature_names)
        if len(names) != d:
            raise ValueError(f"feature_names must name the D={d} columns; got {len(names)} names")
        for name, value in stats._asdict().items():
            self.register_buffer(name, value)
        self.feature_names = [str(n) for n in names]
        self.categorical_names = {
            int(k): [str(c) for c in v] for k, v in (categorical_names or {}).items()
        }
        self.encoding: Encoding | None = encoding  # a DataFrame's columns and categories
        self.training_dtype = data.dtype if data is not None and data.is_floating_point() else None
        self.discretizer = discretizer
        self.sample_around_instance = sample_around_instance
        self.mode = mode

    @property
    def stats(self) -> TabularStats:
        """The training statistics, as the buffers hold them now."""
        return TabularStats(*(getattr(self, name) for name in TabularStats._fields))

    def forward(
        self,
        x: Tensor,
        target: int | Tensor | None = None,
        *,
        top_labels: int | None = None,
        samples: Tensor | None = None,
        generator: torch.Generator | int | None = None,
        keep_samples: bool = False,
        differentiable: bool = False,
        repeats: int = 1,
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
                rules (:func:`~torchlime.functional.tabular_representation`).
            generator: a ``torch.Generator`` on ``x``'s device, an int seed, or None (a
                fresh seed, recorded in ``Explanation.seed``). One seed gives different
                streams on CPU and CUDA: pass ``samples=`` for cross-device equality.
            keep_samples: keep the interpretable samples (as ``masks``: bool, or float
                when some column is continuous), the perturbed rows (``samples``), the
                scores and the weights.
            differentiable: keep the autograd graph from the model to the coefficients.
            repeats: explain every row R times with independent samples (R * B results,
                replicate-major).

        Returns:
            :class:`~torchlime.explanation.TabularExplanation`.

        Raises:
            ValueError: for rows of the wrong width, NaN/inf values, categorical values
                never seen in training, samples of the wrong shape, targets out of
                range, or a model output that is not (n, O).
            TypeError: for non-tensor or non-float rows, or non-integer targets.
        """
        exp = self.explain(
            x,
            target,
            top_labels=top_labels,
            given=samples,
            generator=generator,
            keep_samples=keep_samples,
            differentiable=differentiable,
            repeats=repeats,
        )
        return cast(TabularExplanation, exp)

    # ------------------------------------------------------------------ hooks

    def _features(self, x: Any, *, k: int | None = None) -> Features:  # type: ignore[override]
        x = table_rows(x, self.encoding, self.mean.shape[0])
        if isinstance(x, Tensor) and not x.is_complex():  # rows as the model takes them
            own = x.dtype if x.is_floating_point() else torch.float64
            dtype = _model_dtype(self.model) or self.training_dtype or own
            x = x.to(device=self.mean.device, dtype=dtype)
        x = _checks.rows(x, self.stats, validate=self.validate)
        b, d = x.shape
        n = torch.full((b,), d, dtype=torch.long, device=x.device)
        return Features(inputs=x, n_features=n, k=d, padded=False)

    def _target(self, target: Any, top_labels: int | None, batch: int) -> Tensor | None:
        if target is None and top_labels is None and self.mode == "regression":
            target = 0
        return super()._target(target, top_labels, batch)

    def _draw(self, features: Features, n: int, generator: torch.Generator) -> Samples:
        x, stats = features.inputs, self.stats
        continuous = ~(self.discretized | self.categorical)
        if self.kernel != "shapley" and self.sampler in TABULAR_SAMPLERS:
            depends_on_row = self.sampler == "binomial" or (
                self.sample_around_instance and bool(continuous.any())
            )
            if self.share_samples and not depends_on_row:
                pooled = sample_tabular_pool(x, stats, n, sampler=self.sampler, generator=generator)
                return Samples(pooled.X, pooled.pool, shared=True)
            masks = None
        else:  # masks over columns: keep the row's bin or leave it
            masks = self._masks(len(features), n, features.k, features.n_features, generator)
        drawn = sample_tabular(
            x,
            stats,
            n if masks is None else masks.shape[1],
            sample_around_instance=self.sample_around_instance,
            sampler=self.sampler if masks is None else "lime",  # type: ignore[arg-type]
            kernel_width=self.kernel_width,
            masks=masks,
            shared=self.share_samples,
            generator=generator,
        )
        return Samples(drawn.X, drawn.values)

    def _given(self, features: Features, given: Any) -> Samples:
        x = features.inputs
        b, d = x.shape
        if not isinstance(given, Tensor) or given.ndim != 3 or given.shape[::2] != (b, d):
            got = tuple(given.shape) if isinstance(given, Tensor) else type(given).__name__
            raise ValueError(f"samples must be (B, N, D) = ({b}, N, {d}); got {got}")
        if given.shape[1] < 2:
            raise ValueError(
                f"samples need N >= 2 rows (the row and one perturbation); got {given.shape[1]}"
            )
        values = given.to(device=x.device, dtype=x.dtype).clone()
        values[:, 0] = x
        return Samples(tabular_representation(values, x, self.stats), values)

    def _compose(self, features: Features, samples: Samples, differentiable: bool) -> Compose:
        values, d = samples.data, features.k
        if samples.shared:  # the pool itself: a view
            return lambda start, stop: values[start:stop]
        per = values.shape[1] - 1
        scratch: list[Tensor] = []

        def compose_rows(start: int, stop: int) -> Tensor:
            pieces = list(runs(start, stop, per))
            if len(pieces) == 1:  # inside one row's samples: a view, no copy
                i, s0, s1, _, _ = pieces[0]
                return values[i, 1 + s0 : 1 + s1]
            if not scratch or differentiable:  # reused chunk after chunk, unless graphs are kept
                scratch[:] = [values.new_empty(self._rows_per_call(features), d)]
            buf = scratch[0][: stop - start]
            for i, s0, s1, o0, o1 in pieces:  # the rows of this chunk, not its samples
                buf[o0:o1] = values[i, 1 + s0 : 1 + s1]
            return buf

        return compose_rows

    def _call_model(self, rows: Tensor, features: Features) -> Any:
        out = self.model(rows)
        if self.mode == "regression" and isinstance(out, Tensor) and out.ndim == 1:
            out = out[:, None]
        return out

    def _result(self, features: Features, samples: Samples, keep_samples: bool) -> dict[str, Any]:
        x = features.inputs
        b, d = x.shape
        kept = None
        if keep_samples and samples.shared:  # every row's view of the pool, row 0 its own
            pool = samples.data[None].expand(b, -1, -1)
            kept = torch.cat([x[:, None], pool], 1)
        elif keep_samples:
            kept = samples.data
        return {
            "x": x,
            "bins": torch.where(self.discretized, discretize(x, self.edges), -1),
            "edges": self.edges.to(x.dtype).expand(b, *self.edges.shape),
            "categorical": self.categorical.expand(b, d),
            "samples": kept,
        }

    def _settings(self) -> dict[str, Any]:
        d = self.mean.shape[0]
        return {
            "n_columns": d,
            "discretizer": self.discretizer,
            "categorical": self.categorical.nonzero().flatten().tolist(),
            "mode": self.mode,
            "sample_around_instance": self.sample_around_instance,
            "feature_names": list(self.feature_names),
            "categorical_names": [self.categorical_names.get(j, []) for j in range(d)]
            if self.categorical_names
            else None,
        }

    def _design(self) -> str:
        # the Latin hypercube stratifies columns, not kept-column counts: resample as i.i.d.
        return "paired" if self.sampler == "paired" else "iid"

    def _replay_kwargs(self, exp: Explanation) -> dict[str, Any]:
        return {"samples": cast(TabularExplanation, exp).samples}


def _model_dtype(model: Any) -> torch.dtype | None:
    """A module's floating dtype (its first floating parameter or buffer), else None."""
    if isinstance(model, nn.Module):
        for tensor in (*model.parameters(), *model.buffers()):
            if tensor.is_floating_point():
                return tensor.dtype
    return None
