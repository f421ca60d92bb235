"""Explaining a whole dataset: shards on disk, resumable, split across ranks, any modality.

Each shard of consecutive items is explained in one call with its own generator seed,
derived from the run's seed and the shard's index: the result does not depend on how many
processes run, nor in what order. Under ``torchrun`` (``torch.distributed`` initialised)
rank ``r`` of ``w`` takes shards ``r, r + w, ...``; shards already on disk are skipped, so
an interrupted run resumes where it stopped. Shards of different feature counts, sequence
lengths or image sizes concatenate, padded as each field declares
(:meth:`~torchlime.Explanation.concat`); the index records the explainer's recipe.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from torchlime._engine import Progress
from torchlime.explanation import Explanation

__all__ = ["explain_dataset", "load_shards", "submodular_pick"]

INDEX = "index.json"


def explain_dataset(
    explainer: Callable[..., Explanation],
    dataset: Sequence[Any],
    out_dir: str | os.PathLike[str],
    *,
    shard_size: int = 32,
    seed: int = 0,
    device: torch.device | str | None = None,
    transform: Callable[[Any], Tensor] | None = None,
    progress: bool | None = None,
    **explain_kwargs: Any,
) -> Path:
    """Explain every item of ``dataset`` and write the explanations as shards under ``out_dir``.

    Args:
        explainer: a torchlime explainer (``LimeImage``, ...), called as
            ``explainer(x, generator=g, **explain_kwargs)`` on a stacked shard.
        dataset: a map-style dataset (``len`` and integer indexing); an item is the input
            tensor, a tuple whose first element is (``transform`` picks otherwise), or a
            mapping of the explainer's inputs by name (``{"input_ids": ...,
            "attention_mask": ...}`` for :class:`~torchlime.LimeText`: sequences of
            different lengths are right-padded with 0, and need an ``attention_mask``).
        out_dir: folder for ``shard-00000.pt``, ... and ``index.json``.
        shard_size: items per shard (and per explainer call).
        seed: the run's seed; shard ``i`` uses ``seed * 1_000_003 + i``.
        device: where inputs are moved (default: the explainer's parameters' device, else
            ``cuda:<local rank>`` under torch.distributed with CUDA, else CPU).
        transform: maps a dataset item to the input tensor.
        progress: progress bar over shards (None: only on a terminal, rank 0).
        **explain_kwargs: passed to every explainer call (``top_labels=3``, ...).

    Returns:
        The path of ``index.json`` (written by rank 0 once every rank is done).

    Example:
        >>> import tempfile
        >>> from torch import nn
        >>> import torchlime
        >>> model = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 2))
        >>> explainer = torchlime.LimeImage(model, n_samples=16, progress=False)
        >>> data = [torch.rand(3, 8, 8) for _ in range(5)]
        >>> with tempfile.TemporaryDirectory() as d:
        ...     index = explain_dataset(explainer, data, d, shard_size=2)
        ...     load_shards(index).coef.shape
        torch.Size([5, 1, 64])
    """
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1; got {shard_size}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rank, world = _rank_and_world()
    device = torch.device(device) if device is not None else _default_device(explainer, rank)
    n_items = len(dataset)
    n_shards = -(-n_items // shard_size)
    mine = range(rank, n_shards, world)
    bar = Progress(len(mine), progress if rank == 0 else False, desc=f"shards (rank {rank})")
    pick = transform or (lambda item: item[0] if isinstance(item, (tuple, list)) else item)
    for shard in mine:
        path = out / _shard_name(shard)
        if not path.exists():
            start, stop = shard * shard_size, min((shard + 1) * shard_size, n_items)
            inputs = _stack([pick(dataset[i]) for i in range(start, stop)], device)
            generator = torch.Generator(device=device).manual_seed(seed * 1_000_003 + shard)
            if isinstance(inputs, dict):
                exp = explainer(**inputs, generator=generator, **explain_kwargs)
            else:
                exp = explainer(inputs, generator=generator, **explain_kwargs)
            tmp = path.with_suffix(f".tmp{rank}")
            exp.save(tmp)
            os.replace(tmp, path)  # atomic: a shard on disk is always complete
        bar.update(1)
    if world > 1:
        torch.distributed.barrier()
    index = out / INDEX
    if rank == 0:
        shards = [
            {
                "file": _shard_name(i),
                "start": i * shard_size,
                "stop": min((i + 1) * shard_size, n_items),
            }
            for i in range(n_shards)
        ]
        recipe = explainer.recipe() if hasattr(explainer, "recipe") else {}
        meta = {
            "n_items": n_items,
            "shard_size": shard_size,
            "seed": seed,
            "config": recipe,
            "shards": shards,
        }
        index.write_text(json.dumps(meta, indent=1))
    if world > 1:
        torch.distributed.barrier()
    return index


def load_shards(index: str | os.PathLike[str], map_location: Any = "cpu") -> Explanation:
    """Concatenate the shards listed in ``index.json`` into one explanation (B = all items).

    Examples with different feature counts, sequence lengths or image sizes are padded as
    each field declares (coefficient 0, never selected; see
    :meth:`~torchlime.Explanation.concat`), as within one call.

    Args:
        index: the path :func:`explain_dataset` returned.
        map_location: where the tensors are loaded (CPU by default).

    Returns:
        one :class:`~torchlime.Explanation` of every item, in dataset order.
    """
    index = Path(index)
    meta = json.loads(index.read_text())
    parts = [
        Explanation.load(index.parent / s["file"], map_location=map_location)
        for s in meta["shards"]
    ]
    if not parts:
        raise ValueError(f"{index} lists no shards")
    return Explanation.concat(parts)


def submodular_pick(importance: Tensor, budget: int) -> Tensor:
    """SP-LIME: pick ``budget`` explanations that together cover the most important features.

    lime's greedy algorithm: feature ``j`` has global importance ``sqrt(Σ_i |W_ij|)``;
    repeatedly add the explanation whose features add the most uncovered importance (ties
    go to the later explanation, as lime's ``>=`` does).

    Args:
        importance: (B, D) feature weights of B explanations over D shared features (e.g.
            ``coef.sum(1)`` of a tabular or text explanation, summed over targets as lime
            does: columns or vocabulary); the absolute value is taken here.
        budget: how many explanations to pick.

    Returns:
        (min(budget, B),) int64 indices, in the order they were picked.

    Example:
        >>> W = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 4.0]])
        >>> submodular_pick(W, 2).tolist()
        [1, 2]
    """
    if importance.ndim != 2:
        raise ValueError(f"importance must be (B, D); got shape {tuple(importance.shape)}")
    weights = importance.abs()
    global_importance = weights.sum(0).sqrt()  # (D,)
    uses = weights > 0  # (B, D)
    covered = torch.zeros_like(uses[0])
    taken = torch.zeros_like(uses[:, 0])
    picks = []
    for _ in range(min(budget, weights.shape[0])):
        gain = ((uses & ~covered) * global_importance).sum(1)
        gain = torch.where(taken, -1.0, gain)
        best = len(gain) - 1 - gain.flip(0).argmax()  # the last maximum, as lime
        picks.append(best)
        taken = taken | (torch.arange(len(taken), device=taken.device) == best)
        covered = covered | uses[best]
    if not picks:
        return torch.zeros(0, dtype=torch.long, device=importance.device)
    return torch.stack(picks)


def _shard_name(i: int) -> str:
    return f"shard-{i:05d}.pt"


def _rank_and_world() -> tuple[int, int]:
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _default_device(explainer: Any, rank: int) -> torch.device:
    params = explainer.parameters() if hasattr(explainer, "parameters") else iter(())
    buffers = explainer.buffers() if hasattr(explainer, "buffers") else iter(())
    first = next(iter(params), None)
    first = next(iter(buffers), None) if first is None else first
    if first is not None:
        return first.device
    distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    if distributed and torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)))
    return torch.device("cpu")


def _stack(items: list[Any], device: torch.device) -> Any:
    """A shard's inputs: stacked tensors, or a dict of them for mapping items (0-padded)."""
    if not isinstance(items[0], dict):
        return torch.stack(items).to(device)
    keys = list(items[0])
    longest = [max(item[key].shape[-1] for item in items) for key in keys]
    ragged = any(item[key].shape[-1] != n for key, n in zip(keys, longest, strict=True)
                 for item in items)  # fmt: skip
    if ragged and "attention_mask" not in keys:
        raise ValueError(
            "dataset items of different lengths need an 'attention_mask' (0 on padding); "
            f"got keys {keys}"
        )
    return {
        key: torch.stack(
            [torch.nn.functional.pad(item[key], (0, n - item[key].shape[-1])) for item in items]
        ).to(device)
        for key, n in zip(keys, longest, strict=True)
    }
