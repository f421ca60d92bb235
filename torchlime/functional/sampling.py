"""Interpretable samples: which features each perturbation keeps.

Every sampler returns (B, N, K) bool masks with row 0 all True (the original input) and
shares :func:`sample_masks`' signature ``(batch, n_samples, n_features, *, generator,
device)``. The others also take:

- ``n_valid``: the (B,) count K_b of real features of each example when the batch is
  padded to K columns (padded columns are never kept, except in row 0);
- ``law``: the law of lime's own sampler that they reproduce or re-weight:
  ``"bernoulli"`` (lime's images: every feature kept with probability 1/2) or
  ``"removal"`` (lime's text: a uniform number ``1..K_b`` of features removed, chosen
  uniformly). Both are *exchangeable*: given how many features a row keeps, the kept
  set is uniform, so a law is its distribution of that count (:func:`count_log_prob`);
- ``shared``: every example reads the same random numbers (common random numbers). Each
  example's samples still follow its own law; examples explained together share their
  sampling noise.

None of them loops over samples or features.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from torchlime._random import random_ranks, resolve_generator

__all__ = [
    "LAWS",
    "SAMPLERS",
    "binomial_masks",
    "count_log_prob",
    "draw_masks",
    "paired_masks",
    "sample_masks",
    "sample_removals",
    "stratified_masks",
]

SAMPLERS = ("lime", "bernoulli", "paired", "stratified", "binomial")
"""Sampler names every explainer accepts (``"lime"``: the modality's own lime sampler)."""
LAWS = ("bernoulli", "removal")


def sample_masks(
    batch: int,
    n_samples: int,
    n_features: int,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    shared: bool = False,
) -> Tensor:
    """Draw lime's image masks: i.i.d. Bernoulli(0.5), the first row all ones.

    Args:
        batch: B, the number of examples.
        n_samples: N >= 1, samples per example (row 0 included).
        n_features: K >= 1, interpretable features per example (pad to the largest K_b;
            the surrogate ignores padded columns).
        generator: the source of randomness; must live on ``device``. ``None`` draws a
            fresh seed from the operating system (never the global RNG).
        device: where the masks are made; defaults to the generator's device, else CPU.
        shared: one set of masks for every example (common random numbers).

    Returns:
        (B, N, K) bool. True where a feature is kept.

    Raises:
        ValueError: for non-positive sizes or a generator on another device.

    Example:
        >>> masks = sample_masks(2, 4, 3, generator=torch.Generator().manual_seed(0))
        >>> masks.shape, bool(masks[:, 0].all())
        (torch.Size([2, 4, 3]), True)
    """
    _check_sizes(batch, n_samples, n_features, "sample_masks")
    generator, device = resolve_generator(generator, device)
    rows = 1 if shared else batch
    masks = torch.rand(rows, n_samples, n_features, generator=generator, device=device) < 0.5
    return _with_original(_expand(masks, batch, shared))


def paired_masks(
    batch: int,
    n_samples: int,
    n_features: int,
    *,
    n_valid: Tensor | None = None,
    law: str = "bernoulli",
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    shared: bool = False,
) -> Tensor:
    """Antithetic pairs: each sample is followed by its mirror image.

    Rows ``2j + 1`` and ``2j + 2`` are drawn from one set of uniforms ``u`` and from
    ``1 - u``. For lime's Bernoulli masks that is ``z`` and ``~z`` (KernelSHAP's paired
    sampling): every feature is kept in exactly half of each pair, so the design is
    balanced and the even-order interactions of the model cancel from the linear fit. For
    the removal law the mirror removes ``K_b + 1 - s`` features where the first removed
    ``s``, taking the ones the first kept first. Each row on its own follows the law
    exactly, so lime's kernel and surrogate apply unchanged. When ``N - 1`` is odd the last
    row is unpaired.

    Args:
        batch: B, the number of examples.
        n_samples: N >= 1, samples per example (row 0 included).
        n_features: K >= 1, the padded number of features.
        n_valid: (B,) int64 real features per example (<= K); padded columns stay False.
            ``None``: all K.
        law: ``"bernoulli"`` or ``"removal"`` (see the module docstring).
        generator: the source of randomness, on ``device``; ``None`` seeds a fresh one.
        device: where the masks are made; defaults to the generator's device, else CPU.
        shared: every example reads the same uniforms (common random numbers).

    Returns:
        (B, N, K) bool, row 0 all True (its padding included, as ``sample_masks``).

    Example:
        >>> m = paired_masks(1, 5, 4, generator=torch.Generator().manual_seed(0))
        >>> bool((m[0, 1] == ~m[0, 2]).all()), bool((m[0, 3] == ~m[0, 4]).all())
        (True, True)
    """
    _check_sizes(batch, n_samples, n_features, "paired_masks")
    _check_law(law)
    generator, device = resolve_generator(generator, device)
    k_b = _n_valid(batch, n_features, n_valid, device)
    valid = torch.arange(n_features, device=device) < k_b[:, None]
    pairs, odd = divmod(n_samples - 1, 2)
    rows = 1 if shared else batch
    if law == "bernoulli":
        u = torch.rand(rows, pairs + odd, n_features, generator=generator, device=device)
        z = _expand(u < 0.5, batch, shared)
        first, mirror = z, ~z
    else:
        u = torch.rand(rows, pairs + odd, generator=generator, device=device, dtype=torch.float64)
        u = _expand(u, batch, shared)
        rank = random_ranks(batch, pairs + odd, n_features, k_b, generator, shared=shared)
        first = rank >= _removed(u, k_b)[..., None]
        # the mirror: 1 - u removes K_b + 1 - s; reversed keys remove the last-ranked first
        mirror = (k_b[:, None, None] - 1 - rank) >= _removed(1 - u, k_b)[..., None]
    both = torch.stack([first[:, :pairs], mirror[:, :pairs]], 2).flatten(1, 2)
    masks = torch.cat([_ones(batch, n_features, device), both, first[:, pairs:]], 1)
    return _with_original(masks & valid[:, None, :])


def stratified_masks(
    batch: int,
    n_samples: int,
    n_features: int,
    *,
    n_valid: Tensor | None = None,
    law: str = "bernoulli",
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    shared: bool = False,
) -> Tensor:
    """A law's masks, stratified by the number of kept features.

    Under an exchangeable law (see the module docstring) a row is its count of kept
    features, drawn from the law, and then a uniform subset of that size. Here the N - 1
    counts are a systematic sample of the count's law (one uniform offset per example,
    quantiles ``(i + u) / (N - 1)``), so each count ``j`` occurs ``(N - 1) P(j)`` times up
    to rounding (within 1); each row then keeps a uniformly random subset of that size, and
    the rows are shuffled. Every row follows the law on its own, but the count histogram
    carries no sampling noise.

    Args:
        batch: B, the number of examples.
        n_samples: N >= 1, samples per example (row 0 included).
        n_features: K >= 1, the padded number of features.
        n_valid: (B,) int64 real features per example (<= K). ``None``: all K.
        law: ``"bernoulli"`` (lime's images) or ``"removal"`` (lime's text).
        generator: the source of randomness, on ``device``; ``None`` seeds a fresh one.
        device: where the masks are made; defaults to the generator's device, else CPU.
        shared: every example reads the same uniforms (common random numbers).

    Returns:
        (B, N, K) bool, row 0 all True.

    Example:
        >>> m = stratified_masks(1, 9, 3, generator=torch.Generator().manual_seed(0))
        >>> m[0, 1:].sum(-1).sort().values.tolist()  # 8 x Binomial(3, 1/2) = 1, 3, 3, 1
        [0, 1, 1, 1, 2, 2, 2, 3]
    """
    _check_sizes(batch, n_samples, n_features, "stratified_masks")
    _check_law(law)
    generator, device = resolve_generator(generator, device)
    k_b = _n_valid(batch, n_features, n_valid, device)
    cdf = _cdf(count_log_prob(k_b, n_features, math.inf, law=law), k_b)
    m = n_samples - 1
    rows = 1 if shared else batch
    offset = torch.rand(rows, 1, generator=generator, device=device, dtype=torch.float64)
    u = (torch.arange(m, device=device, dtype=torch.float64) + offset) / max(m, 1)
    counts = torch.searchsorted(cdf, _expand(u, batch, shared).contiguous())
    shuffle = torch.rand(rows, m, generator=generator, device=device).argsort(-1)
    counts = counts.gather(1, _expand(shuffle, batch, shared)).clamp(max=n_features)
    return _subsets(counts, n_features, k_b, generator, device, shared)


def binomial_masks(
    batch: int,
    n_samples: int,
    n_features: int,
    *,
    kernel_width: float = 0.25,
    distance: str = "cosine",
    distance_scale: float = 1.0,
    n_valid: Tensor | None = None,
    law: str = "bernoulli",
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    shared: bool = False,
) -> Tensor:
    """GLIME: lime's kernel folded into the sampling law; fit the samples without weights.

    Lime fits a ridge weighted by ``π(z)`` on samples from its law ``P``. GLIME (Tan et al.,
    2023) samples from the tilted law ``P(z) π(z)`` instead (for lime's Bernoulli masks:
    the count ``|z| = j`` with probability ``∝ C(K_b, j) π(j)``, then a uniformly random
    subset of that size) and fits with unit weights, so small kernel weights can no longer
    let the ridge penalty dominate (the instability GLIME diagnoses in lime's kernel).

    ``π`` is lime's kernel ``exp(-d² / (2 kernel_width²))`` on the cosine distance
    ``d = distance_scale (1 - sqrt(j / K_b))`` (lime's image kernel; its text kernel is
    width 25 on ``distance_scale=100``) or, with ``distance="euclidean"``, on
    ``d² = K_b - j`` (GLIME's and lime-tabular's on binary features).

    Args:
        batch: B, the number of examples.
        n_samples: N >= 1, samples per example (row 0 included).
        n_features: K >= 1, the padded number of features.
        kernel_width: the kernel's width, > 0.
        distance: ``"cosine"`` or ``"euclidean"``.
        distance_scale: a factor on the cosine distance (lime's text: 100).
        n_valid: (B,) int64 real features per example (<= K). ``None``: all K.
        law: the law that is tilted: ``"bernoulli"`` or ``"removal"``.
        generator: the source of randomness, on ``device``; ``None`` seeds a fresh one.
        device: where the masks are made; defaults to the generator's device, else CPU.
        shared: every example reads the same uniforms (common random numbers).

    Returns:
        (B, N, K) bool, row 0 all True. Fit them with unit weights.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> m = binomial_masks(1, 2001, 10, kernel_width=0.5, distance="euclidean", generator=g)
        >>> round(m[0, 1:].double().mean().item(), 2)  # independent Bernoulli(1/(1+e^-2))
        0.88
    """
    _check_sizes(batch, n_samples, n_features, "binomial_masks")
    if not kernel_width > 0:
        raise ValueError(f"kernel_width must be > 0; got {kernel_width}")
    generator, device = resolve_generator(generator, device)
    k_b = _n_valid(batch, n_features, n_valid, device)
    log_p = count_log_prob(k_b, n_features, kernel_width, distance, law=law, scale=distance_scale)
    rows = 1 if shared else batch
    u = torch.rand(rows, n_samples - 1, generator=generator, device=device, dtype=torch.float64)
    counts = torch.searchsorted(_cdf(log_p, k_b), _expand(u, batch, shared).contiguous())
    return _subsets(counts.clamp(max=n_features), n_features, k_b, generator, device, shared)


def count_log_prob(
    n_valid: Tensor,
    n_features: int,
    kernel_width: float = 0.25,
    distance: str = "cosine",
    *,
    law: str = "bernoulli",
    scale: float = 1.0,
) -> Tensor:
    """Log-probabilities of the kept-feature count under a law tilted by lime's kernel.

    ``P(|z| = j) ∝ P_law(j) exp(-d(j)² / (2 kernel_width²))`` for ``j = 0..K_b``, as
    :func:`binomial_masks` samples it; ``kernel_width=math.inf`` gives the law itself
    (``P_law``: ``C(K_b, j) / 2^K_b`` for ``"bernoulli"``, ``1 / K_b`` for ``j < K_b`` for
    ``"removal"``).

    Args:
        n_valid: (B,) int64, K_b.
        n_features: K >= max K_b, the padded width.
        kernel_width: the kernel's width, > 0 (``math.inf``: no tilt).
        distance: ``"cosine"`` or ``"euclidean"``.
        law: ``"bernoulli"`` or ``"removal"``.
        scale: a factor on the cosine distance.

    Returns:
        (B, K + 1) float64, ``-inf`` where a count is impossible; rows sum to 1.

    Example:
        >>> count_log_prob(torch.tensor([2]), 2, 1e6).exp()  # a flat kernel: Binomial(2, 1/2)
        tensor([[0.2500, 0.5000, 0.2500]], dtype=torch.float64)
    """
    _check_law(law)
    if distance not in ("cosine", "euclidean"):
        raise ValueError(f"distance must be 'cosine' or 'euclidean'; got {distance!r}")
    k_b = n_valid.to(torch.float64)[:, None]
    j = torch.arange(n_features + 1, device=n_valid.device, dtype=torch.float64)
    if law == "bernoulli":
        log_p = _log_binomial(k_b, j)
        possible = j <= k_b
    else:  # removal: 1..K_b removed uniformly, so 0..K_b - 1 kept
        log_p = torch.zeros_like(j).expand(k_b.shape[0], -1)
        possible = j < k_b
    if math.isfinite(kernel_width):
        cosine = (scale * (1.0 - torch.sqrt(j / k_b.clamp(min=1)))) ** 2
        d2 = cosine if distance == "cosine" else k_b - j
        log_p = log_p - d2 / (2.0 * kernel_width**2)
    log_p = torch.where(possible, log_p, -torch.inf)
    return log_p - log_p.logsumexp(-1, keepdim=True)


def sample_removals(
    n_features: Tensor,
    n_samples: int,
    k_max: int | None = None,
    *,
    generator: torch.Generator | None = None,
    shared: bool = False,
) -> Tensor:
    """Draw lime's text samples: remove a uniform number ``1..K_b`` of distinct features.

    For each sample, ``size ~ U{1, ..., K_b}`` features chosen uniformly without
    replacement are switched off (lime's ``randint(1, K_b + 1)`` then ``choice(K_b, size,
    replace=False)``); row 0 keeps everything. Padding features (``k >= K_b``) stay on.

    Args:
        n_features: (B,) int64 features per example ``K_b`` (>= 1).
        n_samples: N >= 1 samples per example, row 0 included.
        k_max: K, the padded width (default ``n_features.max()``, a host sync).
        generator: source of randomness on ``n_features``' device (None: fresh seed).
        shared: every example reads the same uniforms (common random numbers).

    Returns:
        (B, N, K) bool, True where a feature is kept.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> masks = sample_removals(torch.tensor([3, 5]), 4, generator=g)
        >>> masks.shape, masks[:, 0].all().item(), (~masks[:, 1:]).sum(-1).ge(1).all().item()
        (torch.Size([2, 4, 5]), True, True)
    """
    generator, device = resolve_generator(generator, n_features.device)
    b = n_features.shape[0]
    k = int(n_features.max()) if k_max is None else k_max
    rows = 1 if shared else b
    u = torch.rand(rows, n_samples, generator=generator, device=device, dtype=torch.float64)
    size = _removed(_expand(u, b, shared), n_features)
    rank = random_ranks(b, n_samples, k, n_features, generator, shared=shared)
    masks = rank >= size[..., None]  # padding ranks last: never removed
    masks[:, 0] = True
    return masks


def draw_masks(
    sampler: str | Callable[..., Tensor],
    batch: int,
    n_samples: int,
    n_features: int,
    *,
    n_valid: Tensor,
    law: str = "bernoulli",
    kernel_width: float = 0.25,
    distance: str = "cosine",
    distance_scale: float = 1.0,
    shared: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Masks from a sampler named as the explainers name them, under a law.

    ``"lime"`` is the law's own sampler (:func:`sample_masks` for ``"bernoulli"``,
    :func:`sample_removals` for ``"removal"``); ``"bernoulli"``, ``"paired"``,
    ``"stratified"`` and ``"binomial"`` the functions of those names; a callable is called
    as :func:`sample_masks` (without ``shared``) and its result checked.

    Args:
        sampler: a name in ``SAMPLERS`` or a callable.
        batch: B.
        n_samples: N >= 1, row 0 included.
        n_features: K, the padded width.
        n_valid: (B,) int64 real features per example (its device is the masks').
        law: ``"bernoulli"`` or ``"removal"``.
        kernel_width: the kernel folded into ``"binomial"``.
        distance: that kernel's distance.
        distance_scale: a factor on it (lime's text: 100).
        shared: every example reads the same uniforms (common random numbers).
        generator: the source of randomness, on ``n_valid``'s device.

    Returns:
        (B, N, K) bool, row 0 all True.

    Raises:
        ValueError: for an unknown name or a callable's result of another shape.

    Example:
        >>> m = draw_masks("paired", 1, 5, 4, n_valid=torch.tensor([4]),
        ...                generator=torch.Generator().manual_seed(0))
        >>> bool((m[0, 1] == ~m[0, 2]).all())
        True
    """
    b, n, k, device = batch, n_samples, n_features, n_valid.device
    name = sampler
    if name == "lime":
        name = "bernoulli" if law == "bernoulli" else "removal"
    common: dict[str, Any] = {"generator": generator, "device": device, "shared": shared}
    if name == "bernoulli":
        return sample_masks(b, n, k, **common)
    if name == "removal":
        return sample_removals(n_valid, n, k, generator=generator, shared=shared)
    if name == "paired":
        return paired_masks(b, n, k, n_valid=n_valid, law=law, **common)
    if name == "stratified":
        return stratified_masks(b, n, k, n_valid=n_valid, law=law, **common)
    if name == "binomial":
        return binomial_masks(
            b, n, k, kernel_width=kernel_width, distance=distance,
            distance_scale=distance_scale, n_valid=n_valid, law=law, **common,
        )  # fmt: skip
    if not callable(name):
        raise ValueError(f"sampler must be one of {SAMPLERS} or a callable; got {sampler!r}")
    masks = name(b, n, k, generator=generator, device=device)
    if not isinstance(masks, Tensor) or tuple(masks.shape) != (b, n, k):
        got = tuple(masks.shape) if isinstance(masks, Tensor) else type(masks).__name__
        raise ValueError(f"the sampler must return (B, N, K) = {(b, n, k)} masks; got {got}")
    masks = masks.to(device=device, dtype=torch.bool)
    masks[:, 0] = True
    return masks


# --------------------------------------------------------------------------- helpers


def _removed(u: Tensor, k_b: Tensor) -> Tensor:
    """U{1..K_b} from uniforms (B, M) float64: lime's number of removed features."""
    counts = k_b.to(torch.float64)[:, None]
    return torch.minimum((u * counts).floor() + 1, counts)


def _cdf(log_p: Tensor, k_b: Tensor) -> Tensor:
    """(B, K + 1) CDF of count log-probabilities, exactly 1 from K_b on (no overshoot)."""
    j = torch.arange(log_p.shape[-1], device=log_p.device)
    cdf = log_p.exp().cumsum(-1)
    return torch.where(j >= k_b[:, None], 1.0, cdf).contiguous()


def _expand(t: Tensor, batch: int, shared: bool) -> Tensor:
    return t.expand(batch, *t.shape[1:]) if shared else t


def _check_sizes(batch: int, n_samples: int, n_features: int, where: str) -> None:
    if batch < 0 or n_samples < 1 or n_features < 1:
        raise ValueError(
            f"{where} needs batch >= 0, n_samples >= 1 and n_features >= 1; "
            f"got batch={batch}, n_samples={n_samples}, n_features={n_features}"
        )


def _check_law(law: str) -> None:
    if law not in LAWS:
        raise ValueError(f"law must be one of {LAWS}; got {law!r}")


def _n_valid(batch: int, n_features: int, n_valid: Tensor | None, device: torch.device) -> Tensor:
    if n_valid is None:
        return torch.full((batch,), n_features, dtype=torch.long, device=device)
    if n_valid.shape != (batch,) or n_valid.dtype.is_floating_point:
        raise ValueError(
            f"n_valid must be an integer (B,) tensor with B={batch}; got {n_valid.dtype} of "
            f"shape {tuple(n_valid.shape)}"
        )
    return n_valid.to(device=device, dtype=torch.long).clamp(max=n_features)


def _ones(batch: int, n_features: int, device: torch.device) -> Tensor:
    return torch.ones(batch, 1, n_features, dtype=torch.bool, device=device)


def _with_original(masks: Tensor) -> Tensor:
    """Set row 0 of (B, N, K) masks to all True (the original input), in place."""
    masks = masks.clone() if masks.stride(0) == 0 else masks
    masks[:, 0] = True
    return masks


def _subsets(
    counts: Tensor,
    n_features: int,
    k_b: Tensor,
    generator: torch.Generator,
    device: torch.device,
    shared: bool = False,
) -> Tensor:
    """(B, 1 + M, K) bool: row 0 all True (the original), then rows keeping ``counts[b, m]``.

    Each row keeps a uniformly random subset of that size among the real features.
    """
    b, m = counts.shape
    subsets = random_ranks(b, m, n_features, k_b, generator, shared=shared) < counts[..., None]
    return torch.cat([_ones(b, n_features, device), subsets], 1)


def _log_binomial(n: Tensor, j: Tensor) -> Tensor:
    """Log of the binomial coefficient C(n, j) (float, broadcast; finite for 0 <= j <= n)."""
    return torch.lgamma(n + 1) - torch.lgamma(j + 1) - torch.lgamma((n - j).clamp(min=0) + 1)
