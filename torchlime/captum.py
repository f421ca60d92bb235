"""A drop-in for captum's ``Lime`` and ``KernelShap``: change the import, keep the call.

``from torchlime.captum import Lime, KernelShap, get_exp_kernel_similarity_function`` takes
captum 0.9's constructors and ``attribute()`` signatures, defaults and return shapes, and
runs them on torchlime's batched explainers (:class:`torchlime.Lime`,
:class:`torchlime.KernelShap`): every example of a batch at once, the surrogate solved on
the device. What captum does and torchlime keeps:

- the interpretable model: captum's ``SkLearnLasso`` (its default, alpha 0.01),
  ``SkLearnRidge`` and ``SkLearnLinearRegression`` are solved by torchlime's solvers (no
  scikit-learn call); any other captum ``Model`` is fitted as captum fits it, one example
  at a time;
- the similarity: :func:`get_exp_kernel_similarity_function`'s kernels (captum's default:
  cosine, width 1, between the perturbed and the original inputs) are computed batched;
  any other function is called on every perturbed input, as captum calls it;
- the perturbations: Bernoulli(1/2) per feature, or a ``perturb_func`` called as captum
  calls it; the original input is not one of the surrogate's samples;
- a forward function that returns one scalar per batch (a loss) is explained with one
  surrogate for the whole batch.

Where it differs, on purpose: an example whose ``feature_mask`` has fewer ids than the
batch's largest gets 0 for the ids it lacks (captum fits a coefficient to a column that
changes nothing: noise), and its other coefficients are those of its own fit.

Randomness: captum draws from torch's global generator; this module never advances it.
Without ``generator=`` a call is seeded with ``torch.initial_seed()`` (the seed
``torch.manual_seed`` set, read, not consumed): a script seeded for captum stays
reproducible, and repeated calls give the same samples. Pass ``generator=`` (a
``torch.Generator`` or an int seed) to ``attribute`` for independent calls.

captum itself is optional: it is needed only to pass captum's model objects.
"""

from __future__ import annotations

import inspect
import math
import sys
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor

from torchlime import _checks, _random
from torchlime.tensor import KernelShap as _KernelShap
from torchlime.tensor import Lime as _Lime

__all__ = ["KernelShap", "Lime", "get_exp_kernel_similarity_function"]

_SKLEARN = {"linear_model.Lasso": "lasso", "linear_model.Ridge": "ridge",
            "linear_model.LinearRegression": "ols"}  # fmt: skip


def get_exp_kernel_similarity_function(
    distance_mode: str = "cosine", kernel_width: float = 1.0
) -> Callable[..., float]:
    """Captum's exponential kernel on the distance between original and perturbed inputs.

    The function works as captum's on one perturbed input (``exp(-d² / (2 w²))`` with
    ``d`` the cosine distance, or the euclidean one, between the flattened and
    concatenated inputs), and torchlime's :class:`Lime` recognises it and computes it for
    every sample at once.

    Args:
        distance_mode: ``"cosine"`` or ``"euclidean"``.
        kernel_width: the kernel's width.

    Returns:
        ``similarity(original_inp, perturbed_inp, interpretable_sample, **kwargs) -> float``.

    Example:
        >>> kernel = get_exp_kernel_similarity_function("euclidean", 2.0)
        >>> round(kernel(torch.zeros(3), torch.ones(3), None), 4)  # exp(-3 / 8)
        0.6873
    """
    if distance_mode not in ("cosine", "euclidean"):
        raise ValueError("distance_mode must be either cosine or euclidean.")

    def default_exp_kernel(original_inp: Any, perturbed_inp: Any, __: Any, **_: Any) -> float:
        a, p = _flat(original_inp).float(), _flat(perturbed_inp).float()
        if distance_mode == "cosine":
            distance = 1 - torch.nn.CosineSimilarity(dim=0)(a, p)
        else:
            distance = torch.norm(a - p)
        return math.exp(-1 * float(distance) ** 2 / (2 * kernel_width**2))

    default_exp_kernel.distance_mode = distance_mode  # type: ignore[attr-defined]
    default_exp_kernel.kernel_width = kernel_width  # type: ignore[attr-defined]
    return default_exp_kernel


