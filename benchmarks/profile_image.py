"""Where an image explanation spends its time: torch.profiler's table for one call.

python benchmarks/profile_image.py --device cuda --model mobilenet_v3_small --batch 1
"""

from __future__ import annotations

import argparse

import torch
import torchvision
from common import MeanColour, photos, sync
from torch.profiler import ProfilerActivity, profile

import torchlime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", default="mobilenet_v3_small")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--n-samples", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--rows", type=int, default=25)
    args = parser.parse_args()
    device = torch.device(args.device)
    model = MeanColour() if args.model == "trivial" else getattr(torchvision.models, args.model)()
    model = model.eval().to(device)
    x = photos(["astronaut", "chelsea", "coffee", "rocket"] * 16)[: args.batch].to(device)
    segments = torchlime.SLIC(n_segments=50)(x)
    explainer = torchlime.LimeImage(
        model, n_samples=args.n_samples, batch_size=args.batch_size, progress=False
    )
    for _ in range(2):
        explainer(x, segments=segments)
    sync(device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        explainer(x, segments=segments)
        sync(device)
    key = "cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=key, row_limit=args.rows))
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))


if __name__ == "__main__":
    main()
