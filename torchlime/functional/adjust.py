"""Regression-adjusted LIME: a learned control variate that keeps lime's estimand.

The weighted ridge is linear in the scores, so for any function ``g`` of the masks::

    WLS_N(f) = WLS_N(g) + WLS_N(f - g)

:func:`adjusted_fit` replaces ``WLS_N(g)``, the N samples' fit of ``g``, by ``β*(g)``:
the fit of ``g`` on ``n_free`` fresh masks from the same law with their kernel weights
(no model calls), the penalty scaled by ``(M - 1) / (N - 1)`` so that its estimand is the
one of N samples. What remains random is ``WLS_N(f - g)``, whose variance is driven by
how far the model is from ``g`` instead of how far it is from linear. A linear ``g``
changes nothing (the regression removes it already); ``g`` is a small nonlinear model of
the scores over the masks, fitted to the N samples:

- ``"mlp"``: ``K -> hidden -> T``, tanh, on the masks coded ``±1``, fitted by full-batch
  Adam for a fixed number of steps (weighted by the kernel, targets standardised);
- ``"quadratic"``: a ridge on the features and all their pairwise products (``K(K+1)/2``
  columns: K up to 64).

With ``link="logit"`` (the explainers' choice for softmax and sigmoid outputs) ``g`` is
fitted to the scores' log-odds and read back through the sigmoid: a probability saturates as
the masks hide or show the object, which a network over log-odds follows with fewer units,
and the control stays in [0, 1].

``g`` is cross-fitted: the samples are split into ``folds`` folds, ``g_(-k)`` is fitted on
the others, and the residuals of fold ``k`` use ``g_(-k)``, so ``g`` cannot absorb them
(a ``g`` fitted to every sample would collapse the estimate onto ``β*(g)``). The free
masks are shared by the folds, so ``mean_k β*(g_(-k)) = β*(ḡ)`` with ``ḡ`` the mean of
the fold models. Rows ``2j + 1`` and ``2j + 2`` always share a fold, so antithetic pairs
(``sampler="paired"``) are never split; row 0, the original, is fixed, not drawn: it
trains every fold's ``g``, its residual uses ``ḡ`` and the free masks' row 0 carries its
weight, scaled as the penalty.

Feature selection runs first, on the N samples and their scores exactly as lime's; the
adjustment then applies to the final fit on the selected features (the decomposition holds
for any fixed set of features). The surrogate is lime's ridge (``alpha=0``: least squares).
Everything is batched over examples (B), folds and targets (T); randomness (the folds, the
initial ``g``, the free masks) comes only from ``generator`` and ``draw``.

Defaults and what they cost (measured on synthetic models, see
``tests/functional/test_adjust.py`` and ``benchmarks/bench_adjusted.py``): the MLP (64
tanh units, 200 Adam steps at learning rate 0.02, weight decay 0.01, 5 folds) lowered the
NMSE against lime's estimand 2.5x (K = 30, a ReLU network's softmax) to 7x (K = 7, strong
pairwise interactions) at N = 200-1000; the quadratic control 1.4x and 6x (it needs a
stronger penalty as K grows). ``n_free = max(32 N, 16384)`` keeps the free masks' own noise
a few percent of the residual's. The MLP's fit is about ``steps x 6 N K F H`` flops per
example (1 s on one CPU core at N = 1000, K = 30; milliseconds on a GPU); the free masks
take ``M K`` bytes per example.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from torchlime import _checks
from torchlime._random import resolve_generator
from torchlime.functional.fit import Surrogate
from torchlime.functional.selection import FEATURE_SELECTION, select_features
from torchlime.functional.surrogate import (
    Moments,
    r2_score,
    ridge_from_moments,
    weighted_moments,
)

__all__ = ["CONTROLS", "LINKS", "adjusted_fit", "check_adjust"]

CONTROLS = ("mlp", "quadratic")
"""The families of the control variate ``g``."""

LINKS = ("identity", "logit")
"""The scales ``g`` is fitted on: the scores, or their log-odds (probabilities)."""

_ELEMENTS = 1 << 23  # hidden activations per chunk of free masks (32 MB in float32)
_FREE_ELEMENTS = 1 << 24  # free masks x features per group of examples on a CPU
_LR = 0.02
_WEIGHT_DECAY = 1e-2
_QUADRATIC_PENALTY = 30.0
_QUADRATIC_MAX_K = 64
_LOGIT_EPS = 1e-6  # probabilities are clamped to [eps, 1 - eps] before the log-odds


def adjusted_fit(
    X: Tensor,
    scores: Tensor,
    weights: Tensor,
    n_features: Tensor,
    *,
    draw: Callable[[int], Tensor],
    weigh: Callable[[Tensor], Tensor],
    alpha: float = 1.0,
    feature_selection: str = "none",
    max_features: int | None = None,
    control: str = "mlp",
    link: str = "identity",
    folds: int = 5,
    n_free: int | None = None,
    steps: int = 200,
    hidden: int = 64,
    generator: torch.Generator | int | None = None,
) -> Surrogate:
    """Lime's weighted ridge, regression-adjusted by a cross-fitted control variate.

    ``coef = β*(ḡ) + WLS_N(f - g_cross)`` (see the module docstring): the same estimand as
    :func:`~torchlime.functional.fit_surrogate` with ``surrogate="ridge"``, usually with a
    much smaller variance when the model is nonlinear in the masks.

    Args:
        X: (B, N, K) bool masks, row 0 the original (all True); N >= 2 * folds + 1.
        scores: (B, N, T) float model scores.
        weights: (B, N) float sample weights (the kernel's; row 0's as the fit counts it).
        n_features: (B,) int64 valid features per example; columns beyond are padding.
        draw: ``draw(M) -> (B, M, K)`` bool: M fresh masks from the law that drew ``X``
            (row 0 the original), on ``X``'s device. It is called once.
        weigh: ``weigh(masks (B, M, K)) -> (B, M)``: the kernel weights of such masks.
        alpha: the ridge penalty at N samples (0: least squares).
        feature_selection: one of lime's modes, run on the N samples as lime runs it.
        max_features: lime's ``num_features``; None keeps every feature.
        control: the family of ``g``: ``"mlp"`` or ``"quadratic"``.
        link: ``"identity"`` fits ``g`` to the scores; ``"logit"`` to their log-odds
            (scores are probabilities, clamped to [1e-6, 1 - 1e-6]), read back through the
            sigmoid. Either way the estimand is lime's; only the variance changes.
        folds: cross-fitting folds, >= 2.
        n_free: M, the free masks behind ``β*(g)`` (None: ``max(32 N, 16384)``).
        steps: Adam steps of the ``"mlp"`` fit (full batch, learning rate 0.02).
        hidden: hidden units of the ``"mlp"``.
        generator: randomness of the folds and of the initial ``g`` (``draw`` brings its
            own); an int seed, a ``torch.Generator`` on ``X``'s device, or None (fresh).

    Returns:
        :class:`~torchlime.functional.Surrogate` as :func:`~torchlime.functional.fit_surrogate`
        returns it: coef (B, T, K) (0 outside ``selected``), intercept (B, T), score (B, T)
        (the adjusted surrogate's weighted R² on the N samples), local_pred (B, T),
        selected (B, T, K); in ``scores``' floating dtype (at least float32). Gradients
        reach the scores through ``WLS_N(f - g)`` (``g`` is fitted to detached scores).

    Raises:
        ValueError: for non-bool masks, too few samples for the folds, an unknown
            ``control`` or ``feature_selection``, ``"quadratic"`` with K > 64, or free masks
            of the wrong shape.

    Example:
        >>> from torchlime.functional import lime_kernel, sample_masks
        >>> g = torch.Generator().manual_seed(0)
        >>> draw = lambda m: sample_masks(1, m, 6, generator=g)
        >>> X = draw(200)
        >>> y = torch.sigmoid(3 * (X[..., :1] & X[..., 1:2]).float() + X[..., 2:3].float())
        >>> fit = adjusted_fit(X, y, lime_kernel(X), torch.tensor([6]), draw=draw,
        ...                    weigh=lime_kernel, n_free=4096, steps=100, generator=g)
        >>> fit.coef.shape, fit.selected.shape
        (torch.Size([1, 1, 6]), torch.Size([1, 1, 6]))
    """
    _checks.design(X, scores, weights, "adjusted_fit")
    b, n, k = X.shape
    if X.dtype != torch.bool:
        raise ValueError(
            f"adjusted_fit needs bool masks X (B, N, K); got {X.dtype}: samples that are not "
            "masks (a table's continuous columns) need their own law (discretize them, or "
            "explain with adjust=None)"
        )
    _checks.one_of("control", control, CONTROLS)
    _checks.one_of("link", link, LINKS)
    if control == "quadratic" and k > _QUADRATIC_MAX_K:
        raise ValueError(
            f"control='quadratic' fits K(K+1)/2 + 1 columns per fold: at most K="
            f"{_QUADRATIC_MAX_K} features; got K={k} (use control='mlp')"
        )
    _checks.one_of("feature_selection", feature_selection, FEATURE_SELECTION)
    _checks.integer("folds", folds, 2, ">= 2")
    if n < 2 * folds + 1:
        raise ValueError(
            f"adjusted_fit needs N >= 2 * folds + 1 = {2 * folds + 1} samples to cross-fit "
            f"{folds} folds; got N={n}"
        )
    if not alpha >= 0:
        raise ValueError(f"alpha must be >= 0; got {alpha}")
    m = max(32 * n, 16384) if n_free is None else n_free
    if m < 2:
        raise ValueError(f"n_free must be >= 2; got {n_free}")
    generator, _ = resolve_generator(generator, X.device)
    valid = torch.arange(k, device=X.device) < n_features[:, None]  # (B, K)
    out = torch.promote_types(scores.dtype, torch.float32)
    f = scores.detach()

    moments = weighted_moments(X, scores, weights)
    selected = select_features(
        feature_selection, X, scores, weights, max_features, feature_mask=valid, moments=moments
    )

    # g: fitted to standardised scores, kernel-weighted, one model per (example, fold)
    fold = _folds(b, n, folds, generator, X.device)  # (B, N), row 0: -1
    w = weights.detach().to(torch.float32)
    target = f.to(torch.float32)
    if link == "logit":
        target = torch.logit(target, eps=_LOGIT_EPS)
    mean, scale = _standardise(target, w)
    y = (target - mean) / scale
    Z = _code(X, valid)
    train = w[:, None, :] * (fold[:, None, :] != torch.arange(folds, device=X.device)[:, None])
    train = train / train.sum(-1, keepdim=True).clamp(min=torch.finfo(torch.float32).tiny)
    if control == "mlp":
        params = _fit_mlp(Z, y, train, steps, hidden, generator)
    else:
        params = (_fit_quadratic(Z, y, train),)
    per_fold = _scores(_predict(params, X, valid, folds), mean, scale, link)  # (B, F, N, T)
    cross = per_fold.gather(1, fold.clamp(min=0)[:, None, :, None].expand(-1, 1, -1, y.shape[-1]))
    g_cross = torch.where(fold[..., None] < 0, per_fold.mean(1), cross[:, 0]).to(torch.float64)

    # β*(ḡ): the mean fold model on M free masks, lime's fit with the penalty of N samples
    free = draw(m)
    if not isinstance(free, Tensor) or free.dtype != torch.bool or tuple(free.shape) != (b, m, k):
        got = (free.dtype, tuple(free.shape)) if isinstance(free, Tensor) else type(free).__name__
        raise ValueError(f"draw({m}) must return (B, M, K) = {(b, m, k)} bool masks; got {got}")
    ratio = (m - 1) / (n - 1)
    free_weights = weigh(free).to(torch.float64)
    free_weights = torch.cat([weights[:, :1].detach().to(torch.float64) * ratio,
                              free_weights[:, 1:]], 1)  # fmt: skip
    step = b if free.is_cuda else max(1, _FREE_ELEMENTS // (m * k))
    parts = []
    for i in range(0, b, step):  # over groups of examples, to bound the copies of M x K
        s = slice(i, i + step)
        g_free = _predict(tuple(p[s] for p in params), free[s], valid[s], folds)
        g_free = _scores(g_free, mean[s], scale[s], link).mean(1).to(torch.float64)
        parts.append(weighted_moments(free[s], g_free, free_weights[s]))
    free_moments = Moments(*(torch.cat(field) for field in zip(*parts, strict=True)))
    fit_g = ridge_from_moments(free_moments, alpha * ratio, feature_mask=selected)
    fit_r = ridge_from_moments(
        weighted_moments(X, scores.to(torch.float64) - g_cross, weights),
        alpha,
        feature_mask=selected,
    )
    coef = fit_g.coef + fit_r.coef
    intercept = fit_g.intercept + fit_r.intercept

    Xd = X.to(torch.float64)
    pred = Xd @ coef.mT + intercept[:, None, :]  # (B, N, T)
    rss = (weights.to(torch.float64)[..., None] * (scores.to(torch.float64) - pred) ** 2).sum(1)
    local_pred = intercept + (coef * Xd[:, :1]).sum(-1)
    score = r2_score(moments, rss)
    return Surrogate(coef.to(out), intercept.to(out), score.to(out), local_pred.to(out), selected)


def check_adjust(adjust: object, *, kernel: object, surrogate: object, n_samples: object) -> None:
    """Refuse an explainer's settings whose estimand :func:`adjusted_fit` would not keep.

    Args:
        adjust: ``None`` or a name in ``CONTROLS``.
        kernel: the explainer's kernel: lime's or a callable (not ``"shapley"``: KernelSHAP
            fits under the efficiency constraint, which the adjustment does not carry).
        surrogate: ``"ridge"`` or ``"ols"``, the fits linear in the scores.
        n_samples: a fixed count (``"auto"`` grows the samples in rounds).

    Raises:
        ValueError: naming the setting that does not apply.

    Example:
        >>> check_adjust("mlp", kernel="lime", surrogate="ridge", n_samples=1000)
    """
    if adjust is None:
        return
    _checks.one_of("adjust", adjust, (None, *CONTROLS))
    if kernel == "shapley":
        raise ValueError(
            "adjust keeps lime's estimand, not KernelSHAP's: kernel='shapley' fits under the "
            "efficiency constraint (explain with adjust=None)"
        )
    if n_samples == "auto":
        raise ValueError(
            'adjust needs a fixed n_samples; n_samples="auto" grows the samples in rounds'
        )
    if isinstance(surrogate, str) and surrogate in ("ridge", "ols"):
        return
    name = surrogate if isinstance(surrogate, str) else type(surrogate).__name__
    raise ValueError(
        f"adjust needs a fit linear in the scores: surrogate 'ridge' or 'ols'; got {name!r}"
    )


# --------------------------------------------------------------------------- helpers


def _folds(b: int, n: int, folds: int, generator: torch.Generator, device: torch.device) -> Tensor:
    """(B, N) int64 fold of each row: pairs of rows (2j + 1, 2j + 2) share one; row 0 is -1.

    The pairs are dealt to the folds in a random order, so the folds are balanced.
    """
    pairs = n // 2  # pair j holds rows 2j + 1 and 2j + 2 (the last one alone when N is even)
    order = torch.rand(b, pairs, generator=generator, device=device).argsort(-1)
    deal = (torch.arange(pairs, device=device) % folds).expand(b, -1)
    of_pair = torch.empty_like(order).scatter_(1, order, deal)
    rows = of_pair.repeat_interleave(2, dim=1)[:, : n - 1]
    return torch.cat([torch.full((b, 1), -1, dtype=torch.long, device=device), rows], 1)


def _standardise(y: Tensor, w: Tensor) -> tuple[Tensor, Tensor]:
    """Weighted mean and standard deviation (B, 1, T) of scores (B, N, T)."""
    total = w.sum(1, keepdim=True).clamp(min=torch.finfo(w.dtype).tiny)[..., None]
    mean = (w[..., None] * y).sum(1, keepdim=True) / total
    var = (w[..., None] * (y - mean) ** 2).sum(1, keepdim=True) / total
    return mean, var.sqrt().clamp(min=1e-8)


def _scores(out: Tensor, mean: Tensor, scale: Tensor, link: str) -> Tensor:
    """Standardised outputs (B, F, M, T) of the fold models back on the scores' scale.

    ``mean`` and ``scale`` (B, 1, T) broadcast against the folds.
    """
    out = out * scale[:, None] + mean[:, None]
    return torch.sigmoid(out) if link == "logit" else out


def _code(masks: Tensor, valid: Tensor) -> Tensor:
    """Masks (B, M, K) as ``±1`` float32, padding columns 0."""
    return torch.where(valid[:, None, :], masks.to(torch.float32) * 2 - 1, 0.0)


def _predict(params: tuple[Tensor, ...], masks: Tensor, valid: Tensor, folds: int) -> Tensor:
    """(B, F, M, T) standardised outputs of every fold's ``g`` on masks (B, M, K).

    In chunks of rows: the hidden layer of every example and fold stays under ``_ELEMENTS``.
    """
    b, m, k = masks.shape
    width = params[0].shape[-1] if len(params) > 1 else k * (k + 1) // 2 + 1
    rows = max(1, _ELEMENTS // max(b * width, 1))
    outputs = []
    for i in range(0, m, rows):  # over chunks of rows, not single samples
        Z = _code(masks[:, i : i + rows], valid)
        outputs.append(
            _mlp(params, Z, folds) if len(params) > 1 else _quadratic_features(Z) @ params[0]
        )
    return torch.cat(outputs, 2)


def _mlp(params: tuple[Tensor, ...], Z: Tensor, folds: int) -> Tensor:
    """(B, F, M, T) outputs of the fold models on Z (B, M, K)."""
    w1, b1, w2, b2 = params
    out = torch.baddbmm(b2, torch.tanh(torch.baddbmm(b1, Z, w1)), w2)  # (B, M, F * T)
    return out.unflatten(-1, (folds, -1)).transpose(1, 2)


def _fit_mlp(
    Z: Tensor, y: Tensor, train: Tensor, steps: int, hidden: int, generator: torch.Generator
) -> tuple[Tensor, ...]:
    """One ``K -> hidden -> T`` tanh network per (example, fold), full-batch Adam.

    Z (B, N, K), y (B, N, T), train (B, F, N) row weights summing to 1 per fold; the loss
    is the weighted mean squared error plus ``_WEIGHT_DECAY`` times the squared weights.
    The folds are one network with a block-diagonal output layer, so every step is two
    matmuls forward and three back; the gradients are written out (no autograd: it also
    runs under inference mode). Returns w1 (B, K, F * H), b1 (B, 1, F * H), w2
    (B, F * H, F * T) block-diagonal, b2 (B, 1, F * T).
    """
    b, _, k = Z.shape
    f, t = train.shape[1], y.shape[-1]
    dev = Z.device
    block = torch.block_diag(*[torch.ones(hidden, t, device=dev)] * f).bool()  # (F*H, F*T)
    params = [
        torch.randn(b, k, f * hidden, generator=generator, device=dev) / max(k, 1) ** 0.5,
        torch.zeros(b, 1, f * hidden, device=dev),
        torch.randn(b, f * hidden, f * t, generator=generator, device=dev) / hidden**0.5 * block,
        torch.zeros(b, 1, f * t, device=dev),
    ]
    first = [torch.zeros_like(p) for p in params]
    second = [torch.zeros_like(p) for p in params]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    v = 2 * train.repeat_interleave(t, 1).mT  # (B, N, F * T): d(loss)/d(out) = v (out - y)
    y, Zt = y.repeat(1, 1, f), Z.mT
    for step in range(1, steps + 1):  # over optimisation steps only
        w1, b1, w2, b2 = params
        h = torch.tanh(torch.baddbmm(b1, Z, w1))  # (B, N, F * H)
        d_out = torch.baddbmm(b2, h, w2).sub_(y).mul_(v)  # (B, N, F * T)
        d_a = (d_out @ w2.mT).mul_(h.mul(h).neg_().add_(1))  # through tanh
        grads = [
            torch.baddbmm(w1, Zt, d_a, beta=2 * _WEIGHT_DECAY),
            d_a.sum(1, keepdim=True),
            torch.baddbmm(w2, h.mT, d_out, beta=2 * _WEIGHT_DECAY).mul_(block),
            d_out.sum(1, keepdim=True),
        ]
        c1, c2 = 1 - beta1**step, 1 - beta2**step
        for p, g, m1, m2 in zip(params, grads, first, second, strict=True):
            m1.lerp_(g, 1 - beta1)
            m2.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            p.addcdiv_(m1, (m2 / c2).sqrt_().add_(eps), value=-_LR / c1)
    return tuple(params)


def _quadratic_features(Z: Tensor) -> Tensor:
    """(B, 1, M, P) ``[1, z, z_i z_j (i < j)]`` of coded masks Z (B, M, K); P = 1 + K(K+1)/2."""
    k = Z.shape[-1]
    i, j = torch.triu_indices(k, k, offset=1, device=Z.device)
    return torch.cat([torch.ones_like(Z[..., :1]), Z, Z[..., i] * Z[..., j]], -1)[:, None]


def _fit_quadratic(Z: Tensor, y: Tensor, train: Tensor) -> Tensor:
    """(B, F, P, T) ridge weights on ``[1, z, z_i z_j]`` per (example, fold).

    The penalty (not on the constant) is ``_QUADRATIC_PENALTY`` against row weights that
    sum to the fold's number of rows.
    """
    phi = _quadratic_features(Z)[:, 0].to(torch.float64)  # (B, N, P)
    v = train.to(torch.float64) * train.shape[-1]  # (B, F, N)
    gram = torch.einsum("bnp,bfn,bnq->bfpq", phi, v, phi)
    penalty = torch.full((phi.shape[-1],), _QUADRATIC_PENALTY, dtype=torch.float64,
                         device=Z.device)  # fmt: skip
    penalty[0] = 1e-8
    rhs = torch.einsum("bnp,bfn,bnt->bfpt", phi, v, y.to(torch.float64))
    chol, _ = torch.linalg.cholesky_ex(gram + torch.diag(penalty))
    beta = torch.cholesky_solve(rhs, chol).to(torch.float32)
    return beta
