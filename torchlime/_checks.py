"""Validation at the public boundary, shared by the front-ends, the stages and the metrics.

Each check names the argument, the expected shape in the letter table and what came in.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor, nn

__all__ = [
    "baseline_tensors",
    "design",
    "feature_ids",
    "feature_mask",
    "images",
    "integer",
    "masks",
    "names",
    "one_of",
    "per_target_mask",
    "plain",
    "rows",
    "sample_weights",
    "segmentation",
    "segments",
    "shapley_settings",
    "short",
    "tokens",
    "word_ids",
]


def images(x: Any) -> Tensor:
    """``x`` as (B, C, H, W) float, channels first, at least one non-empty image."""
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a (B, C, H, W) tensor; got {type(x).__name__}")
    if x.ndim != 4:
        hint = " (add a batch dimension: x[None])" if x.ndim == 3 else ""
        raise ValueError(f"x must be (B, C, H, W); got shape {tuple(x.shape)}{hint}")
    if not x.is_floating_point():
        raise TypeError(
            f"x must be a floating-point tensor; got {x.dtype} (convert with x.float() / 255)"
        )
    if 0 in x.shape:
        raise ValueError(
            f"x must hold at least one image with channels and pixels (B, C, H, W all >= 1); "
            f"got shape {tuple(x.shape)}"
        )
    if x.shape[-1] <= 4 and x.shape[-1] < x.shape[1]:  # a shape cannot tell: say so
        warnings.warn(
            f"x has shape {tuple(x.shape)}: explained as (B, C, H, W) with C={x.shape[1]} "
            f"channels and W={x.shape[-1]}; if it is channels-last (B, H, W, C), pass "
            "x.permute(0, 3, 1, 2)",
            stacklevel=4,
        )
    return x


def segments(segments: Any, x: Tensor, name: str = "segments") -> Tensor:
    """Integer superpixel ids of shape (B, H, W) matching ``x`` (B, C, H, W)."""
    expected = (x.shape[0], *x.shape[-2:])
    if not isinstance(segments, Tensor) or tuple(segments.shape) != expected:
        got = tuple(segments.shape) if isinstance(segments, Tensor) else type(segments).__name__
        raise ValueError(f"{name} must be (B, H, W) = {expected}; got {got}")
    if segments.is_floating_point() or segments.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer ids; got dtype {segments.dtype}")
    return segments


def segmentation(
    segments: Tensor,
    n_segments: Tensor,
    k: int,
    *,
    content_aware: bool,
    channels: int,
    stacklevel: int,
) -> None:
    """Warn when a segmentation leaves LIME little to say (one host sync, with validate).

    Fewer than 4 superpixels in an image (a flat image, or noise, under SLIC), or, from a
    segmenter that promises content-aware segments, a regular grid: at least 90 % of an
    image's superpixels (of at least 4) are exact axis-aligned rectangles. scikit-image's
    SLIC does that to one-channel images in [0, 1] at compactness 10, as torchlime's does.

    Args:
        segments: (B, H, W) int64 ids ``0..K_b-1``.
        n_segments: (B,) int64 K_b.
        k: K >= every K_b, the padded feature count.
        content_aware: the segmenter promised segments that follow the content.
        channels: C of the images (the hint for a grid depends on it).
        stacklevel: where the warning points.
    """
    b, h, w = segments.shape
    ids = (segments + k * torch.arange(b, device=segments.device)[:, None, None]).flatten()
    rows = torch.arange(h, device=segments.device)[None, :, None].expand(b, h, w).flatten()
    cols = torch.arange(w, device=segments.device)[None, None, :].expand(b, h, w).flatten()
    area = torch.bincount(ids, minlength=b * k)
    extent = []
    for coord in (rows, cols):
        lo = torch.full((b * k,), h + w, device=segments.device).scatter_reduce(
            0, ids, coord, "amin"
        )
        hi = torch.zeros(b * k, dtype=torch.long, device=segments.device).scatter_reduce(
            0, ids, coord, "amax"
        )
        extent.append((hi - lo + 1).clamp(min=0))
    rectangle = ((area > 0) & (area == extent[0] * extent[1])).view(b, k)
    share = rectangle.sum(1) / n_segments.clamp(min=1)
    gridded = (share >= 0.9) & (n_segments >= 4)
    counts, gridded_list = torch.stack([n_segments, gridded.long()]).tolist()  # one sync
    few = [i for i, n in enumerate(counts) if n < 4]
    if few:
        warnings.warn(
            f"images {few[:8]} got fewer than 4 superpixels ({[counts[i] for i in few[:8]]}): "
            "LIME has almost nothing to attribute (a flat image, or noise?); try another "
            "image, a segmenter with more segments, or segments=",
            stacklevel=stacklevel,
        )
    grid = [i for i, g in enumerate(gridded_list) if g]
    if content_aware and grid:
        hint = (
            "for one-channel images SLIC's compactness must suit values in [0, 1] (try "
            "compactness=0.1), or pass 3 channels"
            if channels == 1
            else "try a smaller compactness, or check the images' layout (B, C, H, W)"
        )
        warnings.warn(
            f"the segmenter returned a regular grid of rectangles for images {grid[:8]}, not "
            f"segments that follow the content: {hint}",
            stacklevel=stacklevel,
        )


def masks(masks: Any, b: int, device: torch.device, k: int | None = None) -> Tensor:
    """Caller-supplied samples as (B, N, K) bool on ``device``, row 0 forced to all True.

    ``k`` fixes K when the feature count is known (text); images accept any K at least
    their superpixel count, checked by the caller.
    """
    expected = f"({b}, N, {k})" if k is not None else f"(B, N, K) with B={b}"
    if (
        not isinstance(masks, Tensor)
        or masks.ndim != 3
        or masks.shape[0] != b
        or (k is not None and masks.shape[2] != k)
    ):
        got = tuple(masks.shape) if isinstance(masks, Tensor) else type(masks).__name__
        raise ValueError(f"masks must be (B, N, K) = {expected}; got {got}")
    if masks.shape[1] < 2:
        raise ValueError(
            f"masks need N >= 2 samples (the original and one perturbation); got {masks.shape[1]}"
        )
    if masks.dtype != torch.bool and (
        masks.is_complex() or bool(((masks != 0) & (masks != 1)).any())
    ):
        raise ValueError(
            f"masks must be bool, or numbers that are all 0 or 1; got {masks.dtype} with "
            f"values such as {masks[(masks != 0) & (masks != 1)].flatten()[:3].tolist()}"
        )
    checked = masks.to(device=device, dtype=torch.bool).clone()
    checked[:, 0] = True  # lime overwrites row 0 with the original
    return checked


def design(X: Tensor, y: Tensor, weight: Tensor, where: str) -> None:
    """A regression's X (..., N, K), y (..., N, T) float and weight (..., N), agreeing on N."""
    if X.ndim < 2 or y.ndim < 2 or weight.ndim < 1:
        raise ValueError(
            f"{where} needs X (..., N, K), y (..., N, T) and weight (..., N); got shapes "
            f"{tuple(X.shape)}, {tuple(y.shape)} and {tuple(weight.shape)}"
        )
    n = X.shape[-2]
    if y.shape[-2] != n or weight.shape[-1] != n:
        raise ValueError(
            f"{where}: X (..., N, K), y (..., N, T) and weight (..., N) must agree on N; "
            f"got shapes {tuple(X.shape)}, {tuple(y.shape)} and {tuple(weight.shape)}"
        )
    if not y.dtype.is_floating_point:
        raise TypeError(f"{where}: y must be floating point; got {y.dtype}")


