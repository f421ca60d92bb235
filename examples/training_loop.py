"""Watch explanations change while a model trains: every k steps, explain a fixed batch.

A small CNN learns to tell a red square from a green one on noise. Every ``--every``
steps torchlime explains the same four images (one batched call, fixed seed, the model
borrowed in eval mode and handed back in training mode) and logs the attribution maps:
to TensorBoard when it is installed, else as PNG files under out/training_loop/.

Run: ``python examples/training_loop.py [--steps 60] [--every 20] [--n-samples 64]``
"""

# %%
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn

import torchlime

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--steps", type=int, default=60)
parser.add_argument("--every", type=int, default=20)
parser.add_argument("--n-samples", type=int, default=64)
parser.add_argument("--out", type=Path, default=Path("out/training_loop"))
args = parser.parse_args()
g = torch.Generator().manual_seed(0)


def make_batch(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    y = torch.randint(0, 2, (n,), generator=g)
    x = 0.3 * torch.rand(n, 3, 32, 32, generator=g)
    top, left = torch.randint(0, 22, (2, n, 1, 1), generator=g)
    rows, cols = torch.arange(32)[:, None], torch.arange(32)[None, :]
    square = (rows >= top) & (rows < top + 10) & (cols >= left) & (cols < left + 10)
    colour = torch.stack([1.0 - y, y.float(), torch.zeros(n)], 1)[..., None, None]
    return torch.where(square[:, None], colour, x), y


# %% Logging: TensorBoard if available, PNG otherwise.
try:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(args.out))
except ImportError:  # tensorboard is optional
    writer = None


def log_maps(exp: torchlime.ImageExplanation, x: torch.Tensor, step: int) -> None:
    maps = exp.attributions[:, 0]  # (4, H, W) weight of each pixel's superpixel
    scale = maps.abs().amax((1, 2), keepdim=True).clamp(min=1e-8)
    heat = torch.stack([maps.clamp(min=0), torch.zeros_like(maps), (-maps).clamp(min=0)], 1)
    if writer is not None:
        writer.add_images("lime/attributions", heat / scale[:, None], step)
        writer.add_scalar("lime/surrogate_r2", exp.score.mean(), step)
        return
    from torchlime.plot import save_image_figure

    for i in range(len(x)):
        save_image_figure(
            exp,
            x,
            args.out / f"step{step:04d}_image{i}.png",
            index=i,
            k=3,
            title=f"step {step}, image {i}",
        )


# %% Train, explaining a fixed batch every k steps.
model = nn.Sequential(
    nn.Conv2d(3, 8, 3, padding=1),
    nn.ReLU(),
    nn.MaxPool2d(2),
    nn.Conv2d(8, 8, 3, padding=1),
    nn.ReLU(),
    nn.AdaptiveAvgPool2d(1),
    nn.Flatten(),
    nn.Linear(8, 2),
)
optimiser = torch.optim.SGD(model.parameters(), lr=0.5)
explainer = torchlime.LimeImage(
    model, segmenter=torchlime.Grid(4, 4), n_samples=args.n_samples, progress=False
)
fixed_x, fixed_y = make_batch(4)
for step in range(1, args.steps + 1):
    x, y = make_batch(32)
    loss = nn.functional.cross_entropy(model(x), y)
    optimiser.zero_grad()
    loss.backward()
    optimiser.step()
    if step % args.every == 0:
        exp = explainer(fixed_x, fixed_y, generator=torch.Generator().manual_seed(0))
        assert model.training  # handed back exactly as found
        log_maps(exp, fixed_x, step)
        where = "TensorBoard" if writer is not None else str(args.out)
        print(
            f"step {step:4d}  loss {loss.item():.3f}  surrogate R² "
            f"{exp.score.mean().item():.2f}  maps logged to {where}"
        )
