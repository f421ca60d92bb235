"""Which top-k positions and which top-k set are resolved, at a stated family-wise error rate.

Goldwasser & Hooker (UAI 2025) verify a ranking with pairwise tests and Holm's step-down:
position j is verified when its feature beats every feature ranked below it, and the top-k
set when every top-k feature beats every outsider. Here the pairwise tests read
``Var(b_i - b_j)`` from the *full* covariance of the coefficients (neighbouring LIME
coefficients are correlated: marginal variances alone miscalibrate the test), handle the
absolute value of ``|coef|`` rankings with an intersection-union test, and every claim
(positions and set together) holds with probability at least ``1 - alpha``.
:func:`ridge_covariance` gives that covariance for a weighted ridge surrogate (a sandwich
that follows the sampler's design); a bootstrap's replicates give another.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from torchlime import _checks
from torchlime._repr import compact_repr
from torchlime.functional.ranking import valid_features
from torchlime.functional.surrogate import ridge_from_moments, weighted_moments

__all__ = ["Resolution", "resolution_test", "ridge_covariance"]


class Resolution(NamedTuple):
    """The verdict of :func:`resolution_test`; ``...`` are the batch dimensions of ``coef``.

    Positions count from 1 in the order of ``|coef|`` (ties to the lower index); the
    tensors index them from 0.
    """

    order: Tensor
    """(..., K) int64 features by decreasing ``|coef|``, valid features first."""
    statistic: Tensor
    """(..., k, K) float the pairwise statistic ``z`` of position i against position l
    (``min(z1, z2)`` of the intersection-union test, see :func:`resolution_test`); 0
    outside the family of tests (``l <= i`` or past the valid features)."""
    rejected: Tensor
    """(..., k, K) bool Holm rejected ``|b at i| <= |b at l|``: position i beats position
    l (True outside the family)."""
    resolved: Tensor
    """(..., k) bool position j is resolved: its feature beats every feature below it and
    is beaten by every feature above it, so it holds rank j (False past the valid
    features). The leading run of True is Goldwasser & Hooker's sequentially verified
    ranks."""
    set_resolved: Tensor
    """(...) bool every top-k feature beats every other valid feature (True with at most
    k valid features)."""
    n_needed: Tensor
    """(...) float samples at which the set test would pass, the estimates held fixed
    (below ``n_samples`` when it passes already; inf for an exact tie)."""
    position_n_needed: Tensor
    """(..., k) float the same for each position (inf past the valid features)."""
    n_tests: Tensor
    """(...) int64 the size of the family of pairwise tests."""

    def __repr__(self) -> str:
        return compact_repr(
            self,
            f"set resolved {int(self.set_resolved.sum())} of {self.set_resolved.numel()}",
        )


def resolution_test(
    coef: Tensor,
    covariance: Tensor,
    k: int,
    alpha: float = 0.05,
    *,
    n_samples: Tensor | float | None = None,
    n_features: Tensor | None = None,
) -> Resolution:
    """Holm's step-down over pairwise rank tests: resolved positions and top-k set at FWER.

    Features are ranked by ``|coef|``; ``π(i)`` is the feature at position i. The family
    holds one test per pair of positions ``(i, l)``, ``i <= k``, ``i < l <= K_b``: "the
    feature at i has the larger ``|β|``", ``M = k K_b - k (k + 1) / 2`` tests.

    The absolute value: with ``s = sign(b_π(i))``, ``|β_π(i)| > |β_π(l)|`` follows from
    the two statements ``s β_π(i) - β_π(l) > 0`` and ``s β_π(i) + β_π(l) > 0``. Each is
    tested with its own variance from the full covariance,
    ``z1 = (s b_i - b_l) / sqrt(V_ii + V_ll - 2 s V_il)`` and
    ``z2 = (s b_i + b_l) / sqrt(V_ii + V_ll + 2 s V_il)``, and the pair with
    ``z = min(z1, z2)`` (an intersection-union test). One numerator is the sign-adjusted
    difference ``|b_i| - |b_l|``, the other ``|b_i| + |b_l|`` asks that the signs be
    resolved (it binds when both coefficients are near 0). Direction and sign are read from the
    data, so the p-value is two-sided, ``p = 2 Φ(-z)``: the chance of a wrong claim about a
    pair, tied or not, is at most p.

    Holm's step-down sorts the M statistics in decreasing order and rejects the m-th
    (from 0) while every one so far has ``z >= c_m = Φ⁻¹(1 - alpha / (2 (M - m)))``.
    Position j is resolved when every test it takes part in is rejected, the set when
    every (top-k, outsider) test is; all those claims hold together with probability at
    least ``1 - alpha``. (Holm's argument covers the tied pairs exactly; a claim in the
    wrong direction about an untied pair is a directional error, which Holm controls for
    independent tests and which is rarer still; and the family is chosen after ranking,
    as Goldwasser & Hooker do. tests/stability/test_resolution.py checks the error rate
    by simulation, with near and exact ties, ties at 0 and correlated coefficients.)

    Samples to resolve: the covariance of a fit of N independent samples falls as 1/N, so
    every ``z`` grows as ``sqrt(N / n)`` and Holm's order stays. The m-th test passes at
    ``N = n (c_m / z_m)²``, and a claim once all tests up to its last one in Holm's order
    pass: ``n_needed = n max_{m' <= m} (c_m' / z_m')²``.

    Args:
        coef: (..., K) float coefficients, e.g. (B, T, K).
        covariance: (..., K, K) float their covariance (:func:`ridge_covariance`, or the
            covariance of bootstrap replicates).
        k: size of the top set, >= 1.
        alpha: the family-wise error rate, in (0, 1).
        n_samples: samples behind ``coef``, a number or broadcastable to ``(...)``, e.g.
            (B, 1); None: 1, so that ``n_needed`` is the factor ``N / n``.
        n_features: int64 K_b valid features, of the shape of a prefix of ``(...)``, e.g.
            (B,) (None: all K).

    Returns:
        :class:`Resolution`, floats in ``coef``'s floating dtype (at least float32).

    Raises:
        ValueError: for mismatched shapes, ``k < 1`` or ``alpha`` outside (0, 1).

    Example:
        >>> coef = torch.tensor([3.0, -2.0, 1.0, 0.9])
        >>> res = resolution_test(coef, 0.01 * torch.eye(4), k=3, n_samples=1000)
        >>> res.resolved.tolist(), res.set_resolved.item()
        ([True, True, False], False)
        >>> round(res.n_needed.item(), -2)  # position 3 against 4: (1.96 / 0.71)² x 1000
        7700.0
    """
    if k < 1:
        raise ValueError(f"k must be >= 1; got {k}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1); got {alpha}")
    kk = coef.shape[-1]
    if tuple(covariance.shape) != (*coef.shape, kk):
        raise ValueError(
            f"covariance must be (..., K, K) = {(*coef.shape, kk)} for coef (..., K); got "
            f"{tuple(covariance.shape)}"
        )
    out = torch.promote_types(coef.dtype, torch.float32)
    c, v = coef.double(), covariance.to(coef.device, torch.float64)
    valid = valid_features(c, n_features).expand(c.shape)
    order = torch.where(valid, c.abs(), -1.0).sort(dim=-1, descending=True, stable=True).indices
    cs = c.gather(-1, order)
    vs = v.gather(-2, order[..., :, None].expand(v.shape))
    vs = vs.gather(-1, order[..., None, :].expand(v.shape))
    n_valid = valid.sum(-1)  # (...)
    kt = min(k, kk)
    # The pairwise statistics of positions i < kt against every position l.
    s = torch.where(cs[..., :kt] < 0, -1.0, 1.0)[..., None]  # (..., kt, 1)
    a = (s * cs[..., :kt, None]).expand(*cs.shape[:-1], kt, kk)  # |b_i|
    var = vs.diagonal(dim1=-2, dim2=-1)
    both = var[..., :kt, None] + var[..., None, :]
    cross = 2 * s * vs[..., :kt, :]
    z = torch.minimum(
        _z(a - cs[..., None, :], both - cross), _z(a + cs[..., None, :], both + cross)
    )
    positions = torch.arange(kk, device=c.device)
    family = (positions > positions[:kt, None]) & (positions < n_valid[..., None, None])
    # Holm's step-down, as the cumulative maximum of (c_m / z_m)² in decreasing z.
    flat = torch.where(family, z, -torch.inf).flatten(-2)
    n_tests = family.flatten(-2).sum(-1)
    z_sorted, index = flat.sort(dim=-1, descending=True, stable=True)
    step = torch.arange(flat.shape[-1], device=c.device)
    remaining = (n_tests[..., None] - step).clamp(min=1).double()
    critical = -torch.special.ndtri(alpha / (2 * remaining))
    tested = step < n_tests[..., None]
    passed = ((z_sorted < critical) & tested).cumsum(-1) == 0
    ratio = torch.where(z_sorted > 0, (critical / z_sorted.clamp(min=1e-300)) ** 2, torch.inf)
    ratio = torch.where(tested, ratio, 0.0).cummax(-1).values
    rejected = torch.empty_like(passed).scatter_(-1, index, passed).unflatten(-1, (kt, kk))
    factor = torch.empty_like(ratio).scatter_(-1, index, ratio).unflatten(-1, (kt, kk))
    rejected, factor = rejected | ~family, torch.where(family, factor, 0.0)
    # Claims: position j (its row and its column), and the set (top rows, outsider columns).
    live = positions[:kt] < n_valid[..., None]
    resolved = rejected.all(-1) & rejected[..., :kt].all(-2) & live
    position_factor = torch.where(
        live, torch.maximum(factor.amax(-1), factor[..., :kt].amax(-2)), torch.inf
    )
    set_resolved = rejected[..., kt:].flatten(-2).all(-1)
    set_factor = (
        factor[..., kt:].flatten(-2).amax(-1) if kt < kk else factor.new_zeros(factor.shape[:-2])
    )
    n = torch.as_tensor(1.0 if n_samples is None else n_samples, device=c.device)
    n = n.to(torch.float64).expand(set_factor.shape)
    if kt < k:  # positions past K: nothing to resolve
        pad = (*resolved.shape[:-1], k - kt)
        resolved = torch.cat([resolved, resolved.new_zeros(pad)], -1)
        position_factor = torch.cat([position_factor, position_factor.new_full(pad, torch.inf)], -1)
    return Resolution(
        order=order,
        statistic=torch.where(family, z, 0.0).to(out),
        rejected=rejected,
        resolved=resolved,
        set_resolved=set_resolved,
        n_needed=(n * set_factor).to(out),
        position_n_needed=(n[..., None] * position_factor).to(out),
        n_tests=n_tests,
    )


def _z(num: Tensor, var: Tensor) -> Tensor:
    """``num / sqrt(var)`` for a claim ``num > 0``: 0 when ``num <= 0``, inf when certain."""
    root = var.clamp(min=0).sqrt()
    certain = root <= 1e-12 * num.abs()
    z = torch.where(certain, torch.inf, num / torch.where(certain, 1.0, root))
    return torch.where(num > 0, z, 0.0)


def ridge_covariance(
    X: Tensor,
    y: Tensor,
    weight: Tensor,
    alpha: float = 1.0,
    *,
    feature_mask: Tensor | None = None,
    design: str = "iid",
) -> Tensor:
    """The sandwich covariance of weighted ridge coefficients, over the sampling of rows.

    ``Cov(β) = A⁻¹ S A⁻¹ · n / (n - p - 1)`` with ``A = XcᵀWXc + alpha I`` over the fitted
    features and ``S = Σ_u (g_u - ḡ)(g_u - ḡ)ᵀ`` the spread of the score contributions
    ``g_u = Σ_{rows i of unit u} w_i r_i xc_i`` (``r`` the ridge's residuals, ``xc`` the
    rows centred by the weighted mean, ``n`` the units with positive weight, ``p`` the
    fitted features). This is the heteroskedasticity-robust (HC1) sandwich: LIME's
    residuals are the model's misfit, not noise of a known law, and they change with the
    mask and its weight; it is what a bootstrap of the samples estimates, with no
    resampling. Units follow the sampler's design as the bootstrap does: rows (``"iid"``;
    also ``"stratified"``, which this overestimates a little), antithetic pairs
    ``2j + 1, 2j + 2`` (``"paired"``), nothing for an enumeration (``"exact"``: zeros).
    Row 0, the original, is not random: it counts in ``A`` but not in ``S``.

    Args:
        X: (B, N, K) bool or float design.
        y: (B, N, T) float scores.
        weight: (B, N) float sample weights (0: padding rows).
        alpha: ridge penalty >= 0 (0: least squares, through a pseudo-inverse).
        feature_mask: (B, K) or (B, T, K) bool fitted features (None: all).
        design: ``"iid"``, ``"paired"``, ``"stratified"`` or ``"exact"``.

    Returns:
        (B, T, K, K) float64, 0 in the rows and columns of features not fitted.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> X = torch.rand(1, 400, 3, generator=g) < 0.5
        >>> y = X.double() @ torch.tensor([[1.0], [2.0], [0.0]], dtype=torch.float64)
        >>> y = y + 0.1 * torch.randn(1, 400, 1, generator=g, dtype=torch.float64)
        >>> cov = ridge_covariance(X, y, torch.ones(1, 400))
        >>> cov.shape, bool((cov.diagonal(dim1=-2, dim2=-1) > 0).all())
        (torch.Size([1, 1, 3, 3]), True)
    """
    _checks.design(X, y, weight, "ridge_covariance")
    if X.ndim != 3:
        raise ValueError(f"X must be (B, N, K); got shape {tuple(X.shape)}")
    if not alpha >= 0:
        raise ValueError(f"alpha must be >= 0; got {alpha}")
    if design not in ("iid", "paired", "stratified", "exact"):
        raise ValueError(f"design must be 'iid', 'paired', 'stratified' or 'exact'; got {design!r}")
    b, n, kk = X.shape
    t = y.shape[-1]
    mask = _checks.per_target_mask(feature_mask, X, t).to(X.device)  # (B, T, K)
    if design == "exact" or n < 2:
        return torch.zeros(b, t, kk, kk, dtype=torch.float64, device=X.device)
    moments = weighted_moments(X, y, weight)
    fit = ridge_from_moments(moments, alpha, feature_mask=mask)
    xd, w = X.to(torch.float64), weight.to(torch.float64)
    residual = y.to(torch.float64) - fit.intercept[:, None, :] - xd @ fit.coef.mT  # (B, N, T)
    xc = xd - moments.x_mean[:, None, :]
    # Score contributions summed within units: (B, T, U, K), rows 1.. only.
    block = 2 if design == "paired" else 1
    unit = torch.div(torch.arange(n - 1, device=X.device), block, rounding_mode="floor")
    n_units = (n - 2) // block + 1
    contrib = (w[:, 1:, None] * residual[:, 1:]).mT[..., None] * xc[:, None, 1:, :]
    g = contrib.new_zeros(b, t, n_units, kk).index_add_(2, unit, contrib) * mask[:, :, None]
    live = w.new_zeros(b, n_units).index_add_(1, unit, (w[:, 1:] > 0).double()) > 0
    n_live = live.sum(-1).double()[:, None]  # (B, 1)
    mean = g.sum(2) / n_live.clamp(min=1)[..., None]
    meat = g.mT @ g - n_live[..., None, None] * mean[..., :, None] * mean[..., None, :]
    dof = n_live / (n_live - mask.sum(-1) - 1).clamp(min=1)  # (B, T)
    pair = mask[..., :, None] & mask[..., None, :]
    gram = torch.where(pair, moments.gram[:, None], 0.0)
    bread = gram + torch.diag_embed(torch.where(mask, alpha, 1.0).double())
    if alpha > 0:
        chol, _ = torch.linalg.cholesky_ex(bread)
        inverse = torch.cholesky_inverse(chol)
    else:
        inverse = torch.linalg.pinv(bread, hermitian=True)
    cov = inverse @ meat @ inverse * dof[..., None, None]
    return torch.where(pair, (cov + cov.mT) / 2, 0.0)