class Lime:
    """captum's ``Lime``, batched: every example of a batch explained at once.

    ``Lime(forward_func, interpretable_model=None, similarity_func=None, perturb_func=None)``
    as in captum 0.9; ``attribute`` takes captum's arguments and an optional ``generator``.

    Example:
        >>> from torch import nn
        >>> net = nn.Linear(3, 2)
        >>> attr = Lime(net).attribute(torch.rand(4, 3), target=1, n_samples=200, generator=0)
        >>> attr.shape  # the inputs' shape
        torch.Size([4, 3])
    """

    _label = "Lime attribution"

    def __init__(
        self,
        forward_func: Callable[..., Any],
        interpretable_model: Any = None,
        similarity_func: Callable[..., Any] | None = None,
        perturb_func: Callable[..., Any] | None = None,
    ) -> None:
        self.forward_func = forward_func
        self.interpretable_model = interpretable_model
        self.similarity_func = similarity_func or get_exp_kernel_similarity_function()
        self.perturb_func = perturb_func

    def attribute(
        self,
        inputs: Tensor | tuple[Tensor, ...],
        baselines: Any = None,
        target: Any = None,
        additional_forward_args: Any = None,
        feature_mask: Tensor | tuple[Tensor, ...] | None = None,
        n_samples: int = 25,
        perturbations_per_eval: int = 1,
        return_input_shape: bool = True,
        show_progress: bool = False,
        generator: torch.Generator | int | None = None,
    ) -> Tensor | tuple[Tensor, ...]:
        """Captum's ``attribute``: the surrogate's weights, in the inputs' shapes.

        Args:
            inputs: a (B, ...) tensor or a tuple of them.
            baselines: what a hidden feature shows (None: 0), per input or for all.
            target: the output explained: an int, a (B,) tensor or list, or None for a
                scalar per example.
            additional_forward_args: further arguments of the forward function.
            feature_mask: integer feature ids per input (None: every scalar a feature).
            n_samples: perturbations per example (the original is not one of them).
            perturbations_per_eval: perturbed inputs per model call, as in captum (results
                do not depend on it); 1, captum's default, leaves the chunking to
                torchlime (``batch_size="auto"``: every example's samples, 24 MB of
                inputs per call on a CPU, a share of free memory on a GPU).
            return_input_shape: the weights in the inputs' shapes, else (B, K).
            show_progress: progress lines on stderr.
            generator: a ``torch.Generator`` or an int seed (not in captum); None:
                ``torch.initial_seed()``, torch's global generator is never advanced.

        Returns:
            A tensor (or a tuple, for tuple inputs) of the inputs' shapes, or (B, K).
        """
        if show_progress:
            sys.stderr.write(f"{self._label}: 0%\n")
        xs, is_tuple = _checks.tensor_inputs(inputs)
        if generator is None:  # the seed torch.manual_seed set: read, never advanced
            generator = torch.initial_seed() % 2**63
        args = additional_forward_args
        extra = args if isinstance(args, tuple) else (() if args is None else (args,))
        batch_scalar = _scalar_per_batch(self.forward_func, xs, extra)
        model: Callable[..., Any] = self.forward_func
        if batch_scalar:  # one surrogate for the whole batch: it is one example of B rows
            if perturbations_per_eval != 1:
                raise ValueError(
                    "Perturbations per eval must be 1 when forward function returns single "
                    "value per batch!"
                )
            model = _BatchFunction(self.forward_func, len(xs))
            xs = tuple(x[None] for x in xs)
            feature_mask = _lift(feature_mask, xs)
            baselines = _lift(baselines, xs)
            target = None
        explainer = self._explainer(model, n_samples, perturbations_per_eval)
        call = {"feature_mask": feature_mask, "baselines": baselines,
                "additional_forward_args": args, "generator": generator}  # fmt: skip
        given = self._given(xs, is_tuple, call, n_samples)
        if given is not None:
            call["masks"], call["weights"] = given
        exp = explainer(xs if (is_tuple or batch_scalar) else xs[0], _target(target), **call)
        if show_progress:
            sys.stderr.write(f"{self._label}: 100%\n")
        if not return_input_shape:
            return exp.coef[:, 0]
        attr = exp.attributions
        parts = attr if isinstance(attr, tuple) else (attr,)
        parts = tuple(p[:, 0] for p in parts)
        if batch_scalar:  # captum returns the first row's positions: (1, *shape)
            parts = tuple(p[0][0:1] for p in parts)
        return parts if is_tuple else parts[0]

    def attribute_future(self) -> None:
        """Not in captum's Lime either."""
        raise NotImplementedError("LIME does not support attribution of future samples.")

    def has_convergence_delta(self) -> bool:
        """Lime has no convergence delta."""
        return False

    @property
    def multiplies_by_inputs(self) -> bool:
        """The attributions are not multiplied by the inputs."""
        return False

    # ------------------------------------------------------------------ internals

    def _explainer(self, model: Callable[..., Any], n_samples: int, ppe: int) -> _Lime:
        surrogate, alpha = _surrogate(self.interpretable_model)
        kernel = self.similarity_func
        mode = getattr(kernel, "distance_mode", None)
        return _Lime(
            model,
            distance=f"input_{mode}" if mode else "cosine",
            kernel_width=float(getattr(kernel, "kernel_width", 1.0)),
            surrogate=surrogate,
            alpha=alpha,
            n_samples=n_samples + 1,  # the original leads, out of the fit
            fit_original=False,
            batch_size=_batch_size(ppe),
            progress=False,
        )

    def _given(
        self, xs: tuple[Tensor, ...], is_tuple: bool, call: dict[str, Any], n_samples: int
    ) -> tuple[Tensor, Tensor] | None:
        """Masks and weights from a custom perturb_func or similarity_func, as captum calls them.

        captum calls both once per perturbation of one example: so does this (a Python
        loop, as slow as captum's); the model still runs batched.
        """
        custom_kernel = getattr(self.similarity_func, "distance_mode", None) is None
        if self.perturb_func is None and not custom_kernel:
            return None
        ids = _checks.feature_ids(call["feature_mask"], xs)  # (B, M)
        bases = _checks.baseline_tensors(call["baselines"], xs)
        b, device = len(ids), xs[0].device
        k = int(ids.amax()) + 1 if ids.numel() else 0
        g, _ = _random.resolve_generator(call["generator"], device)
        masks = torch.ones(b, n_samples + 1, k, dtype=torch.bool, device=device)
        weights = torch.zeros(b, n_samples + 1, dtype=torch.float64, device=device)
        for i in range(b):  # captum's own loop: one example, one perturbation at a time
            inp, base = _rows(xs, i), _rows(bases, i)
            kwargs = {"num_interp_features": k, "baselines": base if is_tuple else base[0],
                      "feature_mask": _split(ids[i : i + 1], inp, is_tuple)}  # fmt: skip
            draws = _draws(self.perturb_func, inp if is_tuple else inp[0], kwargs, k, g)
            for n in range(1, n_samples + 1):
                z = next(draws).reshape(-1).bool().to(device)
                masks[i, n] = z
                perturbed = _compose(inp, z[ids[i]], base)
                sim = self.similarity_func(
                    inp if is_tuple else inp[0], perturbed if is_tuple else perturbed[0],
                    z[None].float(), **kwargs,
                )  # fmt: skip
                weights[i, n] = float(sim)
        return masks, weights


