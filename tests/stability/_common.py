"""Helpers shared by the stability tests: seeded generators, LIME-like problems, images."""

import numpy as np
import torch
from torch import nn

from torchlime.functional import lime_kernel, sample_masks


def _g(seed=0, device="cpu"):
    return torch.Generator(device=device).manual_seed(seed)


def _problem(b=2, n=150, k=6, t=2, seed=0):
    """LIME-like samples: binary masks, lime's weights, nonlinear scores of the masks."""
    g = _g(seed)
    masks = sample_masks(b, n, k, generator=g)
    weight = lime_kernel(masks, dtype=torch.float64)
    z = masks.double()
    proj = torch.randn(b, k, t, generator=g, dtype=torch.float64)
    y = torch.tanh(z @ proj / k**0.5) + 0.3 * z[..., :1] * z[..., 1:2]
    y = y + 0.05 * torch.randn(b, n, t, generator=g, dtype=torch.float64)
    return masks, y, weight


def _top_set(c, k, k_b):
    order = np.argsort(-np.abs(c[:k_b]), kind="stable")
    return set(order[:k].tolist())


def _images(b=2, size=24, seed=0):
    g = _g(seed)
    base = torch.rand(b, 3, 4, 4, generator=g)
    x = nn.functional.interpolate(base, size=(size, size), mode="bilinear", align_corners=False)
    return (x + 0.05 * torch.rand(b, 3, size, size, generator=g)).clamp(0, 1)