def feature_mask(
    feature_mask: Tensor | None,
    k: int,
    ndim: int,
    t: int,
    *,
    shared_only: bool = False,
    device: torch.device | None = None,
) -> Tensor:
    """Validate a (..., K) or (..., T, K) mask for a design of ``ndim`` dims (..., N, K)."""
    if feature_mask is None:
        return torch.ones(k, dtype=torch.bool, device=device)
    if feature_mask.dtype != torch.bool or feature_mask.shape[-1] != k:
        raise ValueError(
            f"feature_mask must be bool (..., K) or (..., T, K) with K={k}; got "
            f"{feature_mask.dtype} of shape {tuple(feature_mask.shape)}"
        )
    per_target = feature_mask.ndim == ndim and feature_mask.shape[-2] == t
    if shared_only and feature_mask.ndim >= ndim:
        raise ValueError(
            f"feature_mask must be (..., K) here; got shape {tuple(feature_mask.shape)}"
        )
    if not per_target and feature_mask.ndim > ndim - 1:
        raise ValueError(
            f"feature_mask must be (..., K) or (..., T, K) with T={t}; got shape "
            f"{tuple(feature_mask.shape)}"
        )
    return feature_mask


def per_target_mask(feature_mask: Tensor | None, X: Tensor, t: int) -> Tensor:
    """A (..., K) or (..., T, K) feature mask for a design X (..., N, K), as (..., T, K) bool."""
    k = X.shape[-1]
    if feature_mask is None:
        return torch.ones(*X.shape[:-2], t, k, dtype=torch.bool, device=X.device)
    if feature_mask.ndim == X.ndim - 1:
        feature_mask = feature_mask[..., None, :]
    return feature_mask.expand(*feature_mask.shape[:-2], t, k)


