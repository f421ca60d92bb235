"""Image curves and correlations on model scores: deletion/insertion AUC, faithfulness.

Functional: every metric batched on the device, returning a (B,) or (B, T) tensor (the
caller aggregates). Every curve point is one perturbed input; they are built in chunks of
``batch_size`` with no Python loop over steps, samples or features, and run through the
same engine as the explainers (``output=`` maps raw outputs to the explained scores).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from torchlime import _checks, _engine
from torchlime._random import random_ranks, resolve_generator
from torchlime.explanation import Explanation
from torchlime.functional.image import compose, make_fill
from torchlime.functional.ranking import pearson
from torchlime.metrics._fill import image_inputs
from torchlime.types import Baseline, Output

__all__ = [
    "deletion_auc",
    "faithfulness_correlation",
    "insertion_auc",
    "random_order_auc",
]


def deletion_auc(
    model: Callable[[Tensor], Tensor],
    x: Tensor,
    attributions: Tensor | Explanation,
    target: int | Tensor | None = None,
    *,
    segments: Tensor | None = None,
    baseline: Baseline | None = None,
    step: int | None = None,
    output: Output = "softmax",
    batch_size: int = 64,
    eval_mode: bool = True,
) -> Tensor:
    """Deletion AUC (RISE): remove the most important parts first; lower is better.

    Superpixel level (``segments`` given): step ``s`` hides the ``s`` superpixels with the
    largest attributions (K_b + 1 points, x axis the fraction of superpixels removed).
    Pixel level (``segments`` None): step ``s`` hides the ``s * step`` pixels with the
    largest attributions (RISE's protocol). Hidden parts show ``baseline``. The AUC is the
    trapezoidal area under the model's score over [0, 1]. Ties keep the lower index first.

    Given an image explanation, the curve follows its coefficients over its superpixels and
    targets, and hides superpixels the way its explainer did (the recipe's
    ``config["baseline"]``: each superpixel's mean colour for LimeImage's default), so it
    tests the ranking against the perturbation the explanation describes: black patches
    are off the image distribution and can rank orders arbitrarily (and flip the verdict).

    Args:
        model: callable ``(n, C, H, W) -> (n, O)``.
        x: (B, C, H, W) float images.
        attributions: per superpixel (B, K) or (B, T, K) with ``segments``; per pixel
            (B, H, W) or (B, T, H, W) without. Higher means more important. Or an image
            explanation of ``x``: its ``coef``, with its ``segments`` and ``target``
            unless given.
        target: the explained outputs: an int, (B,) or (B, T); None takes the
            explanation's, else each image's top output.
        segments: (B, H, W) int64 superpixel ids ``0..K_b-1`` (e.g. ``exp.segments``).
        baseline: what removed parts show (see :func:`~torchlime.functional.make_fill`).
            None: the explanation's own fill from its recipe (with a warning, and
            ``"mean"`` assumed, for a recipe that lacks it), and for plain attributions 0,
            black for [0, 1] images and the dataset mean for normalised ones (as RISE).
            Given, it overrides the recipe.
        step: pixels per step at the pixel level (default: one image row, W, as RISE).
        output: map from raw outputs to scores (``"softmax"``, ``"identity"``, ...).
        batch_size: perturbed images per model call.
        eval_mode: borrow eval mode for the model during the call.

    Returns:
        (B, T) float when ``attributions`` or ``target`` carry a T dimension, else (B,).

    Example:
        >>> from torch import nn
        >>> model = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 2))
        >>> x = torch.rand(2, 3, 8, 8)
        >>> segments = torch.arange(4).repeat_interleave(16).view(1, 8, 8).expand(2, 8, 8)
        >>> deletion_auc(model, x, torch.rand(2, 4), segments=segments).shape
        torch.Size([2])
    """
    attr, target, segments, fill = image_inputs(
        attributions, target, segments, baseline, 0.0, "deletion_auc"
    )
    return _auc(
        model, x, attr, target, segments, fill, step, output, batch_size, eval_mode,
        insert=False,
    )  # fmt: skip


def insertion_auc(
    model: Callable[[Tensor], Tensor],
    x: Tensor,
    attributions: Tensor | Explanation,
    target: int | Tensor | None = None,
    *,
    segments: Tensor | None = None,
    baseline: Baseline | None = None,
    step: int | None = None,
    output: Output = "softmax",
    batch_size: int = 64,
    eval_mode: bool = True,
) -> Tensor:
    """Insertion AUC (RISE): reveal the most important parts first; higher is better.

    The mirror of :func:`deletion_auc`: step 0 is all ``baseline`` (for an explanation,
    its explainer's fill; else a blurred copy, as RISE), and step ``s`` reveals the ``s``
    most important superpixels (or ``s * step`` pixels) of ``x``.

    Args:
        model: callable ``(n, C, H, W) -> (n, O)``.
        x: (B, C, H, W) float images.
        attributions: (B, [T,] K) with ``segments``, (B, [T,] H, W) without, or an image
            explanation (as :func:`deletion_auc`).
        target: an int, (B,) or (B, T); None takes the explanation's, else each image's
            top output.
        segments: (B, H, W) int64 superpixel ids, or None for pixels.
        baseline: what hidden parts show. None: the explanation's recipe (as
            :func:`deletion_auc`), for plain attributions ``"blur"``.
        step: pixels per step at the pixel level (default W).
        output: map from raw outputs to scores.
        batch_size: perturbed images per model call.
        eval_mode: borrow eval mode for the model during the call.

    Returns:
        (B, T) or (B,) float, as :func:`deletion_auc`.

    Example:
        >>> from torch import nn
        >>> model = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 2))
        >>> x = torch.rand(1, 3, 8, 8)
        >>> insertion_auc(model, x, torch.rand(1, 8, 8), step=16).shape
        torch.Size([1])
    """
    attr, target, segments, fill = image_inputs(
        attributions, target, segments, baseline, "blur", "insertion_auc"
    )
    return _auc(
        model, x, attr, target, segments, fill, step, output, batch_size, eval_mode,
        insert=True,
    )  # fmt: skip


def random_order_auc(
    model: Callable[[Tensor], Tensor],
    x: Tensor,
    target: int | Tensor | None = None,
    *,
    kind: str = "deletion",
    n_orders: int = 10,
    segments: Tensor | None = None,
    baseline: Baseline | None = None,
    step: int | None = None,
    output: Output = "softmax",
    batch_size: int = 64,
    eval_mode: bool = True,
    generator: torch.Generator | None = None,
    exp: Explanation | None = None,
) -> Tensor:
    """Deletion or insertion AUC of random orders: the reference an explanation must beat.

    The R random orders are uniformly random attributions, explained in one batched run.
    With ``exp``, an image explanation of ``x``, the orders run over its superpixels and
    targets, hiding them with its explainer's fill, as :func:`deletion_auc` of ``exp``.

    Args:
        model: callable ``(n, C, H, W) -> (n, O)``.
        x: (B, C, H, W) float images.
        target: an int, (B,) or (B, T); None takes each image's top output.
        kind: ``"deletion"`` or ``"insertion"``.
        n_orders: R random orders per image.
        segments: (B, H, W) int64 superpixel ids, or None for pixels.
        baseline: as for the metric (None: ``exp``'s recipe, else the metric's default,
            0 for deletion, blur for insertion).
        step: pixels per step at the pixel level (default W).
        output: map from raw outputs to scores.
        batch_size: perturbed images per model call.
        eval_mode: borrow eval mode for the model during the call.
        generator: source of randomness on ``x``'s device (None: a fresh seed).
        exp: an image explanation of ``x`` whose ``segments``, ``target`` and fill are
            used wherever the arguments are None.

    Returns:
        (R, B) float, or (R, B, T) when ``target`` is (B, T) (or ``exp`` is given).

    Example:
        >>> from torch import nn
        >>> model = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 2))
        >>> segments = torch.arange(4).repeat_interleave(16).view(1, 8, 8)
        >>> random_order_auc(model, torch.rand(1, 3, 8, 8), segments=segments, n_orders=5).shape
        torch.Size([5, 1])
    """
    if kind not in ("deletion", "insertion"):
        raise ValueError(f"kind must be 'deletion' or 'insertion'; got {kind!r}")
    if n_orders < 1:
        raise ValueError(f"n_orders must be >= 1; got {n_orders}")
    if exp is not None:
        _, target, segments, baseline = image_inputs(
            exp, target, segments, baseline, None, "random_order_auc"
        )
    x = _checks.images(x)
    b = x.shape[0]
    generator = _generator(generator, x.device)
    if segments is not None:
        k = int(_checks.segments(segments, x).max()) + 1
        shape: tuple[int, ...] = (n_orders * b, k)
    else:
        shape = (n_orders * b, *x.shape[-2:])
    attributions = torch.rand(shape, generator=generator, device=x.device)
    target_bt = _engine.normalise_target(target, None, b)
    has_t = target_bt is not None and isinstance(target, Tensor) and target.ndim == 2
    if target_bt is None:
        target_bt = _top_target(model, x, output, batch_size, eval_mode)
    metric = deletion_auc if kind == "deletion" else insertion_auc
    extra: dict[str, Any] = {} if baseline is None else {"baseline": baseline}
    repeat = (n_orders, *([1] * (x.ndim - 1)))
    auc = metric(
        model,
        x.repeat(repeat),
        attributions,
        target_bt.repeat(n_orders, 1),
        segments=None if segments is None else segments.repeat(n_orders, 1, 1),
        step=step,
        output=output,
        batch_size=batch_size,
        eval_mode=eval_mode,
        **extra,
    ).unflatten(0, (n_orders, b))
    return auc if has_t else auc[..., 0]


def faithfulness_correlation(
    model: Callable[[Tensor], Tensor],
    x: Tensor,
    attributions: Tensor | Explanation,
    target: int | Tensor | None = None,
    *,
    segments: Tensor | None = None,
    n_runs: int = 100,
    subset_size: int | None = None,
    baseline: Baseline | None = None,
    output: Output = "softmax",
    batch_size: int = 64,
    eval_mode: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Faithfulness correlation (Bhatt et al., 2020): do attributions predict score drops?

    Each run hides a random subset of ``subset_size`` features (superpixels, or pixels
    without ``segments``) and records the score drop ``f(x) - f(x_hidden)``; the metric is
    the Pearson correlation, over the runs, between the drops and the sums of the hidden
    features' attributions. Runs share their subsets across targets.

    Args:
        model: callable ``(n, C, H, W) -> (n, O)``.
        x: (B, C, H, W) float images.
        attributions: (B, [T,] K) with ``segments``, (B, [T,] H, W) without, or an image
            explanation (as :func:`deletion_auc`).
        target: an int, (B,) or (B, T); None takes the explanation's, else each image's
            top output.
        segments: (B, H, W) int64 superpixel ids, or None for pixels.
        n_runs: R random subsets per image, >= 2.
        subset_size: features hidden per run (default: a fifth of each image's features,
            at least 1; Quantus uses 224 pixels).
        baseline: what hidden features show (see :func:`~torchlime.functional.make_fill`).
            None: the explanation's recipe (as :func:`deletion_auc`), for plain
            attributions 0.
        output: map from raw outputs to scores.
        batch_size: perturbed images per model call.
        eval_mode: borrow eval mode for the model during the call.
        generator: source of randomness on ``x``'s device (None: a fresh seed).

    Returns:
        (B, T) or (B,) float in [-1, 1] (0 when either side is constant).

    Example:
        >>> from torch import nn
        >>> model = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 2))
        >>> segments = torch.arange(4).repeat_interleave(16).view(1, 8, 8)
        >>> faithfulness_correlation(model, torch.rand(1, 3, 8, 8), torch.rand(1, 4),
        ...                          segments=segments, n_runs=10).shape
        torch.Size([1])
    """
    if n_runs < 2:
        raise ValueError(f"n_runs must be >= 2; got {n_runs}")
    attributions, target, segments, fill_spec = image_inputs(
        attributions, target, segments, baseline, 0.0, "faithfulness_correlation"
    )
    x = _checks.images(x)
    b = x.shape[0]
    per_feature = segments is not None
    segments, k, n_features = _units(x, segments)
    attr, has_t = _attributions(attributions, x, k, per_feature, target)
    target_bt = _targets(model, x, target, attr.shape[1], output, batch_size, eval_mode)
    generator = _generator(generator, x.device)
    size = n_features // 5 if subset_size is None else torch.full_like(n_features, subset_size)
    size = size.clamp(min=1)
    hidden = random_ranks(b, n_runs, k, n_features, generator) < size[:, None, None]  # (B, R, K)
    masks = torch.cat([hidden.new_ones(b, 1, k), ~hidden], 1)  # row 0: the original
    fill = make_fill(x, segments, k, fill_spec)

    def compose_rows(start: int, stop: int) -> Tensor:
        rows = torch.arange(start, stop, device=x.device)
        e, s = rows // n_runs, rows % n_runs + 1
        m = masks[e, s][:, None]  # (n, 1, K)
        return compose(x[e], fill[e], segments[e], m)[:, 0]

    with _engine.borrowed_eval(model, eval_mode):
        scores = _engine.score_samples(
            model,
            x,
            compose_rows,
            batch=b,
            n_samples=n_runs + 1,
            target=target_bt,
            top_labels=None,
            output=output,
            batch_size=batch_size,
            device=x.device,
            progress=False,
        ).scores  # (B, R + 1, T)
    drop = (scores[:, :1] - scores[:, 1:]).transpose(1, 2).double()  # (B, T, R)
    summed = torch.einsum("brk,btk->btr", hidden.double(), attr.double())
    corr = pearson(summed, drop).to(torch.promote_types(attr.dtype, torch.float32))
    return corr if has_t else corr[:, 0]