class KernelShap(Lime):
    """captum's ``KernelShap``, batched, with the efficiency constraint solved exactly.

    Example:
        >>> from torch import nn
        >>> net = nn.Linear(3, 1)
        >>> x = torch.rand(2, 3)
        >>> attr = KernelShap(net).attribute(x, baselines=0.0)
        >>> bool(torch.allclose(attr.sum(1), (net(x) - net(torch.zeros(1, 3)))[:, 0], atol=1e-5))
        True
    """

    _label = "Kernel Shap attribution"

    def __init__(self, forward_func: Callable[..., Any]) -> None:
        super().__init__(forward_func)

    def _explainer(self, model: Callable[..., Any], n_samples: int, ppe: int) -> _Lime:
        return _KernelShap(
            model,
            n_samples=max(n_samples, 3),
            batch_size=_batch_size(ppe),
            progress=False,
        )


# --------------------------------------------------------------------------- helpers


class _BatchFunction:
    """A forward function of whole batches, called once per perturbation: (n, B, ...) -> (n,)."""

    def __init__(self, fn: Callable[..., Any], n_inputs: int) -> None:
        self.fn, self.n_inputs = fn, n_inputs

    def __call__(self, *args: Any) -> Tensor:
        stacked, rest = args[: self.n_inputs], args[self.n_inputs :]
        outs = [torch.as_tensor(self.fn(*(s[i] for s in stacked), *rest)).reshape(())
                for i in range(stacked[0].shape[0])]  # fmt: skip
        return torch.stack(outs).float().to(stacked[0].device)


def _batch_size(ppe: int) -> int | str:
    """Captum's perturbations_per_eval as the explainer's rows per model call."""
    if isinstance(ppe, bool) or not isinstance(ppe, int) or ppe < 1:
        raise ValueError(f"perturbations_per_eval must be an int >= 1; got {ppe!r}")
    return "auto" if ppe == 1 else ppe


