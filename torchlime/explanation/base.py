"""The Explanation base: a frozen dataclass of tensors with leading dimension B, and its recipe.

Every field is a tensor (or None) whose dimensions are declared in the field's metadata in
the letter table (``"B T K"``, ``"B N K"``, ...), with the value that pads it. Slicing,
moving, concatenation (:meth:`Explanation.concat`) and padding are therefore generic: a
new field only declares its dims. ``config`` is the recipe: a plain read-only mapping of
how the explanation was made (explainer, kernel and distance, alpha, surrogate, feature
selection, sampler and design, sample count, output transform, seed, versions), kept by
slicing, concatenation and ``save``/``load`` (which never unpickles code). The analysis
tools read it, so a refit of an explanation's samples with its own recipe reproduces it.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, BinaryIO, TypeVar

import torch
from torch import Tensor

from torchlime._version import __version__

__all__ = ["Explanation", "dims"]

SCHEMA_VERSION = 2  # 2: config (the recipe)
E = TypeVar("E", bound="Explanation")
Config = Mapping[str, Any]


def dims(spec: str, pad: float = 0, *, optional: bool = False) -> Any:
    """A dataclass field with dims ``spec`` (letter table), padded with ``pad``."""
    meta = {"dims": tuple(spec.split()), "pad": pad}
    if optional:
        return dataclasses.field(default=None, metadata=meta)
    return dataclasses.field(metadata=meta)


_SUMMARISED = ("coef", "intercept", "score", "local_pred", "model_pred", "target", "selected")


def _frozen(config: Mapping[str, Any] | None) -> Config:
    return MappingProxyType(dict(config or {}))


@dataclass(frozen=True, eq=False, kw_only=True, slots=True, repr=False)
class Explanation:
    """Surrogate fits for a batch: every field is a tensor with leading dimension B.

    Features are the interpretable parts of the input (superpixels, columns, words),
    padded to the batch's largest count K; padded features have coefficient 0 and are
    never selected. ``len(exp)`` is B; ``exp[i]`` / ``exp[i:j]`` select examples (keeping
    dim B) and iterating yields them one by one.
    """

    coef: Tensor = dims("B T K")
    """(B, T, K) float32 surrogate weights (0 beyond ``n_features[b]`` and for unselected)."""
    intercept: Tensor = dims("B T")
    """(B, T) float32."""
    score: Tensor = dims("B T")
    """(B, T) float32 weighted R² of the surrogate on its samples, as lime's ``score``."""
    local_pred: Tensor = dims("B T")
    """(B, T) float32 surrogate prediction at the original input, as lime's ``local_pred``."""
    model_pred: Tensor = dims("B T")
    """(B, T) float32 the model's explained score at the original input."""
    target: Tensor = dims("B T")
    """(B, T) int64 the explained outputs."""
    selected: Tensor = dims("B T K", False)
    """(B, T, K) bool features in the surrogate (all valid ones without feature selection)."""
    n_features: Tensor = dims("B")
    """(B,) int64 number of valid features ``K_b`` of each example."""
    seed: Tensor = dims("B")
    """(B,) int64 the generator seed of the call (-1 when the caller passed a generator)."""
    masks: Tensor | None = dims("B N K", False, optional=True)
    """(B, N, K) interpretable samples, when kept (``keep_samples=True``): bool masks, or
    float for tables with continuous columns."""
    scores: Tensor | None = dims("B N T", optional=True)
    """(B, N, T) float32 model scores of the samples, when kept."""
    weights: Tensor | None = dims("B N", optional=True)
    """(B, N) float sample weights, when kept (0 on padding rows, as ``n_samples="auto"``
    leaves them)."""
    n_samples: Tensor | None = dims("B", optional=True)
    """(B,) int64 samples behind each example's fit, the original included (with
    ``n_samples="auto"`` it differs per example; kept samples beyond it are padding)."""
    resolved: Tensor | None = dims("B T", False, optional=True)
    """(B, T) bool, with ``n_samples="auto"``: True when the top-k boundary (``stop="gap"``)
    or the top-k set (``stop="set"``, at FWER ``1 - confidence``) was resolved, False when
    it is still a tie at the sample budget."""
    config: Config = dataclasses.field(default_factory=lambda: _frozen(None))
    """The recipe: how the explanation was made (a read-only mapping of plain values)."""

    def __post_init__(self) -> None:
        if not isinstance(self.config, MappingProxyType):
            object.__setattr__(self, "config", _frozen(self.config))

    def __repr__(self) -> str:
        """A summary: sizes, targets, fit quality, the recipe's headline and the fields."""
        b, t, k = self.coef.shape
        c = self.config
        shown = self.target[:4].tolist()
        targets = f"{shown}{' ...' if b > 4 else ''}"
        recipe = ", ".join(
            f"{key}={c[key]!r}"
            for key in ("n_samples", "sampler", "kernel_width", "surrogate", "alpha", "seed")
            if c.get(key) is not None
        )
        fields = ", ".join(
            f"{name} {tuple(v.shape)}"
            for name, v in self._tensors().items()
            if v is not None and name not in _SUMMARISED
        )
        r2 = float(self.score.float().mean()) if self.score.numel() else float("nan")
        return (
            f"{type(self).__name__}(B={b}, T={t}, K={k}, target={targets}, mean R²={r2:.3f}, "
            f"{c.get('explainer', 'explainer ?')}: {recipe or 'no recipe'}; {fields})"
        )

    def __len__(self) -> int:
        return self.coef.shape[0]

    def __iter__(self: E) -> Iterator[E]:
        for i in range(len(self)):
            yield self[i]

    @classmethod
    def tensor_fields(cls) -> dict[str, tuple[tuple[str, ...], float]]:
        """Every tensor field's declared dims and padding value, by name."""
        return {
            f.name: (f.metadata["dims"], f.metadata["pad"])
            for f in dataclasses.fields(cls)
            if "dims" in f.metadata
        }

    def _tensors(self) -> dict[str, Tensor | None]:
        return {name: getattr(self, name) for name in self.tensor_fields()}

    def _map(self: E, fn: Any) -> E:
        fields: dict[str, Any] = {
            k: None if v is None else fn(v) for k, v in self._tensors().items()
        }
        return type(self)(**fields, config=self.config)

    def __getitem__(self: E, index: int | slice | Tensor) -> E:
        """Select examples: ``exp[0]``, ``exp[2:5]``, ``exp[mask]``; always keeps dim B."""
        if isinstance(index, int) and not isinstance(index, bool):
            if not -len(self) <= index < len(self):
                raise IndexError(f"index {index} is out of range for a batch of {len(self)}")
            index = index % len(self)
            index = slice(index, index + 1)
        return self._map(lambda t: t[index])

    def to(self: E, *args: Any, **kwargs: Any) -> E:
        """Move to a device and/or cast floating fields (``Tensor.to`` arguments).

        Integer and bool fields keep their dtype whatever dtype is asked for.
        """

        def move(t: Tensor) -> Tensor:
            if t.is_floating_point():
                return t.to(*args, **kwargs)
            device = _device_of(args, kwargs)
            return t if device is None else t.to(device)

        return self._map(move)

    def cpu(self: E) -> E:
        """Copy every field to CPU memory."""
        return self._map(lambda t: t.cpu())

    def detach(self: E) -> E:
        """Detach every field from the autograd graph."""
        return self._map(lambda t: t.detach())

    @classmethod
    def concat(cls: type[E], parts: Sequence[E]) -> E:
        """Concatenate explanations of one kind along B, padding every other dim to the largest.

        Padding follows each field's declaration (coefficient 0, never selected, weight 0
        on padded sample rows, token -1, ...), as within one call. A field missing from
        some part (samples kept by one call only) is dropped. The recipes must agree but
        for the seed, which each example keeps in ``seed``.

        Args:
            parts: explanations of the same class.

        Returns:
            one explanation of all their examples, in order.

        Raises:
            ValueError: for no parts, mixed kinds, or recipes that differ.
        """
        if not parts:
            raise ValueError("concat needs at least one explanation")
        kind = type(parts[0])
        if any(type(p) is not kind for p in parts):
            raise ValueError(
                f"concat needs explanations of one kind; got {[type(p).__name__ for p in parts]}"
            )
        fields: dict[str, Any] = {}
        for name, (spec, pad) in kind.tensor_fields().items():
            values = [getattr(p, name) for p in parts]
            if any(v is None for v in values):
                fields[name] = None
                continue
            sizes = [max(v.shape[i] for v in values) for i in range(len(spec))]
            fields[name] = torch.cat([_pad_to(v, sizes, pad) for v in values])
        return kind(**fields, config=_merge_configs([p.config for p in parts]))

    def ranking(self) -> Tensor:
        """Features ordered by decreasing ``|coef|`` (selected first, ties by feature index).

        Returns:
            (B, T, K) int64 feature indices.
        """
        strength = torch.where(self.selected, self.coef.abs(), -1.0)
        return strength.sort(dim=-1, descending=True, stable=True).indices

    def top_features(
        self,
        k: int = 5,
        *,
        positive_only: bool = True,
        negative_only: bool = False,
        min_weight: float = 0.0,
    ) -> Tensor:
        """The features lime's ``get_image_and_mask`` would show, as a (B, T, K) bool mask.

        Follows lime: among features sorted by ``|coef|``, ``positive_only`` keeps the first
        ``k`` with ``coef > max(0, min_weight)``; ``negative_only`` the first ``k`` with
        ``coef < 0`` and ``|coef| > min_weight``; with neither, the first ``k`` with
        ``|coef| >= min_weight``.

        Args:
            k: how many features at most.
            positive_only: only features that push the score up.
            negative_only: only features that push the score down.
            min_weight: the smallest weight shown.

        Returns:
            (B, T, K) bool.
        """
        if positive_only and negative_only:
            raise ValueError("positive_only and negative_only cannot both be True")
        if k < 0:
            raise ValueError(f"k must be >= 0; got {k}")
        order = self.ranking()
        coef = self.coef.gather(-1, order)
        selected = self.selected.gather(-1, order)
        if positive_only:
            eligible = selected & (coef > 0) & (coef > min_weight)
            keep = eligible & (eligible.cumsum(-1) <= k)
        elif negative_only:
            eligible = selected & (coef < 0) & (coef.abs() > min_weight)
            keep = eligible & (eligible.cumsum(-1) <= k)
        else:
            first_k = torch.arange(coef.shape[-1], device=coef.device) < k
            keep = selected & first_k & (coef.abs() >= min_weight)
        return torch.zeros_like(keep).scatter_(-1, order, keep)

    def target_names(self, index: int = 0) -> list[str]:
        """The names of example ``index``'s T explained targets.

        The recipe's ``class_names`` (the explainer's ``class_names=``) at each target's
        output index, else ``"output i"``.
        """
        names = self.config.get("class_names") or []
        ids = self.target[index].tolist()
        return [str(names[i]) if 0 <= i < len(names) else f"output {i}" for i in ids]

    def feature_labels(self, index: int = 0) -> list[str]:
        """A name for each of example ``index``'s K features.

        ``"feature k"`` here; each modality names its own (superpixels, columns with their
        bins, words).
        """
        return [f"feature {f}" for f in range(self.coef.shape[-1])]

    def as_list(self, *, index: int = 0, target: int = 0) -> list[tuple[str, float]]:
        """The selected features as ``[(name, weight)]``, as lime's ``as_list()``.

        Sorted by decreasing ``|weight|``, named by :meth:`feature_labels`.

        Args:
            index: which example of the batch.
            target: which of the T explained targets (a position in ``exp.target``).
        """
        labels = self.feature_labels(index)
        return listed(self, index, target, labels.__getitem__)

    def as_map(self, *, index: int = 0) -> dict[int, list[tuple[int, float]]]:
        """Lime's ``as_map()``: ``{output index: [(feature, weight)]}``.

        The selected features of each explained target, by decreasing ``|weight|``.

        Args:
            index: which example of the batch.
        """
        out = {}
        for t, label in enumerate(self.target[index].tolist()):
            out[int(label)] = listed(self, index, t, int)
        return out

    def save(
        self, path: str | os.PathLike[str] | BinaryIO, *, metadata: Mapping[str, Any] | None = None
    ) -> None:
        """Write the explanation to ``path``: tensors and plain values, loads ``weights_only``.

        Each tensor is written compactly: a slice (``exp[0]``) writes its own examples, not
        the storage of the batch it was cut from.

        Args:
            path: a file path, or a binary file object.
            metadata: plain values (str, numbers, bools, None, lists, dicts of them) stored
                beside the explanation, read back by :meth:`read_metadata`.
        """
        payload = {
            "schema_version": SCHEMA_VERSION,
            "kind": type(self).__name__,
            "versions": {"torchlime": __version__, "torch": str(torch.__version__)},
            "config": dict(self.config),
            "metadata": dict(metadata or {}),
            "fields": {k: None if v is None else _compact(v) for k, v in self._tensors().items()},
        }
        torch.save(payload, path)

    @classmethod
    def load(cls: type[E], path: str | os.PathLike[str], map_location: Any = None) -> E:
        """Read an explanation written by :meth:`save`, never unpickling arbitrary objects.

        Raises:
            ValueError: for a file that is not a torchlime explanation, is truncated or
                corrupt, or has a newer schema.
            TypeError: for an explanation of another kind than ``cls``.
        """
        payload = _read(path, map_location)
        kinds = {k.__name__: k for k in _family(Explanation)}
        kind = kinds.get(payload["kind"])
        if kind is None:
            raise ValueError(f"{path} holds an unknown explanation kind {payload['kind']!r}")
        if not issubclass(kind, cls):
            raise TypeError(f"{path} holds a {payload['kind']}, not a {cls.__name__}")
        names = kind.tensor_fields()
        fields = {k: v for k, v in payload["fields"].items() if k in names}
        return kind(**fields, config=payload.get("config", {}))

    @staticmethod
    def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
        """The ``metadata`` that :meth:`save` wrote beside an explanation ({} if none)."""
        return dict(_read(path, "cpu").get("metadata", {}))

    def to_html(
        self, *, images: Tensor | None = None, names: Any = None, max_examples: int = 8, k: int = 10
    ) -> str:
        """An HTML view: one figure per example × target (the first ``max_examples``).

        In a notebook, ``IPython.display.HTML(exp.to_html(images=x))`` shows the images
        beside their weights; ``exp`` alone shows the view without them. Arguments as
        :func:`torchlime.explanation.html.to_html`: ``images`` (B, C, H, W) float in [0, 1]
        for image explanations, ``names`` the column names or vocabulary.
        """
        from torchlime.explanation.html import to_html

        return to_html(self, images=images, names=names, max_examples=max_examples, k=k)

    def save_html(
        self,
        path: str | os.PathLike[str],
        *,
        images: Tensor | None = None,
        names: Any = None,
        max_examples: int = 8,
        k: int = 10,
        title: str | None = None,
    ) -> None:
        """Write :meth:`to_html`'s view to ``path`` as a self-contained page (no external files)."""
        from torchlime.explanation.html import save_html

        save_html(
            self, path, images=images, names=names, max_examples=max_examples, k=k, title=title
        )

    def _repr_html_(self) -> str:
        """The notebook view (:meth:`to_html` with its defaults)."""
        return self.to_html()


