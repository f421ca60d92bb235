"""Regression-adjusted lime against lime's converged estimand (issue 14, item 1).

Per photo (its top class, torchlime's SLIC with ``--n-segments`` superpixels, lime's kernel):

1. **Reference**: lime's Bernoulli sampling at ``--n-ref`` samples in two independent halves,
   each a ridge with alpha scaled by (half / ``--n-samples``), so the estimand is the one
   lime estimates at ``--n-samples``; the reference is their mean, and a quarter of the
   halves' squared difference is its own NMSE.
2. **Methods**, each with ``--seeds`` seeds at ``--n-samples`` model calls: ``lime``
   (Bernoulli), ``paired`` (antithetic pairs), ``adjusted`` (lime's samples, fitted by
   :func:`torchlime.functional.adjusted_fit` with the MLP control variate), ``paired+adjusted``,
   and ``quadratic`` (lime's samples, the pairwise-interaction control). An adjusted method
   reuses the model calls of its sampler's run (``keep_samples=True``) and refits them, so
   every method sees the same masks as the plain one it adjusts; its time is the plain
   run's plus the adjustment's. This is what ``LimeImage(adjust="mlp")`` computes.
3. **Ceiling** (``--ceiling``): the same adjustment with a control ``g`` that did not have
   to be learned from the N samples: a wider MLP on the log-odds (256 tanh units, 2,000 Adam
   steps) fitted to the reference's own samples (16x or more the budget), used on each lime
   seed as ``β*(g) + WLS_N(f - g)``. It bounds what any control of this family learned from
   N calls can give on the photo: if the ceiling's V is below a target, no better fit of g
   reaches it.
4. **As N grows**: f of lime's seeds joined are one sample of ``1 + f (N - 1)`` rows (no
   model calls); lime's fit and the adjusted one (alpha scaled by f: the same estimand)
   against the reference, at N, 2N, 4N, ... while two sets remain.
5. **Metrics**: NMSE = mean over seeds of ||b - b_ref||² / ||b_ref||²; the variance
   multiplier V = NMSE(lime) / NMSE(method) ("worth V x N lime calls"), from the NMSE
   summed over photos and per photo, and with the reference's own NMSE taken out of both
   (``V -ref``: the errors add, ``E||b - ref||² = E||b - β||² + E||ref - β||²``); top-k
   Jaccard against the reference; seconds per explanation.
6. **Resolution report's calibration** (lime's seeds, ``--alpha``): every claim of
   :func:`torchlime.functional.resolution_test` (a resolved position: its feature beats every
   lower one and loses to every higher one; a resolved set: every top-k feature beats every
   outsider) is checked against the reference's order of each pair; a pair the reference
   cannot order (its two halves' gap within 2 standard errors) is no error either way. The
   empirical FWER is the share of explanations with at least one wrong claim (it must stay
   at or below alpha); power is the share of the positions the reference resolves that the
   report resolves too.

    python benchmarks/bench_adjusted.py                     # small CPU run (a few minutes)
    python benchmarks/bench_adjusted.py --device cuda --size 224 --n-segments 50 \
        --images 16 --n-ref 50000 --seeds 10

Model calls: images x (n_ref + 2 x seeds x n_samples).

    python benchmarks/bench_adjusted.py --size 96 --n-segments 50 --images 6 --n-ref 12000 \
        --seeds 8 --ceiling                                   # the CPU table of RESULTS.md
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch
from bench_reference import photos
from bench_stability import load_model
from common import dump, metadata, sync

import torchlime
from torchlime.functional import (
    adjusted_fit,
    draw_masks,
    kernel_weights,
    resolution_test,
    ridge_covariance,
    weighted_ridge,
)


def reference(
    model: Any,
    x: torch.Tensor,
    segments: torch.Tensor,
    target: torch.Tensor,
    args: argparse.Namespace,
) -> tuple[torch.Tensor, torch.Tensor, list[Any]]:
    """(2, B, K) the two halves, (B,) the reference's own NMSE, the halves' explanations.

    The explanations keep their samples (the ceiling's control is fitted to them).
    """
    half = args.n_ref // 2
    explainer = torchlime.LimeImage(
        model,
        n_samples=half,
        alpha=half / args.n_samples,
        batch_size=args.batch_size,
        progress=False,
    )
    exps = [
        explainer(x, target, segments=segments, generator=s, keep_samples=args.ceiling)
        for s in (10_000, 10_001)
    ]
    halves = torch.stack([e.coef[:, 0].double() for e in exps])
    ref = halves.mean(0)
    own = ((halves[0] - halves[1]) ** 2).sum(-1) / 4 / (ref**2).sum(-1)
    return halves, own, exps


def run_sampler(
    model: Any,
    x: torch.Tensor,
    segments: torch.Tensor,
    target: torch.Tensor,
    sampler: str,
    args: argparse.Namespace,
) -> tuple[Any, float]:
    """All seeds of one sampler in one call (replicate-major), samples kept."""
    explainer = torchlime.LimeImage(
        model, n_samples=args.n_samples, sampler=sampler, batch_size=args.batch_size, progress=False
    )
    device = x.device
    sync(device)
    start = time.perf_counter()
    exp = explainer(
        x, target, segments=segments, repeats=args.seeds, keep_samples=True, generator=args.seed
    )
    sync(device)
    return exp, time.perf_counter() - start


def adjust(exp: Any, sampler: str, control: str, args: argparse.Namespace) -> tuple[Any, float]:
    """Refit a kept run with the regression adjustment, as ``adjust=control`` does."""
    X, n_valid = exp.masks, exp.n_features
    g = torch.Generator(X.device).manual_seed(args.seed + 1)
    b, _, k = X.shape

    def draw(m: int) -> torch.Tensor:
        return draw_masks(sampler, b, m, k, n_valid=n_valid, generator=g)

    def weigh(masks: torch.Tensor) -> torch.Tensor:
        return kernel_weights(masks, n_valid, 0.25)

    sync(X.device)
    start = time.perf_counter()
    fit = adjusted_fit(
        X, exp.scores, exp.weights, n_valid, draw=draw, weigh=weigh, control=control,
        link="logit", generator=g,  # softmax scores: as LimeImage(adjust=...) fits them
    )  # fmt: skip
    sync(X.device)
    return fit, time.perf_counter() - start


def _code(masks: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B, M, K) bool masks as ±1 float32, padding columns 0; valid (B, K)."""
    return torch.where(valid[:, None], masks.float() * 2 - 1, 0.0)


def ceiling(refs: list[Any], exp: Any, args: argparse.Namespace) -> torch.Tensor:
    """(R, B, K) the adjusted estimate of lime's seeds with a control fitted to the reference.

    g: K -> 256 tanh -> 1 on the log-odds, kernel-weighted, 2,000 Adam steps (learning rate
    0.005, weight decay 1e-3) on both halves' samples, one network per photo. The seeds'
    estimate is ``β*(g) + WLS_N(f - g)``, ``β*(g)`` on 32,000 free masks of lime's law.
    """
    n_valid = refs[0].n_features
    b, k = len(n_valid), refs[0].masks.shape[-1]
    valid = torch.arange(k, device=n_valid.device) < n_valid[:, None]
    X = torch.cat([e.masks for e in refs], 1)  # (B, n_ref, K)
    p = torch.cat([e.scores[..., 0] for e in refs], 1).float()
    w = torch.cat([e.weights for e in refs], 1).float()
    w = w / w.sum(1, keepdim=True)
    y = torch.logit(p, eps=1e-6)
    mu = (w * y).sum(1, keepdim=True)
    sd = ((w * (y - mu) ** 2).sum(1, keepdim=True)).sqrt().clamp(min=1e-6)
    g = torch.Generator(X.device).manual_seed(args.seed + 2)
    hidden = 256
    params = [
        (torch.randn(b, k, hidden, generator=g, device=X.device) / k**0.5).requires_grad_(),
        torch.zeros(b, 1, hidden, device=X.device, requires_grad=True),
        (torch.randn(b, hidden, 1, generator=g, device=X.device) / hidden**0.5).requires_grad_(),
        torch.zeros(b, 1, 1, device=X.device, requires_grad=True),
    ]

    def net(masks: torch.Tensor, rows: torch.Tensor | slice = slice(None)) -> torch.Tensor:
        w1, b1, w2, b2 = (q[rows] for q in params)
        return (torch.tanh(_code(masks, valid[rows]) @ w1 + b1) @ w2 + b2)[..., 0]

    optimiser = torch.optim.Adam(params, lr=0.005)
    target = (y - mu) / sd
    with torch.enable_grad():
        for _ in range(2000):  # over optimisation steps only
            optimiser.zero_grad()
            loss = (w * (net(X) - target) ** 2).sum()
            loss = loss + 1e-3 * sum((q**2).sum() for q in params[::2])
            loss.backward()
            optimiser.step()

    def control(masks: torch.Tensor, rows: torch.Tensor | slice = slice(None)) -> torch.Tensor:
        with torch.no_grad():
            return torch.sigmoid(net(masks, rows) * sd[rows] + mu[rows]).double()[..., None]

    m = 32_000
    free = draw_masks("lime", b, m, k, n_valid=n_valid, generator=g)
    ratio = (m - 1) / (args.n_samples - 1)
    free_w = kernel_weights(free, n_valid, 0.25).double()
    free_w[:, 0] *= ratio
    star = weighted_ridge(free, control(free), free_w, ratio, feature_mask=valid).coef[:, 0]
    r = exp.masks.shape[0] // b
    rows = torch.arange(b, device=X.device).repeat(r)  # replicate-major: row r * B + b
    residual = exp.scores.double() - control(exp.masks, rows)
    fit = weighted_ridge(exp.masks, residual, exp.weights.double(), 1.0, feature_mask=valid[rows])
    return (star[rows] + fit.coef[:, 0]).unflatten(0, (r, b))


def _by_position(pairs: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """(E, K, K) pairs of features read by position: out[e, i, l] = pairs[e, order_i, order_l]."""
    k = order.shape[-1]
    rows = pairs.gather(1, order[:, :, None].expand(-1, -1, k))
    return rows.gather(2, order[:, None, :].expand(-1, k, -1))


def calibration(exp: Any, halves: torch.Tensor, args: argparse.Namespace) -> dict[str, Any]:
    """The resolution report of lime's seeds checked against the reference (see 6. above).

    Args:
        exp: lime's seeds, samples kept: (R * B) explanations, replicate-major.
        halves: (2, B, K) the reference's halves.
    """
    b, k = halves.shape[1:]
    valid = torch.arange(k) < exp.n_features[:b, None].cpu()
    strength = halves.abs()
    gap = strength.mean(0)[:, :, None] - strength.mean(0)[:, None, :]  # (B, K, K)
    se = ((strength[0, :, :, None] - strength[0, :, None]) - (strength[1, :, :, None]
          - strength[1, :, None])).abs() / 2  # fmt: skip
    truth = torch.where(gap.abs() > 2 * se, gap.sign(), torch.zeros_like(gap))  # +1: a beats b
    cov = ridge_covariance(exp.masks, exp.scores, exp.weights, 1.0, feature_mask=valid.repeat(
        exp.masks.shape[0] // b, 1).to(exp.masks.device)).cpu()  # fmt: skip
    coef = exp.coef.double().cpu()
    res = resolution_test(
        coef, cov, k=args.k, alpha=args.alpha, n_samples=args.n_samples,
        n_features=exp.n_features.cpu(),
    )  # fmt: skip
    r = coef.shape[0] // b
    order = coef[:, 0].abs().argsort(-1, descending=True)  # (R * B, K)
    wrong = _by_position(truth.repeat(r, 1, 1), order) < 0
    above = torch.ones(k, k, dtype=torch.bool).triu(1)  # i < l
    top = args.k
    # position j claims: beats every lower (row j, l > j) and loses to every higher (col j)
    pos_wrong = ((wrong & above).any(2) | (wrong & above).any(1))[:, :top]
    set_wrong = wrong[:, :top, top:].flatten(1).any(1)
    resolved, set_resolved = res.resolved[:, 0], res.set_resolved[:, 0]
    family = (resolved & pos_wrong).any(1) | (set_resolved & set_wrong)
    # reference-resolved positions: its feature beats every lower and loses to every higher
    ref_order = halves.mean(0).abs().argsort(-1, descending=True)  # (B, K)
    ref_pos = _by_position(truth, ref_order)
    pad = ~valid.gather(1, ref_order)  # (B, K) padded positions
    beats = ((ref_pos > 0) | ~above | pad[:, None, :]).all(2)
    loses = ((ref_pos > 0) | ~above | pad[:, :, None]).all(1)
    ref_resolved = (beats & loses)[:, :top]  # (B, k)
    same = (order[:, :top] == ref_order.repeat(r, 1)[:, :top]) & ref_resolved.repeat(r, 1)
    return {
        "explanations": int(family.numel()),
        "family_errors": int(family.sum()),
        "fwer": float(family.float().mean()),
        "alpha": args.alpha,
        "positions_resolved_by_reference": int(ref_resolved.sum()) * r,
        "of_those_resolved_by_report": int((same & resolved).sum()),
        "sets_claimed": int(set_resolved.sum()),
        "sets_wrong": int((set_resolved & set_wrong).sum()),
    }


def convergence(
    exp: Any, ref: torch.Tensor, ref_nmse: torch.Tensor, args: argparse.Namespace
) -> dict[str, list[float]]:
    """NMSE of lime and of the adjusted fit at N, 2N, 4N, ... from lime's kept seeds.

    The R seeds' samples are independent draws of lime's law, so f seeds' rows 1.. and one
    row 0 are a sample of ``1 + f (N - 1)`` rows: no model calls. Alpha is scaled by f, so
    the estimand stays the reference's. The reference's own NMSE is taken out.
    """
    rb, _, k = exp.masks.shape
    b = len(ref)
    r = rb // b
    n_valid = exp.n_features[:b]
    g = torch.Generator(exp.masks.device).manual_seed(args.seed + 3)
    out: dict[str, list[float]] = {"n": [], "lime": [], "adjusted": []}
    f = 1
    while r // f >= 2 or f == 1:
        sets = r // f

        def join(t: torch.Tensor, f: int = f, sets: int = sets) -> torch.Tensor:
            t = t[: sets * f * b].unflatten(0, (sets, f, b))  # (sets, f, B, N, ...)
            rest = t[:, :, :, 1:].transpose(1, 2).flatten(2, 3)  # (sets, B, f (N - 1), ...)
            return torch.cat([t[:, 0, :, :1], rest], 2).flatten(0, 1)

        X, y, w = join(exp.masks), join(exp.scores), join(exp.weights)
        valid = n_valid.repeat(sets)
        lime = weighted_ridge(X, y.double(), w.double(), float(f), feature_mask=(
            torch.arange(k, device=X.device) < valid[:, None])).coef  # fmt: skip

        def draw(m: int, valid: torch.Tensor = valid) -> torch.Tensor:
            return draw_masks("lime", len(valid), m, k, n_valid=valid, generator=g)

        def weigh(masks: torch.Tensor, valid: torch.Tensor = valid) -> torch.Tensor:
            return kernel_weights(masks, valid, 0.25)

        adjusted = adjusted_fit(
            X, y, w, valid, draw=draw, weigh=weigh, alpha=float(f), link="logit", generator=g
        ).coef
        out["n"].append(X.shape[1])
        for name, coef in (("lime", lime), ("adjusted", adjusted)):
            err = ((coef[:, 0].double().cpu().unflatten(0, (sets, b)) - ref) ** 2).sum(-1)
            out[name].append(float((err.mean(0) / (ref**2).sum(-1) - ref_nmse).mean()))
        f *= 2
    return out


def top_jaccard(coef: torch.Tensor, ref: torch.Tensor, k: int) -> torch.Tensor:
    """(R, B) top-k Jaccard of (R, B, K) coefficients against the (B, K) reference."""
    top = torch.zeros_like(coef, dtype=torch.bool).scatter_(-1, coef.abs().topk(k).indices, True)
    truth = torch.zeros_like(ref, dtype=torch.bool).scatter_(-1, ref.abs().topk(k).indices, True)
    both = (top & truth).sum(-1)
    return both / (2 * k - both)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--n-segments", type=int, default=25)
    parser.add_argument("--n-ref", type=int, default=8000)
    parser.add_argument("--n-samples", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--alpha", type=float, default=0.05, help="the report's FWER")
    parser.add_argument("--ceiling", action="store_true", help="add the ceiling (see 3.)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    device = torch.device(args.device)

    model = load_model().to(device)
    names, x = photos(args.images, args.size)
    x = x.to(device)
    segments = torchlime.SLIC(n_segments=args.n_segments)(x)
    with torch.no_grad():
        target = model(x).argmax(1, keepdim=True)
    start = time.perf_counter()
    halves, ref_nmse, refs = reference(model, x, segments, target, args)
    ref = halves.mean(0)
    print(
        f"reference: {args.n_ref} samples x {len(names)} photos in "
        f"{time.perf_counter() - start:.0f} s; its own NMSE {ref_nmse.mean():.2e}"
    )

    b, r = len(names), args.seeds
    coefs: dict[str, torch.Tensor] = {}
    seconds: dict[str, float] = {}
    for sampler, label in (("lime", "lime"), ("paired", "paired")):
        exp, took = run_sampler(model, x, segments, target, sampler, args)
        coefs[label] = exp.coef[:, 0].double().unflatten(0, (r, b)).cpu()
        seconds[label] = took / (r * b)
        controls = [("mlp", "adjusted" if label == "lime" else "paired+adjusted")]
        if label == "lime":
            controls.append(("quadratic", "quadratic"))
        for control, name in controls:
            fit, extra = adjust(exp, sampler, control, args)
            coefs[name] = fit.coef[:, 0].double().unflatten(0, (r, b)).cpu()
            seconds[name] = (took + extra) / (r * b)
        if label == "lime":
            calibrated = calibration(exp, halves.cpu(), args)
            converging = convergence(exp, ref.cpu(), ref_nmse.cpu(), args)
            if args.ceiling:
                coefs["ceiling"] = ceiling(refs, exp, args).cpu()
                seconds["ceiling"] = float("nan")

    ref, ref_nmse = ref.cpu(), ref_nmse.cpu()
    nmse = {m: (((c - ref) ** 2).sum(-1) / (ref**2).sum(-1)).mean(0) for m, c in coefs.items()}
    k_features = int(exp.n_features.min())
    results: dict[str, Any] = {
        "metadata": metadata(device),
        "args": vars(args),
        "photos": names,
        "n_features": exp.n_features[:b].tolist(),
        "methods": {},
    }
    print(
        f"\n{len(names)} photos at {args.size} px, {args.n_segments} SLIC segments "
        f"(K = {exp.n_features[:b].tolist()}), N = {args.n_samples}, {r} seeds, reference "
        f"{args.n_ref}; device {device}"
    )
    print(
        f"{'method':18s} {'NMSE':>9s} {'V':>6s} {'V min':>6s} {'V max':>6s} {'V -ref':>6s} "
        f"{'J@' + str(args.k) + ' ref':>8s} {'s/expl':>7s}"
    )
    for m in coefs:
        v_photo = nmse["lime"] / nmse[m]
        v = float(nmse["lime"].sum() / nmse[m].sum())
        # E||b - ref||² = E||b - β||² + E||ref - β||²: remove the reference's own noise
        v_clean = float((nmse["lime"] - ref_nmse).sum() / (nmse[m] - ref_nmse).sum())
        jac = float(top_jaccard(coefs[m], ref, min(args.k, k_features - 1)).mean())
        print(
            f"{m:18s} {float(nmse[m].mean()):9.2e} {v:6.2f} {float(v_photo.min()):6.2f} "
            f"{float(v_photo.max()):6.2f} {v_clean:6.2f} {jac:8.3f} {seconds[m]:7.2f}"
        )
        results["methods"][m] = {
            "nmse_per_photo": nmse[m].tolist(),
            "V": v,
            "V_per_photo": v_photo.tolist(),
            "V_reference_noise_removed": v_clean,
            "jaccard": jac,
            "seconds_per_explanation": seconds[m],
        }
    print(f"reference's own NMSE per photo: {[f'{v:.1e}' for v in ref_nmse.tolist()]}")
    print("V per photo: " + "; ".join(
        f"{m} " + " ".join(f"{v:.2f}" for v in results["methods"][m]["V_per_photo"])
        for m in coefs
    ))  # fmt: skip
    c = calibrated
    print(
        f"resolution report (alpha {c['alpha']}): family errors {c['family_errors']} of "
        f"{c['explanations']} explanations (FWER {c['fwer']:.3f}); positions resolved by the "
        f"reference {c['positions_resolved_by_reference']}, by the report too "
        f"{c['of_those_resolved_by_report']}; top sets claimed {c['sets_claimed']}, "
        f"wrong {c['sets_wrong']}"
    )
    results["reference_nmse_per_photo"] = ref_nmse.tolist()
    results["resolution_report"] = c
    steps = zip(converging["n"], converging["lime"], converging["adjusted"], strict=True)
    print(
        "as N grows (lime's seeds joined; NMSE less the reference's own, mean over photos): "
        + "; ".join(f"N={n}: lime {a:.2e}, adjusted {d:.2e} (V {a / d:.2f})" for n, a, d in steps)
    )
    results["convergence"] = converging
    dump(results, args.json)


if __name__ == "__main__":
    main()
