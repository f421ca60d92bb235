"""Explanation results: frozen dataclasses of tensors with leading dimension B, and their recipe.

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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeVar

import torch
from torch import Tensor

from torchlime._version import __version__

__all__ = ["Explanation", "ImageExplanation", "TabularExplanation", "TextExplanation"]

SCHEMA_VERSION = 2  # 2: config (the recipe)
E = TypeVar("E", bound="Explanation")
Config = Mapping[str, Any]


def dims(spec: str, pad: float = 0, *, optional: bool = False) -> Any:
    """A dataclass field with dims ``spec`` (letter table), padded with ``pad``."""
    meta = {"dims": tuple(spec.split()), "pad": pad}
    if optional:
        return dataclasses.field(default=None, metadata=meta)
    return dataclasses.field(metadata=meta)


def _frozen(config: Mapping[str, Any] | None) -> Config:
    return MappingProxyType(dict(config or {}))


@dataclass(frozen=True, eq=False, kw_only=True, slots=True)
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
    """(B, T) bool, with ``n_samples="auto"``: True when the top-k boundary was resolved
    at the requested confidence, False when it is still a tie at the sample budget."""
    config: Config = dataclasses.field(default_factory=lambda: _frozen(None))
    """The recipe: how the explanation was made (a read-only mapping of plain values)."""

    def __post_init__(self) -> None:
        if not isinstance(self.config, MappingProxyType):
            object.__setattr__(self, "config", _frozen(self.config))

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

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the explanation to ``path``: tensors and plain values, loads ``weights_only``."""
        payload = {
            "schema_version": SCHEMA_VERSION,
            "kind": type(self).__name__,
            "versions": {"torchlime": __version__, "torch": str(torch.__version__)},
            "config": dict(self.config),
            "fields": self._tensors(),
        }
        torch.save(payload, path)

    @classmethod
    def load(cls: type[E], path: str | os.PathLike[str], map_location: Any = None) -> E:
        """Read an explanation written by :meth:`save`, never unpickling arbitrary objects."""
        payload = torch.load(path, map_location=map_location, weights_only=True)
        if not isinstance(payload, dict) or "schema_version" not in payload:
            raise ValueError(f"{path} is not a torchlime explanation")
        if payload["schema_version"] > SCHEMA_VERSION:
            raise ValueError(
                f"{path} has schema version {payload['schema_version']}; this torchlime reads "
                f"up to {SCHEMA_VERSION}: upgrade torchlime"
            )
        kinds = {k.__name__: k for k in _family(Explanation)}
        kind = kinds.get(payload["kind"])
        if kind is None:
            raise ValueError(f"{path} holds an unknown explanation kind {payload['kind']!r}")
        if not issubclass(kind, cls):
            raise TypeError(f"{path} holds a {payload['kind']}, not a {cls.__name__}")
        names = kind.tensor_fields()
        fields = {k: v for k, v in payload["fields"].items() if k in names}
        return kind(**fields, config=payload.get("config", {}))


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


@dataclass(frozen=True, eq=False, kw_only=True, slots=True)
class ImageExplanation(Explanation):
    """An explanation of images over superpixels."""

    segments: Tensor = dims("B H W", -1)
    """(B, H, W) int64 superpixel id of each pixel, ``0..n_features[b]-1`` (-1 on the padding
    of concatenated images of different sizes)."""

    @property
    def attributions(self) -> Tensor:
        """(B, T, H, W) float: each pixel carries its superpixel's surrogate weight."""
        return _paint(self.coef, self.segments)

    def top_mask(
        self,
        k: int = 5,
        *,
        positive_only: bool = True,
        negative_only: bool = False,
        min_weight: float = 0.0,
    ) -> Tensor:
        """Pixels of the top superpixels, as lime's ``get_image_and_mask`` selects them.

        Args:
            k: how many superpixels at most (lime's ``num_features``).
            positive_only: only superpixels that push the score up.
            negative_only: only superpixels that push the score down.
            min_weight: the smallest weight shown.

        Returns:
            (B, T, H, W) bool.
        """
        chosen = self.top_features(
            k, positive_only=positive_only, negative_only=negative_only, min_weight=min_weight
        )
        return _paint(chosen, self.segments)


