"""The modality-agnostic LIME engine: model scores in chunks, then the surrogate fit.

Front-ends (image, tabular, text) supply three things: the original inputs, a
``compose(start, stop)`` function that builds perturbed model inputs for a range of
flattened rows, and the interpretable representation ``X`` of every sample. The engine
never knows which modality it serves.

Row convention: the B originals run first (they decide ``top_labels``), then the
``B * (N - 1)`` perturbed rows, flattened example-major: perturbed row ``r`` is example
``r // (N - 1)``, sample ``r % (N - 1) + 1``. Everything runs in chunks of ``batch_size``;
the first chunk holds the originals and, when they leave room, the first perturbed rows,
so explaining one image costs as many model calls as the bare model on its N inputs.

With ``shared=True`` the B examples share one set of ``N - 1`` perturbed rows (a front-end
whose perturbations do not depend on the example, as lime's tabular sampling): the model
runs on ``B + N - 1`` rows instead of ``B * N``, and every example reads its targets from
the same outputs.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple, TypedDict

import torch
from torch import Tensor, nn

from torchlime.functional.sampling import resolve_generator
from torchlime.functional.surrogate import (
    FEATURE_SELECTION,
    Moments,
    ridge_from_moments,
    select_features,
    weighted_moments,
)

OUTPUTS = ("softmax", "identity", "sigmoid", "log_softmax")
Output = str | Callable[[Tensor], Tensor]
Compose = Callable[[int, int], Any]


class Scores(NamedTuple):
    """What the model said: scores (B, N, T) and the explained targets (B, T) int64.

    Scores are float32, or float64 for a float64 model.
    """

    scores: Tensor
    target: Tensor


class Surrogate(NamedTuple):
    """The fitted local model, every field (B, T, ...) as in :class:`Explanation`."""

    coef: Tensor
    intercept: Tensor
    score: Tensor
    local_pred: Tensor
    selected: Tensor


def output_fn(output: Output) -> Callable[[Tensor], Tensor]:
    """Resolve ``output=`` (a name in ``OUTPUTS`` or a callable ``(n, O) -> (n, O)``)."""
    if callable(output):
        return output
    if output == "softmax":
        return lambda out: _at_least_float32(out).softmax(-1)
    if output == "log_softmax":
        return lambda out: _at_least_float32(out).log_softmax(-1)
    if output == "sigmoid":
        return lambda out: _at_least_float32(out).sigmoid()
    if output == "identity":
        return _at_least_float32
    raise ValueError(f"output must be one of {OUTPUTS} or a callable; got {output!r}")


def _at_least_float32(t: Tensor) -> Tensor:
    """Half and bfloat16 model outputs (autocast) become float32; float64 stays float64."""
    return t.to(torch.promote_types(t.dtype, torch.float32))


def normalise_target(
    target: int | Tensor | None, top_labels: int | None, batch: int
) -> Tensor | None:
    """Turn ``target`` into (B, T) int64, or None when it comes from the model (top labels)."""
    if target is not None and top_labels is not None:
        raise ValueError("give either target or top_labels, not both")
    if top_labels is not None and top_labels < 1:
        raise ValueError(f"top_labels must be >= 1; got {top_labels}")
    if target is None:
        return None
    if isinstance(target, int):
        return torch.full((batch, 1), target, dtype=torch.long)
    if not isinstance(target, Tensor):
        raise TypeError(
            f"target must be None, an int or a (B,) / (B, T) tensor; got {type(target)}"
        )
    if target.dtype.is_floating_point or target.dtype == torch.bool:
        raise TypeError(f"target must be an integer tensor; got dtype {target.dtype}")
    if target.ndim == 0:
        target = target.expand(batch)
    if target.ndim == 1:
        target = target[:, None]
    if target.ndim != 2 or target.shape[0] != batch:
        raise ValueError(
            f"target must be (B,) or (B, T) with B={batch}; got shape {tuple(target.shape)}"
        )
    return target.long()


@contextlib.contextmanager
def borrowed_eval(model: Any, enabled: bool = True) -> Iterator[None]:
    """Put every submodule in eval mode, then hand each back exactly as it was found."""
    if not enabled or not isinstance(model, nn.Module):
        yield
        return
    modes = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        yield
    finally:
        for m, was_training in modes:
            m.training = was_training


class Progress:
    """A minimal progress bar on stderr; silent unless asked for or on a terminal."""

    def __init__(self, total: int, enabled: bool | None, desc: str = "torchlime") -> None:
        if enabled is None:
            enabled = sys.stderr.isatty() and total > 1
        self.enabled, self.total, self.desc = enabled, total, desc
        self.done, self.start, self.last = 0, time.monotonic(), 0.0

    def update(self, n: int) -> None:
        if not self.enabled:
            return
        self.done += n
        now = time.monotonic()
        if now - self.last < 0.1 and self.done < self.total:
            return
        self.last = now
        frac = self.done / max(self.total, 1)
        bar = "#" * int(30 * frac)
        rate = self.done / max(now - self.start, 1e-9)
        sys.stderr.write(f"\r{self.desc}: [{bar:<30}] {self.done}/{self.total} ({rate:,.0f}/s)")
        if self.done >= self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def runs(start: int, stop: int, per: int) -> Iterator[tuple[int, int, int, int, int]]:
    """Split flat rows ``[start, stop)`` into per-example runs.

    Yields ``(b, s0, s1, o0, o1)``: example ``b``, its perturbed samples ``s0..s1-1``
    (0-based among the N - 1), written to chunk rows ``o0..o1-1``. Pure arithmetic, no
    tensor is read.
    """
    row = start
    while row < stop:
        b, s0 = divmod(row, per)
        s1 = min(per, s0 + stop - row)
        yield b, s0, s1, row - start, row - start + s1 - s0
        row += s1 - s0


def score_samples(
    model: Callable[[Any], Tensor],
    originals: Any,
    compose: Compose,
    *,
    batch: int,
    n_samples: int,
    target: Tensor | None,
    top_labels: int | None,
    output: Output,
    batch_size: int,
    device: torch.device,
    progress: bool | None = None,
    differentiable: bool = False,
    validate: bool = True,
    take: Callable[[Any, int, int], Any] | None = None,
    shared: bool = False,
) -> Scores:
    """Run the model on the originals and on every perturbed sample, chunk by chunk.

    Args:
        model: callable ``(n, ...) -> (n, O)``.
        originals: the B unperturbed inputs, in the model's input format.
        compose: ``compose(start, stop)`` returns model inputs for flat perturbed rows
            ``[start, stop)`` (see the module docstring); it may reuse its own memory from
            one call to the next (a chunk's model call is issued before the next chunk is
            composed), except when gradients are kept.
        batch: B.
        n_samples: N >= 2, samples per example including the original.
        target: (B, T) int64 targets, or None to explain the model's ``top_labels``.
        top_labels: T, when ``target`` is None (default 1).
        output: map from raw outputs to explained scores (``OUTPUTS`` or a callable).
        batch_size: rows per model call.
        device: where scores are gathered.
        progress: show a progress bar (None: only on a terminal).
        differentiable: keep the autograd graph (grad mode on).
        validate: check shapes and finiteness (one host sync at the end).
        take: ``take(originals, start, stop)`` slices the originals (default: indexing).
        shared: the examples share one set of N - 1 perturbed rows, composed as flat rows
            ``[0, N - 1)``; each chunk's outputs give every example's targets.

    Returns:
        :class:`Scores`: scores (B, N, T) float32 and target (B, T) int64.
    """
    transform = output_fn(output)
    take = take or (lambda inputs, i, j: inputs[i:j])
    per = n_samples - 1
    total = batch + (per if shared else batch * per)  # the B originals, then perturbed rows
    bar = Progress(total, progress)
    grad = torch.enable_grad() if differentiable else torch.no_grad()
    originals_out: list[Tensor] = []
    chunks: list[Tensor] = []
    n_outputs: int | None = None
    with grad:
        for start in range(0, total, batch_size):
            stop = min(start + batch_size, total)
            n_orig = max(0, min(stop, batch) - start)
            if n_orig == 0:
                inputs = compose(start - batch, stop - batch)
            elif stop <= batch:
                inputs = take(originals, start, stop)
            else:  # the originals' last rows share the first chunk with perturbed ones
                parts = [take(originals, start, batch), compose(0, stop - batch)]
                inputs = _concat(parts)
            out = transform(_call(model, inputs, validate, n_outputs))
            n_outputs = out.shape[-1]
            if n_orig:
                originals_out.append(out[:n_orig])
                out = out[n_orig:]
                if start + n_orig == batch:  # every original seen: the targets are known
                    originals_out = [torch.cat(originals_out)]
                    target = _resolve_target(target, originals_out[0], top_labels, validate, device)
            if out.shape[0] and shared:  # every example's targets from every shared row
                chunks.append(out[:, _known(target).flatten()])
            elif out.shape[0]:  # the originals came first, so the targets are known here
                rows = torch.arange(start + n_orig - batch, stop - batch, device=device) // per
                chunks.append(out.gather(1, _known(target)[rows]))
            bar.update(stop - start)
        target = _known(target)
        t = target.shape[1]
        scores0 = originals_out[0].gather(1, target)[:, None, :]
        if not chunks:
            rest = scores0[:, :0]
        elif shared:  # (N - 1, B * T) -> (B, N - 1, T)
            rest = torch.cat(chunks).view(per, batch, t).permute(1, 0, 2)
        else:
            rest = torch.cat(chunks).view(batch, per, t)
        scores = _at_least_float32(torch.cat([scores0, rest], 1))
    if validate and not torch.compiler.is_compiling():
        bad = ~torch.isfinite(scores).all(-1)
        n_bad = int(bad.sum())
        if n_bad:
            raise ValueError(
                f"the model returned NaN or inf scores for {n_bad} of {batch * n_samples} samples "
                f"(examples {sorted(set(bad.nonzero()[:, 0].tolist()))[:10]}); "
                "check the model on perturbed inputs and the output= transform"
            )
    return Scores(scores, target)


def _resolve_target(
    target: Tensor | None,
    out0: Tensor,
    top_labels: int | None,
    validate: bool,
    device: torch.device,
) -> Tensor:
    """(B, T) targets: the given ones (range-checked), or the originals' top labels."""
    if target is None:
        return out0.detach().topk(top_labels or 1, dim=-1).indices
    target = target.to(device)
    n_outputs = out0.shape[-1]
    if validate and bool(((target < 0) | (target >= n_outputs)).any()):
        raise ValueError(
            f"target must lie in [0, {n_outputs}) for a model with {n_outputs} outputs; "
            f"got values from {int(target.min())} to {int(target.max())}"
        )
    return target


