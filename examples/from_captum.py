"""From captum to torchlime: the same attribution, one import changed, and the speed-up.

A small CNN classifies eight photos (scikit-image's bundled samples, 64x64); both
libraries explain its class 0 with LIME over 8x8 patches and with KernelSHAP, using
captum's call exactly as a captum user writes it. torchlime.captum runs it batched
(every photo and every perturbation together, the surrogate solved as tensors); captum
loops over photos and perturbations. The script prints both timings and how far apart
the attributions are, next to how far apart two captum runs with different seeds are.

Run: ``python examples/from_captum.py [--n-samples N]`` (needs captum installed).
"""

# %%
from __future__ import annotations

import argparse
import time
import warnings

import torch
from skimage import data
from torch import nn

import torchlime.captum  # the one line that changes: was `import captum.attr`

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--n-samples", type=int, default=300, help="perturbations per photo")
args = parser.parse_args()
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
warnings.filterwarnings("ignore", message="You are providing multiple inputs")

# %% Eight photos, a small CNN (fixed random weights: any model will do), 64 patches.
names = ["astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "retina",
         "hubble_deep_field", "logo"]  # fmt: skip
photos = [torch.tensor(getattr(data, n)()[..., :3]).permute(2, 0, 1)[None] for n in names]
x = torch.cat([nn.functional.interpolate(p.float() / 255, size=(32, 32)) for p in photos])
model = nn.Sequential(
    nn.Conv2d(3, 8, 4, stride=4), nn.ReLU(), nn.Conv2d(8, 16, 2, stride=2), nn.ReLU(),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10),
).eval()  # fmt: skip
g = torch.Generator().manual_seed(0)
for p in model.parameters():
    nn.init.normal_(p, std=0.5, generator=g)
patches = torch.arange(64).reshape(8, 8).repeat_interleave(4, 0).repeat_interleave(4, 1)
model, x, patches = model.to(device), x.to(device), patches[None, None].to(device)
call = {"target": 0, "feature_mask": patches, "n_samples": args.n_samples}


# %% The same call on both: captum's Lime and KernelShap, then torchlime.captum's.
def run(module, cls: str, seed: int = 0) -> tuple[torch.Tensor, float]:
    getattr(module, cls)(model).attribute(x, **{**call, "n_samples": 8})  # warm-up
    torch.manual_seed(seed)  # captum draws from here; torchlime.captum reads this seed
    start = time.perf_counter()
    attr = getattr(module, cls)(model).attribute(x, **call)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return attr, time.perf_counter() - start


try:
    import captum.attr
except ImportError:
    captum = None
    print("captum is not installed: torchlime.captum only")


def gap(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


for cls in ("Lime", "KernelShap"):
    ours, t_ours = run(torchlime.captum, cls)
    print(f"{cls}: torchlime.captum {t_ours * 1e3:.1f} ms, attributions {tuple(ours.shape)}")
    if captum is not None:
        theirs, t_theirs = run(captum.attr, cls)
        other, _ = run(captum.attr, cls, seed=1)
        print(f"{'':{len(cls)}}  captum {t_theirs * 1e3:.1f} ms: {t_theirs / t_ours:.1f}x slower")
        print(
            f"{'':{len(cls)}}  largest difference from captum: {gap(ours, theirs):.1e} of its"
            f" largest attribution (captum against itself, seed 1: {gap(other, theirs):.1e})"
        )