def _scalar_per_batch(fn: Callable[..., Any], xs: tuple[Tensor, ...], extra: tuple) -> bool:
    """Whether the forward function returns one value for a whole batch (a loss, say).

    Asked of two copies of the first example: one value for both means a batch scalar.
    """
    two = tuple(torch.cat([x[:1], x[:1]]) for x in xs)
    batched = [a.repeat(2, *([1] * (a.ndim - 1))) if isinstance(a, Tensor) and a.ndim
               and a.shape[0] == xs[0].shape[0] else a for a in extra]  # fmt: skip
    with torch.no_grad():
        out = fn(*two, *batched)
    return not isinstance(out, Tensor) or out.numel() == 1


def _surrogate(model: Any) -> tuple[Any, float]:
    """Captum's interpretable model as torchlime's surrogate (name or callable) and alpha."""
    if model is None:
        return "lasso", 0.01  # captum's default SkLearnLasso(alpha=0.01)
    name = _SKLEARN.get(getattr(model, "sklearn_module", ""))
    kwargs = dict(getattr(model, "construct_kwargs", {}) or {})
    alpha = float(kwargs.pop("alpha", 1.0))
    if name is not None and not kwargs:  # scikit-learn's defaults otherwise: solved here
        return name, alpha
    return _CaptumModel(model), 0.0


class _CaptumModel:
    """Any other captum ``Model``, fitted as captum fits it: one example, one target at a time."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.__qualname__ = type(model).__name__

    def __call__(self, X: Tensor, y: Tensor, weight: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        from torch.utils.data import DataLoader, TensorDataset

        b, _, k = X.shape
        t = y.shape[-1]
        coef = torch.zeros(b, t, k, dtype=torch.float64)
        intercept = torch.zeros(b, t, dtype=torch.float64)
        for i in range(b):  # captum's loop: one surrogate per example
            for j in range(t):
                live = weight[i] > 0
                data = TensorDataset(
                    X[i][live].float(), y[i, live, j].float(), weight[i][live].float()
                )
                self.model.fit(DataLoader(data, batch_size=int(live.sum())))
                coef[i, j] = self.model.representation().reshape(-1).double().cpu()
                bias = self.model.bias()
                intercept[i, j] = 0.0 if bias is None else float(bias.reshape(-1)[0])
        return coef.to(X.device), intercept.to(X.device)


def _target(target: Any) -> Any:
    if isinstance(target, list):
        return torch.tensor(target)
    if isinstance(target, tuple):
        raise ValueError(
            "tuple targets index outputs of more than two dimensions: reduce them with an "
            "output function in the forward function"
        )
    return target


def _lift(value: Any, xs: tuple[Tensor, ...]) -> Any:
    """A per-batch argument of a batch-scalar function, for its one example of B rows."""
    if isinstance(value, tuple):
        return tuple(_lift(v, xs) for v in value)
    return value[None] if isinstance(value, Tensor) and value.ndim else value


def _draws(
    fn: Any, inp: Any, kwargs: dict[str, Any], k: int, g: torch.Generator
) -> Iterator[Tensor]:
    """Interpretable samples (1, K), from a perturb_func (or its generator) or Bernoulli(1/2)."""
    if fn is None:
        while True:
            yield torch.rand(1, k, generator=g, device=g.device) < 0.5
    if inspect.isgeneratorfunction(fn):
        yield from fn(inp, **kwargs)
        return
    while True:
        yield torch.as_tensor(fn(inp, **kwargs))


def _rows(tensors: tuple[Tensor, ...], i: int) -> tuple[Tensor, ...]:
    return tuple(t[i : i + 1] for t in tensors)


def _split(flat: Tensor, inp: tuple[Tensor, ...], is_tuple: bool) -> Any:
    """(1, M) flat feature ids as one mask per input, of its shape (captum's kwargs)."""
    sizes = [x[0].numel() for x in inp]
    parts = tuple(p.reshape(x.shape) for p, x in zip(flat.split(sizes, 1), inp, strict=True))
    return parts if is_tuple else parts[0]


def _compose(
    inp: tuple[Tensor, ...], keep: Tensor, bases: tuple[Tensor, ...]
) -> tuple[Tensor, ...]:
    sizes = [x[0].numel() for x in inp]
    return tuple(torch.where(k.reshape(x.shape), x, b)
                 for k, x, b in zip(keep.split(sizes), inp, bases, strict=True))  # fmt: skip


def _flat(value: Any) -> Tensor:
    if isinstance(value, (tuple, list)):
        return torch.cat([v.flatten() for v in value])
    return value.flatten()
