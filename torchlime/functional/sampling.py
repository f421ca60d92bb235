"""Interpretable samples: which features are kept in each perturbation."""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "SAMPLERS",
    "binomial_masks",
    "count_log_prob",
    "paired_masks",
    "sample_masks",
    "stratified_masks",
]


def sample_masks(
    batch: int,
    n_samples: int,
    n_features: int,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Draw lime's perturbation masks: i.i.d. Bernoulli(0.5), the first row all ones.

    Row 0 of every example is the original input (every feature kept), as in lime.

    Args:
        batch: B, the number of examples.
        n_samples: N >= 1, samples per example (row 0 included).
        n_features: K >= 1, interpretable features per example (pad to the largest K_b;
            the surrogate ignores padded columns).
        generator: the source of randomness; must live on ``device``. ``None`` draws a
            fresh seed from the operating system (never the global RNG).
        device: where the masks are made; defaults to the generator's device, else CPU.

    Returns:
        (B, N, K) bool. True where a feature is kept.

    Raises:
        ValueError: for non-positive sizes or a generator on another device.

    Example:
        >>> masks = sample_masks(2, 4, 3, generator=torch.Generator().manual_seed(0))
        >>> masks.shape, bool(masks[:, 0].all())
        (torch.Size([2, 4, 3]), True)
    """
    if batch < 0 or n_samples < 1 or n_features < 1:
        raise ValueError(
            "sample_masks needs batch >= 0, n_samples >= 1 and n_features >= 1; "
            f"got batch={batch}, n_samples={n_samples}, n_features={n_features}"
        )
    generator, device = resolve_generator(generator, device)
    masks = torch.rand(batch, n_samples, n_features, generator=generator, device=device) < 0.5
    masks[:, 0] = True
    return masks


def resolve_generator(
    generator: torch.Generator | None, device: torch.device | str | None
) -> tuple[torch.Generator, torch.device]:
    """The (generator, device) a random function uses: every module resolves it here.

    ``None`` makes a generator on ``device`` (CPU by default) seeded by the operating system,
    never from the global RNG; a given generator must live on ``device``'s type.
    """
    if generator is None:
        device = torch.device("cpu" if device is None else device)
        generator = torch.Generator(device=device)
        generator.seed()
        return generator, device
    device = generator.device if device is None else torch.device(device)
    if generator.device.type != device.type:
        raise ValueError(
            f"generator lives on {generator.device} but the data is on {device}; "
            f"pass torch.Generator(device={str(device)!r})"
        )
    return generator, device


# --------------------------------------------------------------------------- other samplers
#
# Every sampler shares ``sample_masks``' signature (batch, n_samples, n_features, *,
# generator, device) and contract (row 0 all True), and takes ``n_valid``: the (B,) count
# K_b of real features of each example when the batch is padded to K columns. Padded
# columns are always False. None of them loops over samples or features.

SAMPLERS = ("bernoulli", "paired", "stratified", "binomial")


def paired_masks(
    batch: int,
    n_samples: int,
    n_features: int,
    *,
    n_valid: Tensor | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Antithetic masks: lime's Bernoulli(0.5) rows, each followed by its complement.

    Rows ``2j + 1`` and ``2j + 2`` are ``z`` and ``~z`` (KernelSHAP's paired sampling):
    every feature is kept in exactly half of each pair, so the design is balanced and the
    even-order interactions of the model cancel from the linear fit. When ``N - 1`` is odd
    the last row is an unpaired Bernoulli draw. Each row on its own is still
    Bernoulli(0.5), so lime's kernel and surrogate apply unchanged.

    Args:
        batch: B, the number of examples.
        n_samples: N >= 1, samples per example (row 0 included).
        n_features: K >= 1, the padded number of features.
        n_valid: (B,) int64 real features per example (<= K); the complement is taken over
            them and padded columns stay False. ``None``: all K.
        generator: the source of randomness, on ``device``; ``None`` seeds a fresh one.
        device: where the masks are made; defaults to the generator's device, else CPU.

    Returns:
        (B, N, K) bool, row 0 all True (its padding included, as ``sample_masks``).

    Example:
        >>> m = paired_masks(1, 5, 4, generator=torch.Generator().manual_seed(0))
        >>> bool((m[0, 1] == ~m[0, 2]).all()), bool((m[0, 3] == ~m[0, 4]).all())
        (True, True)
    """
    _check_sizes(batch, n_samples, n_features, "paired_masks")
    generator, device = resolve_generator(generator, device)
    valid = _valid_columns(batch, n_features, n_valid, device)
    pairs, odd = divmod(n_samples - 1, 2)
    z = torch.rand(batch, pairs + odd, n_features, generator=generator, device=device) < 0.5
    both = torch.stack([z[:, :pairs], ~z[:, :pairs]], 2).flatten(1, 2)  # z1, ~z1, z2, ~z2...
    masks = torch.cat([_ones(batch, n_features, device), both, z[:, pairs:]], 1)
    return _with_original(masks & valid[:, None, :])


def stratified_masks(
    batch: int,
    n_samples: int,
    n_features: int,
    *,
    n_valid: Tensor | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Lime's law on masks, stratified by the number of kept features.

    Under lime's Bernoulli(0.5) sampling the number of kept features ``|z|`` is
    Binomial(K_b, 1/2), and given ``|z|`` the kept set is uniform. Here the N - 1 counts are
    a systematic sample of that binomial (one uniform offset per example, quantiles
    ``(i + u) / (N - 1)``), so each count ``j`` occurs ``(N - 1) P(|z| = j)`` times up to
    rounding (within 1); each row then keeps a uniformly random subset of that size, and
    the rows are shuffled. Every row is marginally Bernoulli(0.5) as in lime, but the count
    histogram carries no sampling noise.

    Args:
        batch: B, the number of examples.
        n_samples: N >= 1, samples per example (row 0 included).
        n_features: K >= 1, the padded number of features.
        n_valid: (B,) int64 real features per example (<= K). ``None``: all K.
        generator: the source of randomness, on ``device``; ``None`` seeds a fresh one.
        device: where the masks are made; defaults to the generator's device, else CPU.

    Returns:
        (B, N, K) bool, row 0 all True.

    Example:
        >>> m = stratified_masks(1, 9, 3, generator=torch.Generator().manual_seed(0))
        >>> m[0, 1:].sum(-1).sort().values.tolist()  # 8 x Binomial(3, 1/2) = 1, 3, 3, 1
        [0, 1, 1, 1, 2, 2, 2, 3]
    """
    _check_sizes(batch, n_samples, n_features, "stratified_masks")
    generator, device = resolve_generator(generator, device)
    k_b = _n_valid(batch, n_features, n_valid, device)
    j = torch.arange(n_features + 1, device=device, dtype=torch.float64)
    log_p = _log_binomial(k_b[:, None], j) - k_b[:, None] * math.log(2.0)
    cdf = torch.where(j <= k_b[:, None], log_p.exp(), 0.0).cumsum(-1)
    cdf = torch.where(j >= k_b[:, None], 1.0, cdf)  # exactly 1 from K_b on: no overshoot
    m = n_samples - 1
    offset = torch.rand(batch, 1, generator=generator, device=device, dtype=torch.float64)
    u = (torch.arange(m, device=device, dtype=torch.float64) + offset) / max(m, 1)
    counts = torch.searchsorted(cdf, u.contiguous()).clamp(max=n_features)
    shuffle = torch.rand(batch, m, generator=generator, device=device).argsort(-1)
    counts = counts.gather(1, shuffle)
    return _subsets(counts, n_features, k_b, generator, device)


def binomial_masks(
    batch: int,
    n_samples: int,
    n_features: int,
    *,
    kernel_width: float = 0.25,
    distance: str = "cosine",
    n_valid: Tensor | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """GLIME-Binomial: lime's kernel folded into the sampling law; fit without weights.

    Lime fits a ridge weighted by ``π(z)`` on uniform masks. GLIME (Tan et al., 2023)
    draws from the tilted law instead, ``P(z) ∝ π(z)``: the count ``|z| = j`` with
    probability ``∝ C(K_b, j) π(j)`` and then a uniformly random subset of that size. The
    surrogate is then fitted with unit weights, so small kernel weights can no longer let
    the ridge penalty dominate (the instability GLIME diagnoses in lime's L2 kernel).

    ``π`` is lime's kernel ``exp(-d² / (2 kernel_width²))`` on the cosine distance
    ``d = 1 - sqrt(j / K_b)`` (lime's image and text kernel) or, with
    ``distance="euclidean"``, on ``d² = K_b - j`` (GLIME's and lime-tabular's).

    Args:
        batch: B, the number of examples.
        n_samples: N >= 1, samples per example (row 0 included).
        n_features: K >= 1, the padded number of features.
        kernel_width: the kernel's width, > 0.
        distance: ``"cosine"`` or ``"euclidean"``.
        n_valid: (B,) int64 real features per example (<= K). ``None``: all K.
        generator: the source of randomness, on ``device``; ``None`` seeds a fresh one.
        device: where the masks are made; defaults to the generator's device, else CPU.

    Returns:
        (B, N, K) bool, row 0 all True. Fit them with unit weights.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> m = binomial_masks(1, 2001, 10, kernel_width=0.5, distance="euclidean", generator=g)
        >>> round(m[0, 1:].double().mean().item(), 2)  # independent Bernoulli(1/(1+e^-2))
        0.88
    """
    _check_sizes(batch, n_samples, n_features, "binomial_masks")
    if kernel_width <= 0:
        raise ValueError(f"kernel_width must be > 0; got {kernel_width}")
    if distance not in ("cosine", "euclidean"):
        raise ValueError(f"distance must be 'cosine' or 'euclidean'; got {distance!r}")
    generator, device = resolve_generator(generator, device)
    k_b = _n_valid(batch, n_features, n_valid, device)
    log_p = count_log_prob(k_b, n_features, kernel_width, distance)
    counts = torch.multinomial(log_p.exp(), n_samples - 1, replacement=True, generator=generator)
    return _subsets(counts, n_features, k_b, generator, device)


def count_log_prob(
    n_valid: Tensor, n_features: int, kernel_width: float = 0.25, distance: str = "cosine"
) -> Tensor:
    """Log-probabilities of the kept-feature count under GLIME-Binomial's law.

    ``P(|z| = j) ∝ C(K_b, j) exp(-d(j)² / (2 kernel_width²))`` for ``j = 0..K_b``, as
    :func:`binomial_masks` samples it.

    Args:
        n_valid: (B,) int64, K_b.
        n_features: K >= max K_b, the padded width.
        kernel_width: the kernel's width, > 0.
        distance: ``"cosine"`` or ``"euclidean"``.

    Returns:
        (B, K + 1) float64, ``-inf`` beyond K_b; each row's probabilities sum to 1.

    Example:
        >>> count_log_prob(torch.tensor([2]), 2, 1e6).exp()  # a flat kernel: Binomial(2, 1/2)
        tensor([[0.2500, 0.5000, 0.2500]], dtype=torch.float64)
    """
    k_b = n_valid.to(torch.float64)[:, None]
    j = torch.arange(n_features + 1, device=n_valid.device, dtype=torch.float64)
    cosine = (1.0 - torch.sqrt(j / k_b.clamp(min=1))) ** 2
    d2 = cosine if distance == "cosine" else k_b - j
    log_p = _log_binomial(k_b, j) - d2 / (2.0 * kernel_width**2)
    log_p = torch.where(j <= k_b, log_p, -torch.inf)
    return log_p - log_p.logsumexp(-1, keepdim=True)


def _check_sizes(batch: int, n_samples: int, n_features: int, where: str) -> None:
    if batch < 0 or n_samples < 1 or n_features < 1:
        raise ValueError(
            f"{where} needs batch >= 0, n_samples >= 1 and n_features >= 1; "
            f"got batch={batch}, n_samples={n_samples}, n_features={n_features}"
        )


def _n_valid(batch: int, n_features: int, n_valid: Tensor | None, device: torch.device) -> Tensor:
    if n_valid is None:
        return torch.full((batch,), n_features, dtype=torch.long, device=device)
    if n_valid.shape != (batch,) or n_valid.dtype.is_floating_point:
        raise ValueError(
            f"n_valid must be an integer (B,) tensor with B={batch}; got {n_valid.dtype} of "
            f"shape {tuple(n_valid.shape)}"
        )
    return n_valid.to(device=device, dtype=torch.long).clamp(max=n_features)


def _valid_columns(
    batch: int, n_features: int, n_valid: Tensor | None, device: torch.device
) -> Tensor:
    """(B, K) bool: the real (unpadded) columns."""
    k_b = _n_valid(batch, n_features, n_valid, device)
    return torch.arange(n_features, device=device) < k_b[:, None]


def _ones(batch: int, n_features: int, device: torch.device) -> Tensor:
    return torch.ones(batch, 1, n_features, dtype=torch.bool, device=device)


def _with_original(masks: Tensor) -> Tensor:
    """Set row 0 of (B, N, K) masks to all True (the original input), in place."""
    masks[:, 0] = True
    return masks


def _subsets(
    counts: Tensor, n_features: int, k_b: Tensor, generator: torch.Generator, device: torch.device
) -> Tensor:
    """(B, 1 + M, K) bool: row 0 all True (the original), then rows keeping ``counts[b, m]``.

    Each row keeps a uniformly random subset of that size among the real features: random
    keys for the real columns, 2 (above every key) for padding, and a column is kept when
    its key's rank is below the count. One sort for the whole batch, no loop over rows.
    """
    b, m = counts.shape
    subsets = random_ranks(b, m, n_features, k_b, generator) < counts[..., None]
    return torch.cat([_ones(b, n_features, device), subsets], 1)


def random_ranks(
    batch: int, rows: int, n_features: int, n_valid: Tensor, generator: torch.Generator
) -> Tensor:
    """A uniformly random order of each row's real features: (B, M, K) int64 ranks.

    Column ``j < n_valid[b]`` gets its position in a random permutation of the real
    columns; padding columns rank last. ``rank < s`` is then a uniform random subset of
    size ``s`` (lime's ``choice(K_b, s, replace=False)``). One sort, no loop over rows.
    """
    device = n_valid.device
    keys = torch.rand(batch, rows, n_features, generator=generator, device=device)
    padded = torch.arange(n_features, device=device) >= n_valid[:, None, None]
    order = keys.masked_fill(padded, 2.0).argsort(-1)  # keys < 1: padding sorts last
    positions = torch.arange(n_features, device=device).expand_as(order)
    return torch.empty_like(order).scatter_(-1, order, positions)


def _log_binomial(n: Tensor, j: Tensor) -> Tensor:
    """Log of the binomial coefficient C(n, j) (float, broadcast; finite for 0 <= j <= n)."""
    return torch.lgamma(n + 1) - torch.lgamma(j + 1) - torch.lgamma((n - j).clamp(min=0) + 1)
