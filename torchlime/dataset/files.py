"""The dataset runner's files: its recipe, index, shards and lock, written so nothing is lost.

Every write goes to a file of an unpredictable name created exclusively beside its target,
then renamed over it (a symlink planted there is replaced, never written through); reads
never follow a symlink. A shard is checked against the index (size, sha256), its metadata
against the run's recipe; a lock names its holder and is taken over only from a dead one.
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
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor

from torchlime.explanation import Explanation

__all__ = [
    "INDEX",
    "LOCK",
    "Missing",
    "acquire_lock",
    "differences",
    "disk_full",
    "layout",
    "plain",
    "read_index",
    "read_regular",
    "refuse",
    "start_index",
    "strip_recipe",
    "verify_shard",
    "write_atomic",
    "write_index",
]

INDEX = "index.json"
LOCK = ".lock"
_PER_CALL = ("seed", "torch", "torchlime")  # per call or per install: not the run's recipe
_DISK_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
_STALE_S = 3600.0  # an unreadable lock older than this is taken over
_ABSENT = object()


def layout(n_items: int, shard_size: int) -> list[dict[str, Any]]:
    """The shards of a run: file, first item, one past the last."""
    return [
        {"file": f"shard-{i:05d}.pt", "start": start, "stop": min(start + shard_size, n_items)}
        for i, start in enumerate(range(0, n_items, shard_size))
    ]


def strip_recipe(config: Mapping[str, Any]) -> dict[str, Any]:
    """An explainer's recipe without what may differ between calls of one run."""
    return {k: v for k, v in config.items() if k not in _PER_CALL}


def refuse(out: Path, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    """ValueError naming every setting of ``new`` that differs from the folder's ``old``."""
    differ = differences(old, new)
    if differ:
        raise ValueError(
            f"{out} holds a run with other settings: {'; '.join(differ)}. Explain into a new "
            f"folder, or delete {out} to start over"
        )


def describe(value: Any) -> str:
    """A value that is not JSON, as the recipe records it (a tensor by its bytes' hash)."""
    if isinstance(value, Tensor):
        data = value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy()
        digest = hashlib.sha256(data.tobytes()).hexdigest()[:16]
        return f"tensor of shape {tuple(value.shape)}, {value.dtype}, sha256 {digest}"
    if callable(value):
        return f"callable:{getattr(value, '__qualname__', type(value).__name__)}"
    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(value))  # no memory addresses


def plain(value: Any) -> Any:
    """``value`` as JSON reads it back (lists for tuples, other objects described)."""
    return json.loads(json.dumps(value, default=describe))


def differences(old: Any, new: Any, name: str = "") -> list[str]:
    """``key: old -> new`` for every key that differs (an unknown explainer matches any)."""
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in [*old, *(k for k in new if k not in old)]:
            a, b = old.get(key, _ABSENT), new.get(key, _ABSENT)
            if not name and key == "explainer" and (a is None or b is None):
                continue
            found += differences(a, b, f"{name}.{key}" if name else str(key))
        return found
    same = old == new or json.dumps(old, default=repr) == json.dumps(new, default=repr)  # NaN
    show = ["(none)" if v is _ABSENT else repr(v) for v in (old, new)]
    return [] if same else [f"{name}: {show[0]} -> {show[1]}"]


def start_index(out: Path, recipe: dict[str, Any], entries: list[dict[str, Any]]) -> Any:
    """Check the index against this run; mark it running; the recipe and shard entries."""
    old = read_index(out / INDEX)
    if old is not None:
        refuse(out, old["recipe"], recipe)
        recipe = {**recipe, "explainer": recipe["explainer"] or old["recipe"].get("explainer")}
        complete = old.get("status") == "complete"  # a running index's may be outdated
        sums = {s.get("file"): s for s in (old.get("shards") or [] if complete else [])}
        keep = ("sha256", "bytes")
        entries = [{**e, **{k: sums.get(e["file"], {}).get(k) for k in keep}} for e in entries]
    for leftover in [*out.glob(".shard-*.tmp"), *out.glob(".index-*.tmp")]:  # a killed run's
        with contextlib.suppress(OSError):
            leftover.unlink()
    write_index(out, "running", recipe, entries)
    return recipe, entries


def write_index(out: Path, status: str, recipe: Any, shards: list[dict[str, Any]]) -> None:
    """Write ``out/index.json`` atomically: the run's status, recipe and shard entries."""
    text = json.dumps({"status": status, "recipe": recipe, "shards": shards}, indent=1)
    write_atomic(out / INDEX, text.encode())


def read_index(path: Path) -> dict[str, Any] | None:
    """The index at ``path``, None when there is none; ValueError when it is not one."""
    try:
        meta = json.loads(read_regular(path))
    except Missing:
        return None
    except ValueError as error:
        raise ValueError(f"{path} is not an index of explain_dataset ({error})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("recipe"), dict):
        raise ValueError(f"{path} has no run recipe (an older torchlime?): use a new folder")
    return meta


class Missing(ValueError):
    """A file that is not there (a shard to explain, not a fault)."""


def read_regular(path: Path) -> bytes:
    """The bytes of the regular file ``path``, never through a symlink (nor from a FIFO)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        if path.is_symlink():
            raise ValueError(f"{path} is a symlink, not a file of this run")
        fd = os.open(path, flags | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise Missing(f"{path} is missing") from None
    except OSError as error:
        raise ValueError(f"{path} cannot be opened ({error})") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise ValueError(f"{path} is not a regular file")
        return f.read()


def verify_shard(path: Path, entry: Any, recipe: Any, shard: int, where: Any = "cpu") -> Any:
    """A shard, its sha256 and bytes and recipe, checked; ValueError naming ``path``."""
    data = read_regular(path)
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
    wrong += differences(found, dict(recipe))
    if len(exp) != stop - start:
        wrong.append(f"{len(exp)} explanations for the {stop - start} items {start}..{stop - 1}")
    if wrong:
        raise ValueError(f"{path} is not this run's shard {shard}: {'; '.join(wrong)}")
    return exp, sums, found


def write_atomic(path: Path, data: bytes) -> dict[str, Any]:
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
        raise disk_full(error, path) from error
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def disk_full(error: BaseException, path: Path) -> BaseException:
    """An OSError saying the disk is full while writing ``path``, when it is; else ``error``."""
    if not isinstance(error, OSError) or error.errno not in _DISK_FULL:
        return error
    why = f"the disk is full while writing {path} ({os.strerror(error.errno or 0)}): free space"
    return OSError(error.errno, f"{why} and run again to resume")


def acquire_lock(out: Path) -> tuple[Path, str]:
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
                raise disk_full(error, path) from error
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
                if stale and read_regular(path) == raw:  # still the one judged stale
                    path.unlink()
                    warnings.warn(f"took over {path}: {stale}", stacklevel=3)
        finally:
            os.rmdir(guard)
    raise RuntimeError(f"could not take {path}: other runs are starting in {out}")


def _stale(path: Path) -> tuple[bytes, str]:
    """The lock's bytes and why its holder is gone; RuntimeError when it may run."""
    try:
        raw = read_regular(path)
    except Missing:
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
