"""LimeText: LIME for models on token ids, a batch of sequences per call, on the device.

lime 0.2.0.1's ``LimeTextExplainer`` on token-id tensors instead of strings:

- **Features** (:func:`text_features`): the distinct tokens of a sequence, in order of
  first occurrence (lime's bag of words, ``bow=True``: removing a token removes every
  occurrence), or every token position (``bow=False``). With ``word_ids`` (a subword
  tokenizer's word index of each token) the units are words instead of tokens: a word's
  pieces go together, and bag-of-words features are distinct words (equal piece
  sequences), as lime's words are. Padding (``attention_mask`` 0) and ``special_ids``
  (CLS, SEP, ...) are never features and are always kept.
- **Sampling** (:func:`sample_removals`): lime's scheme, not Bernoulli: each sample
  removes a uniform number ``1..K_b`` of distinct features, chosen uniformly; row 0 is
  the sequence itself.
- **Perturbed inputs** (:func:`remove_tokens`): a removed token is dropped (the rest close
  up and the sequence is padded at the end, as lime deletes words from the string) or
  replaced by ``mask_id`` (lime's ``bow=False`` puts ``"UNKWORDZ"`` in its place; a
  removed word of several pieces becomes one ``mask_id``, as lime's word does).
  Built chunk by chunk: memory is bounded by ``batch_size`` rows.
- **Weights**: lime's cosine kernel (width 25 on 100 x cosine distance).
- **Surrogate**: the engine's feature selection and weighted ridge.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from torchlime import _checks, _engine
from torchlime.explanation import TextExplanation
from torchlime.functional.kernels import lime_kernel
from torchlime.functional.sampling import random_ranks, resolve_generator

__all__ = ["LimeText", "TextFeatures", "remove_tokens", "sample_removals", "text_features"]


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


def sample_removals(
    n_features: Tensor,
    n_samples: int,
    k_max: int | None = None,
    *,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Draw lime's text samples: remove a uniform number ``1..K_b`` of distinct features.

    For each sample, ``size ~ U{1, ..., K_b}`` features chosen uniformly without
    replacement are switched off (lime's ``randint(1, K_b + 1)`` then ``choice(K_b, size,
    replace=False)``); row 0 keeps everything. Padding features (``k >= K_b``) stay on.

    Args:
        n_features: (B,) int64 features per example ``K_b`` (>= 1).
        n_samples: N >= 1 samples per example, row 0 included.
        k_max: K, the padded width (default ``n_features.max()``, a host sync).
        generator: source of randomness on ``n_features``' device (None: fresh seed).

    Returns:
        (B, N, K) bool, True where a feature is kept.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> masks = sample_removals(torch.tensor([3, 5]), 4, generator=g)
        >>> masks.shape, masks[:, 0].all().item(), (~masks[:, 1:]).sum(-1).ge(1).all().item()
        (torch.Size([2, 4, 5]), True, True)
    """
    generator, device = resolve_generator(generator, n_features.device)
    b = n_features.shape[0]
    k = int(n_features.max()) if k_max is None else k_max
    counts = n_features.to(torch.float64)[:, None]
    u = torch.rand(b, n_samples, generator=generator, device=device, dtype=torch.float64)
    size = torch.minimum((u * counts).floor() + 1, counts)  # U{1..K_b}
    rank = random_ranks(b, n_samples, k, n_features, generator)  # padding last: never removed
    masks = rank >= size[..., None]
    masks[:, 0] = True
    return masks


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
    is_feature = token_features >= 0
    kept = keep.gather(1, token_features.clamp(min=0))
    removed = is_feature & ~kept
    dropped = removed
    if mask_id is not None:
        input_ids = torch.where(removed, mask_id, input_ids)
        if word_start is None:  # one token per unit: nothing closes up
            return input_ids, attention_mask
        dropped = removed & ~word_start  # the word's other pieces
    r, seq = input_ids.shape
    stays = attention_mask.bool() & ~dropped
    dest = torch.where(stays, stays.cumsum(1) - 1, seq)  # column L is a dump
    out = torch.full((r, seq + 1), pad_id, dtype=input_ids.dtype, device=input_ids.device)
    out.scatter_(1, dest, input_ids)
    length = stays.sum(1, keepdim=True)
    attention = (torch.arange(seq, device=input_ids.device) < length).to(attention_mask.dtype)
    return out[:, :seq], attention


