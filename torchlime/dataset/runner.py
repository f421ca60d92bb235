"""explain_dataset and load_shards: shards of a dataset explained, resumable, across ranks."""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor

from torchlime._engine import Progress
from torchlime.dataset.files import (
    INDEX,
    Missing,
    acquire_lock,
    layout,
    plain,
    read_index,
    read_regular,
    refuse,
    start_index,
    strip_recipe,
    verify_shard,
    write_atomic,
    write_index,
)
from torchlime.explanation import Explanation

__all__ = ["explain_dataset", "load_shards"]


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

    Run it again with the same settings to resume: the shards that check out are kept, the
    others explained again (a warning names each file found wrong, and why).

    Args:
        explainer: a torchlime explainer (``LimeImage``, ...), called as
            ``explainer(x, generator=g, **explain_kwargs)`` on a stacked shard (any callable
            returning an :class:`~torchlime.Explanation`: its explanations tell the recipe).
        dataset: a map-style dataset (``len`` and integer indexing); an item is the input
            tensor (one shape within a shard), a tuple whose first element is
            (``transform`` picks otherwise), or a mapping of the explainer's inputs by
            name (``{"input_ids": ..., "attention_mask": ...}`` for
            :class:`~torchlime.LimeText`: sequences of different lengths are right-padded
            (``pad_id``, mask 0, ``word_ids`` -1) and need an ``attention_mask``).
        out_dir: folder for ``shard-00000.pt``, ..., ``index.json`` and the run's ``.lock``.
        shard_size: items per shard (and per explainer call).
        seed: the run's seed; shard ``i`` uses ``seed * 1_000_003 + i``.
        device: where inputs are moved (default: the explainer's parameters' device, else
            ``cuda:<local rank>`` under torch.distributed with CUDA, else CPU).
        transform: maps a dataset item to the input tensor (or to a tuple of tensors, the
            several inputs of :class:`~torchlime.Lime`).
        progress: progress bar over shards (None: only on a terminal, rank 0).
        **explain_kwargs: passed to every explainer call (``top_labels=3``, ...).

    Returns:
        The path of ``index.json`` (complete once every rank is done).

    Raises:
        ValueError: for a folder of a run with other settings (naming each key that
            differs, with its old and new value), or items that cannot be batched.
        RuntimeError: when another run holds the folder's lock, or under ``torchrun``
            without ``torch.distributed.init_process_group``.
        OSError: when the disk is full (saying so, and naming the file).

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
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise ValueError(f"shard_size must be an int >= 1; got {shard_size!r}")
    rank, world = _rank_and_world()
    out = Path(out_dir)
    device = torch.device(device) if device is not None else _default_device(explainer, rank)
    learn = not callable(getattr(explainer, "recipe", None))  # from its explanations
    recipe = {
        "explainer": None if learn else strip_recipe(cast(Any, explainer).recipe()),
        "seed": seed,
    }
    recipe |= {"shard_size": shard_size, "n_items": len(dataset), "explain_kwargs": explain_kwargs}
    recipe = plain(recipe)
    lock: tuple[Path, str] | None = None
    try:
        state: list[Any] = [None, recipe, layout(len(dataset), shard_size)]
        failure: BaseException | None = None
        if rank == 0:
            try:
                out.mkdir(parents=True, exist_ok=True)
                lock = acquire_lock(out)
                state[1:] = start_index(out, recipe, state[2])
            except Exception as error:  # every rank hears of it, none waits forever
                failure, state[0] = error, f"{type(error).__name__}: {error}"
        if world > 1:
            torch.distributed.broadcast_object_list(state, src=0)
        if failure is not None or state[0] is not None:
            raise failure or RuntimeError(f"rank 0 could not start the run in {out}: {state[0]}")
        recipe, entries = state[1:]
        mine = range(rank, len(entries), world)
        bar = Progress(len(mine), progress if rank == 0 else False, desc=f"shards (rank {rank})")
        pick = transform or (lambda item: item[0] if isinstance(item, (tuple, list)) else item)
        sums: dict[int, dict[str, Any]] = {}  # shard -> its sha256 and bytes
        for shard in mine:
            entry = entries[shard]
            path, start, stop = out / entry["file"], entry["start"], entry["stop"]
            try:
                _, sums[shard], found = verify_shard(path, entry, recipe, shard)
                recipe["explainer"] = recipe["explainer"] or found.get("explainer")
                bar.update(1)
                continue
            except Missing:
                pass
            except ValueError as error:
                warnings.warn(f"{error}: explaining its items again", stacklevel=2)
            items = [pick(dataset[i]) for i in range(start, stop)]
            inputs = _stack(items, device, start, getattr(explainer, "pad_id", 0))
            generator = torch.Generator(device=device).manual_seed(seed * 1_000_003 + shard)
            args, kw = ((), inputs) if isinstance(inputs, dict) else ((inputs,), {})
            exp = explainer(*args, **kw, generator=generator, **explain_kwargs)
            if not isinstance(exp, Explanation) or len(exp) != stop - start:
                got = len(exp) if isinstance(exp, Explanation) else type(exp).__name__
                raise ValueError(f"the explainer returned {got} for items {start}..{stop - 1}")
            if learn:  # its explanations tell its recipe
                made = plain(strip_recipe(exp.config))
                refuse(out, {"explainer": recipe["explainer"]}, {"explainer": made})
                recipe["explainer"] = made
            buffer, meta = io.BytesIO(), {"recipe": recipe, "shard": shard, "start": start}
            exp.save(buffer, metadata={**meta, "stop": stop})
            sums[shard] = write_atomic(path, buffer.getvalue())
            bar.update(1)
        if world > 1:
            torch.distributed.barrier()
        if rank == 0:
            for shard, entry in enumerate(entries):  # other ranks' shards, checked here
                if shard not in sums:
                    _, sums[shard], found = verify_shard(out / entry["file"], entry, recipe, shard)
                    recipe["explainer"] = recipe["explainer"] or found.get("explainer")
            done = [{**entry, **sums[i]} for i, entry in enumerate(entries)]
            write_index(out, "complete", recipe, done)
    finally:
        with contextlib.suppress(ValueError, OSError):  # ours only (a token in it)
            if lock and json.loads(read_regular(lock[0])).get("token") == lock[1]:
                lock[0].unlink()
    if world > 1:
        torch.distributed.barrier()
    return out / INDEX


