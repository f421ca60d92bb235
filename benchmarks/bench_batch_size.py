"""batch_size="auto" against fixed batch sizes, on the trivial image model (pure LIME overhead).

The same images, superpixels (a 7 x 7 grid) and seed for every setting, 1000 samples;
settings interleaved within each repeat (order reversed every other repeat); medians, and
each setting's time over the best fixed size's. The issue's bar: the default within 10% of
the best batch size.

Run: ``python benchmarks/bench_batch_size.py [--size 224] [--batches 1 8] [--repeats 7]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from common import metadata
from torch import nn

import torchlime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--sizes", nargs="+", type=int, default=[16, 32, 64, 128, 256])
    parser.add_argument("--n-samples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    model = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 10)).to(device)
    results = []
    for b in args.batches:
        x = torch.rand(b, 3, args.size, args.size, generator=torch.Generator().manual_seed(0))
        x = x.to(device)
        segments = torchlime.Grid(7, 7)(x)
        settings: list[int | str] = ["auto", *args.sizes]
        explainers = {
            s: torchlime.LimeImage(model, n_samples=args.n_samples, batch_size=s, progress=False)
            for s in settings
        }
        times: dict[int | str, list[float]] = {s: [] for s in settings}
        for r in range(args.repeats + 1):
            order = list(explainers.items())
            for s, explainer in order if r % 2 else order[::-1]:
                if device.type == "cuda":
                    torch.cuda.synchronize()
                start = time.perf_counter()
                explainer(x, segments=segments, generator=0)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                if r:  # the first round warms up
                    times[s].append(time.perf_counter() - start)
        median = {s: statistics.median(t) for s, t in times.items()}
        best = min(v for s, v in median.items() if s != "auto")
        row = {"B": b, "median_s": {str(s): v for s, v in median.items()}}
        row["auto_over_best"] = median["auto"] / best
        results.append(row)
        cells = ", ".join(f"{s}: {v * 1000:.0f} ms ({v / best:.2f})" for s, v in median.items())
        print(f"B={b}, {args.size}²: {cells}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": metadata(device), "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
