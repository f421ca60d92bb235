"""Text stages: a sequence's interpretable features, and sequences with features removed.

lime 0.2.0.1's ``LimeTextExplainer`` on token-id tensors instead of strings:

- **Features** (:func:`text_features`): the distinct tokens of a sequence, in order of
  first occurrence (lime's bag of words, ``bow=True``: removing a token removes every
  occurrence), or every token position (``bow=False``). With ``word_ids`` (a subword
  tokenizer's word index of each token) the units are words instead of tokens: a word's
  pieces go together, and bag-of-words features are distinct words (equal piece
  sequences), as lime's words are. Padding (``attention_mask`` 0) and ``special_ids``
  (CLS, SEP, ...) are never features and are always kept.
- **Perturbed inputs** (:func:`remove_tokens`): a removed token is dropped (the rest close
  up and the sequence is padded at the end, as lime deletes words from the string) or
  replaced by ``mask_id`` (lime's ``bow=False`` puts ``"UNKWORDZ"`` in its place; a
  removed word of several pieces becomes one ``mask_id``, as lime's word does).
  :func:`align_tokens` moves any other per-token key of an encoding (``token_type_ids``)
  the same way, so every token that stays keeps its own value.

Text held as strings (lime's word splitting, perturbed strings) is
:mod:`torchlime.functional.words`. lime's text sampler (a uniform number of features removed) is
:func:`~torchlime.functional.sample_removals`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["TextFeatures", "align_tokens", "remove_tokens", "text_features"]


class TextFeatures(NamedTuple):
    """The interpretable features of a batch of token sequences."""

    token_features: Tensor
    """(B, L) int64 feature of each token, -1 for padding and special tokens."""
    feature_tokens: Tensor
    """(B, K) int64 token id of each feature, -1 beyond ``n_features[b]``."""
    n_features: Tensor
    """(B,) int64 features of each sequence ``K_b``."""
    word_start: Tensor
    """(B, L) bool, the tokens that begin a unit (a word with ``word_ids``, else every
    feature token): a removed unit replaced by ``mask_id`` keeps one token."""


def text_features(
    input_ids: Tensor,
    attention_mask: Tensor | None = None,
    *,
    bow: bool = True,
    special_ids: Sequence[int] | Tensor = (),
    word_ids: Tensor | None = None,
) -> TextFeatures:
    """Find the features of each sequence: distinct tokens or words (``bow``), or positions.

    Bag-of-words features are numbered by first occurrence, as lime's ``IndexedString``
    numbers words. One host sync (the padded feature count K); three with ``word_ids``.

    Args:
        input_ids: (B, L) int64 token ids.
        attention_mask: (B, L) 0/1 or bool, 0 on padding (None: no padding).
        bow: one feature per distinct unit (every occurrence together) or per position.
        special_ids: token ids that are never features (CLS, SEP, BOS, EOS, ...).
        word_ids: (B, L) int64 word index of each token (a Hugging Face tokenizer's
            ``encoding.word_ids()``, with -1 for its None), or None: every token is a unit.
            Consecutive tokens with the same word index form one word.

    Returns:
        :class:`TextFeatures`.

    Example:
        >>> f = text_features(torch.tensor([[5, 7, 5, 9]]))
        >>> f.token_features.tolist(), f.feature_tokens.tolist(), f.n_features.tolist()
        ([[0, 1, 0, 2]], [[5, 7, 9]], [3])
        >>> # "un ##real real un ##real": words {un·real, real}
        >>> ids, words = torch.tensor([[3, 4, 5, 3, 4]]), torch.tensor([[0, 0, 1, 2, 2]])
        >>> w = text_features(ids, word_ids=words)
        >>> w.token_features.tolist(), w.n_features.tolist()
        ([[0, 0, 1, 0, 0]], [2])
    """
    b, seq = input_ids.shape
    device = input_ids.device
    valid = torch.ones_like(input_ids, dtype=torch.bool)
    if attention_mask is not None:
        valid = attention_mask.bool()
    special = torch.as_tensor(special_ids, dtype=input_ids.dtype, device=device)
    if special.numel():
        valid = valid & ~torch.isin(input_ids, special)
    arange = torch.arange(seq, device=device).expand(b, seq)
    if word_ids is not None:
        return _word_features(input_ids, valid & (word_ids >= 0), word_ids, bow)
    if bow:
        # first occurrence of each token's id: sort ids (stable keeps positions ascending)
        big = torch.iinfo(input_ids.dtype).max
        key = torch.where(valid, input_ids, big)
        sorted_ids, order = key.sort(dim=1, stable=True)
        starts = torch.ones_like(valid)
        starts[:, 1:] = sorted_ids[:, 1:] != sorted_ids[:, :-1]
        run = starts.cumsum(1) - 1
        first_of_run = torch.full_like(order, seq).scatter_reduce(
            1, run, torch.where(starts, order, seq), "amin"
        )
        first_sorted = first_of_run.gather(1, run)
        first = torch.empty_like(order).scatter_(1, order, first_sorted)  # per token
        is_first = (first == arange) & valid
        rank = is_first.cumsum(1) - 1
        token_features = torch.where(valid, rank.gather(1, first), -1)
    else:
        is_first = valid
        token_features = torch.where(valid, valid.cumsum(1) - 1, -1)
    n_features = is_first.sum(1)
    k = max(int(n_features.max()), 1) if b else 1  # the one host sync
    slot = torch.where(is_first, token_features, k)
    feature_tokens = torch.full((b, k + 1), -1, dtype=torch.long, device=device)
    feature_tokens.scatter_(1, slot, input_ids.long())
    return TextFeatures(token_features, feature_tokens[:, :k], n_features, valid)


def _word_features(input_ids: Tensor, valid: Tensor, word_ids: Tensor, bow: bool) -> TextFeatures:
    """Words as units: runs of valid tokens with one word index (see :func:`text_features`).

    Distinct words are found by comparing every pair of words' pieces: (B, U, U, P)
    booleans for U words of at most P pieces, fine for sentences and paragraphs.
    """
    b = input_ids.shape[0]
    device = input_ids.device
    previous = torch.full_like(word_ids, -1)
    previous[:, 1:] = torch.where(valid[:, :-1], word_ids[:, :-1], -1)
    start = valid & (word_ids != previous)
    unit = torch.where(valid, start.cumsum(1) - 1, -1)  # (B, L) word of each token
    n_units = start.sum(1)
    u = max(int(n_units.max()), 1)  # host syncs: the widest sequence of words ...
    piece = torch.where(valid, _piece_index(start), 0)  # position inside its word
    p = int(piece.max()) + 1  # ... and the longest word
    # (B, U + 1, P) the pieces of every word, -1 padded; slot U collects non-features
    pieces = torch.full((b, u + 1, p), -1, dtype=torch.long, device=device)
    pieces[torch.arange(b, device=device)[:, None], torch.where(valid, unit, u), piece] = (
        input_ids.long()
    )
    pieces = pieces[:, :u]
    real = torch.arange(u, device=device) < n_units[:, None]
    if bow:  # a word's first occurrence: the first word with the same pieces
        same = (pieces[:, :, None, :] == pieces[:, None, :, :]).all(-1)  # (B, U, U)
        first = same.int().argmax(-1)
    else:
        first = torch.arange(u, device=device).expand(b, u)
    is_first = (first == torch.arange(u, device=device)) & real
    rank = is_first.cumsum(1) - 1
    unit_feature = rank.gather(1, first)  # (B, U)
    token_features = torch.where(valid, unit_feature.gather(1, unit.clamp(min=0)), -1)
    n_features = is_first.sum(1)
    k = max(int(n_features.max()), 1)
    slot = torch.where(is_first, unit_feature, k)
    feature_tokens = torch.full((b, k + 1), -1, dtype=torch.long, device=device)
    feature_tokens.scatter_(1, slot, pieces[:, :, 0])
    return TextFeatures(token_features, feature_tokens[:, :k], n_features, start)


def _piece_index(start: Tensor) -> Tensor:
    """(B, L) int64 distance of every position to the last True of ``start`` at or before it."""
    seq = start.shape[1]
    positions = torch.arange(seq, device=start.device).expand_as(start)
    last = torch.where(start, positions, 0).cummax(1).values
    return positions - last


def remove_tokens(
    input_ids: Tensor,
    attention_mask: Tensor,
    token_features: Tensor,
    keep: Tensor,
    *,
    mask_id: int | None = None,
    pad_id: int = 0,
    word_start: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Build perturbed sequences: tokens of removed features dropped or masked.

    Args:
        input_ids: (R, L) int64 token ids.
        attention_mask: (R, L) 0/1, 0 on padding.
        token_features: (R, L) int64 feature of each token (-1: not a feature, kept).
        keep: (R, K) bool, the features each row keeps.
        mask_id: None drops removed tokens (the kept ones close up, padding with
            ``pad_id`` at the end, the attention mask following); an id replaces them.
        pad_id: the padding id written after dropped tokens.
        word_start: (R, L) bool, the tokens that begin a word (:class:`TextFeatures`);
            with ``mask_id`` a removed word keeps one mask token and drops its other
            pieces. None: every token is its own unit.

    Returns:
        ``(input_ids, attention_mask)``, each (R, L) and of the inputs' dtypes.

    Example:
        >>> ids = torch.tensor([[101, 5, 7, 102]])
        >>> feats = torch.tensor([[-1, 0, 1, -1]])
        >>> keep = torch.tensor([[False, True]])
        >>> out, att = remove_tokens(ids, torch.ones_like(ids), feats, keep)
        >>> out.tolist(), att.tolist()
        ([[101, 7, 102, 0]], [[1, 1, 1, 0]])
    """
    removed, dropped = _removed(token_features, keep, mask_id is not None, word_start)
    if mask_id is not None:
        input_ids = torch.where(removed, mask_id, input_ids)
        if word_start is None:  # one token per unit: nothing closes up
            return input_ids, attention_mask
    stays = attention_mask.bool() & ~dropped
    seq = input_ids.shape[1]
    attention = torch.arange(seq, device=input_ids.device) < stays.sum(1, keepdim=True)
    return _close_up(input_ids, stays, pad_id), attention.to(attention_mask.dtype)


