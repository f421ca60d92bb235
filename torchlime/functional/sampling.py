"""Interpretable samples: which features are kept in each perturbation."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["sample_masks"]


def sample_masks(
    batch: int,
    n_samples: int,
    n_features: int,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Draw lime's perturbation masks: i.i.d. Bernoulli(0.5), the first row all ones.

    Row 0 of every example is the original input (every feature kept), as in lime.

    Args:
        batch: B, the number of examples.
        n_samples: N >= 1, samples per example (row 0 included).
        n_features: K >= 1, interpretable features per example (pad to the largest K_b;
            the surrogate ignores padded columns).
        generator: the source of randomness; must live on ``device``. ``None`` draws a
            fresh seed from the operating system (never the global RNG).
        device: where the masks are made; defaults to the generator's device, else CPU.

    Returns:
        (B, N, K) bool. True where a feature is kept.

    Raises:
        ValueError: for non-positive sizes or a generator on another device.

    Example:
        >>> masks = sample_masks(2, 4, 3, generator=torch.Generator().manual_seed(0))
        >>> masks.shape, bool(masks[:, 0].all())
        (torch.Size([2, 4, 3]), True)
    """
    if batch < 0 or n_samples < 1 or n_features < 1:
        raise ValueError(
            "sample_masks needs batch >= 0, n_samples >= 1 and n_features >= 1; "
            f"got batch={batch}, n_samples={n_samples}, n_features={n_features}"
        )
    generator, device = _generator_for(generator, device)
    masks = torch.rand(batch, n_samples, n_features, generator=generator, device=device) < 0.5
    masks[:, 0] = True
    return masks


def _generator_for(
    generator: torch.Generator | None, device: torch.device | str | None
) -> tuple[torch.Generator, torch.device]:
    """Resolve a (generator, device) pair, making a freshly seeded generator when none is given."""
    if generator is None:
        device = torch.device("cpu" if device is None else device)
        generator = torch.Generator(device=device)
        generator.seed()
        return generator, device
    device = generator.device if device is None else torch.device(device)
    if _device_type(generator.device) != _device_type(device):
        raise ValueError(
            f"generator lives on {generator.device} but the samples are made on {device}; "
            f"pass torch.Generator(device={str(device)!r})"
        )
    return generator, device


def _device_type(device: torch.device | str) -> str:
    return torch.device(device).type
