"""Stability at lime's budget, measured against a converged reference (issue 14's protocol).

Seed-to-seed agreement rewards any deterministic design, right or wrong; this script
measures each method against **lime's own estimand**, computed to convergence:

1. **Reference** per photo (its top class, torchlime's SLIC with 50 segments, lime's kernel
   0.25): lime's Bernoulli sampling at ``--n-ref`` samples in two independent halves, each
   a Ridge with alpha scaled by (half / 1000), so the estimand is the one lime estimates at
   1000 samples. The reference is the mean of the halves; half the halves' difference of a
   gap is the reference's own standard error for that gap. A reference boundary closer than
   2 of those is a **reference tie**: either feature counts as correct. References are
   stored in ``benchmarks/references/`` with their recipe and segments, and reused.
2. **Methods** (``--methods``: ``lime``, ``paired``, ``stratified``, ``binomial`` or any
   ``name:key=value,key=value`` of LimeImage settings) explain every photo with
   ``--seeds`` seeds at ``--n-samples`` model calls, all seeds in one batched call.
3. **Metrics** per photo and method: NMSE = mean over seeds of ||b - b_ref||² / ||b_ref||²;
   the variance multiplier V = NMSE(lime) / NMSE(method) ("worth V x 1000 calls");
   tie-aware top-k Jaccard against the reference; seed-to-seed top-k Jaccard (secondary);
   and the calls plain sampling needs to resolve the photo's top k,
   N_needed = n (1.39 sigma_gap / delta_ref)², sigma_gap the seed-to-seed spread of lime's
   gap at the reference's boundary (1.39: two-sided 5 % of a difference of two runs).

Photos: scikit-image's bundled RGB photos and composites of two (left half of one, right
half of another) up to ``--images``.

    python benchmarks/bench_reference.py --device cuda --size 224 --n-ref 50000 --seeds 10
    python benchmarks/bench_reference.py --size 96 --images 4 --n-ref 4000 --seeds 3  # CPU

Model calls: images x (n_ref + methods x seeds x n_samples).
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path
from typing import Any

import torch
from bench_stability import PHOTOS, load_model, load_photo
from common import metadata, sync

import torchlime

REFERENCES = Path(__file__).parent / "references"
BUILT_IN = {
    "lime": {},
    "paired": {"sampler": "paired"},
    "stratified": {"sampler": "stratified"},
    "binomial": {"sampler": "binomial"},
}


def photos(n: int, size: int) -> tuple[list[str], torch.Tensor]:
    """``n`` photos: every loadable RGB one first, then composites of two (left | right)."""
    names, images = [], []
    for name in PHOTOS:
        img = load_photo(name, size)
        if img is not None and float((img[0] - img[1]).abs().max()) > 0:  # RGB, not gray
            names.append(name)
            images.append(img)
    singles = list(zip(names, images, strict=True))
    for (a, xa), (b, xb) in itertools.permutations(singles, 2):
        if len(names) >= n:
            break
        half = size // 2
        names.append(f"{a}|{b}")
        images.append(torch.cat([xa[..., :half], xb[..., half:]], -1))
    return names[:n], torch.stack(images[:n])


def method_settings(spec: str) -> tuple[str, dict[str, Any]]:
    """``"paired"`` or ``"name:sampler=paired,adjust=mlp"`` -> (name, LimeImage settings)."""
    if spec in BUILT_IN:
        return spec, dict(BUILT_IN[spec])
    name, _, rest = spec.partition(":")
    settings: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        settings[key] = json.loads(value) if value[:1] in "0123456789-[{tfn" else value
    return name, settings


def reference(
    model: Any, x: torch.Tensor, names: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    """The converged reference of every photo (computed once, then read from disk)."""
    path = REFERENCES / f"ref_{args.size}px_{len(names)}img_{args.n_ref}.pt"
    if path.exists() and not args.recompute:
        stored = torch.load(path, weights_only=True)
        if stored["names"] == names:
            print(f"reference: read {path}")
            return stored
    device = x.device
    segments = torchlime.SLIC(n_segments=50)(x)
    with torch.no_grad():
        target = model(x).argmax(1, keepdim=True)  # (B, 1) the top class
    half = args.n_ref // 2
    explainer = torchlime.LimeImage(
        model,
        n_samples=half,
        alpha=half / 1000,  # lime's estimand at 1000 samples: the penalty-to-data ratio
        batch_size=args.batch_size,
        progress=False,
    )
    start = time.perf_counter()
    halves = [
        explainer(x, target, segments=segments, generator=torch.Generator(device).manual_seed(s))
        for s in (10_000, 10_001)
    ]
    sync(device)
    seconds = time.perf_counter() - start
    exp = halves[0]
    stored = {
        "names": names,
        "segments": exp.segments.cpu(),
        "target": target.cpu(),
        "halves": torch.stack([h.coef[:, 0] for h in halves]).cpu(),  # (2, B, K)
        "n_features": exp.n_features.cpu(),
        "n_ref": args.n_ref,
        "size": args.size,
        "recipe": json.dumps(dict(exp.config)),
        "computed_on": str(device),
        "seconds": seconds,
    }
    REFERENCES.mkdir(exist_ok=True)
    torch.save(stored, path)
    print(f"reference: {args.n_ref} samples per photo in {seconds:.0f} s on {device}; {path}")
    return stored


def boundary(ref: torch.Tensor, halves: torch.Tensor, k: int) -> dict[str, torch.Tensor]:
    """The reference's top-k: certain features, ambiguous ones (a reference tie), the gap.

    Args:
        ref: (B, K) the reference coefficients.
        halves: (2, B, K) the two halves.
        k: the top set's size.
    """
    strength = ref.abs()
    order = strength.argsort(-1, descending=True)
    kth, next_ = order[:, k - 1], order[:, k]
    rows = torch.arange(len(ref))
    delta = strength[rows, kth] - strength[rows, next_]
    gaps = halves.abs()[:, rows, kth] - halves.abs()[:, rows, next_]  # (2, B)
    se = (gaps[0] - gaps[1]).abs() / 2  # the mean of two halves' standard error
    # features whose strength lies within 2 SE of the k-th: the reference cannot order them
    edge = strength[rows, kth][:, None]
    ambiguous = (strength - edge).abs() < 2 * se[:, None]
    certain = (strength > edge) & ~ambiguous
    certain[rows, kth] |= ~ambiguous[rows, kth]
    return {"delta": delta, "se": se, "ambiguous": ambiguous, "certain": certain, "order": order}


def tie_aware_jaccard(coef: torch.Tensor, edge: dict[str, torch.Tensor], k: int) -> torch.Tensor:
    """Top-k Jaccard of (R, B, K) explanations against the reference, ties forgiven.

    A reference-tied feature counts as correct while the top k has room for it: matches =
    |S & certain| + min(|S & ambiguous|, k - |certain|); J = matches / (2k - matches).
    """
    top = torch.zeros_like(coef, dtype=torch.bool)
    top.scatter_(-1, coef.abs().topk(k, -1).indices, True)
    certain, ambiguous = edge["certain"], edge["ambiguous"]
    sure = (top & certain).sum(-1)
    room = (k - certain.sum(-1)).clamp(min=0)
    matches = sure + torch.minimum((top & ambiguous).sum(-1), room)
    return matches / (2 * k - matches)


def seed_jaccard(coef: torch.Tensor, k: int) -> torch.Tensor:
    """(B,) mean top-k Jaccard over pairs of the R seeds of (R, B, K) explanations."""
    if coef.shape[0] < 2:
        return torch.full(coef.shape[1:2], float("nan"))
    return torchlime.stability.jaccard(coef, k=k)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--n-ref", type=int, default=50_000)
    parser.add_argument("--n-samples", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--methods", nargs="+", default=["lime", "paired", "stratified"])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--recompute", action="store_true", help="recompute the reference")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    model = load_model().to(device)
    names, x = photos(args.images, args.size)
    x = x.to(device)
    stored = reference(model, x, names, args)
    segments = stored["segments"].to(device)
    target = stored["target"].to(device)
    halves = stored["halves"].double()
    ref = halves.mean(0)
    edge = boundary(ref, halves, args.k)
    norm = (ref**2).sum(-1)
    rows: dict[str, dict[str, list[float]]] = {}
    lime_coef = None
    for spec in args.methods:
        name, settings = method_settings(spec)
        explainer = torchlime.LimeImage(
            model,
            n_samples=args.n_samples,
            batch_size=args.batch_size,
            progress=False,
            **settings,
        )
        start = time.perf_counter()
        exp = explainer(
            x,
            target,
            segments=segments,
            repeats=args.seeds,
            generator=torch.Generator(device).manual_seed(0),
        )
        sync(device)
        seconds = time.perf_counter() - start
        coef = exp.coef[:, 0].double().cpu().view(args.seeds, len(names), -1)  # (R, B, K)
        coef = coef[..., : ref.shape[-1]]
        nmse = ((coef - ref) ** 2).sum(-1).mean(0) / norm
        rows[name] = {
            "nmse": nmse.tolist(),
            "j_ref": tie_aware_jaccard(coef, edge, args.k).mean(0).tolist(),
            "j_seed": seed_jaccard(coef, args.k).tolist(),
            "seconds_per_explanation": seconds / (args.seeds * len(names)),
        }
        if name == "lime":
            lime_coef = coef
    # calls plain sampling needs: the seed-to-seed spread of lime's gap at the ref boundary
    n_needed = [float("nan")] * len(names)
    if lime_coef is not None and args.seeds > 1:
        b = torch.arange(len(names))
        kth, next_ = edge["order"][:, args.k - 1], edge["order"][:, args.k]
        gap = lime_coef.abs()[:, b, kth] - lime_coef.abs()[:, b, next_]  # (R, B)
        sigma = gap.std(0)
        n_needed = (args.n_samples * (1.39 * sigma / edge["delta"].abs()) ** 2).tolist()
    base = rows.get("lime", {}).get("nmse")
    print(
        f"\n{len(names)} photos at {args.size}px, reference {args.n_ref} samples "
        f"({stored['computed_on']}), {args.seeds} seeds x {args.n_samples} calls\n"
    )
    header = "| photo | ref tie | N_needed |" + "".join(f" {m} V · J_ref · J_seed |" for m in rows)
    print(header + "\n|" + "---|" * (3 + len(rows)))
    for i, photo in enumerate(names):
        tie = bool(edge["ambiguous"][i].sum() > 1)
        cells = []
        for r in rows.values():
            v = base[i] / r["nmse"][i] if base else float("nan")
            cells.append(f" {v:.2f} · {r['j_ref'][i]:.2f} · {r['j_seed'][i]:.2f} |")
        print(f"| {photo} | {'tie' if tie else ''} | {n_needed[i]:,.0f} |" + "".join(cells))
    print()
    for m, r in rows.items():
        v = [b / n for b, n in zip(base, r["nmse"], strict=True)] if base else []
        resolvable = [j for j, n in zip(r["j_ref"], n_needed, strict=True) if n <= 4000]
        print(
            f"{m}: mean V {sum(v) / len(v) if v else float('nan'):.2f}; J_ref mean "
            f"{sum(r['j_ref']) / len(names):.3f}, min over photos resolvable at 4,000 calls "
            f"{min(resolvable) if resolvable else float('nan'):.3f} ({len(resolvable)} photos); "
            f"seed-to-seed J {sum(r['j_seed']) / len(names):.3f}; "
            f"{1e3 * r['seconds_per_explanation']:.0f} ms per explanation"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {"meta": metadata(device), "names": names, "n_needed": n_needed, "rows": rows},
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