def rows(x: Any, stats: Any, *, validate: bool = True) -> Tensor:
    """Table rows (B, D) for an explainer with training statistics ``stats`` (D columns).

    With ``validate``: no NaN/inf, categorical values seen in training (one host sync).
    """
    d = stats.mean.shape[0]
    if not isinstance(x, Tensor):
        raise TypeError(
            f"x must be a (B, D) tensor of rows; got {type(x).__name__} (an array or "
            "DataFrame: torch.as_tensor(rows.to_numpy() if a DataFrame else rows))"
        )
    if x.ndim == 1 and x.shape[0] == d:
        raise ValueError(f"x must be (B, D) with D={d}; got shape {tuple(x.shape)} (use x[None])")
    if x.ndim != 2 or x.shape[1] != d:
        raise ValueError(f"x must be (B, D) with D={d}; got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor; got {x.dtype}")
    if x.shape[0] == 0:
        raise ValueError("x must hold at least one row; got shape (0, D)")
    if validate and not torch.compiler.is_compiling():
        bad_rows = ~torch.isfinite(x).all(1)
        cat = stats.categorical
        known = (x[:, :, None] == stats.values.to(x.dtype)[None]).any(-1) | ~cat
        unknown = ~known.all(1) & ~bad_rows
        if bool(bad_rows.any() | unknown.any()):  # the one sync of the check
            if bool(bad_rows.any()):
                bad = bad_rows.nonzero().flatten().tolist()[:10]
                raise ValueError(f"x has NaN or inf values in rows {bad}")
            row = int(unknown.nonzero()[0, 0])
            cols = (~known[row]).nonzero().flatten().tolist()
            raise ValueError(
                f"x row {row} has categorical values never seen in training in columns "
                f"{cols} (values {x[row, cols].tolist()}); lime samples categorical "
                "columns from their training values"
            )
    return x


def word_ids(word_ids: Any, ids: Tensor) -> Tensor | None:
    """Word indices (B, L) like ``ids`` as int64 on its device, or None."""
    if word_ids is None:
        return None
    if not isinstance(word_ids, Tensor) or word_ids.shape != ids.shape:
        got = tuple(word_ids.shape) if isinstance(word_ids, Tensor) else type(word_ids).__name__
        raise ValueError(
            f"word_ids must be (B, L) = {tuple(ids.shape)} like input_ids (-1 for tokens "
            f"outside words); got {got}"
        )
    if word_ids.is_floating_point() or word_ids.is_complex() or word_ids.dtype == torch.bool:
        raise TypeError(f"word_ids must hold integer word indices; got dtype {word_ids.dtype}")
    return word_ids.to(device=ids.device, dtype=torch.long)