def load_shards(
    index: str | os.PathLike[str], map_location: Any = "cpu", *, allow_incomplete: bool = False
) -> Explanation:
    """Concatenate the shards listed in ``index.json`` into one explanation (B = all items).

    Every shard is checked against the index: a regular file of the listed size and
    sha256, holding the explanations of the listed items, made with the run's recipe.
    Different feature counts, sequence lengths or image sizes are padded as each field
    declares (:meth:`~torchlime.Explanation.concat`), as within one call.

    Args:
        index: the path :func:`explain_dataset` returned.
        map_location: where the tensors are loaded (CPU by default).
        allow_incomplete: load the shards that exist and check out, of a run still running
            or interrupted (a warning names those left out, whose items the result lacks).

    Returns:
        one :class:`~torchlime.Explanation` of every item, in dataset order.

    Raises:
        ValueError: for an incomplete run, or a shard that is missing, not a regular file,
            truncated, changed or of another run (naming the file and what is wrong).
    """
    index = Path(index)
    meta = read_index(index)
    if meta is None:
        raise FileNotFoundError(errno.ENOENT, "no index of explain_dataset", str(index))
    recipe = meta["recipe"]
    if meta.get("status") != "complete" and not allow_incomplete:
        raise ValueError(
            f"{index} is of an incomplete run (status {meta.get('status')!r}): resume it, or "
            "pass allow_incomplete=True to load the shards that are done"
        )
    entries: Any = meta.get("shards")
    try:
        planned = [(*s.values(),) for s in layout(recipe["n_items"], recipe["shard_size"])]
        ok = [(s["file"], s["start"], s["stop"]) for s in entries] == planned
    except (TypeError, ValueError, KeyError):
        ok = False
    if not ok:
        raise ValueError(f"{index} does not list the shards of its run: edited or corrupt")
    parts, left_out = [], []
    for shard, entry in enumerate(entries):
        try:
            exp, _, _ = verify_shard(
                index.parent / entry["file"], entry, recipe, shard, map_location
            )
        except ValueError as error:
            if not allow_incomplete:
                raise
            left_out.append(str(error))
            continue
        parts.append(exp)
    if left_out:
        warnings.warn(f"shards left out: {'; '.join(left_out)}", stacklevel=2)
    if not parts:
        raise ValueError(f"{index} lists no shard that could be loaded")
    return Explanation.concat(parts)


