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

from torchlime.explanation.base import Explanation, dims, listed

__all__ = ["ImageExplanation", "TabularExplanation", "TensorExplanation", "TextExplanation"]


@dataclass(frozen=True, eq=False, kw_only=True, slots=True, repr=False)
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

    def feature_labels(self, index: int = 0) -> list[str]:
        """``"superpixel k"`` for each of the K superpixels."""
        return [f"superpixel {k}" for k in range(self.coef.shape[-1])]


def _paint(values: Tensor, segments: Tensor) -> Tensor:
    """Gather per-feature values (B, T, K) onto pixels through segments (B, H, W); 0 at -1."""
    b, t, _ = values.shape
    index = segments.flatten(1)[:, None, :].expand(b, t, -1)
    painted = values.gather(2, index.clamp(min=0)).view(b, t, *segments.shape[1:])
    return torch.where(segments[:, None] >= 0, painted, torch.zeros_like(painted))


Names = Any  # Sequence[str], Mapping[int, str], or Callable[[int], str]


def _namer(names: Names, what: str) -> Any:
    if names is None:
        return str
    if callable(names):
        return lambda i: str(names(i))
    if hasattr(names, "__getitem__"):
        return lambda i: str(names[i])
    raise TypeError(f"{what} must be a sequence, a mapping or a callable; got {type(names)}")