class LimeText(nn.Module):
    """LIME for text models on token ids: (B, L) sequences at once, as lime's LimeTextExplainer.

    The model is called as ``model(input_ids=..., attention_mask=...)`` (the Hugging Face
    convention; wrap other signatures in a lambda) on chunks of ``batch_size`` perturbed
    sequences, and may return logits (n, O), a tuple whose first item they are, or an
    object or dict with ``logits``. It is stored as ``self.model`` (a submodule when it
    is an ``nn.Module``); a model found in training mode is explained in eval mode and
    handed back as found.

    As in lime, a sample may remove every feature; with ``mask_id=None`` and no special
    token kept, the model then sees an all-padding row (attention mask all 0) and must
    return finite scores for it (lime hands it the empty string).

    Features are tokens, or words when the call gets ``word_ids=`` (a subword tokenizer's
    word index per token: a word's pieces are removed together, and a bag-of-words
    feature is a distinct word, as lime's). ``exp.as_list(vocab)`` names them (a list or
    mapping id -> string, or a callable; a word's pieces are joined).

    Args:
        model: callable ``(input_ids=(n, L), attention_mask=(n, L)) -> (n, O)`` logits.
        bow: bag of words (a feature is a distinct token; lime's default) or positions.
        mask_id: None drops removed tokens (lime's ``bow=True`` deletes words); an id
            (a [MASK] or [UNK] token) replaces them (lime's ``bow=False`` puts
            ``"UNKWORDZ"``).
        pad_id: padding id written after dropped tokens.
        special_ids: token ids never explained nor removed (CLS, SEP, ...).
        output: ``"softmax"`` (default), ``"identity"``, ``"sigmoid"``, ``"log_softmax"``
            or a callable ``(n, O) -> (n, O)``.
        n_samples: N >= 2 samples per sequence, the sequence included (lime: 5000).
        batch_size: perturbed sequences per model call (bounds memory).
        kernel_width: lime's text kernel width, on 100 x cosine distance (25).
        alpha: ridge penalty of the surrogate (lime: 1).
        feature_selection: ``"auto"``, ``"none"``, ``"highest_weights"``,
            ``"forward_selection"`` or ``"lasso_path"``, as lime.
        max_features: lime's ``num_features`` (10, lime's default); None keeps all.
        progress: progress bar on stderr (None: only on a terminal).
        eval_mode: borrow eval mode for the model during the call.
        validate: check inputs and outputs (host syncs at the boundary).

    Example:
        >>> emb = nn.EmbeddingBag(20, 2)
        >>> model = lambda input_ids, attention_mask: emb(input_ids, per_sample_weights=None)
        >>> explainer = LimeText(model, n_samples=50, progress=False)
        >>> g = torch.Generator().manual_seed(0)
        >>> exp = explainer(torch.tensor([[3, 4, 3, 5]]), generator=g)
        >>> exp.coef.shape, len(exp.as_list())
        (torch.Size([1, 1, 3]), 3)
    """

    def __init__(
        self,
        model: Callable[..., Any],
        *,
        bow: bool = True,
        mask_id: int | None = None,
        pad_id: int = 0,
        special_ids: Sequence[int] = (),
        output: _engine.Output = "softmax",
        n_samples: int = 5000,
        batch_size: int = 256,
        kernel_width: float = 25.0,
        alpha: float = 1.0,
        feature_selection: str = "auto",
        max_features: int | None = 10,
        progress: bool | None = None,
        eval_mode: bool = True,
        validate: bool = True,
    ) -> None:
        super().__init__()
        _engine.check_config(
            n_samples=n_samples,
            batch_size=batch_size,
            output=output,
            feature_selection=feature_selection,
            max_features=max_features,
            kernel_width=kernel_width,
            alpha=alpha,
        )
        self.model = model
        self.bow = bow
        self.mask_id = mask_id
        self.pad_id = pad_id
        self.special_ids = [int(i) for i in special_ids]
        self.output = output
        self.n_samples = n_samples
        self.batch_size = batch_size
        self.kernel_width = float(kernel_width)
        self.alpha = alpha
        self.feature_selection = feature_selection
        self.max_features = max_features
        self.progress = progress
        self.eval_mode = eval_mode
        self.validate = validate

    def extra_repr(self) -> str:
        """Configuration shown in ``repr``."""
        return (
            f"bow={self.bow}, mask_id={self.mask_id}, pad_id={self.pad_id}, "
            f"special_ids={self.special_ids}, output={self.output!r}, "
            f"n_samples={self.n_samples}, batch_size={self.batch_size}, "
            f"kernel_width={self.kernel_width}, alpha={self.alpha}, "
            f"feature_selection={self.feature_selection!r}, max_features={self.max_features}"
        )

    def forward(
        self,
        input_ids: Tensor,
        target: int | Tensor | None = None,
        *,
        attention_mask: Tensor | None = None,
        top_labels: int | None = None,
        masks: Tensor | None = None,
        word_ids: Tensor | None = None,
        generator: torch.Generator | None = None,
        keep_samples: bool = False,
        differentiable: bool = False,
    ) -> TextExplanation:
        """Explain a batch of token sequences.

        Args:
            input_ids: (B, L) integer token ids.
            target: an int, (B,) or (B, T) output indices; None explains each sequence's
                ``top_labels`` most probable outputs (1 by default).
            attention_mask: (B, L) 0/1, 0 on padding (None: no padding).
            top_labels: T, with ``target=None``: each sequence's T top outputs.
            masks: (B, N, K) bool interpretable samples instead of lime's sampler (K the
                largest feature count; row 0 is forced to all True).
            word_ids: (B, L) integer word index of each token, -1 outside words (from a
                Hugging Face tokenizer: ``[[-1 if w is None else w for w in
                enc.word_ids(i)] for i in range(B)]``); features are then words.
            generator: source of randomness on the inputs' device (None: a fresh seed,
                recorded in ``Explanation.seed``).
            keep_samples: keep masks, scores and weights on the explanation.
            differentiable: keep the autograd graph from the model to the coefficients.

        Returns:
            :class:`~torchlime.explanation.TextExplanation`.

        Raises:
            ValueError: for a non-2-D batch, an attention mask or word ids of another shape, a
                sequence with no feature (empty text), masks of the wrong shape,
                targets out of range, or a model output that is not (n, O).
            TypeError: for non-integer token ids or non-integer targets.
        """
        ids, attention = _check_tokens(input_ids, attention_mask)
        words = _check_word_ids(word_ids, ids)
        b = ids.shape[0]
        target_bt = _engine.normalise_target(target, top_labels, b)
        feats = text_features(
            ids, attention, bow=self.bow, special_ids=self.special_ids, word_ids=words
        )
        word_start = None if words is None else feats.word_start
        k = feats.feature_tokens.shape[1]
        if self.validate and not torch.compiler.is_compiling():
            empty = feats.n_features == 0
            if bool(empty.any()):
                raise ValueError(
                    f"sequences {empty.nonzero().flatten().tolist()[:10]} have no feature to "
                    "explain (empty text: only padding and special tokens)"
                )
        generator, seed = _engine.new_generator(generator, ids.device)
        if masks is None:
            masks = sample_removals(feats.n_features, self.n_samples, k, generator=generator)
        else:
            masks = _checks.masks(masks, b, ids.device, k)
        n = masks.shape[1]
        weights = lime_kernel(
            masks, self.kernel_width / 100.0, feats.n_features, dtype=torch.float64
        )
        per = n - 1
        # flat perturbed rows (engine order) and the sequence each belongs to, once per call
        perturbed = masks[:, 1:].reshape(b * per, k)
        owner = torch.arange(b, device=ids.device).repeat_interleave(per)

        def compose_rows(start: int, stop: int) -> dict[str, Tensor]:
            example = owner[start:stop]
            new_ids, new_attention = remove_tokens(
                ids.index_select(0, example),
                attention.index_select(0, example),
                feats.token_features.index_select(0, example),
                perturbed[start:stop],
                mask_id=self.mask_id,
                pad_id=self.pad_id,
                word_start=None if word_start is None else word_start.index_select(0, example),
            )
            return {"input_ids": new_ids, "attention_mask": new_attention}

        with _engine.borrowed_eval(self.model, self.eval_mode):
            result = _engine.score_samples(
                self._call,
                {"input_ids": ids, "attention_mask": attention},
                compose_rows,
                batch=b,
                n_samples=n,
                target=target_bt,
                top_labels=top_labels,
                output=self.output,
                batch_size=self.batch_size,
                device=ids.device,
                progress=self.progress,
                differentiable=differentiable,
                validate=self.validate,
                take=lambda inputs, i, j: {key: v[i:j] for key, v in inputs.items()},
            )
        fit = _engine.fit_surrogate(
            masks,
            result.scores,
            weights,
            feats.n_features,
            alpha=self.alpha,
            feature_selection=self.feature_selection,
            max_features=self.max_features,
        )
        return TextExplanation(
            **_engine.explanation_fields(
                fit,
                result.scores,
                result.target,
                masks,
                weights,
                feats.n_features,
                seed,
                keep_samples=keep_samples,
            ),
            input_ids=ids,
            feature_tokens=feats.feature_tokens,
            token_features=feats.token_features,
            word_start=word_start,
        )

    def _call(self, inputs: dict[str, Tensor]) -> Tensor:
        return _logits(self.model(**inputs))