def _read(path: str | os.PathLike[str], map_location: Any) -> dict[str, Any]:
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError) as error:
        raise ValueError(
            f"{path} is truncated or corrupt, or not a torchlime explanation ({error})"
        ) from None
    if not isinstance(payload, dict) or "schema_version" not in payload:
        raise ValueError(f"{path} is not a torchlime explanation")
    if payload["schema_version"] > SCHEMA_VERSION:
        raise ValueError(
            f"{path} has schema version {payload['schema_version']}; this torchlime reads "
            f"up to {SCHEMA_VERSION}: upgrade torchlime"
        )
    return payload


def _compact(t: Tensor) -> Tensor:
    """``t`` with a storage of its own size (torch.save writes whole storages)."""
    if t.untyped_storage().nbytes() > t.numel() * t.element_size():
        return t.clone()
    return t


def _pad_to(t: Tensor, sizes: list[int], pad: float) -> Tensor:
    """Pad every dim of ``t`` after the first up to ``sizes`` with ``pad``, at the end."""
    if list(t.shape[1:]) == sizes[1:]:
        return t
    out = t.new_full((t.shape[0], *sizes[1:]), pad)
    out[tuple(slice(0, n) for n in t.shape)] = t
    return out


_PER_CALL = ("seed", "torch", "torchlime")  # may differ between calls of one recipe