# --------------------------------------------------------------------------- helpers


def _auc(
    model: Callable[[Tensor], Tensor],
    x: Tensor,
    attributions: Tensor,
    target: int | Tensor | None,
    segments: Tensor | None,
    baseline: Baseline,
    step: int | None,
    output: Output,
    batch_size: int,
    eval_mode: bool,
    *,
    insert: bool,
) -> Tensor:
    """Area under the deletion (insertion) curve, (B, T) or (B,)."""
    x = _checks.images(x)
    b = x.shape[0]
    h, w = x.shape[-2:]
    pixel_level = segments is None
    if pixel_level and isinstance(baseline, str) and baseline == "mean":
        raise ValueError('baseline="mean" fills superpixels with their mean: pass segments=')
    segments, k, n_features = _units(x, segments)
    attr, has_t = _attributions(attributions, x, k, not pixel_level, target)
    t = attr.shape[1]
    target_bt = _targets(model, x, target, t, output, batch_size, eval_mode)
    if pixel_level:
        step = w if step is None else step
        if step < 1:
            raise ValueError(f"step must be >= 1; got {step}")
        n_steps = -(-h * w // step)
    else:
        n_steps, step = k, 1
    # Rank of every feature in the removal order (0 = most important); padding last.
    valid = torch.arange(k, device=x.device) < n_features[:, None, None]  # (B, 1, K)
    strength = torch.where(valid, attr.to(torch.float64), -torch.inf)
    order = strength.sort(dim=-1, descending=True, stable=True).indices
    rank = torch.empty_like(order).scatter_(
        -1, order, torch.arange(k, device=x.device).expand_as(order)
    )  # (B, T, K)
    pixel_rank = rank.gather(-1, segments.flatten(1)[:, None, :].expand(b, t, -1)).flatten(0, 1)
    fill = make_fill(x, segments, k, baseline)
    per = n_steps + 1  # curve points per (image, target); the engine adds the original first

    def compose_rows(start: int, stop: int) -> Tensor:
        rows = torch.arange(start, stop, device=x.device)
        curve, s = rows // per, rows % per
        image = curve // t
        gone = pixel_rank[curve] < (s * step)[:, None]  # (n, HW) removed (or inserted)
        if insert:
            gone = ~gone
        return torch.where(gone.view(-1, 1, h, w), fill[image], x[image])

    with _engine.borrowed_eval(model, eval_mode):
        scores = _engine.score_samples(
            model,
            x,
            compose_rows,
            batch=b * t,
            n_samples=per + 1,
            target=target_bt.reshape(-1, 1),
            top_labels=None,
            output=output,
            batch_size=batch_size,
            device=x.device,
            progress=False,
            take=lambda inputs, i, j: inputs[torch.arange(i, j, device=x.device) // t],
        ).scores[:, 1:, 0]  # (B * T, S + 1)
    curves = scores.view(b, t, per).double()
    last = (n_features if not pixel_level else torch.full_like(n_features, n_steps))[:, None]
    s = torch.arange(per, device=x.device)
    trapezoid = torch.where((s == 0) | (s == last[..., None]), 0.5, 1.0) * (s <= last[..., None])
    auc = (curves * trapezoid).sum(-1) / last.clamp(min=1)
    auc = auc.to(scores.dtype)
    return auc if has_t else auc[:, 0]


def _units(x: Tensor, segments: Tensor | None) -> tuple[Tensor, int, Tensor]:
    """Segments (B, H, W), the padded feature count K and K_b (B,); pixels when None."""
    b, _, h, w = x.shape
    if segments is None:
        pixels = torch.arange(h * w, device=x.device).view(1, h, w).expand(b, h, w)
        return pixels, h * w, torch.full((b,), h * w, dtype=torch.long, device=x.device)
    segments = _checks.segments(segments, x).to(x.device).long()
    n_features = segments.flatten(1).amax(1) + 1
    return segments, int(n_features.max()), n_features


def _attributions(
    attributions: Tensor, x: Tensor, k: int, per_feature: bool, target: int | Tensor | None
) -> tuple[Tensor, bool]:
    """Attributions as (B, T, K) features, and whether the result keeps a T dimension."""
    b, _, h, w = x.shape
    a = attributions.to(x.device)
    base = 2 if per_feature else 3
    if a.ndim == base + 1:
        has_t = True
    elif a.ndim == base:
        a, has_t = a[:, None], False
    else:
        expected = "(B, K) or (B, T, K)" if base == 2 else "(B, H, W) or (B, T, H, W)"
        raise ValueError(f"attributions must be {expected}; got shape {tuple(a.shape)}")
    if base == 3:
        if tuple(a.shape[-2:]) != (h, w):
            raise ValueError(
                f"pixel attributions must be (B, [T,] H, W) with H, W = {(h, w)}; "
                f"got shape {tuple(attributions.shape)}"
            )
        a = a.flatten(-2)
    if a.shape[0] != b or a.shape[-1] < k:
        raise ValueError(
            f"attributions must be (B, [T,] K) with B={b} and K >= {k} features; "
            f"got shape {tuple(attributions.shape)}"
        )
    a = a[..., :k]
    if isinstance(target, Tensor) and target.ndim == 2:
        has_t = True
        if a.shape[1] == 1:
            a = a.expand(-1, target.shape[1], -1)
    return a, has_t


def _targets(
    model: Callable[[Tensor], Tensor],
    x: Tensor,
    target: int | Tensor | None,
    t: int,
    output: Output,
    batch_size: int,
    eval_mode: bool,
) -> Tensor:
    """(B, T) int64 targets; None takes the top output; one target per image is repeated."""
    b = x.shape[0]
    target_bt = _engine.normalise_target(target, None, b)
    if target_bt is None:
        target_bt = _top_target(model, x, output, batch_size, eval_mode)
    target_bt = target_bt.to(x.device)
    if target_bt.shape[1] == 1 and t > 1:
        target_bt = target_bt.expand(b, t)
    if target_bt.shape[1] != t:
        raise ValueError(
            f"attributions carry T={t} targets but target is {tuple(target_bt.shape)}; "
            "give one target per attribution map"
        )
    return target_bt


def _top_target(
    model: Callable[[Tensor], Tensor],
    x: Tensor,
    output: Output,
    batch_size: int,
    eval_mode: bool,
) -> Tensor:
    transform = _engine.output_fn(output)
    with _engine.borrowed_eval(model, eval_mode), torch.no_grad():
        out = torch.cat(
            [transform(model(x[i : i + batch_size])) for i in range(0, len(x), batch_size)]
        )
    return out.argmax(-1, keepdim=True)


def _generator(generator: torch.Generator | int | None, device: torch.device) -> torch.Generator:
    return resolve_generator(generator, device)[0]
