"""Explaining a whole dataset: shards on disk, resumable, checked, split across ranks.

Each shard of consecutive items is explained in one call with its own generator seed,
derived from the run's seed and the shard's index: the result does not depend on how many
processes run, nor in what order. Under ``torchrun`` (``torch.distributed`` initialised)
rank ``r`` of ``w`` takes shards ``r, r + w, ...``. Nothing is lost or mislabelled: the
run's recipe (explainer settings, seed, shard size, dataset length, explain keywords) is in
``index.json`` (``"running"`` from the start, ``"complete"`` with every shard's sha256 at
the end) and in every shard; a folder of other settings is refused, naming what differs; a
resumed run keeps the shards of its recipe that load and explains the others again; one run
at a time holds the folder's ``.lock``; files are written under unpredictable names created
exclusively, then renamed (a planted symlink is replaced, never written through).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import re
import secrets
import socket
import stat
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor

from torchlime._engine import Progress
from torchlime.explanation import Explanation

__all__ = ["explain_dataset", "load_shards", "submodular_pick"]

INDEX = "index.json"
LOCK = ".lock"
_PER_CALL = ("seed", "torch", "torchlime")  # per call or per install: not the run's recipe
_DISK_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
_STALE_S = 3600.0  # an unreadable lock older than this is taken over
_ABSENT = object()


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
        transform: maps a dataset item to the input tensor.
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
    recipe = {"explainer": None if learn else _strip(cast(Any, explainer).recipe()), "seed": seed}
    recipe |= {"shard_size": shard_size, "n_items": len(dataset), "explain_kwargs": explain_kwargs}
    recipe = _plain(recipe)
    lock: tuple[Path, str] | None = None
    try:
        state: list[Any] = [None, recipe, _layout(len(dataset), shard_size)]
        failure: BaseException | None = None
        if rank == 0:
            try:
                out.mkdir(parents=True, exist_ok=True)
                lock = _acquire_lock(out)
                state[1:] = _start_index(out, recipe, state[2])
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
                _, sums[shard], found = _verify(path, entry, recipe, shard)
                recipe["explainer"] = recipe["explainer"] or found.get("explainer")
                bar.update(1)
                continue
            except _Missing:
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
                made = _plain(_strip(exp.config))
                _refuse(out, {"explainer": recipe["explainer"]}, {"explainer": made})
                recipe["explainer"] = made
            buffer, meta = io.BytesIO(), {"recipe": recipe, "shard": shard, "start": start}
            exp.save(buffer, metadata={**meta, "stop": stop})
            sums[shard] = _write_atomic(path, buffer.getvalue())
            bar.update(1)
        if world > 1:
            torch.distributed.barrier()
        if rank == 0:
            for shard, entry in enumerate(entries):  # other ranks' shards, checked here
                if shard not in sums:
                    _, sums[shard], found = _verify(out / entry["file"], entry, recipe, shard)
                    recipe["explainer"] = recipe["explainer"] or found.get("explainer")
            done = [{**entry, **sums[i]} for i, entry in enumerate(entries)]
            _write_index(out, "complete", recipe, done)
    finally:
        with contextlib.suppress(ValueError, OSError):  # ours only (a token in it)
            if lock and json.loads(_read_regular(lock[0])).get("token") == lock[1]:
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
    meta = _read_index(index)
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
        layout = [(*s.values(),) for s in _layout(recipe["n_items"], recipe["shard_size"])]
        ok = [(s["file"], s["start"], s["stop"]) for s in entries] == layout
    except (TypeError, ValueError, KeyError):
        ok = False
    if not ok:
        raise ValueError(f"{index} does not list the shards of its run: edited or corrupt")
    parts, left_out = [], []
    for shard, entry in enumerate(entries):
        try:
            exp, _, _ = _verify(index.parent / entry["file"], entry, recipe, shard, map_location)
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


def _layout(n_items: int, shard_size: int) -> list[dict[str, Any]]:
    """The shards of a run: file, first item, one past the last."""
    return [
        {"file": f"shard-{i:05d}.pt", "start": start, "stop": min(start + shard_size, n_items)}
        for i, start in enumerate(range(0, n_items, shard_size))
    ]


def _strip(config: Mapping[str, Any]) -> dict[str, Any]:
    """An explainer's recipe without what may differ between calls of one run."""
    return {k: v for k, v in config.items() if k not in _PER_CALL}


