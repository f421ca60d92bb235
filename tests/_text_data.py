"""A toy vocabulary, lime-style word tokenizers and a toy WordPiece, shared by the LimeText
and the functional text tests."""

import re

import numpy as np
import torch

SENTENCES = [
    "the film was a great joy and the cast was great",
    "a dull plot with a dull ending",
    "not bad at all but not good either",
]
PAD, UNK, CLS = 0, 1, 2
WORDS = sorted({w for s in SENTENCES for w in s.split()})
VOCAB = {"<pad>": PAD, "UNKWORDZ": UNK, "<cls>": CLS} | {w: i + 3 for i, w in enumerate(WORDS)}
NAMES = {i: w for w, i in VOCAB.items()}


def _tokenize(texts, cls=False):
    rows = [[VOCAB[w] for w in re.split(r"\W+", t) if w] for t in texts]
    if cls:
        rows = [[CLS, *r] for r in rows]
    length = max(1, max(len(r) for r in rows))
    ids = torch.full((len(rows), length), PAD, dtype=torch.long)
    attention = torch.zeros(len(rows), length, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        attention[i, : len(r)] = 1
    return ids, attention


WORD_SENTENCES = [
    "the wonderful film was a wonderful joy",
    "a very very tedious and unbearable ending",
]
PIECE_WORDS = sorted({w for t in WORD_SENTENCES for w in t.split()})


def _pieces(word):
    """A toy WordPiece: 3-letter chunks, continuations marked with ##."""
    chunks = [word[i : i + 3] for i in range(0, len(word), 3)]
    return [chunks[0], *["##" + c for c in chunks[1:]]]


PIECE_VOCAB = {"<pad>": PAD, "UNKWORDZ": UNK, "<cls>": CLS}
for _w in PIECE_WORDS:
    for _p in _pieces(_w):
        PIECE_VOCAB.setdefault(_p, len(PIECE_VOCAB))
PIECE_NAMES = {i: p for p, i in PIECE_VOCAB.items()}


def _tokenize_pieces(texts):
    """(ids, attention, word_ids) with a CLS token first (word id -1), padding -1."""
    rows, words = [], []
    for t in texts:
        ids, wids = [CLS], [-1]
        for j, w in enumerate(x for x in re.split(r"\W+", t) if x):
            parts = ["UNKWORDZ"] if w == "UNKWORDZ" else _pieces(w)
            ids += [PIECE_VOCAB[p] for p in parts]
            wids += [j] * len(parts)
        rows.append(ids)
        words.append(wids)
    length = max(len(r) for r in rows)
    out = torch.full((len(rows), length), PAD, dtype=torch.long)
    attention = torch.zeros(len(rows), length, dtype=torch.long)
    word_ids = torch.full((len(rows), length), -1, dtype=torch.long)
    for i, (r, w) in enumerate(zip(rows, words, strict=True)):
        out[i, : len(r)], attention[i, : len(r)] = torch.tensor(r), 1
        word_ids[i, : len(w)] = torch.tensor(w)
    return out, attention, word_ids


class FixedRemovals:
    """Stands in for lime's RandomState: the sizes and removed features torchlime drew,
    so that lime 0.2.0.1 perturbs text exactly as torchlime did."""

    def __init__(self, masks):
        self.removed = [np.flatnonzero(~m) for m in masks[1:]]
        self.calls = 0

    def randint(self, low, high, size):
        return np.array([len(r) for r in self.removed])

    def choice(self, a, size, replace=False):
        removed = self.removed[self.calls]
        self.calls += 1
        assert len(removed) == size
        return removed