def _paint(values: Tensor, segments: Tensor) -> Tensor:
    """Gather per-feature values (B, T, K) onto pixels through segments (B, H, W); 0 at -1."""
    b, t, _ = values.shape
    index = segments.flatten(1)[:, None, :].expand(b, t, -1)
    painted = values.gather(2, index.clamp(min=0)).view(b, t, *segments.shape[1:])
    return torch.where(segments[:, None] >= 0, painted, torch.zeros_like(painted))


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


# --------------------------------------------------------------------------- tabular, text
#
# Names are strings, and every field of an explanation is a tensor with leading dimension B
# (so it slices, moves, and saves with ``weights_only``). The explanations therefore keep
# what lime derives its names from, as tensors (the row, its bins and the bin edges; the
# token ids), and ``as_list(names)`` turns them into lime's ``as_list()`` strings given the
# column names or the vocabulary, which the caller (or the explainer) holds.

Names = Any  # Sequence[str], Mapping[int, str], or Callable[[int], str]


def _listed(exp: Explanation, index: int, target: int, label: Any) -> list[tuple[str, float]]:
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


def _namer(names: Names, what: str) -> Any:
    if names is None:
        return str
    if callable(names):
        return lambda i: str(names(i))
    if hasattr(names, "__getitem__"):
        return lambda i: str(names[i])
    raise TypeError(f"{what} must be a sequence, a mapping or a callable; got {type(names)}")


@dataclass(frozen=True, eq=False, kw_only=True, slots=True)
class TabularExplanation(Explanation):
    """An explanation of table rows; feature ``k`` is column ``k`` (K = D).

    Feature names are not stored (fields are tensors only): :meth:`as_list` builds lime's
    names from the column names you pass, the row's values, bins and bin edges.
    """

    x: Tensor = dims("B D")
    """(B, D) the explained rows."""
    bins: Tensor = dims("B D", -1)
    """(B, D) int64 bin of each discretized column of the row (-1 for other columns)."""
    edges: Tensor = dims("B D E", float("inf"))
    """(B, D, E) bin edges of discretized columns (``+inf`` padding; an expanded view of
    the explainer's (D, E) edges)."""
    categorical: Tensor = dims("B D", False)
    """(B, D) bool, the categorical columns."""
    samples: Tensor | None = dims("B N D", optional=True)
    """(B, N, D) the perturbed rows the model saw, when kept (``keep_samples=True``): the
    explainer's ``samples=`` replays them."""

    def feature_names(
        self,
        names: Sequence[str] | None = None,
        *,
        index: int = 0,
        categorical_names: Mapping[int, Sequence[str]] | None = None,
    ) -> list[str]:
        """The name lime gives every column, for one row.

        ``"name <= 1.00"``, ``"1.00 < name <= 2.00"``, ``"name > 3.00"`` for discretized
        columns, ``"name=value"`` for categorical ones (``categorical_names[column][value]``
        when given), the plain name for continuous ones.

        Args:
            names: the D column names (default ``"0"``, ``"1"``, ...).
            index: which row of the batch.
            categorical_names: names of categorical codes per column, as lime's.

        Returns:
            D strings.
        """
        d = self.x.shape[1]
        names = [str(i) for i in range(d)] if names is None else [str(n) for n in names]
        if len(names) != d:
            raise ValueError(f"names must hold the D={d} column names; got {len(names)}")
        row = self.x[index].tolist()
        bins = self.bins[index].tolist()
        categorical = self.categorical[index].tolist()
        edges = self.edges[index].tolist()
        out = []
        for f in range(d):
            if bins[f] >= 0:
                q = [e for e in edges[f] if e != float("inf")]
                k = bins[f]
                if k == 0:
                    out.append(f"{names[f]} <= {q[0]:.2f}")
                elif k == len(q):
                    out.append(f"{names[f]} > {q[-1]:.2f}")
                else:
                    out.append(f"{q[k - 1]:.2f} < {names[f]} <= {q[k]:.2f}")
            elif categorical[f]:
                value: Any = int(row[f])
                if categorical_names and f in categorical_names:
                    value = categorical_names[f][value]
                out.append(f"{names[f]}={value}")
            else:
                out.append(names[f])
        return out

    def as_list(
        self,
        names: Sequence[str] | None = None,
        *,
        index: int = 0,
        target: int = 0,
        categorical_names: Mapping[int, Sequence[str]] | None = None,
    ) -> list[tuple[str, float]]:
        """The selected features as ``[(name, weight)]``, as lime's ``as_list()``.

        Args:
            names: the D column names (default ``"0"``, ``"1"``, ...).
            index: which row of the batch.
            target: which of the T explained targets.
            categorical_names: names of categorical codes per column, as lime's.

        Returns:
            (name, weight) pairs by decreasing ``|weight|``.
        """
        labels = self.feature_names(names, index=index, categorical_names=categorical_names)
        return _listed(self, index, target, labels.__getitem__)


