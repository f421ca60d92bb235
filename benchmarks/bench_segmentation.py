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

With ``--quality`` it instead checks SLIC's segments (``n_segments=50``, ``compactness=10``,
connectivity on) against scikit-image's on every RGB photo bundled with scikit-image, at
224 x 224 and 512 x 512 (``--sizes``), and prints a markdown table: the within-superpixel
Lab variance ratio ours / scikit-image's (mean over pixels of the squared Lab distance to
the superpixel's mean colour), both segment counts, boundary recall (the fraction of
scikit-image's boundary pixels within 2 px of one of ours) and whether every segment is
4-connected. The criteria of tests/segmentation/test_every_photo.py are: ratio <= 1.15,
counts within 15 %, recall >= 0.6, connected.

    python benchmarks/bench_segmentation.py --quality

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
import sys
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


def quality_table(sizes: list[int], device: torch.device) -> list[dict]:
    """Criteria per photo and size, as tests/segmentation/test_every_photo.py defines and
    asserts them (imported from there: one definition); prints a markdown table."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "segmentation"))
    from test_every_photo import bundled_rgb_photos, compare, passes, resized

    rows = []
    print(
        "| image | size | Lab variance ratio | segments ours | segments skimage | "
        "boundary recall | connected | pass |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, image in bundled_rgb_photos():
        for size in sizes:
            x = resized(image, size)
            ours = slic(x.float().to(device), n_segments=50, compactness=10.0)[0].cpu().numpy()
            row = compare(name, x, ours)
            row["pass"] = passes(row)
            rows.append(row)
            print(
                f"| {name} | {size} | {row['variance_ratio']:.3f} | {row['ours']} | "
                f"{row['skimage']} | {row['recall']:.3f} | {'yes' if row['connected'] else 'NO'} "
                f"| {'yes' if row['pass'] else 'NO'} |",
                flush=True,
            )
    return rows


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
    parser.add_argument("--quality", action="store_true", help="criteria table on every photo")
    parser.add_argument("--sizes", type=int, nargs="+", default=[224, 512])
    args = parser.parse_args()

    if args.quality:
        rows = quality_table(args.sizes, torch.device(args.device))
        if args.json is not None:
            args.json.write_text(json.dumps({"commit": git_commit(), "quality": rows}, indent=2))
        return

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
