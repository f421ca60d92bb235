"""Explanation results: frozen dataclasses of tensors with leading dimension B."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from torch import Tensor

__all__ = ["Explanation", "ImageExplanation"]

SCHEMA_VERSION = 1
E = TypeVar("E", bound="Explanation")


@dataclass(frozen=True, eq=False, kw_only=True, slots=True)
class Explanation:
    """Surrogate fits for a batch: every field is a tensor with leading dimension B.

    Features are the interpretable parts of the input (superpixels, columns, words),
    padded to the batch's largest count K; padded features have coefficient 0 and are
    never selected.
    """

    coef: Tensor
    """(B, T, K) float32 surrogate weights (0 beyond ``n_features[b]`` and for unselected)."""
    intercept: Tensor
    """(B, T) float32."""
    score: Tensor
    """(B, T) float32 weighted R² of the surrogate on its samples, as lime's ``score``."""
    local_pred: Tensor
    """(B, T) float32 surrogate prediction at the original input, as lime's ``local_pred``."""
    model_pred: Tensor
    """(B, T) float32 the model's explained score at the original input."""
    target: Tensor
    """(B, T) int64 the explained outputs."""
    selected: Tensor
    """(B, T, K) bool features in the surrogate (all valid ones without feature selection)."""
    n_features: Tensor
    """(B,) int64 number of valid features ``K_b`` of each example."""
    seed: Tensor
    """(B,) int64 the generator seed of the call (-1 when the caller passed a generator)."""
    masks: Tensor | None = None
    """(B, N, K) bool interpretable samples, when kept (``keep_samples=True``)."""
    scores: Tensor | None = None
    """(B, N, T) float32 model scores of the samples, when kept."""
    weights: Tensor | None = None
    """(B, N) float sample weights, when kept (0 on the padding rows of ``n_samples="auto"``)."""
    n_samples: Tensor | None = None
    """(B,) int64 samples behind each example's fit, the original included (with
    ``n_samples="auto"`` it differs per example; kept samples beyond it are padding)."""
    resolved: Tensor | None = None
    """(B, T) bool, with ``n_samples="auto"``: True when the top-k boundary was resolved
    at the requested confidence, False when it is still a tie at the sample budget."""

    def __len__(self) -> int:
        return self.coef.shape[0]

    def _fields(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def _map(self: E, fn: Any) -> E:
        fields: dict[str, Any] = {
            k: None if v is None else fn(v) for k, v in self._fields().items()
        }
        return type(self)(**fields)

    def __getitem__(self: E, index: int | slice | Tensor) -> E:
        """Select examples: ``exp[0]``, ``exp[2:5]``, ``exp[mask]``; always keeps dim B."""
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
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
        """Write the explanation to ``path`` (tensors only; loads with ``weights_only``)."""
        import torchlime

        payload = {
            "schema_version": SCHEMA_VERSION,
            "kind": type(self).__name__,
            "versions": {"torchlime": torchlime.__version__, "torch": str(torch.__version__)},
            "fields": self._fields(),
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
        names = {f.name for f in dataclasses.fields(kind)}
        fields = {k: v for k, v in payload["fields"].items() if k in names}
        return kind(**fields)


@dataclass(frozen=True, eq=False, kw_only=True, slots=True)
class ImageExplanation(Explanation):
    """An explanation of images over superpixels."""

    segments: Tensor
    """(B, H, W) int64 superpixel id of each pixel, ``0..n_features[b]-1``."""

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
    """Gather per-feature values (B, T, K) onto pixels through segments (B, H, W)."""
    b, t, _ = values.shape
    index = segments.flatten(1)[:, None, :].expand(b, t, -1)
    return values.gather(2, index).view(b, t, *segments.shape[1:])


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