def tokens(input_ids: Any, attention_mask: Any) -> tuple[Tensor, Tensor]:
    """Token ids (B, L) as int64 and their attention mask (all ones when None)."""
    if not isinstance(input_ids, Tensor):
        raise TypeError(
            f"input_ids must be a (B, L) tensor of token ids; got {type(input_ids).__name__} "
            "(tokenize first, e.g. tokenizer(texts, return_tensors='pt', padding=True))"
        )
    if input_ids.is_floating_point() or input_ids.is_complex() or input_ids.dtype == torch.bool:
        raise TypeError(f"input_ids must hold integer token ids; got dtype {input_ids.dtype}")
    if input_ids.ndim != 2:
        hint = " (add a batch dimension: input_ids[None])" if input_ids.ndim == 1 else ""
        raise ValueError(f"input_ids must be (B, L); got shape {tuple(input_ids.shape)}{hint}")
    if input_ids.shape[0] == 0 or input_ids.shape[1] == 0:
        raise ValueError(
            f"input_ids must hold at least one non-empty sequence (empty text); got shape "
            f"{tuple(input_ids.shape)}"
        )
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    if not isinstance(attention_mask, Tensor) or attention_mask.shape != input_ids.shape:
        got = (
            tuple(attention_mask.shape)
            if isinstance(attention_mask, Tensor)
            else type(attention_mask).__name__
        )
        raise ValueError(
            f"attention_mask must be (B, L) = {tuple(input_ids.shape)} like input_ids; got {got}"
        )
    return input_ids.long(), attention_mask.to(input_ids.device)


def tensor_inputs(inputs: Any) -> tuple[tuple[Tensor, ...], bool]:
    """A tensor or a tuple of tensors, each (B, ...) with one B >= 1; and whether a tuple."""
    is_tuple = isinstance(inputs, (tuple, list))
    items = tuple(inputs) if is_tuple else (inputs,)
    if not items or not all(isinstance(t, Tensor) for t in items):
        got = [type(t).__name__ for t in items] if is_tuple else type(inputs).__name__
        raise TypeError(f"inputs must be a (B, ...) tensor or a tuple of them; got {got}")
    b = items[0].shape[0] if items[0].ndim else 0
    if any(t.ndim == 0 or t.shape[0] != b for t in items) or b == 0:
        shapes = [tuple(t.shape) for t in items]
        raise ValueError(f"inputs must share a leading batch dimension B >= 1; got {shapes}")
    return items, is_tuple


def per_input(value: Any, inputs: tuple[Tensor, ...], name: str) -> tuple[Any, ...]:
    """``value`` given once for every input, or as a tuple with one entry per input."""
    if isinstance(value, (tuple, list)):
        if len(value) != len(inputs):
            raise ValueError(
                f"{name} must have one entry per input ({len(inputs)}); got {len(value)}"
            )
        return tuple(value)
    if len(inputs) > 1 and isinstance(value, Tensor):
        raise ValueError(f"{name} must be a tuple with one tensor per input ({len(inputs)})")
    return (value,) * len(inputs)


def broadcast_to_input(value: Tensor, x: Tensor, name: str) -> Tensor:
    """``value`` (shaped like ``x``, its leading dim 1 or B, or broadcastable) as ``x``'s shape."""
    try:
        return value.to(device=x.device).expand(x.shape)
    except RuntimeError:
        raise ValueError(
            f"{name} must broadcast to its input's shape {tuple(x.shape)}; got {tuple(value.shape)}"
        ) from None


def shapley_settings(sampler: Any, surrogate: Any, selection: str, auto: bool) -> str:
    """KernelSHAP fixes the surrogate and attributes every feature: refuse what conflicts."""
    if sampler not in ("lime", "paired"):
        raise ValueError(
            f"kernel='shapley' draws the Shapley kernel's coalitions itself: sampler 'lime' or "
            f"'paired'; got {sampler!r}"
        )
    if surrogate not in ("ridge", "shapley"):
        raise ValueError(
            "kernel='shapley' fits its own surrogate (least squares under the efficiency "
            f"constraint); got surrogate={surrogate!r}"
        )
    if selection not in ("auto", "none"):
        raise ValueError(f"kernel='shapley' attributes every feature; got {selection!r}")
    if auto:
        raise ValueError('kernel="shapley" takes a fixed n_samples (all coalitions when 2^K fit)')
    return "shapley"