def _logits(out: Any) -> Any:
    """The (n, O) logits of a model's output: a tensor, ``.logits``, ``["logits"]``, ``[0]``."""
    if isinstance(out, Tensor):
        return out
    if isinstance(out, dict) and "logits" in out:
        return out["logits"]
    if hasattr(out, "logits"):
        return out.logits
    if isinstance(out, (tuple, list)) and out:
        return out[0]
    return out


def _check_word_ids(word_ids: Any, ids: Tensor) -> Tensor | None:
    if word_ids is None:
        return None
    if not isinstance(word_ids, Tensor) or word_ids.shape != ids.shape:
        got = tuple(word_ids.shape) if isinstance(word_ids, Tensor) else type(word_ids).__name__
        raise ValueError(
            f"word_ids must be (B, L) = {tuple(ids.shape)} like input_ids (-1 for tokens "
            f"outside words); got {got}"
        )
    if word_ids.is_floating_point() or word_ids.is_complex() or word_ids.dtype == torch.bool:
        raise TypeError(f"word_ids must hold integer word indices; got dtype {word_ids.dtype}")
    return word_ids.to(device=ids.device, dtype=torch.long)


def _check_tokens(input_ids: Any, attention_mask: Any) -> tuple[Tensor, Tensor]:
    if not isinstance(input_ids, Tensor):
        raise TypeError(
            f"input_ids must be a (B, L) tensor of token ids; got {type(input_ids).__name__} "
            "(tokenize first, e.g. tokenizer(texts, return_tensors='pt', padding=True))"
        )
    if input_ids.is_floating_point() or input_ids.is_complex() or input_ids.dtype == torch.bool:
        raise TypeError(f"input_ids must hold integer token ids; got dtype {input_ids.dtype}")
    if input_ids.ndim != 2:
        hint = " (add a batch dimension: input_ids[None])" if input_ids.ndim == 1 else ""
        raise ValueError(f"input_ids must be (B, L); got shape {tuple(input_ids.shape)}{hint}")
    if input_ids.shape[0] == 0 or input_ids.shape[1] == 0:
        raise ValueError(
            f"input_ids must hold at least one non-empty sequence (empty text); got shape "
            f"{tuple(input_ids.shape)}"
        )
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    if not isinstance(attention_mask, Tensor) or attention_mask.shape != input_ids.shape:
        got = (
            tuple(attention_mask.shape)
            if isinstance(attention_mask, Tensor)
            else type(attention_mask).__name__
        )
        raise ValueError(
            f"attention_mask must be (B, L) = {tuple(input_ids.shape)} like input_ids; got {got}"
        )
    return input_ids.long(), attention_mask.to(input_ids.device)
