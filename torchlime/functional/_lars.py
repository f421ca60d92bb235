"""Batched K-LASSO feature selection: lime's ``feature_selection='lasso_path'`` in torch.

lime 0.2.0.1 centres and weights the samples, runs ``sklearn.linear_model.lars_path(...,
method='lasso')`` (with ``Gram=None``) and keeps the support of the least regularised point of
the path that has at most ``num_features`` non-zero coefficients. This module replays that LARS
iteration for a whole batch of problems (batch elements times targets) at once, reproducing
sklearn's bookkeeping decision by decision: the order in which inactive features are scanned
(which decides exact ties), the sign-crossing drop rule, the "degenerate regressor" rule with its
side effects, and the three stopping rules.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["lasso_path_select"]

# Constants of sklearn.linear_model._least_angle._lars_path_solver (scikit-learn 1.x), float64.
_MAX_ITER = 500  # lars_path's default max_iter
_TINY32 = torch.finfo(torch.float32).tiny  # added to denominators "to avoid division by 0"
_EQ_TOL = torch.finfo(torch.float32).eps  # stop once alpha = C / N <= this
_EPS = torch.finfo(torch.float64).eps  # floor of a Cholesky pivot
_DEGENERATE_PIVOT = 1e-7  # a candidate whose Cholesky pivot is below this is rejected
_COV_DECIMALS = 15  # np.finfo(float64).precision: corr_eq_dir is rounded to this many decimals
_DBL_MAX = torch.finfo(torch.float64).max  # arrayfuncs.min_pos's answer when nothing is > 0


def _min_pos(x: Tensor, mask: Tensor) -> Tensor:
    """Smallest positive entry over ``mask`` along the last dim, capped at DBL_MAX."""
    return torch.where(mask & (x > 0), x, _DBL_MAX).amin(-1).clamp_max(_DBL_MAX)


def _check_inputs(
    X: Tensor, y: Tensor, weight: Tensor, max_features: int, feature_mask: Tensor | None
) -> None:
    """Raise ``ValueError`` naming the argument for shapes that do not fit together."""
    if X.ndim < 2:
        raise ValueError(f"X must be (..., N, K); got shape {tuple(X.shape)}")
    *batch, n, k = X.shape
    if y.ndim != X.ndim or tuple(y.shape[:-1]) != (*batch, n):
        raise ValueError(
            f"y must be (..., N, T) with (..., N) = {(*batch, n)} as in X; "
            f"got shape {tuple(y.shape)}"
        )
    if tuple(weight.shape) != (*batch, n):
        raise ValueError(
            f"weight must be (..., N) = {(*batch, n)} as in X; got shape {tuple(weight.shape)}"
        )
    if feature_mask is not None:
        if tuple(feature_mask.shape) != (*batch, k):
            raise ValueError(
                f"feature_mask must be (..., K) = {(*batch, k)} as in X; "
                f"got shape {tuple(feature_mask.shape)}"
            )
        if feature_mask.dtype != torch.bool:
            raise ValueError(f"feature_mask must be bool; got dtype {feature_mask.dtype}")
    if not (X.is_floating_point() or X.dtype == torch.bool):
        raise ValueError(f"X must be a floating-point or bool tensor; got dtype {X.dtype}")
    for name, t in (("y", y), ("weight", weight)):
        if not t.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor; got dtype {t.dtype}")
    if isinstance(max_features, bool) or not isinstance(max_features, int) or max_features < 1:
        raise ValueError(f"max_features must be an int >= 1; got {max_features!r}")


def lasso_path_select(
    X: Tensor,
    y: Tensor,
    weight: Tensor,
    max_features: int,
    *,
    feature_mask: Tensor | None = None,
) -> Tensor:
    """Select features along the weighted lasso path, exactly as lime's ``'lasso_path'``.

    For every batch element and target this is lime 0.2.0.1's
    ``LimeBase.feature_selection(X, y[:, t], weight, max_features, 'lasso_path')``: centre
    ``X`` and ``y`` with the weighted mean, multiply the rows by ``sqrt(weight)``, run LARS
    with the lasso modification (as ``sklearn.linear_model.lars_path(..., method='lasso')``)
    and return the support of the last path point with at most ``max_features`` non-zero
    coefficients. As in lime, a path that stops before its first step (``y`` constant, or its
    correlations below float32 epsilon times ``N``) selects every feature, and with
    ``max_features >= K`` the support of the path's last point is returned (all features,
    unless the path stopped early because some column is constant or linearly dependent on
    the others).

    All ``B * T`` problems are solved together in float64, whatever the input dtype. The
    Python loop runs over LARS iterations only: ``K + 2`` of them, then chunks of ``K // 4 + 1``
    until every problem has finished, with finished problems masked out. The only host sync is
    the ``done.all()`` at the end of each chunk; a typical call syncs once or twice. Memory is
    ``O(B * T * K**2)``: the inverse of every problem's active Gram block, kept up to date with
    rank-one updates as features enter and leave (no factorisation inside the loop).

    Ties and corner cases follow sklearn's code rather than the textbook algorithm: the
    entering feature is the first maximiser of ``|X^T r|`` in sklearn's current column order
    (which its swaps permute); a candidate whose Cholesky pivot is below ``1e-7`` (linearly
    dependent on the active set) is rejected and, as sklearn does, its correlation value is
    swapped with that of the first inactive column and the latter zeroed; a coefficient that
    crosses zero leaves the active set and goes to the front of the inactive order with its
    correlation recomputed; ``X^T`` times the equiangular vector is rounded to 15 decimals.
    Where lime's answer is decided by rounding error, this function makes the same decisions
    under its own rounding and may differ: exactly tied features (duplicated columns; binary
    masks with ``N`` about ``K`` or smaller), and columns (nearly) dependent on the active set,
    whose pivot's rounding error at the usual scales is itself about ``1e-7``. Two departures,
    reachable only with such data: when several coefficients cross zero at exactly the same
    point, one leaves per step (sklearn's bookkeeping breaks there); and a problem whose step
    becomes non-finite stops with the selection made so far.

    Args:
        X: (..., N, K) float or bool. Interpretable samples: binary masks, scaled tabular
            rows, ...
        y: (..., N, T) float. Model scores for ``T`` targets.
        weight: (..., N) float, > 0. Sample weights (lime's kernel).
        max_features: ``k``, lime's ``num_features``; at least 1.
        feature_mask: (..., K) bool. ``False`` marks padding: such a column is treated as if
            it did not exist and is never selected. Default: all features valid.

    Returns:
        (..., T, K) bool. The selected features for every target (at most ``max_features``
        of them, except where lime itself returns all features).

    Raises:
        ValueError: if the shapes of ``X``, ``y``, ``weight`` and ``feature_mask`` do not fit
            together, a tensor has the wrong dtype, or ``max_features < 1``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> X = (torch.rand(200, 6, generator=g) < 0.5).double()
        >>> y = (3 * X[:, 1] - 2 * X[:, 4] + 0.5 * X[:, 0]).unsqueeze(-1)
        >>> lasso_path_select(X, y, torch.ones(200), 2)[0].nonzero().flatten().tolist()
        [1, 4]
    """
    _check_inputs(X, y, weight, max_features, feature_mask)
    *batch, n, n_feat = X.shape
    t = y.shape[-1]
    f64 = torch.float64
    dev = X.device

    xb = X.reshape(-1, n, n_feat).to(f64)
    yb = y.reshape(-1, n, t).to(f64)
    wb = weight.reshape(-1, n).to(f64)
    b = xb.shape[0]
    if feature_mask is None:
        valid = torch.ones(b, n_feat, dtype=torch.bool, device=dev)
    else:
        valid = feature_mask.reshape(b, n_feat).to(dev)
    xb = torch.where(valid[:, None, :], xb, 0.0)

    # lime: (data - np.average(data, axis=0, weights=w)) * sqrt(w)[:, None], same for labels.
    w_col = wb[..., None]
    w_sum = w_col.sum(-2, keepdim=True)
    sqrt_w = w_col.sqrt()
    xc = (xb - (w_col * xb).sum(-2, keepdim=True) / w_sum) * sqrt_w
    yc = (yb - (w_col * yb).sum(-2, keepdim=True) / w_sum) * sqrt_w
    gram = xc.mT @ xc  # (B, K, K), shared by the T targets
    xy = (xc.mT @ yc).mT  # (B, T, K): X^T y, the initial correlations

    # Per-problem state, (B, T, K) or (B, T). sklearn keeps its columns in a permuted order
    # ("positions"); `rank` orders the inactive features the same way (lower = scanned first).
    # `inv` is the inverse of the active Gram block, kept by rank-one updates (zero, up to
    # rounding, outside the active rows and columns; every vector it meets is masked).
    valid3 = valid[:, None, :]
    n_valid = valid.sum(-1, keepdim=True)
    active = torch.zeros(b, t, n_feat, dtype=torch.bool, device=dev)
    sign = torch.zeros(b, t, n_feat, dtype=f64, device=dev)
    coef = torch.zeros(b, t, n_feat, dtype=f64, device=dev)
    cov = xy.clone()
    rank = torch.arange(n_feat, device=dev).expand(b, t, n_feat).clone()
    inv = torch.zeros(b * t, n_feat, n_feat, dtype=f64, device=dev)
    n_iter = torch.zeros(b, t, dtype=torch.long, device=dev)
    drop = torch.zeros(b, t, dtype=torch.bool, device=dev)
    prev_alpha = torch.zeros(b, t, dtype=f64, device=dev)
    done = torch.zeros(b, t, dtype=torch.bool, device=dev)
    selected = valid3.expand(b, t, n_feat).clone()  # lime's answer for a path of one point
    feat = torch.arange(n_feat, device=dev)
    row = torch.arange(b, device=dev)[:, None]
    big = torch.iinfo(torch.long).max

    def gram_rows(idx: Tensor) -> Tensor:
        """(B, T) feature ids -> (B, T, K) their Gram rows."""
        return gram[row, idx]

    def inv_mv(*vs: Tensor) -> Tensor:
        """Products ``inv @ v`` of m tensors v (B, T, K), stacked: (m, B, T, K)."""
        # inv is symmetric: v^T inv is a row-vector product, much faster than inv @ v
        # for a batch of small matrices on the CPU.
        rows = torch.stack(vs, -2).reshape(b * t, len(vs), n_feat)
        return torch.bmm(rows, inv).reshape(b, t, len(vs), n_feat).movedim(-2, 0)

    # A path has at most _MAX_ITER steps and each step at most K rejected candidates before
    # it; in practice it has K to 1.5 K steps. Run K + 2 iterations, then check every K/4.
    max_bodies = (_MAX_ITER + 1) * (n_feat + 1)
    bodies, chunk = 0, n_feat + 2
    while bodies < max_bodies:
        for _ in range(chunk):
            # ---- the largest inactive correlation, first in sklearn's column order
            inactive = valid3 & ~active
            abs_cov = torch.where(inactive, cov.abs(), -1.0)
            c_max = abs_cov.amax(-1, keepdim=True)
            tied = inactive & (abs_cov == c_max)
            j = torch.where(tied, rank, big).argmin(-1, keepdim=True)  # (B, T, 1)
            at_j = feat == j
            c_signed = cov.gather(-1, j).squeeze(-1)
            c = torch.where(inactive.any(-1), c_signed.abs(), 0.0)
            alpha = c / n

            # ---- stopping rules at the top of sklearn's loop
            stop = (alpha <= _EQ_TOL) | (n_iter >= _MAX_ITER) | (active.sum(-1) >= n_valid)
            live = ~done & ~stop
            done = done | stop

            # ---- try to add j (unless the previous step dropped a feature): its pivot in
            # the Cholesky factor of the active Gram block bordered by j
            g_j = torch.where(active, gram_rows(j.squeeze(-1)), 0.0)
            g_jj = gram.diagonal(dim1=-2, dim2=-1).gather(-1, j.squeeze(-1))
            s_a = torch.where(active, sign, 0.0)
            h, x = torch.where(active, inv_mv(g_j, s_a), 0.0)  # G_AA^-1 g_j, G_AA^-1 s_A
            pivot = (g_jj - (h * g_j).sum(-1)).abs().sqrt().clamp_min(_EPS)
            try_add = live & ~drop
            degenerate = try_add & (pivot < _DEGENERATE_PIVOT)
            add = try_add & ~degenerate

            # sklearn swaps column j with the first inactive column f0 before the pivot test.
            # Rejecting j swaps the correlation values back but not the columns: j keeps
            # f0's value and f0 gets 0 (read the `Cov_not_shortened` branch).
            f0 = torch.where(inactive, rank, big).argmin(-1, keepdim=True)
            at_f0 = feat == f0
            swap = (add | degenerate)[..., None]
            rank_j, rank_f0 = rank.gather(-1, j), rank.gather(-1, f0)
            rank = torch.where(swap & at_j, rank_f0, torch.where(swap & at_f0, rank_j, rank))
            rejected = degenerate[..., None]
            cov = torch.where(rejected & at_j, cov.gather(-1, f0), cov)
            cov = torch.where(rejected & at_f0, 0.0, cov)

            # ---- lasso bail-out: alpha went up because of rounding
            bail = live & ~degenerate & (n_iter > 0) & (prev_alpha < alpha)
            done = done | bail
            step = live & ~degenerate & ~bail

            # ---- equiangular direction: G_AA^-1 s_A with the block bordered by j
            add3 = add[..., None]
            new_active = active | (add3 & at_j)
            s_j = torch.sign(c_signed)
            new_sign = torch.where(new_active, torch.where(add3 & at_j, s_j[..., None], sign), 0.0)
            sigma = torch.where(add, pivot * pivot, 1.0)
            x_j = torch.where(add, (s_j - (h * s_a).sum(-1)) / sigma, 0.0)
            u = h - at_j.to(f64)  # inv gains u u^T / sigma when j enters
            x = x - u * x_j[..., None]
            s_x = (x * new_sign).sum(-1)
            aa = torch.where(s_x > 0, s_x, _EPS).rsqrt()  # sklearn: max(s_x, eps) if not finite
            ls = x * aa[..., None]

            # ---- step length: next entry, or the OLS end of the segment
            corr = torch.round((gram @ ls.mT).mT, decimals=_COV_DECIMALS)
            still_inactive = valid3 & ~new_active
            c3, aa3 = c[..., None], aa[..., None]
            g1 = _min_pos((c3 - cov) / (aa3 - corr + _TINY32), still_inactive)
            g2 = _min_pos((c3 + cov) / (aa3 + corr + _TINY32), still_inactive)
            gamma = torch.minimum(torch.minimum(g1, g2), c / aa)
            # ---- lasso: stop the step where an active coefficient crosses zero
            z = -coef / (ls + _TINY32)
            z_pos = _min_pos(z, new_active)
            crossing = z_pos < gamma
            gamma = torch.where(crossing, z_pos, gamma)

            bad = step & (~torch.isfinite(gamma) | ~torch.isfinite(ls).all(-1))
            done = done | bad
            step = step & ~bad
            # A problem that does not step moves by 0: its state stays as it is (a rejected
            # candidate changes no coefficient; a finished problem's state no longer matters).
            gamma = torch.where(step, gamma, 0.0)
            crossing = crossing & step

            # ---- take the step: a new point of the path
            next_coef = torch.where(new_active, coef + gamma[..., None] * ls, 0.0)
            next_cov = cov - gamma[..., None] * corr
            # At most one feature leaves per step (an exact tie in z is left to later steps).
            first = torch.where(new_active & (z == z_pos[..., None]), feat, n_feat).amin(-1)
            d = first.clamp_max(n_feat - 1)[..., None]
            dropped = crossing[..., None] & (feat == d)
            next_active = new_active & ~dropped
            kept_coef = torch.where(next_active, next_coef, 0.0)
            refit = xy.gather(-1, d) - (gram_rows(d.squeeze(-1)) * kept_coef).sum(-1, True)
            next_cov = torch.where(dropped, refit, next_cov)
            front = torch.where(still_inactive, rank, big).amin(-1, keepdim=True) - 1
            rank = torch.where(dropped, front, rank)

            # ---- inverse of the new active block: + u u^T / sigma (j in), then the
            # Schur complement of feature d (d out); one rank-two update.
            add_step = add & step
            inv_d = inv.view(b, t, n_feat, n_feat).gather(-1, d[..., None].expand(b, t, n_feat, 1))[
                ..., 0
            ]
            coeff_u = torch.where(add_step, 1.0 / sigma, 0.0)
            p = torch.where(new_active, inv_d + u * (u.gather(-1, d) * coeff_u[..., None]), 0.0)
            p_dd = p.gather(-1, d).squeeze(-1)
            coeff_p = torch.where(crossing, -1.0 / p_dd, 0.0)
            u_col = (u * coeff_u[..., None]).reshape(b * t, n_feat, 1)
            p_col = (p * coeff_p[..., None]).reshape(b * t, n_feat, 1)
            inv = inv.addcmul(u_col, u.reshape(b * t, 1, n_feat)).addcmul_(
                p_col, p.reshape(b * t, 1, n_feat)
            )

            active, sign, coef, cov = next_active, new_sign, next_coef, next_cov
            n_iter = n_iter + step.long()
            drop = crossing
            prev_alpha = torch.where(step, alpha, prev_alpha)

            # lime walks back from the end of the path to the last point with <= k
            # non-zeros, and falls back on the first point: keep the latest such point.
            support = next_coef != 0
            record = step & ((support.sum(-1) <= max_features) | (n_iter == 1))
            selected = torch.where(record[..., None], support, selected)
        bodies += chunk
        chunk = n_feat // 4 + 1
        if bool(done.all()):
            break
    return selected.reshape(*batch, t, n_feat)
