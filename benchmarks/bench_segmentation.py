"""Time torchlime's segmenters against scikit-image's, per image, side by side.

    python benchmarks/bench_segmentation.py --device cpu --batch-size 8 --size 224
    python benchmarks/bench_segmentation.py --device cuda --batch-size 64 --json out.json

SLIC runs with scikit-image's parameters (``n_segments``, ``compactness=10``, 10
iterations, connectivity on); quickshift with lime's (``kernel_size=4, max_dist=200,
ratio=0.2``). The batch cycles through scikit-image's sample photos, resized. Ours segments
the whole batch in one call (CUDA is synchronised around every timed call); scikit-image
segments the images one by one on the CPU. Each repeat times both, interleaved, and the
table shows medians over repeats, in milliseconds per image, and the ratio ours / theirs
(below 1: ours is faster).

On a shared CPU, run with ``OMP_WAIT_POLICY=PASSIVE``: libgomp's worker threads otherwise
spin between parallel regions and, when another process holds a core, stall every op of a
batched tensor program (scikit-image is single-threaded and barely affected). The load
average is recorded with the results.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from torchlime.segmentation import quickshift, slic

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


def load_batch(batch_size: int, size: int) -> torch.Tensor:
    from skimage import data

    photos = []
    for name in PHOTOS:
        image = torch.from_numpy(getattr(data, name)()).permute(2, 0, 1)[None].float() / 255
        photos.append(F.interpolate(image, size=(size, size), mode="bilinear", antialias=True))
    photos = torch.cat(photos).clamp(0, 1)
    return photos[torch.arange(batch_size) % len(photos)].contiguous()


def timed(fn: Callable[[], object], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--n-segments", type=int, default=100)
    parser.add_argument("--skip-quickshift", action="store_true")
    parser.add_argument("--skip-reference", action="store_true", help="do not run scikit-image")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from skimage import segmentation as sk_seg

    device = torch.device(args.device)
    batch = load_batch(args.batch_size, args.size)
    x = batch.to(device)
    images = [np.ascontiguousarray(im.permute(1, 2, 0).double().numpy()) for im in batch]
    b = args.batch_size

    cases = {
        "slic": (
            lambda: slic(x, n_segments=args.n_segments, compactness=10.0),
            lambda: [
                sk_seg.slic(im, n_segments=args.n_segments, compactness=10, start_label=0)
                for im in images
            ],
        ),
    }
    if not args.skip_quickshift:
        cases["quickshift"] = (
            lambda: quickshift(x, kernel_size=4, max_dist=200.0, ratio=0.2),
            lambda: [
                sk_seg.quickshift(im, kernel_size=4, max_dist=200, ratio=0.2) for im in images
            ],
        )

    results = {}
    for name, (ours, theirs) in cases.items():
        ours()  # warm-up: layouts, allocator, CUDA kernels
        ours_ms, theirs_ms = [], []
        for _ in range(args.repeats):
            ours_ms.append(timed(ours, device) * 1e3 / b)
            if not args.skip_reference:
                theirs_ms.append(timed(theirs, torch.device("cpu")) * 1e3 / b)
        segments = ours()
        n_ours = (segments.flatten(1).amax(1) + 1).float().mean().item()
        row = {
            "ours_ms_per_image": statistics.median(ours_ms),
            "ours_ms_all": ours_ms,
            "mean_segments_ours": n_ours,
        }
        if theirs_ms:
            row["skimage_ms_per_image"] = statistics.median(theirs_ms)
            row["skimage_ms_all"] = theirs_ms
            row["ratio"] = row["ours_ms_per_image"] / row["skimage_ms_per_image"]
        results[name] = row

    meta = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or platform.machine(),
        "batch_size": b,
        "size": args.size,
        "repeats": args.repeats,
        "n_segments": args.n_segments,
        "commit": git_commit(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
        "load_average": os.getloadavg(),
    }
    print(
        f"device={args.device} ({meta['device']}), threads={meta['threads']}, B={b}, "
        f"{args.size}x{args.size}, torch {meta['torch']}, commit {meta['commit']}, "
        f"OMP_WAIT_POLICY={meta['omp_wait_policy']}, load {meta['load_average'][0]:.1f}"
    )
    print(f"{'segmenter':<12}{'ours ms/img':>14}{'skimage ms/img':>16}{'ratio':>8}{'segments':>10}")
    for name, row in results.items():
        theirs = row.get("skimage_ms_per_image", float("nan"))
        ratio = row.get("ratio", float("nan"))
        print(
            f"{name:<12}{row['ours_ms_per_image']:>14.2f}{theirs:>16.2f}{ratio:>8.2f}"
            f"{row['mean_segments_ours']:>10.1f}"
        )
    if args.json is not None:
        args.json.write_text(json.dumps({"meta": meta, "results": results}, indent=2))


if __name__ == "__main__":
    main()
