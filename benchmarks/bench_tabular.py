"""LimeTabular against lime 0.2.0.1, per row, on the breast-cancer table and a small MLP.

Both explain the same rows with the same model and lime's defaults (quartile bins, 5000
samples, num_features=10 -> highest_weights, Ridge(alpha=1)): torchlime in one batched
call for all rows, lime one explain_instance per row (on --lime-rows of them: it is
~100x slower). Repeats are interleaved so both see the same machine load; medians are
reported, with the model-only floor (the MLP on every perturbed row).

Run: ``python benchmarks/bench_tabular.py [--device cpu] [--n-rows 569] [--n-samples 5000]``.
"""

from __future__ import annotations

import argparse
import json
import statistics

import numpy as np
import torch
from common import metadata, timed
from sklearn.datasets import load_breast_cancer
from torch import nn

import torchlime


class MLP(nn.Module):
    """30 raw columns -> standardise -> 32 ReLU -> 2 logits (the example's model)."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.net = nn.Sequential(nn.Linear(30, 32), nn.ReLU(), nn.Linear(32, 2))

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        return self.net((rows - self.mean) / self.std)


def trained_mlp(X: torch.Tensor, y: torch.Tensor) -> MLP:
    torch.manual_seed(0)
    model = MLP(X.mean(0), X.std(0))
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(100):
        optimiser.zero_grad()
        nn.functional.cross_entropy(model(X), y).backward()
        optimiser.step()
    return model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n-rows", type=int, default=569, help="rows torchlime explains")
    parser.add_argument("--lime-rows", type=int, default=10, help="rows lime explains")
    parser.add_argument("--n-samples", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=8192)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    data = load_breast_cancer()
    X = torch.tensor(data.data, dtype=torch.float32)
    y = torch.tensor(data.target)
    model = trained_mlp(X, y)
    rows = X[: args.n_rows].to(device)

    # torchlime: all rows in one call, explaining class 1 as lime's default labels=(1,)
    explainer = torchlime.LimeTabular(
        model, X, n_samples=args.n_samples, batch_size=args.batch_size, progress=False
    ).to(device)
    generator = torch.Generator(device).manual_seed(0)

    def ours() -> None:
        explainer(rows, target=1, generator=generator)

    # the same with one set of perturbations for all rows (each row still lime's sampling)
    sharing = torchlime.LimeTabular(
        model,
        X,
        n_samples=args.n_samples,
        batch_size=args.batch_size,
        progress=False,
        share_samples=True,
    ).to(device)

    def ours_shared() -> None:
        sharing(rows, target=1, generator=generator)

    # the floor: the model alone on as many rows, same chunks
    n_total = args.n_rows * (args.n_samples - 1)
    perturbed = rows.repeat_interleave(args.n_samples - 1, 0)
    net = model.to(device)

    def floor() -> None:
        with torch.no_grad():
            for i in range(0, n_total, args.batch_size):
                net(perturbed[i : i + args.batch_size]).softmax(-1)

    # lime: one explain_instance per row, the model on the CPU as lime needs numpy
    from lime.lime_tabular import LimeTabularExplainer

    cpu_model = MLP(model.mean.cpu(), model.std.cpu())
    cpu_model.load_state_dict({k: v.cpu() for k, v in model.state_dict().items()})

    def predict(a: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return cpu_model(torch.from_numpy(a).float()).softmax(-1).double().numpy()

    lime = LimeTabularExplainer(data.data, random_state=0)
    lime_rows = data.data[: args.lime_rows]

    def theirs() -> None:
        for row in lime_rows:
            lime.explain_instance(row, predict, num_samples=args.n_samples)

    explainer(rows[:8], target=1)  # warm up
    theirs_one = lime_rows[:1]
    lime.explain_instance(theirs_one[0], predict, num_samples=args.n_samples)
    sharing(rows[:8], target=1)
    times: dict[str, list[float]] = {"torchlime": [], "shared": [], "lime": [], "floor": []}
    for _ in range(args.repeats):
        times["torchlime"].append(timed(ours, device) / args.n_rows)
        times["shared"].append(timed(ours_shared, device) / args.n_rows)
        times["lime"].append(timed(theirs, torch.device("cpu")) / args.lime_rows)
        times["floor"].append(timed(floor, device) / args.n_rows)
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "benchmark": "tabular",
        "n_rows": args.n_rows,
        "lime_rows": args.lime_rows,
        "n_samples": args.n_samples,
        "ms_per_row": {k: 1e3 * v for k, v in med.items()},
        "all_ms_per_row": {k: [1e3 * t for t in v] for k, v in times.items()},
        "speedup_vs_lime": med["lime"] / med["torchlime"],
        "speedup_vs_lime_shared": med["lime"] / med["shared"],
        "torchlime_over_floor": med["torchlime"] / med["floor"],
        "meta": metadata(device),
    }
    print(f"tabular, {args.n_samples} samples, {args.n_rows} rows (lime: {args.lime_rows})")
    print(f"{'':12s}{'ms/row':>10s}")
    for k in ("torchlime", "shared", "lime", "floor"):
        print(f"{k:12s}{1e3 * med[k]:10.2f}")
    print(f"speedup vs lime: {result['speedup_vs_lime']:.1f}x")
    print(f"speedup vs lime, share_samples=True: {result['speedup_vs_lime_shared']:.1f}x")
    print(f"torchlime / model floor: {result['torchlime_over_floor']:.1f}x")
    print(json.dumps(result["meta"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
