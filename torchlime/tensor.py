"""Lime and KernelShap for any tensors: captum's generic call, on the explainer template.

The interpretable features are given by a ``feature_mask`` over one input tensor or a tuple
of them (ids shared across inputs; broadcast over the batch; by default every scalar is
its own feature). A hidden feature shows the ``baselines`` (0 by default). The model is
called as ``model(*inputs, *additional_forward_args)`` and may return (n,) or (n, O);
inputs may be floating, integer or bool.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, cast

import torch
from torch import Tensor

from torchlime import _checks
from torchlime._engine import Compose
from torchlime._explainer import Explainer, Features, Samples
from torchlime.explanation import Explanation, TensorExplanation
from torchlime.functional.kernels import exponential_kernel
from torchlime.types import Output, Sampler

__all__ = ["DISTANCES", "KernelShap", "Lime"]

_BATCHED = object()  # in TensorFeatures.extra: a tensor argument that follows its example

DISTANCES = ("cosine", "euclidean", "input_cosine", "input_euclidean")
"""``cosine`` / ``euclidean``: between the interpretable samples and the original (lime's);
``input_*``: between the perturbed inputs and the original inputs, flattened (captum's)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class TensorFeatures(Features):
    """Inputs (``inputs``: the tensors, then the tensor forward arguments) and their features."""

    baselines: tuple[Tensor, ...]
    """Per input, (B, *shape) what a hidden feature shows."""
    feature_mask: Tensor
    """(B, M) int64 feature of every scalar of the inputs, flattened and concatenated."""
    sums: Tensor
    """(B, K, 3) per feature: Σ x², Σ x·baseline, Σ baseline² (input-space distances)."""
    n_inputs: int = dataclasses.field(metadata={"shared": True})
    extra: tuple[Any, ...] = dataclasses.field(metadata={"shared": True})
    """additional_forward_args, with ``_BATCHED`` where a tensor of ``inputs`` goes."""
    as_tuple: bool = dataclasses.field(metadata={"shared": True})
    """The inputs came as a tuple (attributions come back as one)."""


class Lime(Explainer):
    """LIME for any tensors: features given by a mask, hidden features replaced by baselines.

    The settings shared by every explainer are described on
    :class:`~torchlime._explainer.Explainer`; ``kernel="shapley"`` makes it KernelSHAP
    (see :class:`KernelShap`).

    Args:
        model: callable ``(*inputs, *additional_forward_args) -> (n,) or (n, O)``.
        distance: what the kernel's distance measures: ``"cosine"`` (default, lime's:
            between the binary samples and the all-ones row), ``"euclidean"``,
            ``"input_cosine"`` or ``"input_euclidean"`` (captum's: between the perturbed
            and the original inputs, flattened and concatenated; computed from per-feature
            sums, no perturbed input kept).
        output: ``"identity"`` (default: explain the model's outputs as they are),
            ``"softmax"``, ... or a callable.
        n_samples: N >= 2 samples per example, the original included.
        batch_size: perturbed inputs per model call, or ``"auto"``.
        kernel_width: the kernel's width on ``distance`` (0.25, lime's for images).
        alpha: the surrogate's penalty (lime's ridge: 1).
        feature_selection: lime's modes (``"none"`` by default here).
        max_features: lime's ``num_features`` (None: all).
        sampler: ``"lime"`` (Bernoulli, as captum's), or any other sampler.
        **settings: the shared settings (``surrogate``, ``kernel``, ...).

    Example:
        >>> from torch import nn
        >>> model = nn.Linear(4, 1)
        >>> exp = Lime(model, n_samples=200, progress=False)(torch.rand(2, 4), generator=0)
        >>> exp.coef.shape, exp.attributions.shape  # every scalar a feature; (B, T, *shape)
        (torch.Size([2, 1, 4]), torch.Size([2, 1, 4]))
    """

    explanation = TensorExplanation
    law = "bernoulli"

    def __init__(
        self,
        model: Callable[..., Any],
        *,
        distance: str = "cosine",
        output: Output = "identity",
        n_samples: int | str = 1000,
        batch_size: int | str = "auto",
        kernel_width: float = 0.25,
        alpha: float = 1.0,
        feature_selection: str = "none",
        max_features: int | None = None,
        sampler: Sampler = "lime",
        **settings: Any,
    ) -> None:
        if distance not in DISTANCES:
            raise ValueError(f"distance must be one of {DISTANCES}; got {distance!r}")
        if sampler == "binomial" and distance.startswith("input_"):
            raise ValueError(
                f"sampler='binomial' folds the kernel on the samples' distance into the "
                f"sampling; distance={distance!r} is measured on the inputs: use 'cosine' or "
                "'euclidean', or another sampler"
            )
        super().__init__(
            model,
            n_samples=n_samples,
            batch_size=batch_size,
            kernel_width=kernel_width,
            alpha=alpha,
            feature_selection=feature_selection,
            max_features=max_features,
            output=output,
            sampler=sampler,
            **settings,
        )
        self.distance = distance  # type: ignore[misc]  # an instance setting here

    def forward(
        self,
        inputs: Tensor | tuple[Tensor, ...],
        target: int | Tensor | None = None,
        *,
        feature_mask: Tensor | tuple[Tensor, ...] | None = None,
        baselines: Any = None,
        additional_forward_args: Any = None,
        top_labels: int | None = None,
        masks: Tensor | None = None,
        weights: Tensor | None = None,
        generator: torch.Generator | int | None = None,
        keep_samples: bool = False,
        differentiable: bool = False,
        repeats: int = 1,
    ) -> TensorExplanation:
        """Explain a batch of inputs.

        Args:
            inputs: a (B, ...) tensor, or a tuple of them (one model argument each).
            target: an int, (B,) or (B, T) output indices; None explains each example's
                top output (or the output, for a model returning (n,)).
            feature_mask: integer feature ids ``0..K-1``: a tensor (one input) or a tuple
                (one per input), each of its input's shape or broadcastable to it (a
                leading 1 shares it across the batch); ids shared across inputs form one
                feature. None: every scalar of every input is its own feature.
            baselines: what hidden features show: None (0), a number, a tensor
                broadcastable to its input, or a tuple of those (one per input).
            additional_forward_args: further model arguments after the inputs: one value
                or a tuple; tensors with leading dimension B follow their example.
            top_labels: T, with ``target=None``.
            masks: (B, N, K) bool interpretable samples instead of drawing them.
            weights: (B, N) sample weights of ``masks``, instead of the kernel's.
            generator: a ``torch.Generator``, an int seed, or None.
            keep_samples: keep masks, scores and weights on the explanation.
            differentiable: keep the autograd graph from the model to the coefficients.
            repeats: explain every example R times with independent samples.

        Returns:
            :class:`~torchlime.explanation.TensorExplanation`: coefficients (B, T, K), and
            ``attributions`` in the inputs' shapes.
        """
        exp = self.explain(
            inputs,
            target,
            top_labels=top_labels,
            given=masks if weights is None else (masks, weights),
            generator=generator,
            keep_samples=keep_samples,
            differentiable=differentiable,
            repeats=repeats,
            feature_mask=feature_mask,
            baselines=baselines,
            additional_forward_args=additional_forward_args,
        )
        return cast(TensorExplanation, exp)

    # ------------------------------------------------------------------ hooks

    def _features(  # type: ignore[override]  # its forward's inputs, by name
        self,
        inputs: Any,
        *,
        k: int | None = None,
        feature_mask: Any = None,
        baselines: Any = None,
        additional_forward_args: Any = None,
    ) -> TensorFeatures:
        xs, as_tuple = _checks.tensor_inputs(inputs)
        b, device = xs[0].shape[0], xs[0].device
        masks = _checks.feature_ids(feature_mask, xs)  # (B, M)
        bases = _checks.baseline_tensors(baselines, xs)
        n_features = masks.amax(1) + 1
        if k is None:
            k = int(n_features.max())  # the one host sync: the padded feature count
        elif self.validate and bool((n_features > k).any()):
            raise ValueError(f"masks must have K >= {n_features.tolist()} features; got K={k}")
        # the kernel's weights are constants of the fit, as the samples are: no graph
        flat_x = torch.cat([x.detach().reshape(b, -1).double() for x in xs], 1)
        flat_b = torch.cat([v.detach().reshape(b, -1).double() for v in bases], 1)
        terms = torch.stack([flat_x * flat_x, flat_x * flat_b, flat_b * flat_b], -1)
        sums = terms.new_zeros(b, k, 3).scatter_add_(1, masks[..., None].expand(-1, -1, 3), terms)
        args = additional_forward_args
        extra = tuple(args) if isinstance(args, tuple) else (() if args is None else (args,))
        batched = [isinstance(a, Tensor) and a.ndim and a.shape[0] == b for a in extra]
        tensors = tuple(a for a, t in zip(extra, batched, strict=True) if t)
        return TensorFeatures(
            inputs=(*xs, *(t.to(device) for t in tensors)),
            n_features=n_features,
            k=k,
            baselines=bases,
            feature_mask=masks,
            sums=sums,
            n_inputs=len(xs),
            extra=tuple(_BATCHED if t else a for a, t in zip(extra, batched, strict=True)),
            as_tuple=as_tuple,
        )

    def _given(self, features: Features, given: Any) -> Samples:
        if not isinstance(given, tuple):
            return super()._given(features, given)
        masks, weights = given
        masks = _checks.masks(masks, len(features), features.device, features.k)
        if isinstance(weights, Tensor):
            weights = weights.to(device=masks.device)
        weights = _checks.sample_weights(weights, masks, "weights", self.validate)
        return Samples(masks, masks, weights=weights)

    def _weigh(self, features: Features, X: Tensor) -> Tensor:
        if self.kernel == "shapley" or not self.distance.startswith("input_"):
            return super()._weigh(features, X)
        f = cast(TensorFeatures, features)
        z = X.to(torch.float64)  # (B, N, K): kept features show x, the others the baseline
        xx, xb, bb = (f.sums[..., i][:, None, :] for i in range(3))  # (B, 1, K)
        if self.distance == "input_cosine":
            dot = (z * xx + (1 - z) * xb).sum(-1)
            norm = (z * xx + (1 - z) * bb).sum(-1).sqrt() * xx.sum(-1).sqrt()
            d = 1 - dot / norm.clamp(min=1e-8)  # as torch's CosineSimilarity (eps 1e-8)
        else:
            d = ((1 - z) * (xx - 2 * xb + bb)).sum(-1).clamp(min=0).sqrt()
        return exponential_kernel(d, self.kernel_width)

    def _compose(self, features: Features, samples: Samples, differentiable: bool) -> Compose:
        f = cast(TensorFeatures, features)
        masks, n = samples.data, samples.data.shape[1]
        per = n - 1
        xs, extra = f.inputs[: f.n_inputs], f.inputs[f.n_inputs :]
        b = xs[0].shape[0]
        sizes = [x[0].numel() for x in xs]
        owner = torch.arange(b, device=masks.device).repeat_interleave(per)
        flat = masks[:, 1:].reshape(b * per, -1)

        def by_row(start: int, stop: int) -> tuple[Tensor, ...]:
            """Many small examples in the chunk: every row gathers its own ids and input."""
            example = owner[start:stop]
            keep = flat[start:stop].gather(1, f.feature_mask.index_select(0, example))
            return tuple(
                torch.where(k.view(len(example), *x.shape[1:]), x.index_select(0, example),
                            base.index_select(0, example))
                for k, x, base in zip(keep.split(sizes, 1), xs, f.baselines, strict=True)
            )  # fmt: skip

        def by_example(first: int, last: int, start: int, stop: int) -> tuple[Tensor, ...]:
            """A few large examples: each composed from its own input by broadcasting."""
            pieces: list[list[Tensor]] = [[] for _ in xs]
            for e in range(first, last + 1):  # a handful of examples, not samples
                lo, hi = max(start - e * per, 0), min(stop - e * per, per)
                ids = f.feature_mask[e].expand(hi - lo, -1)  # a view: no (rows, M) index
                keep = masks[e, 1 + lo : 1 + hi].gather(1, ids)
                for i, part in enumerate(keep.split(sizes, 1)):
                    shape = (hi - lo, *xs[i].shape[1:])
                    pieces[i].append(torch.where(part.view(shape), xs[i][e], f.baselines[i][e]))
            return tuple(p[0] if len(p) == 1 else torch.cat(p) for p in pieces)

        def compose_rows(start: int, stop: int) -> tuple[Tensor, ...]:
            first, last = start // per, (stop - 1) // per  # rows are example-major
            if last - first < 8:
                composed = by_example(first, last, start, stop)
            else:
                composed = by_row(start, stop)
            example = owner[start:stop]
            return (*composed, *(t.index_select(0, example) for t in extra))

        return compose_rows

    def _call_model(self, inputs: tuple[Tensor, ...], features: Features) -> Any:
        f = cast(TensorFeatures, features)
        tensors = iter(inputs[f.n_inputs :])
        rest = [next(tensors) if a is _BATCHED else a for a in f.extra]
        out = self.model(*inputs[: f.n_inputs], *rest)
        return out[:, None] if isinstance(out, Tensor) and out.ndim == 1 else out

    def _result(self, features: Features, samples: Samples, keep_samples: bool) -> dict[str, Any]:
        f = cast(TensorFeatures, features)
        xs = f.inputs[: f.n_inputs]
        rank = max(x.ndim - 1 for x in xs)
        shapes = torch.full((len(f), len(xs), rank), -1, dtype=torch.long, device=f.device)
        for i, x in enumerate(xs):  # over inputs (a handful), not samples
            if x.ndim > 1:
                shapes[:, i, : x.ndim - 1] = torch.tensor(x.shape[1:], device=f.device)
        as_tuple = torch.full((len(f),), f.as_tuple, dtype=torch.bool, device=f.device)
        return {"feature_mask": f.feature_mask, "input_shapes": shapes, "tuple_input": as_tuple}

    def _settings(self) -> dict[str, Any]:
        return {}

    def _replay_kwargs(self, exp: Explanation) -> dict[str, Any]:
        return {"masks": exp.masks}


class KernelShap(Lime):
    """KernelSHAP for any tensors: :class:`Lime` with ``kernel="shapley"``.

    Shapley values of the features in ``feature_mask``: the attributions sum to
    ``f(x) - f(baselines)`` exactly, all coalitions are enumerated when ``2^K <=
    n_samples`` (the Shapley values themselves), and sampled from the Shapley kernel
    otherwise (``sampler="paired"`` for antithetic pairs).

    Example:
        >>> from torch import nn
        >>> model = nn.Linear(3, 1)
        >>> x = torch.rand(2, 3)
        >>> exp = KernelShap(model, progress=False)(x, baselines=0.0)
        >>> bool(torch.allclose(exp.coef.sum(-1) + exp.intercept, exp.model_pred, atol=1e-6))
        True
    """

    def __init__(self, model: Callable[..., Any], **settings: Any) -> None:
        settings.setdefault("kernel", "shapley")
        super().__init__(model, **settings)
