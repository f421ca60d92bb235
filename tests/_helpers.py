"""Tolerances and toy models whose right answers are known by construction."""

from __future__ import annotations

import itertools
import math
from typing import Any

import torch
from torch import Tensor, nn

# Relative/absolute tolerances per dtype for comparisons against float64 references.
TOL = {
    torch.float32: {"rtol": 1e-5, "atol": 1e-5},
    torch.float64: {"rtol": 1e-10, "atol": 1e-10},
}


def assert_close(actual: Tensor, expected: Tensor, **kw: float) -> None:
    """``torch.testing.assert_close`` that moves both sides to CPU and ``expected``'s dtype."""
    expected = torch.as_tensor(expected)
    torch.testing.assert_close(actual.detach().cpu().to(expected.dtype), expected.cpu(), **kw)


def assert_relative(actual: Tensor, expected: Tensor, rel: float = 1e-6) -> None:
    """Equal to ``rel`` relative to the largest magnitude of ``expected``."""
    scale = expected.detach().abs().max().item()
    assert_close(actual, expected, rtol=rel, atol=rel * scale)


def generator(seed: int = 0, device: str | torch.device = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def lime_problem(b=2, n=150, k=6, t=2, seed=0):
    """LIME-like samples: binary masks, lime's weights, nonlinear scores of the masks."""
    from torchlime.functional import lime_kernel, sample_masks

    g = generator(seed)
    masks = sample_masks(b, n, k, generator=g)
    weight = lime_kernel(masks, dtype=torch.float64)
    z = masks.double()
    proj = torch.randn(b, k, t, generator=g, dtype=torch.float64)
    y = torch.tanh(z @ proj / k**0.5) + 0.3 * z[..., :1] * z[..., 1:2]
    y = y + 0.05 * torch.randn(b, n, t, generator=g, dtype=torch.float64)
    return masks, y, weight


def smooth_images(b=2, size=24, seed=0):
    """(b, 3, size, size) images in [0, 1]: a 4x4 upsampled pattern and a little noise."""
    g = generator(seed)
    base = torch.rand(b, 3, 4, 4, generator=g)
    x = nn.functional.interpolate(base, size=(size, size), mode="bilinear", align_corners=False)
    return (x + 0.05 * torch.rand(b, 3, size, size, generator=g)).clamp(0, 1)


class RegionMean(nn.Module):
    """Score = mean of channel 0 inside a fixed pixel region: linear in the pixels.

    Output (n, 1); with ``n_outputs > 1`` the other columns are 0.
    """

    def __init__(self, region: Tensor, n_outputs: int = 1) -> None:
        super().__init__()
        self.register_buffer("region", region.float())
        self.n_outputs = n_outputs

    def forward(self, x: Tensor) -> Tensor:
        w = self.region / self.region.sum()
        score = (x[:, 0] * w).sum((-2, -1))
        out = x.new_zeros(x.shape[0], self.n_outputs)
        out[:, 0] = score
        return out


class MeanColourLinear(nn.Module):
    """A trivial image classifier: per-channel mean colour, then a fixed linear layer."""

    def __init__(self, n_channels: int = 3, n_classes: int = 10, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.linear = nn.Linear(n_channels, n_classes)
        with torch.no_grad():
            self.linear.weight.copy_(torch.randn(n_classes, n_channels, generator=g) * 4)
            self.linear.bias.copy_(torch.randn(n_classes, generator=g))

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x.mean((-2, -1)))


class PatchMLP(nn.Module):
    """A small nonlinear classifier on 4x4-pooled pixels, for realistic-looking scores."""

    def __init__(self, n_channels: int = 3, n_classes: int = 10, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.fc1 = nn.Linear(16 * n_channels, 32)
        self.fc2 = nn.Linear(32, n_classes)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 2 / p.shape[-1] ** 0.5)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(torch.tanh(self.fc1(self.pool(x).flatten(1))))


class RegionOracle(nn.Module):
    """Scores (mean of channel 0 over the pixels of ``region``, 1 - that): (n, 2).

    Only that region matters, so a deletion or insertion curve is known by construction.
    """

    def __init__(self, region: Tensor) -> None:
        super().__init__()
        self.register_buffer("region", region.float())

    def forward(self, x: Tensor) -> Tensor:
        score = (x[:, 0] * self.region).sum((-2, -1)) / self.region.sum()
        return torch.stack([score, 1 - score], -1)


def exact_shapley(value: Any, k: int) -> list[float]:
    """Shapley values by their definition: every coalition, its factorial share.

    ``value(coalition)`` takes a list of k bools and returns the coalition's worth.
    """
    phi = [0.0] * k
    for i in range(k):
        for subset in itertools.product([False, True], repeat=k):
            if subset[i]:
                continue
            with_i = list(subset)
            with_i[i] = True
            r = sum(subset)
            share = math.factorial(r) * math.factorial(k - r - 1) / math.factorial(k)
            phi[i] += share * (value(with_i) - value(list(subset)))
    return phi
