"""KernelSHAP: the Shapley kernel, its coalitions, and the fit under the efficiency constraint.

Lundberg and Lee (2017): with the kernel ``π(z) = (K - 1) / (C(K, |z|) |z| (K - |z|))``
over coalitions ``z`` of K features, and infinite weight on the empty and the full
coalition, the weighted least squares with an intercept recovers the Shapley values.
Here the infinite weights are exact constraints instead of large finite ones: the
intercept is ``f(∅)`` and the attributions sum to ``f(x) - f(∅)`` (efficiency), solved by
eliminating one feature. Coalitions are enumerated when all ``2^K`` fit the budget (the
Shapley values, exactly), else sampled from the kernel's size law ``P(s) ∝ (K - 1) / (s (K
- s))`` with uniform subsets and unit weights, optionally as antithetic pairs.
"""

from __future__ import annotations

import torch
from torch import Tensor

from torchlime._random import random_ranks, resolve_generator
from torchlime.functional.surrogate import RidgeFit, ridge_from_moments, weighted_moments

__all__ = ["enumeration", "shapley_fit", "shapley_kernel", "shapley_masks"]


def shapley_kernel(masks: Tensor, n_features: Tensor, *, enumerated: bool = True) -> Tensor:
    """KernelSHAP's sample weights; 0 on the empty and full coalitions (the constraints).

    Args:
        masks: (B, N, K) bool coalitions.
        n_features: (B,) int64 valid features K_b (padding ignored).
        enumerated: the coalitions are all of them, each once (weights ``π(z)``), rather than
            drawn from the kernel's size law (weights 1).

    Returns:
        (B, N) float64.

    Example:
        >>> m = torch.tensor([[[True, True, True], [False, False, False], [True, False, False]]])
        >>> shapley_kernel(m, torch.tensor([3]))
        tensor([[0.0000, 0.0000, 0.3333]], dtype=torch.float64)
    """
    valid = torch.arange(masks.shape[-1], device=masks.device) < n_features[:, None, None]
    s = (masks & valid).sum(-1).double()  # (B, N)
    k = n_features.double()[:, None]
    inside = (s > 0) & (s < k)
    if not enumerated:
        return inside.double()
    log_binom = torch.lgamma(k + 1) - torch.lgamma(s + 1) - torch.lgamma((k - s).clamp(min=0) + 1)
    pi = (k - 1) / (log_binom.exp() * s.clamp(min=1) * (k - s).clamp(min=1))
    return torch.where(inside, pi, 0.0)


def shapley_masks(
    batch: int,
    n_samples: int,
    n_features: int,
    *,
    n_valid: Tensor,
    paired: bool = False,
    generator: torch.Generator | None = None,
    shared: bool = False,
) -> Tensor:
    """KernelSHAP's coalitions: row 0 the full one, row 1 the empty one, then the others.

    When ``2^K <= n_samples`` every coalition of the K columns appears once (N = 2^K: the
    Shapley values exactly; weigh with ``shapley_kernel(..., enumerated=True)``). Otherwise
    N - 2 coalitions are drawn: a size from ``P(s) ∝ (K_b - 1) / (s (K_b - s))``, then a
    uniform subset of that size (weights 1); ``paired`` follows each by its complement.

    Args:
        batch: B.
        n_samples: N >= 3, the budget of coalitions per example, the two constraints included.
        n_features: K, the padded width.
        n_valid: (B,) int64 K_b >= 1; padded columns are False (True in row 0).
        paired: antithetic pairs ``z``, ``~z`` among the sampled coalitions.
        generator: the source of randomness, on ``n_valid``'s device.
        shared: every example reads the same random numbers (common random numbers).

    Returns:
        (B, N, K) bool.

    Example:
        >>> m = shapley_masks(1, 100, 3, n_valid=torch.tensor([3]))
        >>> m.shape, m[0, :2].tolist()  # 2^3 = 8 coalitions, full and empty first
        (torch.Size([1, 8, 3]), [[True, True, True], [False, False, False]])
    """
    if n_samples < 3:
        raise ValueError(
            f"KernelSHAP needs n_samples >= 3 (full, empty, one more); got {n_samples}"
        )
    device = n_valid.device
    valid = torch.arange(n_features, device=device) < n_valid[:, None]  # (B, K)
    if n_features < 30 and 2**n_features <= n_samples:
        codes = torch.arange(2**n_features, device=device)
        bits = (codes[:, None] >> torch.arange(n_features, device=device)) & 1
        full, empty = 2**n_features - 1, 0
        order = torch.cat([codes.new_tensor([full, empty]), codes[1:full]])
        masks = bits[order].bool().expand(batch, -1, -1) & valid[:, None]
    else:
        generator, _ = resolve_generator(generator, device)
        m = n_samples - 2
        pairs, odd = divmod(m, 2) if paired else (0, m)
        drawn = pairs + odd
        k_b = n_valid.double()[:, None]
        s = torch.arange(1, n_features, device=device, dtype=torch.float64)
        law = torch.where(s < k_b, (k_b - 1) / (s * (k_b - s)).clamp(min=1e-300), 0.0)
        cdf = (law / law.sum(-1, keepdim=True).clamp(min=1e-300)).cumsum(-1)
        rows = 1 if shared else batch
        u = torch.rand(rows, drawn, generator=generator, device=device, dtype=torch.float64)
        u = u.expand(batch, -1).contiguous()
        sizes = torch.searchsorted(cdf.contiguous(), u).clamp(max=n_features - 2) + 1
        rank = random_ranks(batch, drawn, n_features, n_valid, generator, shared=shared)
        z = rank < sizes[..., None]
        both = torch.stack([z[:, :pairs], ~z[:, :pairs] & valid[:, None]], 2).flatten(1, 2)
        masks = torch.cat([both, z[:, pairs:]], 1)
        ends = torch.stack([valid, torch.zeros_like(valid)], 1)  # full, empty
        masks = torch.cat([ends, masks], 1)
    masks = masks.clone()
    masks[:, 0] = True
    return masks


