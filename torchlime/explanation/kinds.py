"""The explanation of each modality: images over superpixels, table rows, token sequences.

Names are strings, and every field of an explanation is a tensor with leading dimension B
(so it slices, moves, and saves with ``weights_only``). The explanations therefore keep
what lime derives its names from, as tensors (the row, its bins and the bin edges; the
token ids), and ``as_list(names)`` turns them into lime's ``as_list()`` strings given the
column names or the vocabulary, which the caller (or the explainer) holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from torchlime.explanation.base import Explanation, dims

__all__ = ["ImageExplanation", "TabularExplanation", "TensorExplanation", "TextExplanation"]


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


@dataclass(frozen=True, eq=False, kw_only=True, slots=True)
class TensorExplanation(Explanation):
    """An explanation of any tensors over the features of a feature mask (captum's kind)."""

    feature_mask: Tensor = dims("B M", -1)
    """(B, M) int64 feature of every scalar of the inputs, flattened and concatenated."""
    input_shapes: Tensor = dims("B I R", -1)
    """(B, I, R) int64 each input's shape without B (-1 padded)."""
    tuple_input: Tensor = dims("B", False)
    """(B,) bool, the inputs came as a tuple."""

    @property
    def attributions(self) -> Tensor | tuple[Tensor, ...]:
        """Each scalar carries its feature's weight: (B, T, *shape) per input.

        A tensor for a single input given as a tensor, else a tuple (one per input).
        """
        b, t, _ = self.coef.shape
        index = self.feature_mask[:, None, :].expand(b, t, -1)
        flat = self.coef.gather(2, index.clamp(min=0))
        flat = torch.where(index >= 0, flat, torch.zeros_like(flat))
        shapes = [[d for d in row if d >= 0] for row in self.input_shapes[0].tolist()]
        sizes = [int(torch.tensor(s).prod()) if s else 1 for s in shapes]
        parts = [
            part.reshape(b, t, *shape)
            for part, shape in zip(flat[..., : sum(sizes)].split(sizes, -1), shapes, strict=True)
        ]
        return tuple(parts) if bool(self.tuple_input[0]) or len(parts) > 1 else parts[0]
