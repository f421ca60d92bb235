r"""Text as strings, as lime 0.2.0.1 holds it: words split from the text, texts with words removed.

- **Pieces** (:func:`split_text`): lime's ``IndexedString`` cuts a text with ``re.split``
  on ``(split_expression)`` (``\W+`` by default) into words and the separators between
  them, so that joining the pieces gives the text back; with a callable splitter the words
  are what it returns and the separators what lies between them; with ``char_level``
  (lime's ``IndexedCharacters``) every character is a word.
- **Tensors** (:func:`encode_texts`): a batch of texts as UTF-8 bytes (B, S) with its
  pieces as (B, L) ids local to each text (equal pieces, equal ids), word flags,
  character spans and the piece of every byte. :func:`~torchlime.functional.text_features`
  on the ids, with the word flags as its attention mask, gives lime's features: distinct
  words (``bow=True``) or word positions (``bow=False``), numbered as lime numbers them.
- **Perturbed texts** (:func:`remove_words`): the bytes of removed words dropped (lime's
  ``bow=True``) or replaced by a mask string (``bow=False``: ``"UNKWORDZ"``), for a chunk
  of rows at once, on the device; :func:`decode_texts` makes them ``str`` for a model over
  strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = [
    "SplitExpression",
    "Words",
    "decode_texts",
    "encode_strings",
    "encode_texts",
    "remove_words",
    "split_text",
]

SplitExpression = str | Callable[[str], list[str]]
"""A regular expression for ``re.split`` (lime's ``split_expression``, ``r"\\W+"``), or a
callable ``text -> words`` (the words must appear in the text in order)."""


def split_text(
    text: str, split_expression: SplitExpression = r"\W+", *, char_level: bool = False
) -> tuple[list[str], list[bool]]:
    """Cut a text into lime's pieces (words and separators) and say which are words.

    Exactly lime 0.2.0.1's ``IndexedString.as_list`` and its word test (or
    ``IndexedCharacters`` with ``char_level``): ``"".join(pieces) == text``.

    Args:
        text: the text.
        split_expression: a regex whose matches separate words, or a callable returning
            the words in order.
        char_level: every character is a word (lime's ``char_level=True``).

    Returns:
        ``(pieces, is_word)``: two lists of the same length.

    Raises:
        ValueError: when a callable's words are not found in the text, in order (lime's
            message).

    Example:
        >>> split_text("Great film, great!")
        (['Great', ' ', 'film', ', ', 'great', '!'], [True, False, True, False, True, False])
    """
    if char_level:
        return list(text), [True] * len(text)
    if callable(split_expression):
        words = split_expression(text)
        pieces = _segment_with_tokens(text, words)
        vocab = set(words)
        return pieces, [p in vocab for p in pieces]
    splitter = re.compile(rf"({split_expression})|$")
    pieces = [s for s in splitter.split(text) if s]
    return pieces, [splitter.match(p) is None for p in pieces]


def _segment_with_tokens(text: str, tokens: Sequence[str]) -> list[str]:
    """The words and what lies between them (lime's ``IndexedString._segment_with_tokens``)."""
    pieces = []
    pointer = 0
    for token in tokens:
        between = []
        while not text[pointer:].startswith(token):
            between.append(text[pointer])
            pointer += 1
            if pointer >= len(text):
                raise ValueError("Tokenization produced tokens that do not belong in string!")
        pointer += len(token)
        if between:
            pieces.append("".join(between))
        pieces.append(token)
    if pointer < len(text):
        pieces.append(text[pointer:])
    return pieces


class Words(NamedTuple):
    """A batch of texts as tensors: UTF-8 bytes and lime's pieces (words and separators)."""

    ids: Tensor
    """(B, L) int64 each piece's id in its own text (distinct pieces numbered by first
    appearance; 0 on padding)."""
    is_word: Tensor
    """(B, L) bool, the pieces that are words (False for separators and padding)."""
    spans: Tensor
    """(B, L, 2) int64 each piece's ``[start, stop)`` in characters of its text (lime's
    ``string_start``), -1 on padding."""
    text: Tensor
    """(B, S) uint8 each text in UTF-8, 0 after its end."""
    length: Tensor
    """(B,) int64 each text's length in bytes."""
    byte_piece: Tensor
    """(B, S) int64 the piece each byte belongs to, -1 after the text's end."""


def encode_texts(
    texts: Sequence[str],
    split_expression: SplitExpression = r"\W+",
    *,
    char_level: bool = False,
    device: torch.device | str | None = None,
) -> Words:
    """Split texts as lime does (:func:`split_text`) and hold them as tensors.

    Python work per text, once per call (lime does the same per text).

    Args:
        texts: B strings.
        split_expression: lime's ``split_expression`` (a regex or a callable).
        char_level: every character is a word.
        device: where the tensors are made.

    Returns:
        :class:`Words`.

    Example:
        >>> w = encode_texts(["a b, a"])
        >>> w.ids.tolist(), w.is_word.tolist(), w.length.tolist()
        ([[0, 1, 2, 3, 0]], [[True, False, True, False, True]], [6])
    """
    split = [split_text(t, split_expression, char_level=char_level) for t in texts]
    encoded = [t.encode("utf-8") for t in texts]
    b = len(texts)
    seq = max([1, *(len(p) for p, _ in split)])
    s = max([1, *(len(e) for e in encoded)])
    ids = torch.zeros(b, seq, dtype=torch.long)
    is_word = torch.zeros(b, seq, dtype=torch.bool)
    spans = torch.full((b, seq, 2), -1, dtype=torch.long)
    text = torch.zeros(b, s, dtype=torch.uint8)
    byte_piece = torch.full((b, s), -1, dtype=torch.long)
    for i, ((pieces, words), raw) in enumerate(zip(split, encoded, strict=True)):
        n = len(pieces)
        local: dict[str, int] = {}
        ids[i, :n] = torch.tensor(
            [local.setdefault(p, len(local)) for p in pieces], dtype=torch.long
        )
        is_word[i, :n] = torch.tensor(words, dtype=torch.bool)
        chars = torch.tensor([len(p) for p in pieces], dtype=torch.long)
        stops = chars.cumsum(0)
        spans[i, :n] = torch.stack([stops - chars, stops], 1)
        if raw:
            text[i, : len(raw)] = torch.frombuffer(bytearray(raw), dtype=torch.uint8)
            n_bytes = torch.tensor([len(p.encode("utf-8")) for p in pieces], dtype=torch.long)
            byte_piece[i, : len(raw)] = torch.arange(n).repeat_interleave(n_bytes)
    length = torch.tensor([len(e) for e in encoded], dtype=torch.long)
    out = Words(ids, is_word, spans, text, length, byte_piece)
    return Words(*(t.to(device) for t in out)) if device is not None else out


def remove_words(
    text: Tensor,
    byte_piece: Tensor,
    token_features: Tensor,
    keep: Tensor,
    *,
    mask: Tensor | None = None,
    width: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Build perturbed texts as bytes: removed words dropped or replaced by ``mask``.

    lime's ``inverse_removing`` for a chunk of rows at once, with gathers and scatters on
    the device: separators always stay, so with ``mask=None`` a removed word leaves its
    separators side by side (lime's ``bow=True``), and with a mask each removed word
    becomes the mask (lime's ``bow=False``).

    Args:
        text: (R, S) uint8 UTF-8 texts (0 after their end).
        byte_piece: (R, S) int64 piece of each byte, -1 after the text's end.
        token_features: (R, L) int64 feature of each piece, -1 for separators and padding.
        keep: (R, K) bool, the features each row keeps.
        mask: (M,) uint8 the mask string's UTF-8 bytes, or None to drop removed words.
        width: W, the width of the result (at least the longest result); None: S with
            ``mask=None``, else ``S * max(M, 1)``.

    Returns:
        ``(text, length)``: (R, W) uint8 perturbed texts, 0 after their end, and (R,)
        int64 their lengths in bytes.

    Example:
        >>> w = encode_texts(["good film, good"])
        >>> feats = torch.tensor([[0, -1, 1, -1, 0]])  # words good, film; bag of words
        >>> keep = torch.tensor([[False, True]])
        >>> out, n = remove_words(w.text, w.byte_piece, feats, keep)
        >>> decode_texts(out, n)
        [' film, ']
        >>> stars = torch.tensor([42, 42], dtype=torch.uint8)  # "**"
        >>> out, n = remove_words(w.text, w.byte_piece, feats, keep, mask=stars)
        >>> decode_texts(out, n)
        ['** film, **']
    """
    r, s = text.shape
    seq = token_features.shape[1]
    m = 0 if mask is None else mask.numel()
    if width is None:
        width = s * max(m, 1)
    device = text.device
    valid = byte_piece >= 0
    piece = byte_piece.clamp(min=0)
    is_feature = token_features >= 0
    removed = is_feature & ~keep.gather(1, token_features.clamp(min=0))  # (R, L) per piece
    n_bytes = torch.zeros(r, seq, dtype=torch.long, device=device)
    n_bytes.scatter_add_(1, piece, valid.long())
    size = torch.where(removed, m, n_bytes)  # bytes each piece writes
    end = size.cumsum(1)
    begin = end - size
    first_byte = n_bytes.cumsum(1) - n_bytes  # where each piece starts in the input
    offset = torch.arange(s, device=device) - first_byte.gather(1, piece)
    stays = valid & ~removed.gather(1, piece)
    dest = torch.where(stays, begin.gather(1, piece) + offset, width)  # column W is a dump
    out = torch.zeros(r, width + 1, dtype=torch.uint8, device=device)
    out.scatter_(1, dest, text)
    if mask is not None and m:
        spots = torch.where(
            removed[..., None], begin[..., None] + torch.arange(m, device=device), width
        )
        out.scatter_(1, spots.flatten(1), mask.to(device).expand(r, seq, m).flatten(1))
    return out[:, :width], end[:, -1]


def decode_texts(text: Tensor, length: Tensor) -> list[str]:
    """UTF-8 rows as strings: one copy to the host, then one ``bytes.decode`` per row.

    Args:
        text: (R, W) uint8.
        length: (R,) int64 bytes of each row.

    Returns:
        R strings.

    Example:
        >>> decode_texts(torch.tensor([[104, 105, 0]], dtype=torch.uint8), torch.tensor([2]))
        ['hi']
    """
    data = text.cpu().numpy()
    return [data[i, :n].tobytes().decode("utf-8") for i, n in enumerate(length.tolist())]


def encode_strings(rows: Sequence[Sequence[str]]) -> Tensor:
    """Rows of strings (a tokenizer's pieces, texts) in UTF-8, as one padded tensor.

    Args:
        rows: B rows of strings (of any lengths).

    Returns:
        (B, L, P) uint8, L the longest row and P the longest string in bytes, 0 padded.

    Example:
        >>> encode_strings([["é", "ab"]]).tolist()
        [[[195, 169], [97, 98]]]
    """
    raw = [[s.encode("utf-8") for s in row] for row in rows]
    length = max([1, *(len(row) for row in raw)])
    width = max([1, *(len(s) for row in raw for s in row)])
    out = torch.zeros(len(raw), length, width, dtype=torch.uint8)
    for i, row in enumerate(raw):
        for j, s in enumerate(row):
            if s:
                out[i, j, : len(s)] = torch.frombuffer(bytearray(s), dtype=torch.uint8)
    return out