@dataclass(frozen=True, eq=False, kw_only=True, slots=True, repr=False)
class TabularExplanation(Explanation):
    """An explanation of table rows; feature ``k`` is column ``k`` (K = D).

    :meth:`as_list` builds lime's names from the column and category names in the recipe
    (the explainer's, or ones you pass), the row's values, bins and bin edges.
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
            names: the D column names (default: the explainer's, from the recipe).
            index: which row of the batch.
            categorical_names: names of categorical codes per column, as lime's (default:
                the explainer's, from the recipe).

        Returns:
            D strings.
        """
        d = self.x.shape[1]
        names = self.config.get("feature_names") if names is None else names
        names = [str(i) for i in range(d)] if names is None else [str(n) for n in names]
        if categorical_names is None and self.config.get("categorical_names"):
            recorded = self.config["categorical_names"]  # D lists, [] for other columns
            categorical_names = {j: list(v) for j, v in enumerate(recorded) if v}
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
            names: the D column names (default: the explainer's, from the recipe).
            index: which row of the batch.
            target: which of the T explained targets.
            categorical_names: names of categorical codes per column, as lime's (default:
                the explainer's, from the recipe).

        Returns:
            (name, weight) pairs by decreasing ``|weight|``.
        """
        labels = self.feature_names(names, index=index, categorical_names=categorical_names)
        return listed(self, index, target, labels.__getitem__)

    def feature_labels(self, index: int = 0) -> list[str]:
        """Lime's name of each column for row ``index`` (see :meth:`feature_names`)."""
        return self.feature_names(index=index)


@dataclass(frozen=True, eq=False, kw_only=True, slots=True, repr=False)
class TextExplanation(Explanation):
    """An explanation of text over distinct words or tokens (bag of words) or positions.

    Three ways in, one kind out; :attr:`token_attributions`, :meth:`tokens`,
    :meth:`feature_labels` and :meth:`as_list` read them all:

    - token ids (``LimeText(model)(input_ids)``): tokens and features are named with a
      vocabulary you pass (a list indexed by token id, a mapping, or a callable such as
      ``tokenizer.convert_ids_to_tokens``), by their ids without one;
    - strings with a tokenizer (``LimeText(model, tokenizer=tok)(texts)``, or a
      ``BatchEncoding``): the tokens' strings are kept (``pieces``: the vocabulary's, so
      ``"[CLS]"``, ``"##able"``), and with a fast tokenizer's offsets the text and each
      token's span, so features are named by the words as written;
    - strings with a model over strings (lime's ``classifier_fn``): the L tokens are
      lime's pieces, words and the separators between them (separators are no feature),
      so ``"".join(exp.tokens(i))`` is text ``i``, and features are lime's words.
    """

    input_ids: Tensor = dims("B L")
    """(B, L) int64 the explained token ids (for strings explained with a model over
    strings: each piece's id in its own text, equal pieces equal ids)."""
    feature_tokens: Tensor = dims("B K", -1)
    """(B, K) int64 token id of each feature (-1 beyond ``n_features[b]``)."""
    token_features: Tensor = dims("B L", -1)
    """(B, L) int64 feature of each token (-1 for tokens that are not features: padding,
    special tokens, separators)."""
    attention_mask: Tensor | None = dims("B L", optional=True)
    """(B, L) the attention mask the sequences came with (0 on padding)."""
    word_start: Tensor | None = dims("B L", False, optional=True)
    """(B, L) bool, the tokens that begin a word when features are words (``word_ids=``);
    None when every token is its own unit."""
    text: Tensor | None = dims("B S", 0, optional=True)
    """(B, S) uint8 the explained texts in UTF-8 (0 after their end), when the explainer
    was given strings (and, with a tokenizer, the tokenizer gave offsets)."""
    spans: Tensor | None = dims("B L 2", -1, optional=True)
    """(B, L, 2) int64 each token's ``[start, stop)`` in characters of its text (-1 on
    padding), beside ``text``."""
    pieces: Tensor | None = dims("B L P", 0, optional=True)
    """(B, L, P) uint8 each token's string in UTF-8 (0 after its end), when a tokenizer
    named the tokens."""

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
                callable ``id -> str`` (see :meth:`feature_labels`); None names features
                by the words of the text, or the tokenizer's pieces, or else the ids.
            index: which sequence of the batch.
            target: which of the T explained targets.
            positions: append the positions of each feature's occurrences, as lime's
                ``positions=True`` (``"bad_3-17"``): character offsets in the text when
                the explanation holds it (lime's exactly), else token positions (a
                word's first piece).

        Returns:
            (word, weight) pairs by decreasing ``|weight|``.
        """
        labels = self.feature_labels(index, names)
        if positions:
            where = self._where(index)
            if self.spans is not None:
                starts = self.spans[index, :, 0].tolist()
                where = {k: [starts[p] for p in ps] for k, ps in where.items()}
            labels = [f"{w}_{'-'.join(map(str, where.get(k, [])))}" for k, w in enumerate(labels)]
        return listed(self, index, target, labels.__getitem__)

    def feature_labels(self, index: int = 0, names: Names = None) -> list[str]:
        """Each of the K features of sequence ``index`` as a word ("" beyond ``K_b``).

        With ``names``, a word is its first occurrence's pieces named by ``names`` and
        joined (a WordPiece ``##`` mark dropped). Without: the text of its first
        occurrence when the explanation holds the text (lime's word for strings, the word
        as written for a tokenizer), else the tokenizer's pieces joined, else token ids.

        Args:
            index: which sequence of the batch.
            names: vocabulary: a sequence or mapping id -> string, or a callable.
        """
        first = self._first(index)
        k = self.coef.shape[-1]
        if names is None and self.text is not None and self.spans is not None:
            text, spans = self._text(index), self.spans[index].tolist()
            return [
                text[spans[first[f][0]][0] : spans[first[f][-1]][1]] if f in first else ""
                for f in range(k)
            ]
        if names is None and self.pieces is not None:
            strings = self._piece_strings(index)
            name: Any = strings.__getitem__
        else:
            ids, to_str = self.input_ids[index].tolist(), _namer(names, "names")
            name = lambda p: to_str(ids[p])  # noqa: E731
        out = []
        for f in range(k):
            parts = [name(p) for p in first.get(f, [])]
            out.append(parts[0] + "".join(p.removeprefix("##") for p in parts[1:]) if parts else "")
        return out

    def tokens(self, index: int = 0, names: Names = None) -> list[str]:
        """Sequence ``index``'s L tokens as strings, ``""`` at padding positions.

        Aligned with :attr:`token_attributions` (position ``l`` of both is token ``l``):
        what a view shows beside the weights. With ``names``, token ids named by it;
        without, the tokenizer's pieces (``"[CLS]"``, ``"##able"``), or for strings
        explained with a model over strings lime's pieces (``"".join`` gives the text
        back), or else the ids.

        Args:
            index: which sequence of the batch.
            names: vocabulary: a sequence or mapping id -> string, or a callable.
        """
        ids = self.input_ids[index].tolist()
        keep = [True] * len(ids) if self.attention_mask is None else self.attention_mask[index]
        if names is None and self.pieces is not None:
            strings = self._piece_strings(index)
        elif names is None and self.text is not None and self.spans is not None:
            text = self._text(index)
            strings = [text[a:b] if a >= 0 else "" for a, b in self.spans[index].tolist()]
        else:
            strings = [_namer(names, "names")(t) for t in ids]
        return [s if bool(k) else "" for s, k in zip(strings, keep, strict=True)]

    def _text(self, index: int) -> str:
        """Text ``index`` decoded whole (NULs after its end: spans never reach them)."""
        text = self.text if self.text is not None else self.input_ids.new_zeros(len(self), 0)
        return bytes(text[index].tolist()).decode("utf-8", errors="replace")

    def _piece_strings(self, index: int) -> list[str]:
        """Token ``l``'s string for every ``l`` (the ``pieces`` field, decoded)."""
        rows = [] if self.pieces is None else self.pieces[index].tolist()
        return [bytes(p).rstrip(b"\0").decode("utf-8", errors="replace") for p in rows]

    def _starts(self, index: int) -> list[bool]:
        features = self.token_features[index].tolist()
        if self.word_start is None:
            return [f >= 0 for f in features]
        return self.word_start[index].tolist()

    def _first(self, index: int) -> dict[int, list[int]]:
        """Feature -> the token positions of its first occurrence (a word's pieces)."""
        features = self.token_features[index].tolist()
        first: dict[int, list[int]] = {}
        current = -1  # the feature whose first occurrence is being read, if any
        for pos, (f, start) in enumerate(zip(features, self._starts(index), strict=True)):
            if f >= 0 and start:
                current = f if f not in first else -1
                if current >= 0:
                    first[f] = [pos]
            elif f >= 0 and f == current:
                first[f].append(pos)
            else:
                current = -1
        return first

    def _where(self, index: int) -> dict[int, list[int]]:
        """Feature -> the positions of its occurrences (a word's first piece)."""
        where: dict[int, list[int]] = {}
        features = self.token_features[index].tolist()
        for pos, (f, start) in enumerate(zip(features, self._starts(index), strict=True)):
            if f >= 0 and start:
                where.setdefault(f, []).append(pos)
        return where


@dataclass(frozen=True, eq=False, kw_only=True, slots=True, repr=False)
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