def _known(target: Tensor | None) -> Tensor:
    if target is None:  # pragma: no cover - the originals always run first
        raise RuntimeError("targets are resolved from the originals before any other row")
    return target


def _concat(parts: list[Any]) -> Any:
    """Concatenate model inputs along dim 0: tensors, dicts or tuples of tensors."""
    first = parts[0]
    if isinstance(first, Tensor):
        return torch.cat(parts)
    if isinstance(first, dict):
        return {key: torch.cat([p[key] for p in parts]) for key in first}
    if isinstance(first, (tuple, list)):
        return type(first)(torch.cat(list(items)) for items in zip(*parts, strict=True))
    raise TypeError(f"cannot concatenate model inputs of type {type(first).__name__}")


def _call(
    model: Callable[[Any], Tensor], inputs: Any, validate: bool, n_outputs: int | None = None
) -> Tensor:
    out = model(inputs)
    if validate:
        n = _length(inputs)
        if not isinstance(out, Tensor) or out.ndim != 2 or (n is not None and out.shape[0] != n):
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(
                f"the model must return (n, O) scores for n inputs; got {got} for n={n}. "
                "Reshape a regression output to (n, 1)."
            )
        if n_outputs is not None and out.shape[1] != n_outputs:
            raise ValueError(f"the model returned {out.shape[1]} outputs, then {n_outputs}")
    return out


