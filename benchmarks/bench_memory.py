"""Peak memory of one explanation against the number of images: set by batch_size, not B x N.

Each B runs in a fresh process. Reported: the explanation's extra peak over what the
inputs and the model already hold (CPU: peak RSS from getrusage; GPU: the allocator's
max_memory_allocated), and its ratio to B=1.

    python benchmarks/bench_memory.py [--device cuda] [--batches 1 8 64] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys

import torch


def one(b: int, device: str, n_samples: int, batch_size: int, model_name: str) -> dict:
    import torchvision
    from common import MeanColour

    import torchlime

    dev = torch.device(device)
    model = (
        (MeanColour() if model_name == "trivial" else getattr(torchvision.models, model_name)())
        .eval()
        .to(dev)
    )
    g = torch.Generator().manual_seed(0)
    x = torch.rand(b, 3, 224, 224, generator=g).to(dev)
    explainer = torchlime.LimeImage(
        model,
        segmenter=torchlime.Grid(7, 7),
        n_samples=n_samples,
        batch_size=batch_size,
        progress=False,
    )
    if dev.type == "cuda":
        explainer(x[:1], generator=torch.Generator(dev).manual_seed(0))  # CUDA/cuDNN set-up
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    else:  # a fresh process: the peak RSS above what model and inputs already hold
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    explainer(x, generator=torch.Generator(dev).manual_seed(0))
    if dev.type == "cuda":
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    return {"batch": b, "extra_peak_mb": peak / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8, 64])
    parser.add_argument("--n-samples", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--model", default="mobilenet_v3_small")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(one(args.child, args.device, args.n_samples, args.batch_size, args.model)))
        return
    rows = []
    print(
        f"# bench_memory: device={args.device}, model={args.model}, "
        f"n_samples={args.n_samples}, batch_size={args.batch_size}, 224x224"
    )
    print(f"{'B':>4}{'extra peak MB':>15}{'vs B=1':>8}")
    for b in args.batches:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                str(b),
                "--device",
                args.device,
                "--n-samples",
                str(args.n_samples),
                "--batch-size",
                str(args.batch_size),
                "--model",
                args.model,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(
            f"{b:>4}{row['extra_peak_mb']:>15.1f}"
            f"{row['extra_peak_mb'] / rows[0]['extra_peak_mb']:>8.2f}",
            flush=True,
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