def _rank_and_world() -> tuple[int, int]:
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    world = os.environ.get("WORLD_SIZE", "1")
    if world.isdigit() and int(world) > 1:
        raise RuntimeError(
            f"WORLD_SIZE={world} (torchrun) but torch.distributed is not initialised: every "
            "process would explain the whole dataset into one folder; call "
            "torch.distributed.init_process_group() first"
        )
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


def _stack(items: list[Any], device: torch.device, start: int, pad_id: int) -> Any:
    """A shard's inputs: stacked tensors, or a tuple or a dict of them (padded).

    Tuple items are several model inputs (:class:`~torchlime.Lime`'s); mapping items name
    the explainer's inputs. ``start`` is the dataset index of ``items[0]``; ``pad_id``
    pads ``input_ids``.
    """
    if isinstance(items[0], tuple):  # (a transform's) several inputs per item
        return tuple(
            _stack([item[j] for item in items], device, start, pad_id) for j in range(len(items[0]))
        )
    if not isinstance(items[0], Mapping):
        for i, item in enumerate(items):
            if not isinstance(item, Tensor):
                kind = type(item).__name__
                raise TypeError(f"dataset item {start + i} is a {kind}; pass transform=")
            if item.shape != items[0].shape:
                raise ValueError(
                    f"dataset items {start} and {start + i} have shapes "
                    f"{tuple(items[0].shape)} and {tuple(item.shape)}: the items of a shard "
                    "are stacked into one batch. Give them one shape (transform=), or use "
                    "shard_size=1 (shards of different sizes are padded when loaded)"
                )
        return torch.stack(items).to(device)
    items = [dict(item) for item in items]
    keys = list(items[0])
    if any("attention_mask" in item for item in items):
        keys += [] if "attention_mask" in keys else ["attention_mask"]
        for item in items:  # an item without a mask has no padding
            if "attention_mask" not in item and isinstance(item.get("input_ids"), Tensor):
                item["attention_mask"] = torch.ones_like(item["input_ids"])
    for i, item in enumerate(items):
        if sorted(item) != sorted(keys):
            keys_i = f"{sorted(keys)} and {sorted(item)}"
            raise ValueError(f"dataset items {start} and {start + i} have keys {keys_i}")
        if any(not isinstance(v, Tensor) or v.ndim == 0 for v in item.values()):
            raise TypeError(f"dataset item {start + i}'s inputs must be sequence tensors")
    longest = {key: max(item[key].shape[-1] for item in items) for key in keys}
    ragged = any(item[key].shape[-1] != longest[key] for item in items for key in keys)
    if ragged and "attention_mask" not in keys:
        raise ValueError(f"items of different lengths need an 'attention_mask'; got {keys}")
    pads = {"input_ids": pad_id, "word_ids": -1}
    pad = torch.nn.functional.pad
    return {key: torch.stack([pad(item[key], (0, longest[key] - item[key].shape[-1]),
                                  value=pads.get(key, 0)) for item in items]).to(device)
            for key in keys}  # fmt: skip
