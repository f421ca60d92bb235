"""The model side of the engine: every sample's scores, in chunks, on the inputs' device.

The explainer template (:mod:`torchlime._explainer`) supplies the original inputs and a
``compose(start, stop)`` function that builds perturbed model inputs for a range of
flattened rows; this module runs the model and gathers the explained targets. It never
knows which modality it serves. Also here: ``output=`` transforms, target normalisation,
borrowed eval mode and the progress bar.

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
import numbers
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from torchlime.types import Output

__all__ = [
    "OUTPUTS",
    "Compose",
    "Progress",
    "Scores",
    "available_memory",
    "borrowed_eval",
    "check_memory",
    "chunk_rows",
    "normalise_target",
    "output_fn",
    "row_bytes",
    "runs",
    "score_samples",
]

OUTPUTS = ("softmax", "identity", "sigmoid", "log_softmax")
Compose = Callable[[int, int], Any]


class Scores(NamedTuple):
    """What the model said: scores (B, N, T) and the explained targets (B, T) int64.

    Scores are float32, or float64 for a float64 model.
    """

    scores: Tensor
    target: Tensor


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
    if isinstance(target, (bool, np.bool_)):
        raise TypeError(f"target must be an output index, not a bool; got {target!r}")
    if isinstance(target, numbers.Integral):  # int, numpy's integers
        return torch.full((batch, 1), int(target), dtype=torch.long)
    array_like = hasattr(target, "__array__") and not isinstance(target, Tensor)
    if isinstance(target, list) or array_like:  # a list, a numpy array
        target = torch.as_tensor(np.asarray(target))
    if not isinstance(target, Tensor):
        raise TypeError(
            f"target must be None, an int, or (B,) / (B, T) indices (a tensor, array or "
            f"list); got {type(target).__name__}"
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
    """A progress bar on stderr, in stages ("features", "model calls"); silent unless wanted.

    ``enabled=None`` shows it on a terminal and in a notebook; ``True`` everywhere. On a
    terminal the bar redraws in place; in a notebook it is tqdm's widget when tqdm is
    installed; elsewhere (a log file) it writes one line per tenth of a stage instead of
    redrawing.
    """

    def __init__(self, total: int, enabled: bool | None, desc: str = "torchlime") -> None:
        notebook = "ipykernel" in sys.modules
        if enabled is None:
            enabled = (sys.stderr.isatty() or notebook) and total != 1
        self.enabled, self.desc = enabled, desc
        self.terminal = sys.stderr.isatty()
        self.widget: Any = None
        self._tqdm = notebook and not self.terminal and _has_tqdm()
        self.stage("", total)

    def stage(self, name: str, total: int) -> None:
        """Start a stage of ``total`` steps (closing the previous one)."""
        self.close()
        self.name, self.total, self.done = name, total, 0
        self.start, self.last, self.tenth = time.monotonic(), 0.0, 0
        if self.enabled and self._tqdm:
            from tqdm.auto import tqdm

            self.widget = tqdm(total=total, desc=self._label(), leave=False)

    def update(self, n: int) -> None:
        """``n`` more steps of the stage are done."""
        if not self.enabled:
            return
        self.done += n
        if self.widget is not None:
            self.widget.update(n)
            return
        now = time.monotonic()
        frac = self.done / max(self.total, 1)
        if not self.terminal:  # a log: a line per tenth
            if int(10 * frac) > self.tenth or self.done >= self.total:
                self.tenth = int(10 * frac)
                sys.stderr.write(f"{self._label()}: {self.done}/{self.total} ({frac:.0%})\n")
            return
        if now - self.last < 0.1 and self.done < self.total:
            return
        self.last = now
        bar = "#" * int(30 * frac)
        rate = self.done / max(now - self.start, 1e-9)
        sys.stderr.write(f"\r{self._label()}: [{bar:<30}] {self.done}/{self.total} ({rate:,.0f}/s)")
        if self.done >= self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    def close(self) -> None:
        """End the stage (closes a notebook widget)."""
        widget, self.widget = getattr(self, "widget", None), None
        if widget is not None:
            widget.close()

    def _label(self) -> str:
        return f"{self.desc} {self.name}".strip()


def _has_tqdm() -> bool:
    try:
        import tqdm.auto  # noqa: F401
    except ImportError:
        return False
    return True


CPU_CHUNK_BYTES = 24 << 20
"""Perturbed inputs per chunk on a CPU, near the last-level cache (a 2-core VM with 32 MB of
L3 ran a small model 1.4-2.3x slower on 256 images of 224² per chunk than on 16 to 64, which
were within 10% of each other; 24 MB is 41 of them: benchmarks/bench_batch_size.py)."""


def chunk_rows(row_bytes: int, device: torch.device, cap: int) -> int:
    """Rows per model call for ``batch_size="auto"``: bounded by memory, then by ``cap``.

    Args:
        row_bytes: bytes of one model input row (an image, a table row, a sequence).
        device: where the rows are built: CUDA gets a sixteenth of its free memory for a
            chunk of inputs (the model's activations need the rest), a CPU ``CPU_CHUNK_BYTES``.
        cap: the most rows per call (the explainer's: model activations grow with it).

    Returns:
        rows >= 1.

    Example:
        >>> chunk_rows(3 * 224 * 224 * 4, torch.device("cpu"), 256)
        41
    """
    cuda = device.type == "cuda"
    budget = torch.cuda.mem_get_info(device)[0] // 16 if cuda else CPU_CHUNK_BYTES
    return int(max(1, min(cap, budget // max(row_bytes, 1))))


def available_memory(device: torch.device) -> int | None:
    """Bytes free for new tensors on ``device`` (None where it cannot be read)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        import os

        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def row_bytes(inputs: Any) -> int:
    """Bytes of one example's model input (a tensor's row, or a dict's or tuple's rows)."""
    if isinstance(inputs, dict):
        tensors = list(inputs.values())
    elif isinstance(inputs, (tuple, list)):
        tensors = list(inputs)
    else:
        tensors = [inputs]
    return sum(t[0].numel() * t.element_size() for t in tensors if isinstance(t, Tensor))


def check_memory(
    b: int, n: int, k: int, t: int, rows: int, input_bytes: int, device: torch.device
) -> None:
    """Refuse a call whose samples (B x N x K) or chunks (rows of inputs) cannot fit.

    Counts the samples a call keeps (masks, a float copy, scores, weights: ``5 K + 4 T + 8``
    bytes each) and one chunk of inputs, against the memory free on ``device``.
    """
    free = available_memory(device)
    if free is None:
        return
    samples, chunk = b * n * (5 * k + 4 * t + 8), rows * input_bytes
    if samples + chunk > 0.9 * free:
        raise ValueError(
            f"this call needs about {(samples + chunk) / 2**30:.1f} GiB on {device} ({b} "
            f"examples x {n} samples x {k} features: {samples / 2**30:.1f} GiB; chunks of "
            f"{rows} inputs: {chunk / 2**30:.1f} GiB) and {free / 2**30:.1f} GiB are free: "
            "explain fewer examples per call, use fewer samples, or a smaller batch_size"
        )


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
    progress: bool | Progress | None = None,
    differentiable: bool = False,
    validate: bool = True,
    take: Callable[[Any, int, int], Any] | None = None,
    shared: bool = False,
) -> Scores:
    """Run the model on the originals and on every perturbed sample, chunk by chunk.

    Args:
        model: callable ``(n, ...) -> (n, O)``.
        originals: the B unperturbed inputs, in the model's input format; None scores the
            perturbed rows only (``target`` must then be given), and the scores are
            (B, N - 1, T).
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
        progress: show a progress bar (None: on a terminal or in a notebook), or the
            caller's :class:`Progress`, which gets a "model calls" stage.
        differentiable: keep the autograd graph (grad mode on).
        validate: check shapes and finiteness (one host sync at the end).
        take: ``take(originals, start, stop)`` slices the originals (default: rows of a
            tensor, or of every tensor of a dict or tuple).
        shared: the examples share one set of N - 1 perturbed rows, composed as flat rows
            ``[0, N - 1)``; each chunk's outputs give every example's targets.

    Returns:
        :class:`Scores`: scores (B, N, T) float32 and target (B, T) int64.
    """
    transform = output_fn(output)
    take = take or _rows
    per = n_samples - 1
    n_originals = 0 if originals is None else batch
    if originals is None and target is None:
        raise ValueError("scoring perturbed rows only needs the targets")
    total = n_originals + (per if shared else batch * per)
    if isinstance(progress, Progress):
        bar = progress
        bar.stage("model calls", total)
    else:
        bar = Progress(total, progress)
    grad = torch.enable_grad() if differentiable else torch.no_grad()
    originals_out: list[Tensor] = []
    chunks: list[Tensor] = []
    n_outputs: int | None = None
    with grad:
        for start in range(0, total, batch_size):
            stop = min(start + batch_size, total)
            n_orig = max(0, min(stop, n_originals) - start)
            if n_orig == 0:
                inputs = compose(start - n_originals, stop - n_originals)
            elif stop <= n_originals:
                inputs = take(originals, start, stop)
            else:  # the originals' last rows share the first chunk with perturbed ones
                inputs = _concat([take(originals, start, batch), compose(0, stop - batch)])
            try:
                raw = model(inputs)
            except Exception as error:
                if start == 0 and hasattr(error, "add_note"):  # Python >= 3.11
                    error.add_note(f"(torchlime called the model on {_describe(inputs)})")
                raise
            if isinstance(raw, np.ndarray) and raw.dtype.kind in "biuf":  # lime's classifier_fn
                raw = torch.from_numpy(raw.astype(np.result_type(raw.dtype, np.float32))).to(device)
            if isinstance(raw, Tensor) and raw.ndim == 1:  # one score per input
                raw = _one_score(raw, output)
            if validate and start == 0:
                _warn_if_probabilities(raw, output)
            out = transform(raw)
            if validate:
                _check_output(out, _length(inputs), n_outputs)
            n_outputs = out.shape[-1]
            if n_orig:
                originals_out.append(out[:n_orig])
                out = out[n_orig:]
                if start + n_orig == batch:  # every original seen: the targets are known
                    originals_out = [torch.cat(originals_out)]
                    target = _resolve_target(target, originals_out[0], top_labels, validate, device)
            elif start == 0 and target is not None:  # perturbed rows only: check the range
                target = _resolve_target(target, out, None, validate, device)
            if out.shape[0] and shared:  # every example's targets from every shared row
                chunks.append(out[:, _known(target).flatten()])
            elif out.shape[0]:  # the originals came first, so the targets are known here
                first = start + n_orig - n_originals
                rows = torch.arange(first, stop - n_originals, device=device) // per
                chunks.append(out.gather(1, _known(target)[rows]))
            bar.update(stop - start)
        if not isinstance(progress, Progress):
            bar.close()
        target = _known(target)
        t = target.shape[1]
        if not chunks:
            rest = torch.zeros(batch, 0, t, device=device)
        elif shared:  # (N - 1, B * T) -> (B, N - 1, T)
            rest = torch.cat(chunks).view(per, batch, t).permute(1, 0, 2)
        else:
            rest = torch.cat(chunks).view(batch, per, t)
        if originals is not None:
            scores0 = originals_out[0].gather(1, target)[:, None, :]
            rest = torch.cat([scores0, rest.to(scores0.dtype)], 1)
        scores = _at_least_float32(rest)
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
        t = top_labels or 1
        if t > out0.shape[-1]:
            raise ValueError(
                f"top_labels={t} exceeds the model's {out0.shape[-1]} outputs; pass top_labels "
                f"<= {out0.shape[-1]}"
            )
        return out0.detach().topk(t, dim=-1).indices
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


def _rows(inputs: Any, i: int, j: int) -> Any:
    """Rows ``i:j`` of model inputs: a tensor, a dict or a tuple of tensors."""
    if isinstance(inputs, dict):
        return {key: v[i:j] for key, v in inputs.items()}
    if isinstance(inputs, tuple):
        return tuple(v[i:j] for v in inputs)
    return inputs[i:j]


def _one_score(raw: Tensor, output: Output) -> Tensor:
    """A model's (n,) scores as (n, 1); a softmax of one score would always be 1."""
    if output in ("softmax", "log_softmax"):
        raise ValueError(
            f"the model returns one score per input, shape (n,), and output={output!r} of a "
            "single score is constant: pass output='identity' (or 'sigmoid' for a logit)"
        )
    return raw[:, None]


def _check_output(out: Any, n: int | None, n_outputs: int | None) -> None:
    """The transformed output must be (n, O), with the same O chunk after chunk."""
    if not isinstance(out, Tensor) or out.ndim != 2 or (n is not None and out.shape[0] != n):
        got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(
            f"the model's scores (after output=) must be (n, O) for n inputs; got {got} for "
            f"n={n}. Reshape a regression output to (n, 1); reduce a segmentation model's "
            "(n, C, H, W) with an output= callable"
        )
    if n_outputs is not None and out.shape[1] != n_outputs:
        raise ValueError(f"the model returned {out.shape[1]} outputs, then {n_outputs}")


def _warn_if_probabilities(raw: Any, output: Output) -> None:
    """Softmax of probabilities squashes them: say so once (one host sync, when validating)."""
    if output != "softmax" or not isinstance(raw, Tensor) or raw.ndim != 2 or raw.shape[1] < 2:
        return
    if torch.compiler.is_compiling():
        return
    r = raw.detach().float()
    in_range = (r >= 0).all() & (r <= 1).all()
    sums_to_one = ((r.sum(-1) - 1).abs() < 1e-3).all()
    if bool(in_range & sums_to_one):
        warnings.warn(
            "the model's outputs are already probabilities (in [0, 1], summing to 1), and "
            'output="softmax" applies softmax again, which flattens them: pass '
            'output="identity" to explain the probabilities themselves',
            stacklevel=5,
        )


def _describe(inputs: Any) -> str:
    """Model inputs in words, for an error: tensor shapes and dtypes."""
    if isinstance(inputs, Tensor):
        return f"a {tuple(inputs.shape)} {str(inputs.dtype).removeprefix('torch.')} tensor"
    if isinstance(inputs, dict):
        return "{" + ", ".join(f"{k}: {_describe(v)}" for k, v in inputs.items()) + "}"
    return type(inputs).__name__


def _length(inputs: Any) -> int | None:
    if isinstance(inputs, Tensor):
        return inputs.shape[0]
    if isinstance(inputs, dict):
        inputs = next(iter(inputs.values()), None)
    elif isinstance(inputs, (tuple, list)):
        inputs = inputs[0] if inputs else None
    return inputs.shape[0] if isinstance(inputs, Tensor) else None
