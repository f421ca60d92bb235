"""Randomness for the whole package: generator resolution and random subsets.

Every random function takes ``generator=``; nothing here or anywhere else in torchlime
draws from the global RNG.
"""

from __future__ import annotations

import secrets

import torch
from torch import Tensor

__all__ = ["new_generator", "random_ranks", "resolve_generator"]


def resolve_generator(
    generator: torch.Generator | int | None, device: torch.device | str | None
) -> tuple[torch.Generator, torch.device]:
    """The (generator, device) a random function uses: every module resolves it here.

    ``None`` makes a generator on ``device`` (CPU by default) seeded by the operating system,
    never from the global RNG; an int seeds a new generator on ``device``; a given generator
    must live on ``device``'s type.
    """
    if generator is None or isinstance(generator, int):
        device = torch.device("cpu" if device is None else device)
        seed = secrets.randbits(63) if generator is None else _seed(generator)
        return torch.Generator(device=device).manual_seed(seed), device
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator, an int seed or None; got "
            f"{type(generator).__name__}"
        )
    device = generator.device if device is None else torch.device(device)
    if generator.device.type != device.type:
        raise ValueError(
            f"generator lives on {generator.device} but the data is on {device}; "
            f"pass torch.Generator(device={str(device)!r})"
        )
    return generator, device


def new_generator(
    generator: torch.Generator | int | None, device: torch.device
) -> tuple[torch.Generator, int]:
    """An explainer call's generator and the seed to record (-1 for a caller's generator).

    Args:
        generator: None (a fresh seed from the operating system), an int seed, or a
            ``torch.Generator`` on ``device``'s type (its seed is unknown: -1).
        device: where the call's tensors live.

    Returns:
        The generator and the seed that replays the call.
    """
    if isinstance(generator, torch.Generator):
        return resolve_generator(generator, device)[0], -1
    seed = secrets.randbits(63) if generator is None else _seed(generator)
    return torch.Generator(device=device).manual_seed(seed), seed


def _seed(seed: int) -> int:
    if isinstance(seed, bool) or not 0 <= seed < 2**63:  # recorded in an int64 tensor
        raise ValueError(f"a generator seed must be an int in [0, 2**63); got {seed!r}")
    return int(seed)


def random_ranks(
    batch: int,
    rows: int,
    n_features: int,
    n_valid: Tensor,
    generator: torch.Generator,
    *,
    shared: bool = False,
) -> Tensor:
    """A uniformly random order of each row's real features: (B, M, K) int64 ranks.

    Column ``j < n_valid[b]`` gets its position in a random permutation of the real
    columns; padding columns rank last. ``rank < s`` is then a uniform random subset of
    size ``s`` (lime's ``choice(K_b, s, replace=False)``). One sort, no loop over rows.
    With ``shared`` every example reads the same random keys (common random numbers): each
    still gets a uniform order of its own real features.
    """
    device = n_valid.device
    keys = torch.rand(1 if shared else batch, rows, n_features, generator=generator, device=device)
    padded = torch.arange(n_features, device=device) >= n_valid[:, None, None]
    order = keys.expand(batch, -1, -1).masked_fill(padded, 2.0).argsort(-1)  # padding last
    positions = torch.arange(n_features, device=device).expand_as(order)
    return torch.empty_like(order).scatter_(-1, order, positions)