def _length(inputs: Any) -> int | None:
    if isinstance(inputs, Tensor):
        return inputs.shape[0]
    if isinstance(inputs, dict):
        inputs = next(iter(inputs.values()), None)
    elif isinstance(inputs, (tuple, list)):
        inputs = inputs[0] if inputs else None
    return inputs.shape[0] if isinstance(inputs, Tensor) else None


def fit_surrogate(
    X: Tensor,
    scores: Tensor,
    weights: Tensor,
    n_features: Tensor,
    *,
    alpha: float,
    feature_selection: str,
    max_features: int | None,
    chunk_size: int | None = None,
) -> Surrogate:
    """Select features and fit the weighted ridge surrogate for every example and target.

    Args:
        X: (B, N, K) interpretable samples (bool masks or floats); row 0 is the original.
        scores: (B, N, T) float model scores.
        weights: (B, N) sample weights.
        n_features: (B,) int64 valid features per example; columns beyond are padding.
        alpha: ridge penalty of the final fit.
        feature_selection: one of lime's modes (``FEATURE_SELECTION``).
        max_features: lime's ``num_features``; None keeps every feature.
        chunk_size: compute the moments (the one pass over the N samples) this many
            examples at a time (None: all at once); selection and solve then run for every
            example together. Examples are independent, so the result is the same; chunks
            keep the float64 (chunk, N, K) temporaries in cache when B x N x K is large (a
            CPU matter). ``"lasso_path"``, which makes its own copies of the samples, also
            selects chunk by chunk.

    Returns:
        :class:`Surrogate` with coef (B, T, K), intercept, score, local_pred (B, T) and the
        selected features (B, T, K) bool.
    """
    b = X.shape[0]
    step = b if chunk_size is None else max(1, chunk_size)
    spans = [slice(i, i + step) for i in range(0, b, step)]
    valid = torch.arange(X.shape[-1], device=X.device) < n_features[:, None]
    parts = [weighted_moments(X[s], scores[s], weights[s]) for s in spans]  # float64
    if len(parts) > 1:
        moments = Moments(*(torch.cat(field) for field in zip(*parts, strict=True)))
    else:
        moments = parts[0]
    if feature_selection == "lasso_path" and len(spans) > 1:
        selected = torch.cat(
            [
                select_features(
                    "lasso_path", X[s], scores[s], weights[s], max_features, feature_mask=valid[s]
                )
                for s in spans
            ]
        )
    else:
        selected = select_features(
            feature_selection,
            X,
            scores,
            weights,
            max_features,
            feature_mask=valid,
            moments=moments,
        )
    fit = ridge_from_moments(moments, alpha, feature_mask=selected)
    out = torch.promote_types(scores.dtype, torch.float32)
    x0 = X[:, 0, :].to(fit.coef.dtype)
    local_pred = fit.intercept + (fit.coef * x0[:, None, :]).sum(-1)
    return Surrogate(
        fit.coef.to(out), fit.intercept.to(out), fit.score.to(out), local_pred.to(out), selected
    )