@dataclass(frozen=True, eq=False, kw_only=True, slots=True)
class TextExplanation(Explanation):
    """An explanation of token sequences over distinct tokens (bag of words) or positions.

    :meth:`as_list` names features with a vocabulary you pass (a list indexed by token id,
    a mapping, or a callable such as ``tokenizer.convert_ids_to_tokens``).
    """

    input_ids: Tensor = dims("B L")
    """(B, L) int64 the explained token ids."""
    feature_tokens: Tensor = dims("B K", -1)
    """(B, K) int64 token id of each feature (-1 beyond ``n_features[b]``)."""
    token_features: Tensor = dims("B L", -1)
    """(B, L) int64 feature of each token (-1 for tokens that are not features: padding
    and special tokens)."""
    attention_mask: Tensor | None = dims("B L", optional=True)
    """(B, L) the attention mask the sequences came with (0 on padding)."""
    word_start: Tensor | None = dims("B L", False, optional=True)
    """(B, L) bool, the tokens that begin a word when features are words (``word_ids=``);
    None when every token is its own unit."""

    @property
    def token_attributions(self) -> Tensor:
        """(B, T, L) float: each token carries its feature's weight (0 for non-features)."""
        b, t, _ = self.coef.shape
        index = self.token_features.clamp(min=0)[:, None, :].expand(b, t, -1)
        weights = self.coef.gather(2, index)
        return torch.where(self.token_features[:, None, :] >= 0, weights, 0.0)

    def as_list(
        self,
        names: Names = None,
        *,
        index: int = 0,
        target: int = 0,
        positions: bool = False,
    ) -> list[tuple[str, float]]:
        """The selected features as ``[(word, weight)]``, as lime's ``as_list()``.

        Args:
            names: vocabulary: a sequence or mapping from token id to string, or a
                callable ``id -> str``; None prints the ids. A word of several pieces is
                named by its first occurrence's pieces, joined (a WordPiece ``##``
                continuation mark dropped).
            index: which sequence of the batch.
            target: which of the T explained targets.
            positions: append the token positions of each feature, as lime's
                ``positions=True`` (``"bad_3-7"``; lime counts characters, this counts
                tokens: a word's first piece).

        Returns:
            (word, weight) pairs by decreasing ``|weight|``.
        """
        name = _namer(names, "names")
        ids = self.input_ids[index].tolist()
        features = self.token_features[index].tolist()
        starts = (
            [f >= 0 for f in features]
            if self.word_start is None
            else self.word_start[index].tolist()
        )
        pieces: dict[int, list[int]] = {}  # feature -> its first occurrence's token ids
        where: dict[int, list[int]] = {}
        current = -1  # the feature whose first occurrence is being read, if any
        for pos, (token, f, start) in enumerate(zip(ids, features, starts, strict=True)):
            if f >= 0 and start:
                where.setdefault(f, []).append(pos)
                current = f if f not in pieces else -1
                if current >= 0:
                    pieces[f] = [token]
            elif f >= 0 and f == current:
                pieces[f].append(token)
            else:
                current = -1

        def label(k: int) -> str:
            parts = [name(t) for t in pieces[k]]
            word = parts[0] + "".join(p.removeprefix("##") for p in parts[1:])
            return f"{word}_{'-'.join(map(str, where[k]))}" if positions else word

        return _listed(self, index, target, label)