def _refuse(out: Path, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    """ValueError naming every setting of ``new`` that differs from the folder's ``old``."""
    differ = _differences(old, new)
    if differ:
        raise ValueError(
            f"{out} holds a run with other settings: {'; '.join(differ)}. Explain into a new "
            f"folder, or delete {out} to start over"
        )


def _describe(value: Any) -> str:
    """A value that is not JSON, as the recipe records it (a tensor by its bytes' hash)."""
    if isinstance(value, Tensor):
        data = value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy()
        digest = hashlib.sha256(data.tobytes()).hexdigest()[:16]
        return f"tensor of shape {tuple(value.shape)}, {value.dtype}, sha256 {digest}"
    if callable(value):
        return f"callable:{getattr(value, '__qualname__', type(value).__name__)}"
    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(value))  # no memory addresses


def _plain(value: Any) -> Any:
    """``value`` as JSON reads it back (lists for tuples, other objects described)."""
    return json.loads(json.dumps(value, default=_describe))


def _differences(old: Any, new: Any, name: str = "") -> list[str]:
    """``key: old -> new`` for every key that differs (an unknown explainer matches any)."""
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in [*old, *(k for k in new if k not in old)]:
            a, b = old.get(key, _ABSENT), new.get(key, _ABSENT)
            if not name and key == "explainer" and (a is None or b is None):
                continue
            found += _differences(a, b, f"{name}.{key}" if name else str(key))
        return found
    same = old == new or json.dumps(old, default=repr) == json.dumps(new, default=repr)  # NaN
    show = ["(none)" if v is _ABSENT else repr(v) for v in (old, new)]
    return [] if same else [f"{name}: {show[0]} -> {show[1]}"]


def _start_index(out: Path, recipe: dict[str, Any], entries: list[dict[str, Any]]) -> Any:
    """Check the index against this run; mark it running; the recipe and shard entries."""
    old = _read_index(out / INDEX)
    if old is not None:
        _refuse(out, old["recipe"], recipe)
        recipe = {**recipe, "explainer": recipe["explainer"] or old["recipe"].get("explainer")}
        complete = old.get("status") == "complete"  # a running index's may be outdated
        sums = {s.get("file"): s for s in (old.get("shards") or [] if complete else [])}
        keep = ("sha256", "bytes")
        entries = [{**e, **{k: sums.get(e["file"], {}).get(k) for k in keep}} for e in entries]
    for leftover in [*out.glob(".shard-*.tmp"), *out.glob(".index-*.tmp")]:  # a killed run's
        with contextlib.suppress(OSError):
            leftover.unlink()
    _write_index(out, "running", recipe, entries)
    return recipe, entries


def _write_index(out: Path, status: str, recipe: Any, shards: list[dict[str, Any]]) -> None:
    text = json.dumps({"status": status, "recipe": recipe, "shards": shards}, indent=1)
    _write_atomic(out / INDEX, text.encode())