def shapley_fit(X: Tensor, scores: Tensor, weights: Tensor, n_features: Tensor) -> RidgeFit:
    """Shapley values under the efficiency constraint, every example and target at once.

    The intercept is the score of the empty coalition, ``f(∅)``; the coefficients solve the
    weighted least squares of ``f(z) - f(∅)`` on ``z`` subject to ``Σ φ = f(x) - f(∅)``
    (``f(x)``: row 0), by substituting the last valid feature. Rows of weight 0 (the two
    constraints) do not enter the fit.

    Args:
        X: (..., N, K) bool coalitions; row 0 is the full one, and one row per example must be
            empty over its valid features.
        scores: (..., N, T) float.
        weights: (..., N) float (:func:`shapley_kernel`).
        n_features: (B,) int64 valid features, B the last leading dimension of ``X``.

    Returns:
        :class:`~torchlime.functional.RidgeFit` (float64): coef (..., T, K), intercept
        ``f(∅)`` and the weighted R² (..., T).

    Raises:
        ValueError: when an example has no empty coalition among its samples.

    Example:
        >>> k = torch.tensor([2])
        >>> m = shapley_masks(1, 8, 2, n_valid=k)
        >>> f = (m.double() @ torch.tensor([1.0, 3.0], dtype=torch.float64))[..., None]
        >>> f = f + 2 * m[..., :1] * m[..., 1:]  # an interaction 2 z0 z1, split evenly
        >>> shapley_fit(m, f, shapley_kernel(m, k), k).coef.round(decimals=12).tolist()
        [[[2.0, 4.0]]]
    """
    k = X.shape[-1]
    valid = torch.arange(k, device=X.device) < n_features[:, None]  # (B, K)
    kept = (X & valid[:, None]).sum(-1)  # (..., N)
    is_empty = kept == 0
    if not torch.compiler.is_compiling() and not bool(is_empty.any(-1).all()):
        raise ValueError("KernelSHAP's fit needs the empty coalition (its f(∅)) among the samples")
    y = scores.to(torch.float64)
    first_empty = is_empty.to(torch.int64).argmax(-1, keepdim=True)  # (..., 1)
    f_empty = y.gather(-2, first_empty[..., None].expand(*y.shape[:-2], 1, y.shape[-1]))[..., 0, :]
    delta = y[..., 0, :] - f_empty  # (..., T)
    last = (n_features - 1).clamp(min=0)  # (B,)
    z = X.to(torch.float64)
    z_last = z.gather(-1, last.view(-1, 1, 1).expand(*z.shape[:-1], 1))  # (..., N, 1)
    design = z - z_last  # column `last` becomes 0: it is solved from the constraint
    target = y - f_empty[..., None, :] - z_last * delta[..., None, :]
    free = valid & (torch.arange(k, device=X.device) != last[:, None])  # (B, K)
    moments = weighted_moments(design, target, weights, fit_intercept=False)
    fit = ridge_from_moments(moments, 0.0, feature_mask=free[:, None, :], fit_intercept=False)
    coef = fit.coef  # (..., T, K), 0 at `last` and padding
    rest = delta - coef.sum(-1)
    at_last = torch.arange(k, device=X.device) == last[:, None]  # (B, K)
    coef = torch.where(at_last[:, None, :], rest[..., None], coef)
    pred = f_empty[..., None, :] + torch.einsum("...nk,...tk->...nt", z, coef)
    w = weights.to(torch.float64)[..., None]
    rss = (w * (y - pred) ** 2).sum(-2)
    mean = (w * y).sum(-2) / w.sum(-2).clamp(min=1e-300)
    tss = (w * (y - mean[..., None, :]) ** 2).sum(-2)
    score = torch.where(tss > 0, 1 - rss / torch.where(tss > 0, tss, 1.0), (rss == 0).double())
    return RidgeFit(coef, f_empty, score)


def enumeration(X: Tensor) -> bool:
    """Whether (B, N, K) samples are every coalition of the K features (N = 2^K).

    Example:
        >>> enumeration(torch.ones(1, 4, 2)), enumeration(torch.ones(1, 3, 2))
        (True, False)
    """
    k = X.shape[-1]
    return k < 30 and X.shape[1] == 2**k