def _merge_configs(configs: list[Config]) -> dict[str, Any]:
    """One recipe for concatenated explanations: equal but for the seed and the versions.

    Those become None where they differ (each example keeps its seed in ``seed``).
    """
    first = dict(configs[0])
    for other in configs[1:]:
        keys = set(first) | set(other)
        differ = sorted(k for k in keys if k not in _PER_CALL and first.get(k) != other.get(k))
        if differ:
            raise ValueError(
                f"explanations made with different recipes cannot be concatenated: {differ} "
                f"differ ({[first.get(k) for k in differ]} vs {[other.get(k) for k in differ]})"
            )
        for key in _PER_CALL:
            if first.get(key) != other.get(key):
                first[key] = None
    return first


def _family(cls: type[Explanation]) -> list[type[Explanation]]:
    """``cls`` and all its subclasses, recursively."""
    return [cls, *(k for sub in cls.__subclasses__() for k in _family(sub))]


def _device_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.device | None:
    if "device" in kwargs:
        return torch.device(kwargs["device"])
    for a in args:
        if isinstance(a, (str, torch.device)):
            return torch.device(a)
        if isinstance(a, Tensor):
            return a.device
    return None


def listed(exp: Explanation, index: int, target: int, label: Any) -> list[tuple[Any, float]]:
    """The selected features by decreasing ``|coef|``, named by ``label`` (lime's ``as_list``)."""
    if not -len(exp) <= index < len(exp):
        raise IndexError(f"index {index} is out of range for a batch of {len(exp)}")
    t = exp.coef.shape[1]
    if not -t <= target < t:
        raise IndexError(f"target {target} is out of range for T={t} explained targets")
    order = exp.ranking()[index, target].tolist()
    selected = exp.selected[index, target].tolist()
    coef = exp.coef[index, target].tolist()
    return [(label(k), float(coef[k])) for k in order if selected[k]]
