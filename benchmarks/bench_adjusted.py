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
3. **Metrics**: NMSE = mean over seeds of ||b - b_ref||² / ||b_ref||²; the variance
   multiplier V = NMSE(lime) / NMSE(method) ("worth V x N lime calls"), from the NMSE
   summed over photos and per photo, and with the reference's own NMSE taken out of both
   (``V -ref``: the errors add, ``E||b - ref||² = E||b - β||² + E||ref - β||²``); top-k
   Jaccard against the reference; seconds per explanation.

    python benchmarks/bench_adjusted.py                     # small CPU run (a few minutes)
    python benchmarks/bench_adjusted.py --device cuda --size 224 --n-segments 50 \
        --images 16 --n-ref 50000 --seeds 10

Model calls: images x (n_ref + 2 x seeds x n_samples).
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
from torchlime.functional import adjusted_fit, draw_masks, kernel_weights


def reference(
    model: Any,
    x: torch.Tensor,
    segments: torch.Tensor,
    target: torch.Tensor,
    args: argparse.Namespace,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, K) the reference and (B,) its own NMSE (from the two halves)."""
    half = args.n_ref // 2
    explainer = torchlime.LimeImage(
        model,
        n_samples=half,
        alpha=half / args.n_samples,
        batch_size=args.batch_size,
        progress=False,
    )
    halves = [
        explainer(x, target, segments=segments, generator=s).coef[:, 0].double()
        for s in (10_000, 10_001)
    ]
    ref = (halves[0] + halves[1]) / 2
    own = ((halves[0] - halves[1]) ** 2).sum(-1) / 4 / (ref**2).sum(-1)
    return ref, own


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
        X, exp.scores, exp.weights, n_valid, draw=draw, weigh=weigh, control=control, generator=g
    )
    sync(X.device)
    return fit, time.perf_counter() - start


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
    ref, ref_nmse = reference(model, x, segments, target, args)
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
    results["reference_nmse_per_photo"] = ref_nmse.tolist()
    dump(results, args.json)


if __name__ == "__main__":
    main()