def align_tokens(
    values: Tensor,
    attention_mask: Tensor,
    token_features: Tensor,
    keep: Tensor,
    *,
    masked: bool = False,
    word_start: Tensor | None = None,
    pad: int = 0,
) -> Tensor:
    """Move any per-token values as :func:`remove_tokens` moves the tokens.

    ``token_type_ids``, position ids or any other (R, L) key of a tokenizer's encoding:
    a dropped token's entry goes with it, the rest close up, ``pad`` fills the end, so
    every token that stays keeps its own value (a segment B token stays in segment B). A
    masked token keeps its entry.

    Args:
        values: (R, L) the values of the original tokens.
        attention_mask: (R, L) 0/1, 0 on padding.
        token_features: (R, L) int64 feature of each token (-1: not a feature, kept).
        keep: (R, K) bool, the features each row keeps.
        masked: as ``mask_id is not None`` for :func:`remove_tokens`.
        word_start: (R, L) bool, as for :func:`remove_tokens`.
        pad: the value written after the last token.

    Returns:
        (R, L), of ``values``' dtype.

    Example:
        >>> types = torch.tensor([[0, 0, 0, 1, 1]])
        >>> feats = torch.tensor([[-1, 0, -1, 1, -1]])
        >>> align_tokens(types, torch.ones_like(types), feats, torch.tensor([[False, True]]))
        tensor([[0, 0, 1, 1, 0]])
    """
    if masked and word_start is None:  # as remove_tokens: nothing moves
        return values
    _, dropped = _removed(token_features, keep, masked, word_start)
    return _close_up(values, attention_mask.bool() & ~dropped, pad)


def _removed(
    token_features: Tensor, keep: Tensor, masked: bool, word_start: Tensor | None
) -> tuple[Tensor, Tensor]:
    """(R, L) bool tokens of removed features, and those of them that are dropped."""
    is_feature = token_features >= 0
    removed = is_feature & ~keep.gather(1, token_features.clamp(min=0))
    if not masked:
        return removed, removed
    if word_start is None:
        return removed, torch.zeros_like(removed)
    return removed, removed & ~word_start  # a masked word keeps its first piece


def _close_up(values: Tensor, stays: Tensor, pad: int) -> Tensor:
    """(R, L) ``values`` where ``stays``, moved left in order, ``pad`` after them."""
    r, seq = values.shape
    dest = torch.where(stays, stays.cumsum(1) - 1, seq)  # column L is a dump
    out = torch.full((r, seq + 1), pad, dtype=values.dtype, device=values.device)
    out.scatter_(1, dest, values)
    return out[:, :seq]