def feature_ids(feature_mask: Any, xs: tuple[Tensor, ...]) -> Tensor:
    """(B, M) int64 feature ids of every scalar of the inputs, flattened and concatenated.

    ``feature_mask`` is None (every scalar its own feature), a tensor, or one per input,
    each broadcastable to its input.
    """
    b = xs[0].shape[0]
    if feature_mask is None:  # every scalar its own feature
        m = sum(x[0].numel() for x in xs)
        return torch.arange(m, device=xs[0].device).expand(b, m)
    flat = []
    given = per_input(feature_mask, xs, "feature_mask")
    for i, (mask, x) in enumerate(zip(given, xs, strict=True)):
        if not isinstance(mask, Tensor) or mask.is_floating_point() or mask.dtype == torch.bool:
            got = mask.dtype if isinstance(mask, Tensor) else type(mask).__name__
            raise TypeError(f"feature_mask[{i}] must be an integer tensor of ids; got {got}")
        flat.append(broadcast_to_input(mask, x, f"feature_mask[{i}]").reshape(b, -1))
    ids = torch.cat(flat, 1).long()
    if bool((ids < 0).any()):
        raise ValueError("feature_mask ids must be >= 0 (features 0..K-1)")
    return ids


def baseline_tensors(baselines: Any, xs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    """Per input, (B, *shape) what a hidden feature shows: None (0), numbers or tensors."""
    given = per_input(baselines, xs, "baselines")
    return tuple(
        _baseline(v, x, f"baselines[{i}]") for i, (v, x) in enumerate(zip(given, xs, strict=True))
    )


def _baseline(value: Any, x: Tensor, name: str) -> Tensor:
    if value is None:
        return torch.zeros_like(x)
    if isinstance(value, (int, float, bool)):
        return torch.full_like(x, value)
    if isinstance(value, Tensor):
        return broadcast_to_input(value.to(x.dtype), x, name)
    raise TypeError(f"{name} must be None, a number or a tensor; got {type(value).__name__}")


def sample_weights(weights: Any, X: Tensor, name: str, check_values: bool = True) -> Tensor:
    """(B, N) float64 weights a user gave or a user's function returned for samples ``X``.

    ``check_values`` also refuses negative or NaN weights (a host sync).
    """
    if not isinstance(weights, Tensor) or tuple(weights.shape) != tuple(X.shape[:2]):
        got = tuple(weights.shape) if isinstance(weights, Tensor) else type(weights).__name__
        raise ValueError(f"{name}: expected (B, N) = {tuple(X.shape[:2])} weights; got {got}")
    if weights.device != X.device:
        raise ValueError(f"{name}: expected weights on {X.device}; got {weights.device}")
    weights = weights.to(torch.float64)
    if check_values and bool((weights < 0).any() | weights.isnan().any()):
        raise ValueError(f"{name}: expected weights >= 0 (no NaN)")
    return weights


# --------------------------------------------------------------------------- recipe values


def plain(value: Any) -> Any:
    """A setting as the recipe records it: plain values as they are, others described."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)) and all(
        v is None or isinstance(v, (str, int, float, list, tuple)) for v in value
    ):
        return [plain(v) for v in value]  # lists, and lists of lists (category names)
    if isinstance(value, nn.Module):
        return repr(value)
    if isinstance(value, Tensor):
        return f"tensor of shape {tuple(value.shape)}"
    name = getattr(value, "__qualname__", None) or type(value).__name__
    return f"callable:{name}" if callable(value) else repr(value)


def names(name: str, names: Any) -> list[str] | None:
    """Names given as any sequence (a list, a tuple, an array), as a list of strings."""
    if names is None:
        return None
    if isinstance(names, (str, bytes)) or not hasattr(names, "__len__"):
        raise TypeError(f"{name} must be a sequence of names; got {type(names).__name__}")
    return [str(n) for n in names]


def short(value: Any) -> str:
    """A recipe value for ``repr``: long lists (names) shortened."""
    if isinstance(value, list) and len(value) > 6:
        head = ", ".join(short(v) for v in value[:3])
        return f"[{head}, ... ({len(value)} items)]"
    return repr(value)


def integer(name: str, value: Any, low: int, expected: str) -> None:
    """An int setting (not a bool) of at least ``low``; ``expected`` says so in the error."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an int {expected}; got {value!r}")


def one_of(name: str, value: Any, choices: tuple[Any, ...], *, or_callable: bool = False) -> None:
    """A setting among ``choices`` (or, with ``or_callable``, any callable)."""
    if (or_callable and callable(value)) or (
        isinstance(value, (str, type(None))) and value in choices
    ):
        return
    extra = " or a callable" if or_callable else ""
    raise ValueError(f"{name} must be one of {choices}{extra}; got {value!r}")