def _read_index(path: Path) -> dict[str, Any] | None:
    """The index at ``path``, None when there is none; ValueError when it is not one."""
    try:
        meta = json.loads(_read_regular(path))
    except _Missing:
        return None
    except ValueError as error:
        raise ValueError(f"{path} is not an index of explain_dataset ({error})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("recipe"), dict):
        raise ValueError(f"{path} has no run recipe (an older torchlime?): use a new folder")
    return meta


class _Missing(ValueError):
    """A file that is not there (a shard to explain, not a fault)."""


def _read_regular(path: Path) -> bytes:
    """The bytes of the regular file ``path``, never through a symlink (nor from a FIFO)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        if path.is_symlink():
            raise ValueError(f"{path} is a symlink, not a file of this run")
        fd = os.open(path, flags | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise _Missing(f"{path} is missing") from None
    except OSError as error:
        raise ValueError(f"{path} cannot be opened ({error})") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise ValueError(f"{path} is not a regular file")
        return f.read()


def _verify(path: Path, entry: Any, recipe: Any, shard: int, where: Any = "cpu") -> Any:
    """A shard, its sha256 and bytes and recipe, checked; ValueError naming ``path``."""
    data = _read_regular(path)
    sums = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    size = entry.get("bytes")
    if size is not None and len(data) < size:
        raise ValueError(f"{path} is truncated: {len(data)} of its {size} bytes")
    if entry.get("sha256") not in (None, sums["sha256"]):
        raise ValueError(f"{path} does not match its sha256 in the index: changed or corrupt")
    try:  # from the bytes checked, never the file again
        meta = Explanation.read_metadata(cast(Any, io.BytesIO(data)))
        exp = Explanation.load(cast(Any, io.BytesIO(data)), where)
    except Exception as error:
        text = re.sub(r"<_io.BytesIO object at 0x[0-9a-fA-F]+>", str(path), str(error))
        raise ValueError(text if str(path) in text else f"{path} cannot be read: {text}") from None
    start, stop = entry["start"], entry["stop"]
    wrong = [
        f"{key} {meta.get(key)!r}, not {want!r}"
        for key, want in (("shard", shard), ("start", start), ("stop", stop))
        if meta.get(key) != want
    ]
    found = meta["recipe"] if isinstance(meta.get("recipe"), dict) else {}  # {}: no recipe
    wrong += _differences(found, dict(recipe))
    if len(exp) != stop - start:
        wrong.append(f"{len(exp)} explanations for the {stop - start} items {start}..{stop - 1}")
    if wrong:
        raise ValueError(f"{path} is not this run's shard {shard}: {'; '.join(wrong)}")
    return exp, sums, found


def _write_atomic(path: Path, data: bytes) -> dict[str, Any]:
    """Write ``path`` atomically, never through a symlink; its ``{"sha256", "bytes"}``.

    The bytes go to a file of an unpredictable name created exclusively beside ``path``,
    renamed over it (a symlink there is replaced); a full disk raises an OSError saying so.
    """
    tmp = path.parent / f".{path.stem}-{secrets.token_hex(8)}.tmp"  # as mkstemp; 0666 & ~umask
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise _disk_full(error, path) from error
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def _disk_full(error: BaseException, path: Path) -> BaseException:
    """An OSError saying the disk is full while writing ``path``, when it is; else ``error``."""
    if not isinstance(error, OSError) or error.errno not in _DISK_FULL:
        return error
    why = f"the disk is full while writing {path} ({os.strerror(error.errno or 0)}): free space"
    return OSError(error.errno, f"{why} and run again to resume")


def _acquire_lock(out: Path) -> tuple[Path, str]:
    """Create ``out/.lock`` exclusively (a stale one taken over): its path, our token in it."""
    path, token, me = out / LOCK, secrets.token_hex(8), os.getpid()
    info = {"pid": me, "host": socket.gethostname(), "started": time.strftime("%FT%T%z"),
            "process_start": _process(me)[1], "token": token}  # fmt: skip
    for _ in range(3):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            pass
        else:
            try:
                os.write(fd, json.dumps(info).encode())
            except BaseException as error:
                path.unlink()
                raise _disk_full(error, path) from error
            finally:
                os.close(fd)
            return path, token
        raw, stale = _stale(path)
        guard = out / ".lock.takeover"
        try:
            os.mkdir(guard)  # one taker at a time, removing the lock it judged stale
        except FileExistsError:
            raise RuntimeError(f"another run is taking over {path} (or delete {guard})") from None
        try:
            with contextlib.suppress(OSError, ValueError):  # gone meanwhile
                if stale and _read_regular(path) == raw:  # still the one judged stale
                    path.unlink()
                    warnings.warn(f"took over {path}: {stale}", stacklevel=3)
        finally:
            os.rmdir(guard)
    raise RuntimeError(f"could not take {path}: other runs are starting in {out}")


def _stale(path: Path) -> tuple[bytes, str]:
    """The lock's bytes and why its holder is gone; RuntimeError when it may run."""
    try:
        raw = _read_regular(path)
    except _Missing:
        return b"", ""
    except ValueError as error:
        raise RuntimeError(f"{error}: another run may hold {path}; delete it") from None
    try:
        info = json.loads(raw)
        pid, host = int(info["pid"]), str(info["host"])
    except (ValueError, TypeError, KeyError):
        age = time.time() - path.lstat().st_mtime
        if age > _STALE_S:
            return raw, f"it was unreadable and {age / 3600:.1f} hours old"
        raise RuntimeError(f"{path} is being written by a run starting (or delete it)") from None
    holder = f"pid {pid} on host {host}, since {info.get('started')}"
    if host == socket.gethostname():
        state, started = _process(pid)
        recorded = info.get("process_start")
        if state in ("gone", "Z") or (None not in (started, recorded) and started != recorded):
            return raw, f"its holder ({holder}) is no longer running"
    raise RuntimeError(
        f"another explain_dataset run holds {path} ({holder}): two runs cannot write one "
        f"folder. Wait for it to finish, or delete {path} if that run is gone"
    )


def _process(pid: int) -> tuple[str | None, str | None]:
    """A process's state ("gone" when there is none) and start time, where the OS tells."""
    if os.name == "nt" or pid <= 0:
        return None, None  # os.kill would terminate it (or signal a group): assume it runs
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "gone", None
    except OSError:
        pass  # another user's process: it runs
    with contextlib.suppress(OSError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[0], fields[19]
    return None, None


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
    """A shard's inputs: stacked tensors, or a dict of them for mapping items (padded).

    ``start`` is the dataset index of ``items[0]``; ``pad_id`` pads ``input_ids``.
    """
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