class ExplanationFields(TypedDict):
    """The fields every Explanation shares (see :class:`~torchlime.explanation.Explanation`)."""

    coef: Tensor
    intercept: Tensor
    score: Tensor
    local_pred: Tensor
    model_pred: Tensor
    target: Tensor
    selected: Tensor
    n_features: Tensor
    seed: Tensor
    masks: Tensor | None
    scores: Tensor | None
    weights: Tensor | None


def explanation_fields(
    fit: Surrogate,
    scores: Tensor,
    target: Tensor,
    X: Tensor,
    weights: Tensor,
    n_features: Tensor,
    seed: int,
    *,
    keep_samples: bool,
) -> ExplanationFields:
    """The fields every :class:`~torchlime.explanation.Explanation` shares.

    Args:
        fit: from :func:`fit_surrogate`.
        scores: (B, N, T) model scores, row 0 the originals'.
        target: (B, T) int64 explained outputs.
        X: (B, N, K) interpretable samples.
        weights: (B, N) sample weights.
        n_features: (B,) int64 valid features per example.
        seed: the call's seed (-1 for a caller's generator), recorded per example.
        keep_samples: keep ``X`` (as ``masks``), the scores and the weights.

    Returns:
        keyword arguments for an Explanation; a front-end adds its own fields.
    """
    b = scores.shape[0]
    return ExplanationFields(
        coef=fit.coef,
        intercept=fit.intercept,
        score=fit.score,
        local_pred=fit.local_pred,
        model_pred=scores[:, 0],
        target=target,
        selected=fit.selected,
        n_features=n_features,
        seed=torch.full((b,), seed, dtype=torch.long, device=scores.device),
        masks=X if keep_samples else None,
        scores=scores if keep_samples else None,
        weights=weights if keep_samples else None,
    )


def check_config(
    *,
    n_samples: object,
    batch_size: int,
    output: Output,
    feature_selection: str,
    max_features: int | None,
    kernel_width: float | None,
    alpha: float,
) -> None:
    """Validate the settings every explainer shares, at construction, naming the argument."""
    if not isinstance(n_samples, int) or isinstance(n_samples, bool) or n_samples < 2:
        raise ValueError(f"n_samples must be an int >= 2; got {n_samples!r}")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int; got {batch_size!r}")
    output_fn(output)
    if feature_selection not in FEATURE_SELECTION:
        raise ValueError(
            f"feature_selection must be one of {FEATURE_SELECTION}; got {feature_selection!r}"
        )
    if max_features is not None and max_features < 1:
        raise ValueError(f"max_features must be >= 1 or None; got {max_features}")
    if kernel_width is not None and kernel_width <= 0:
        raise ValueError(f"kernel_width must be > 0; got {kernel_width}")
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0; got {alpha}")


def new_generator(
    generator: torch.Generator | None, device: torch.device
) -> tuple[torch.Generator, int]:
    """The call's generator and the seed to record (-1 when the caller brought their own)."""
    if generator is not None:
        return resolve_generator(generator, device)[0], -1
    import secrets

    seed = secrets.randbits(63)
    return torch.Generator(device=device).manual_seed(seed), seed
