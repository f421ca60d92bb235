"""Shared benchmark helpers: timing with medians, metadata, photos, table printing."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def interleaved(
    methods: dict[str, Callable[[], Any]], device: torch.device, repeats: int, warmup: bool = True
) -> dict[str, float]:
    """Median seconds per method; methods alternate within each repeat to share the noise."""
    if warmup:
        for fn in methods.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(repeats):
        for name, fn in methods.items():
            times[name].append(timed(fn, device))
    return {name: statistics.median(ts) for name, ts in times.items()}


def metadata(device: torch.device) -> dict[str, Any]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    return {
        "torch": torch.__version__,
        "device": str(device),
        "device_name": name or platform.machine(),
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "commit": commit,
    }


def photos(names: list[str], size: int = 224) -> torch.Tensor:
    """scikit-image sample photos as a (B, 3, size, size) float batch in [0, 1]."""
    import skimage.data

    out = []
    for name in names:
        img = torch.from_numpy(getattr(skimage.data, name)()).permute(2, 0, 1)[None].float() / 255
        out.append(
            nn.functional.interpolate(img, size=(size, size), mode="bilinear", antialias=True)
        )
    return torch.cat(out).clamp(0, 1)


def dump(results: Any, path: str | None) -> None:
    if path:
        with open(path, "w") as f:
            json.dump(results, f, indent=2)


class MeanColour(nn.Module):
    """The trivial model: mean colour -> linear -> 10 logits. Its cost is one read of x."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.fc = nn.Linear(3, 10)
        with torch.no_grad():
            self.fc.weight.copy_(torch.randn(10, 3, generator=g) * 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.mean((-2, -1)))
