"""Put an explanation in the loss: train a CNN away from a shortcut with a LIME penalty.

Synthetic task: a 16x16 image holds a square whose tint gives the class, and a bold
3x3 corner marker that agrees with the class in 95% of the training images: a shortcut.
Each step explains a few training images with torchlime in differentiable mode and
penalises the surrogate weights of superpixels outside the square, so the gradient flows
from the explanation into the model's weights. The model is trained first without,
then with the penalty: the penalty falls to a fraction of its value while the model keeps
classifying images whose marker is hidden, i.e. from the square. What the penalty cannot
see it cannot remove: LIME measures what hiding a region does, not what a contradicting
marker would do.

Run: ``python examples/explanation_regularised.py [--steps 150] [--n-samples 32]``
"""

# %%
from __future__ import annotations

import argparse

import torch
from torch import nn

import torchlime

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--steps", type=int, default=200)
parser.add_argument("--n-samples", type=int, default=32)
parser.add_argument("--penalty", type=float, default=1.0, help="weight of the LIME term")
args = parser.parse_args()


# %% Data: the square carries the label; the corner marker is a shortcut.
def make_batch(n: int, marker_agrees: float, g: torch.Generator):
    y = torch.randint(0, 2, (n,), generator=g)
    x = 0.3 * torch.rand(n, 3, 16, 16, generator=g)
    top, left = torch.randint(4, 11, (2, n, 1, 1), generator=g)
    rows, cols = torch.arange(16)[:, None], torch.arange(16)[None, :]
    obj = (rows >= top) & (rows < top + 5) & (cols >= left) & (cols < left + 5)  # (n, 16, 16)
    tint = torch.stack([0.55 - 0.1 * y, 0.45 + 0.1 * y, torch.full((n,), 0.3)], 1)
    x = torch.where(obj[:, None], tint[..., None, None], x)
    marker = torch.where(torch.rand(n, generator=g) < marker_agrees, y, 1 - y)
    x[:, :, :3, :3] = torch.stack([1.0 - marker, marker.float(), torch.zeros(n)], 1)[
        ..., None, None
    ]
    return x, y, obj


cells = torchlime.Grid(4, 4)(torch.zeros(1, 3, 16, 16))[0].flatten()  # cell id of each pixel


def outside(obj: torch.Tensor) -> torch.Tensor:
    """(n, 16) True for the grid cells that do not touch the square."""
    touched = torch.zeros(len(obj), 16).index_add_(1, cells, obj.flatten(1).float())
    return touched == 0


torch.manual_seed(0)  # the script's own initial weights (the library never seeds globally)
model = nn.Sequential(
    nn.Conv2d(3, 16, 3, padding=1),
    nn.ReLU(),
    nn.MaxPool2d(2),
    nn.Conv2d(16, 16, 3, padding=1),
    nn.ReLU(),
    nn.AdaptiveMaxPool2d(1),
    nn.Flatten(),
    nn.Linear(16, 2),
)
explainer = torchlime.LimeImage(
    model,
    segmenter=torchlime.Grid(4, 4),
    n_samples=args.n_samples,
    baseline=0.0,
    output="log_softmax",
    progress=False,  # log-probabilities: saturation hides nothing
)
optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
g = torch.Generator().manual_seed(1)
test_x, test_y, _ = make_batch(1000, marker_agrees=1.0, g=g)
test_x[:, :, :3, :3] = 0.0  # the marker hidden: only the square can tell the class


def step(penalty_weight: float, seed: int) -> float:
    """One training step on 64 images; returns the LIME penalty of 8 of them."""
    x, y, obj = make_batch(64, marker_agrees=0.95, g=g)
    loss = nn.functional.cross_entropy(model(x), y)
    # The graph runs from the model's weights through 8 explanations to their coefficients.
    exp = explainer(
        x[:8],
        y[:8],
        differentiable=penalty_weight > 0,
        generator=torch.Generator().manual_seed(seed),
    )
    penalty = (exp.coef[:, 0] ** 2 * outside(obj[:8])).sum(1).mean()
    optimiser.zero_grad()
    (loss + penalty_weight * penalty).backward()
    optimiser.step()
    return penalty.item()


def accuracy() -> float:
    with torch.no_grad():
        return (model(test_x).argmax(1) == test_y).float().mean().item()


# %% Phase 1: plain training picks up the shortcut. Phase 2: the LIME penalty removes it.
half = args.steps // 2
plain = [step(0.0, seed) for seed in range(half)]
print(
    f"plain training, {half} steps: accuracy with the marker hidden {accuracy():.2f}, "
    f"LIME penalty {sum(plain[-10:]) / 10:.5f}"
)
print(f"{'step':>6}{'LIME penalty':>14}{'acc, marker hidden':>20}")
penalised = []
for seed in range(half, args.steps):
    penalised.append(step(args.penalty, seed))
    if (seed - half + 1) % max(half // 5, 1) == 0:
        recent = sum(penalised[-10:]) / len(penalised[-10:])
        print(f"{seed + 1:>6}{recent:>14.5f}{accuracy():>20.2f}")
start, end = sum(plain[-10:]) / 10, sum(penalised[-10:]) / 10
print(f"\nthe LIME penalty fell from {start:.5f} to {end:.5f} ({end / start:.0%} of it)")
