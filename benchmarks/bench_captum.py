"""captum's Lime and KernelShap against torchlime.captum, the native explainers and shap.

Two workloads with small models, a batch of 8 inputs each, captum's defaults otherwise
(Lasso alpha 0.01, cosine similarity of width 1 on the inputs):

- ``tabular``: the breast-cancer MLP (30 columns, each a feature; baselines the column means);
- ``image``: a small CNN on eight 3x64x64 photos, 8x8 patches as the features (64).

Every method explains the same inputs with the same number of samples: captum as shipped
(``perturbations_per_eval=1``, one model call per perturbation) and at its fastest (all of
an example's perturbations in one call), ``torchlime.captum`` with only the import changed,
the native ``torchlime.Lime`` / ``KernelShap`` with the same settings, shap's
KernelExplainer (tabular, one row at a time), and the model-only floor (the model on
every perturbed input, composed beforehand). Repeats are interleaved; medians and ratios
are printed, with how far torchlime.captum's attributions are from captum's under the
same seed, against captum's own spread between two seeds.

Run: ``python benchmarks/bench_captum.py [--device cpu] [--n-samples 500] [--repeats 3]
[--json out.json]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import warnings

import numpy as np
import torch
from bench_tabular import trained_mlp
from common import interleaved, metadata
from sklearn.datasets import load_breast_cancer
from torch import nn

import torchlime
import torchlime.captum

warnings.filterwarnings("ignore", message="You are providing multiple inputs")


def tabular(device: torch.device) -> tuple[nn.Module, torch.Tensor, torch.Tensor, None]:
    data = load_breast_cancer()
    X = torch.tensor(data.data, dtype=torch.float32)
    model = trained_mlp(X, torch.tensor(data.target)).to(device)
    return model, X[:8].to(device), X.mean(0, keepdim=True).to(device), None


def image(device: torch.device) -> tuple[nn.Module, torch.Tensor, float, torch.Tensor]:
    from skimage import data

    names = ["astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "retina",
             "hubble_deep_field", "logo"]  # fmt: skip
    photos = [torch.tensor(getattr(data, n)()[..., :3]).permute(2, 0, 1)[None] for n in names]
    x = torch.cat([nn.functional.interpolate(p.float() / 255, size=(32, 32)) for p in photos])
    g = torch.Generator().manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 4, stride=4), nn.ReLU(), nn.Conv2d(8, 16, 2, stride=2), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10),
    )  # fmt: skip
    for p in model.parameters():
        nn.init.normal_(p, std=0.5, generator=g)
    patches = torch.arange(64).reshape(8, 8).repeat_interleave(4, 0).repeat_interleave(4, 1)
    return model.eval().to(device), x.to(device), 0.0, patches[None, None].to(device)


def floor(model: nn.Module, x: torch.Tensor, n: int) -> None:
    """The model on B x n perturbed inputs (composed beforehand), in chunks of 8192 rows."""
    rows = x.repeat_interleave(n, 0)
    with torch.no_grad():
        for chunk in rows.split(8192):
            model(chunk)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n-samples", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workloads", default="tabular,image")
    parser.add_argument("--json", help="write the report here")
    args = parser.parse_args()
    device = torch.device(args.device)
    report: dict = {"meta": metadata(device), "n_samples": args.n_samples, "batch": 8}
    for name in args.workloads.split(","):
        report[name] = workload(name, device, args.n_samples, args.repeats)
        print(f"\n{name}: B=8, n_samples={args.n_samples}, {device}")
        for k, v in report[name]["times"].items():
            extra = "  ".join(f"{a} {b:.1f}x" for a, b in v.items() if a != "seconds")
            print(f"  {k:32s} {v['seconds'] * 1e3:10.1f} ms  {extra}")
        print(f"  agreement: {report[name]['agreement']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1, default=float)


def workload(name: str, device: torch.device, n: int, repeats: int) -> dict:
    """Median seconds of every method on one workload, ratios, and the agreement."""
    import captum.attr

    model, x, baselines, mask = {"tabular": tabular, "image": image}[name](device)
    call = {"target": 0, "baselines": baselines, "feature_mask": mask, "n_samples": n}
    native = {"feature_mask": mask, "baselines": baselines}
    lime = torchlime.Lime(model, surrogate="lasso", alpha=0.01, distance="input_cosine",
                          kernel_width=1.0, n_samples=n + 1, fit_original=False,
                          progress=False)  # fmt: skip
    shap_native = torchlime.KernelShap(model, n_samples=n, progress=False)
    ppe = {"perturbations_per_eval": n}
    methods = {
        "captum Lime": lambda: captum.attr.Lime(model).attribute(x, **call),
        "captum Lime (ppe=n)": lambda: captum.attr.Lime(model).attribute(x, **ppe, **call),
        "torchlime.captum Lime": lambda: torchlime.captum.Lime(model).attribute(x, **call),
        "torchlime.Lime": lambda: lime(x, 0, **native),
        "captum KernelShap": lambda: captum.attr.KernelShap(model).attribute(x, **call),
        "captum KernelShap (ppe=n)": lambda: captum.attr.KernelShap(model).attribute(
            x, **ppe, **call
        ),
        "torchlime.captum KernelShap": lambda: torchlime.captum.KernelShap(model).attribute(
            x, **call
        ),
        "torchlime.KernelShap": lambda: shap_native(x, 0, **native),
        "model floor": lambda: floor(model, x, n),
    }
    if name == "tabular" and importlib.util.find_spec("shap") is not None:
        methods["shap KernelExplainer"] = _shap(model, x, baselines, n)
    times = interleaved(methods, device, repeats)
    rows = {k: {"seconds": t} for k, t in times.items()}
    for family in ("Lime", "KernelShap"):
        ours = times[f"torchlime.captum {family}"]
        rows[f"torchlime.captum {family}"].update(
            vs_captum=times[f"captum {family}"] / ours,
            vs_captum_best=times[f"captum {family} (ppe=n)"] / ours,
            vs_floor=ours / times["model floor"],
        )
    if "shap KernelExplainer" in times:
        rows["torchlime.KernelShap"]["vs_shap"] = (
            times["shap KernelExplainer"] / times["torchlime.KernelShap"]
        )
    return {"times": rows, "agreement": _agreement(model, x, call)}


def _shap(model: nn.Module, x: torch.Tensor, baselines: torch.Tensor, n: int):
    import shap

    def f(rows: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return (
                model(torch.as_tensor(rows, dtype=torch.float32, device=x.device))[:, 0]
                .cpu()
                .numpy()
            )

    explainer = shap.KernelExplainer(f, baselines.cpu().numpy())
    rows = x.cpu().numpy()
    return lambda: [explainer.shap_values(r[None], nsamples=n, silent=True) for r in rows]


def _agreement(model: nn.Module, x: torch.Tensor, call: dict) -> dict[str, float]:
    """max |a - b| / max |b|: torchlime.captum vs captum (seed 0), captum seed 0 vs seed 1."""
    import captum.attr

    def captum_lime(seed: int) -> torch.Tensor:
        torch.manual_seed(seed)
        return captum.attr.Lime(model).attribute(x, return_input_shape=False, **call)

    theirs, other = captum_lime(0), captum_lime(1)
    torch.manual_seed(0)
    ours = torchlime.captum.Lime(model).attribute(x, return_input_shape=False, **call)
    scale = theirs.abs().max()
    return {
        "lime_vs_captum_same_seed": float((ours - theirs).abs().max() / scale),
        "captum_seed0_vs_seed1": float((other - theirs).abs().max() / scale),
    }


if __name__ == "__main__":
    main()
