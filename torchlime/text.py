"""LimeText: LIME for text models, a batch of texts per call: token ids, or strings as lime.

The text hooks of the explainer template, with lime 0.2.0.1's ``LimeTextExplainer``
semantics. Three inputs, one pipeline:

- **token ids** (B, L): the features are distinct tokens or words (bag of words) or
  positions (:func:`~torchlime.functional.text_features`), removed tokens are dropped or
  masked (:func:`~torchlime.functional.remove_tokens`) chunk by chunk;
- **strings with a tokenizer** (``tokenizer=``, or a ``BatchEncoding`` passed in): the
  tokenizer's encoding, its ``word_ids()`` making words of pieces, then as token ids, every
  per-token key (``token_type_ids``, ...) forwarded and kept aligned;
- **strings with a model over strings** (lime's ``classifier_fn(list[str]) -> (n, O)``):
  lime's split into words and separators (:func:`~torchlime.functional.words.split_text`),
  perturbed texts built as UTF-8 bytes for a chunk at once
  (:func:`~torchlime.functional.words.remove_words`) and decoded for the model.

Everywhere lime's sampler removes a uniform number of features
(:func:`~torchlime.functional.sample_removals`) and the kernel is lime's cosine kernel,
width 25 on 100 x the cosine distance.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor, nn

from torchlime import _checks
from torchlime._engine import Compose
from torchlime._explainer import Explainer, Features, Samples
from torchlime.explanation import Explanation, TextExplanation
from torchlime.functional import words
from torchlime.functional.sampling import sample_removals
from torchlime.functional.text import TextFeatures, align_tokens, remove_tokens, text_features
from torchlime.types import Output, Sampler

__all__ = [
    "LimeText",
    "TextFeatures",
    "align_tokens",
    "remove_tokens",
    "sample_removals",
    "text_features",
]

_NOT_INPUTS = {"offset_mapping", "special_tokens_mask", "length", "overflow_to_sample_mapping"}


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Tokens(Features):
    """Sequences (``inputs``: input_ids, attention_mask, other keys) and their features."""

    token_features: Tensor
    """(B, L) int64 feature of each token, -1 for tokens that are not features."""
    feature_tokens: Tensor
    """(B, K) int64 token id of each feature's first piece."""
    word_start: Tensor | None
    """(B, L) bool first piece of each word (with word_ids), else None."""
    text: Tensor | None = None
    """(B, S) uint8 the texts, when given as strings."""
    spans: Tensor | None = None
    """(B, L, 2) int64 character span of each token in its text."""
    pieces: Tensor | None = None
    """(B, L, P) uint8 each token's string."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Strings(_Tokens):
    """Texts for a model over strings (``inputs``: UTF-8 ``text`` (B, W), ``length`` (B,))."""

    ids: Tensor
    """(B, L) int64 lime's pieces, as ids local to each text."""
    attention: Tensor
    """(B, L) int64, 1 on pieces, 0 on padding."""
    byte_piece: Tensor
    """(B, W) int64 the piece of each byte of ``inputs["text"]``, -1 after the end."""
    width: int
    """W: bytes of the longest perturbed text."""
    mask: Tensor | None = dataclasses.field(default=None, metadata={"shared": True})
    """(M,) uint8 the mask string (``bow=False``), or None: removed words are dropped."""


class LimeText(Explainer):
    r"""LIME for text: (B, L) token ids, or strings (with a tokenizer, or a model over strings).

    **Token ids.** The model is called as ``model(input_ids=..., attention_mask=...)``
    (the Hugging Face convention; wrap other signatures in a lambda) on chunks of
    ``batch_size`` perturbed sequences, and may return logits (n, O), a tuple whose first
    item they are, or an object or dict with ``logits``. Features are tokens, or words
    when the call gets ``word_ids=`` (a subword tokenizer's word index per token: a word's
    pieces are removed together, and a bag-of-words feature is a distinct word, as
    lime's). ``exp.as_list(vocab)`` names them (a list or mapping id -> string, or a
    callable; a word's pieces are joined).

    **Strings with a tokenizer** (``tokenizer=``): ``explainer(["text", ...])`` tokenizes
    with ``padding=True, truncation=True`` (a fast tokenizer's offsets kept) on the model's
    device, or takes a ``BatchEncoding`` (any mapping with ``input_ids``) as it is. A fast
    tokenizer's ``word_ids()`` make words the features (a word split into pieces is one
    feature; special tokens none); every other per-token key (``token_type_ids``, ...) is
    forwarded to the model, and a dropped token takes its entries with it
    (:func:`~torchlime.functional.text.align_tokens`), so every token keeps its own segment id.
    ``exp.tokens()`` are the tokenizer's pieces, ``exp.as_list()`` names words as written.

    **Strings with a model over strings** (no tokenizer): lime's habit,
    ``model(list[str]) -> (n, O)`` (a numpy array, a tensor or a list), called on at most
    ``batch_size`` texts at a time. Words are split as lime 0.2.0.1's ``IndexedString``
    (``split_expression``, ``char_level``); ``bow=True`` drops removed words (every
    occurrence), ``bow=False`` puts ``mask_string`` in their place, exactly as lime, so
    the same samples give lime's explanation. ``exp.tokens(i)`` are lime's pieces (words
    and separators, ``"".join`` gives the text), ``exp.as_list()`` lime's words.

    As in lime, a sample may remove every feature: the model then sees an empty text (or
    an all-padding row with ``mask_id=None``) and must return finite scores for it. The
    model is stored as ``self.model`` (a submodule when it is an ``nn.Module``); a model
    found in training mode is explained in eval mode and handed back as found.

    Args:
        model: ``(input_ids=(n, L), attention_mask=(n, L), ...) -> (n, O)`` logits, or
            ``(list[str]) -> (n, O)`` scores for strings without a tokenizer.
        tokenizer: a Hugging Face tokenizer: strings are tokenized for the model.
        bow: bag of words (a feature is a distinct word or token; lime's default) or
            positions.
        mask_id: token paths: None drops removed tokens (lime's ``bow=True`` deletes
            words); an id (a [MASK] or [UNK] token) replaces them.
        pad_id: token paths: padding id written after dropped tokens.
        special_ids: token ids never explained nor removed (CLS, SEP, ...; a tokenizer's
            special tokens are added).
        split_expression: strings: lime's ``split_expression``, a regex separating words
            (``r"\W+"``) or a callable ``text -> list[str]`` of words.
        char_level: strings: every character is a word (lime's ``char_level``).
        mask_string: strings with ``bow=False``: what replaces a removed word (None:
            lime's ``"UNKWORDZ"``, ``chr(0)`` with ``char_level``).
        output: ``"softmax"``, ``"identity"``, ``"sigmoid"``, ``"log_softmax"`` or a
            callable ``(n, O) -> (n, O)``; None (default): ``"identity"`` for a model over
            strings (lime's ``classifier_fn`` returns probabilities, explained as they are),
            ``"softmax"`` for a model over token ids (logits). The recipe records which.
        n_samples: N >= 2 samples per text, the text included (lime: 5000), or ``"auto"``.
        batch_size: perturbed inputs per model call (bounds memory), or ``"auto"`` (at
            most 256).
        kernel_width: lime's text kernel width, on 100 x cosine distance (25).
        alpha: ridge penalty of the surrogate (lime: 1).
        feature_selection: ``"auto"``, ``"none"``, ``"highest_weights"``,
            ``"forward_selection"`` or ``"lasso_path"``, as lime.
        max_features: lime's ``num_features`` (10, lime's default); None keeps all.
        sampler: ``"lime"`` (lime's: a uniform number of features removed), or any other
            sampler, under lime's removal law where it has one (``"paired"``,
            ``"stratified"``, ``"binomial"``; see :mod:`torchlime.functional.sampling`).
        **settings: the shared settings (see :class:`~torchlime._explainer.Explainer`).

    Example:
        >>> from torch import nn
        >>> emb = nn.EmbeddingBag(20, 2)
        >>> model = lambda input_ids, attention_mask: emb(input_ids, per_sample_weights=None)
        >>> explainer = LimeText(model, n_samples=50, progress=False)
        >>> exp = explainer(torch.tensor([[3, 4, 3, 5]]), generator=0)
        >>> exp.coef.shape, len(exp.as_list()), exp.config["distance_scale"]
        (torch.Size([1, 1, 3]), 3, 100.0)

        Strings, with a model over strings as lime's ``classifier_fn``:

        >>> import numpy as np
        >>> def classifier_fn(texts):  # list[str] -> (n, 2) probabilities
        ...     p = 1 / (1 + np.exp(1 - 2.0 * np.array([t.count("good") for t in texts])))
        ...     return np.stack([1 - p, p], 1)
        >>> exp = LimeText(classifier_fn, n_samples=200, progress=False)(
        ...     "A good film, and a good cast.", target=1, generator=0
        ... )
        >>> exp.as_list()[0][0], "".join(exp.tokens()), exp.config["output"]
        ('good', 'A good film, and a good cast.', 'identity')
    """

    explanation = TextExplanation
    law = "removal"
    distance = "cosine"
    distance_scale = 100.0

    def __init__(
        self,
        model: Callable[..., Any],
        *,
        tokenizer: Any = None,
        bow: bool = True,
        mask_id: int | None = None,
        pad_id: int = 0,
        special_ids: Sequence[int] = (),
        split_expression: words.SplitExpression = r"\W+",
        char_level: bool = False,
        mask_string: str | None = None,
        output: Output | None = None,
        n_samples: int | str = 5000,
        batch_size: int | str = "auto",
        kernel_width: float = 25.0,
        alpha: float = 1.0,
        feature_selection: str = "auto",
        max_features: int | None = 10,
        sampler: Sampler = "lime",
        **settings: Any,
    ) -> None:
        super().__init__(
            model,
            n_samples=n_samples,
            batch_size=batch_size,
            kernel_width=kernel_width,
            alpha=alpha,
            feature_selection=feature_selection,
            max_features=max_features,
            output="softmax" if output is None else output,
            sampler=sampler,
            **settings,
        )
        if tokenizer is not None and (char_level or not callable(tokenizer)):
            raise ValueError(
                "tokenizer must be a callable tokenizer, and splits the strings itself "
                f"(char_level=False); got {type(tokenizer).__name__}, char_level={char_level}"
            )
        if not isinstance(split_expression, str) and not callable(split_expression):
            raise TypeError(
                f"split_expression must be a regex or a callable; got {split_expression!r}"
            )
        if mask_string is not None and not isinstance(mask_string, str):
            raise TypeError(f"mask_string must be a str or None; got {mask_string!r}")
        self.output = output  # type: ignore[assignment]  # None: decided per call
        self.tokenizer = tokenizer
        self.bow = bow
        self.mask_id = mask_id
        self.pad_id = pad_id
        self.special_ids = [int(i) for i in special_ids]
        self.split_expression = split_expression
        self.char_level = char_level
        self.mask_string = mask_string

    def forward(
        self,
        input_ids: Tensor | str | Sequence[str] | Mapping[str, Any],
        target: int | Tensor | None = None,
        *,
        attention_mask: Tensor | None = None,
        top_labels: int | None = None,
        masks: Tensor | None = None,
        word_ids: Tensor | None = None,
        generator: torch.Generator | int | None = None,
        keep_samples: bool = False,
        differentiable: bool = False,
        repeats: int = 1,
    ) -> TextExplanation:
        """Explain a batch of token sequences or texts.

        Args:
            input_ids: (B, L) integer token ids; or a str or B strings (tokenized with
                ``tokenizer=``, else given to the model as strings); or a mapping with
                ``input_ids`` (a ``BatchEncoding``), its other (B, L) keys forwarded.
            target: an int, (B,) or (B, T) output indices; None explains each sequence's
                ``top_labels`` most probable outputs (1 by default).
            attention_mask: (B, L) 0/1, 0 on padding (None: no padding, or the mapping's).
            top_labels: T, with ``target=None``: each sequence's T top outputs.
            masks: (B, N, K) bool interpretable samples instead of lime's sampler (K the
                largest feature count; row 0 is forced to all True).
            word_ids: (B, L) integer word index of each token, -1 outside words (from a
                Hugging Face tokenizer: ``[[-1 if w is None else w for w in
                enc.word_ids(i)] for i in range(B)]``, which a ``BatchEncoding`` gives by
                itself); features are then words.
            generator: a ``torch.Generator`` on the inputs' device, an int seed, or None
                (a fresh seed, recorded in ``Explanation.seed``).
            keep_samples: keep masks, scores and weights on the explanation.
            differentiable: keep the autograd graph from the model to the coefficients.
            repeats: explain every sequence R times with independent samples (R * B
                results, replicate-major), features found once.

        Returns:
            :class:`~torchlime.explanation.TextExplanation`.

        Raises:
            ValueError: for a non-2-D batch, an attention mask or word ids of another shape, a
                sequence with no feature (empty text), an empty list of texts, masks of the
                wrong shape, targets out of range, or a model output that is not (n, O).
            TypeError: for non-integer token ids, a list that is not all strings,
                non-integer targets, or a model that fails on strings.
        """
        exp = self.explain(
            input_ids,
            target,
            top_labels=top_labels,
            given=masks,
            generator=generator,
            keep_samples=keep_samples,
            differentiable=differentiable,
            repeats=repeats,
            attention_mask=attention_mask,
            word_ids=word_ids,
        )
        return cast(TextExplanation, exp)

    # ------------------------------------------------------------------ hooks

    def _output(self, features: Features) -> Output:
        """``output=``, or with None: what this call's model needs.

        "identity" for a model over strings (lime's ``classifier_fn`` returns
        probabilities), "softmax" for one over token ids.
        """
        if self.output is not None:
            return self.output
        return "identity" if isinstance(features, _Strings) else "softmax"

    def _features(  # type: ignore[override]  # its forward's inputs, by name
        self,
        input_ids: Any,
        *,
        k: int | None = None,
        attention_mask: Tensor | None = None,
        word_ids: Tensor | None = None,
    ) -> _Tokens:
        texts = _texts(input_ids)
        if texts is not None and self.tokenizer is None:
            if attention_mask is not None or word_ids is not None:
                raise ValueError(
                    "attention_mask and word_ids describe token ids; texts given to a model "
                    "over strings have neither (pass tokenizer= to explain token ids)"
                )
            return self._string_features(texts)
        text = spans = pieces = None
        if texts is not None or isinstance(input_ids, Mapping):
            inputs, word_ids, text, spans, pieces = self._encode(
                input_ids, texts, attention_mask, word_ids
            )
            ids, attention = inputs["input_ids"], inputs["attention_mask"]
        else:
            ids, attention = _checks.tokens(input_ids, attention_mask)
            inputs = {"input_ids": ids, "attention_mask": attention}
        word_index = _checks.word_ids(word_ids, ids)
        special = list(self.special_ids) + list(getattr(self.tokenizer, "all_special_ids", []))
        feats = text_features(
            ids, attention, bow=self.bow, special_ids=special, word_ids=word_index
        )
        self._check_nonempty(feats.n_features)
        return _Tokens(
            inputs=inputs,
            n_features=feats.n_features,
            k=feats.feature_tokens.shape[1],
            token_features=feats.token_features,
            feature_tokens=feats.feature_tokens,
            word_start=None if word_index is None else feats.word_start,
            text=text,
            spans=spans,
            pieces=pieces,
        )

    def _check_nonempty(self, n_features: Tensor) -> None:
        if self.validate and not torch.compiler.is_compiling():
            empty = n_features == 0
            if bool(empty.any()):
                raise ValueError(
                    f"sequences {empty.nonzero().flatten().tolist()[:10]} have no feature to "
                    "explain (empty text: only padding, separators and special tokens)"
                )

    def _encode(
        self, source: Any, texts: list[str] | None, attention_mask: Any, word_ids: Any
    ) -> tuple[dict[str, Tensor], Any, Tensor | None, Tensor | None, Tensor | None]:
        """Model inputs, word ids, text, spans and pieces of strings (tokenized) or a mapping."""
        tok = self.tokenizer
        if texts is not None:
            fast = bool(getattr(tok, "is_fast", False))
            enc = tok(texts, padding=True, truncation=True, return_tensors="pt",
                      return_offsets_mapping=fast)  # fmt: skip
            device = _device_of(self.model)
        else:
            enc = source
            if "input_ids" not in enc:
                raise ValueError(
                    f"input_ids given as a mapping (a BatchEncoding) must hold 'input_ids'; "
                    f"got keys {sorted(map(str, enc))}"
                )
            device = None
        ids, attention = _checks.tokens(
            enc["input_ids"],
            enc.get("attention_mask") if attention_mask is None else attention_mask,
        )
        device = ids.device if device is None else device
        inputs = {"input_ids": ids.to(device), "attention_mask": attention.to(device)}
        for key, value in enc.items():
            if key in inputs or key in _NOT_INPUTS:
                continue
            if not isinstance(value, Tensor) or value.shape != ids.shape:
                got = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
                raise ValueError(
                    f"input_ids[{key!r}] must be (B, L) = {tuple(ids.shape)} like input_ids, to "
                    f"be forwarded to the model with every token; got {got}"
                )
            inputs[key] = value.to(device)
        encodings = getattr(enc, "encodings", None)
        b = ids.shape[0]
        if word_ids is None and encodings:
            word_ids = torch.tensor(
                [[-1 if w is None else w for w in enc.word_ids(i)] for i in range(b)], device=device
            )
        names = None
        if encodings:
            names = [enc.tokens(i) for i in range(b)]
        elif tok is not None and hasattr(tok, "convert_ids_to_tokens"):
            names = [tok.convert_ids_to_tokens(row) for row in ids.tolist()]
        pieces = None if names is None else words.encode_strings(names).to(device)
        text = spans = None
        if texts is not None and "offset_mapping" in enc:
            text = words.encode_strings([texts])[0].to(device)
            spans = torch.where(
                inputs["attention_mask"][..., None].bool(),
                enc["offset_mapping"].to(device).long(),
                -1,
            )
        return inputs, word_ids, text, spans, pieces

    def _string_features(self, texts: list[str]) -> _Strings:
        """The words of texts for a model over strings (lime's), and bytes to perturb them."""
        w = words.encode_texts(texts, self.split_expression, char_level=self.char_level)
        feats = text_features(w.ids, w.is_word, bow=self.bow)
        self._check_nonempty(feats.n_features)
        mask = None
        if not self.bow:
            default = "\0" if self.char_level else "UNKWORDZ"
            raw = (default if self.mask_string is None else self.mask_string).encode("utf-8")
            mask = torch.tensor(list(raw), dtype=torch.uint8)
        # W: the longest text a sample can make (a removed word may grow into the mask)
        m = 0 if mask is None else mask.numel()
        n_bytes = torch.zeros_like(w.ids).scatter_add_(
            1, w.byte_piece.clamp(min=0), (w.byte_piece >= 0).long()
        )
        grow = ((m - n_bytes).clamp(min=0) * (feats.token_features >= 0)).sum(1)
        width = max(int((w.length + grow).max()), 1)  # a host sync, once per call
        pad = width - w.text.shape[1]
        return _Strings(
            inputs={"text": nn.functional.pad(w.text, (0, pad)), "length": w.length},
            n_features=feats.n_features,
            k=feats.feature_tokens.shape[1],
            token_features=feats.token_features,
            feature_tokens=feats.feature_tokens,
            word_start=None,
            text=w.text,
            spans=w.spans,
            ids=w.ids,
            attention=(w.spans[..., 0] >= 0).long(),
            byte_piece=nn.functional.pad(w.byte_piece, (0, pad), value=-1),
            width=width,
            mask=mask,
        )

    def _compose(self, features: Features, samples: Samples, differentiable: bool) -> Compose:
        f = cast(_Tokens, features)
        masks = samples.data
        b, n, k = masks.shape
        per = n - 1
        # flat perturbed rows (engine order) and the text each belongs to, once per call
        perturbed = masks[:, 1:].reshape(b * per, k)
        owner = torch.arange(b, device=masks.device).repeat_interleave(per)

        def compose_strings(start: int, stop: int) -> dict[str, Tensor]:
            s = cast(_Strings, f)
            example = owner[start:stop]
            text, length = words.remove_words(
                s.inputs["text"].index_select(0, example),
                s.byte_piece.index_select(0, example),
                s.token_features.index_select(0, example),
                perturbed[start:stop],
                mask=s.mask,
                width=s.width,
            )
            return {"text": text, "length": length}

        def compose_tokens(start: int, stop: int) -> dict[str, Tensor]:
            example = owner[start:stop]
            rows = {key: v.index_select(0, example) for key, v in f.inputs.items()}
            attention = rows["attention_mask"]
            token_features = f.token_features.index_select(0, example)
            word_start = None if f.word_start is None else f.word_start.index_select(0, example)
            keep = perturbed[start:stop]
            ids, kept = remove_tokens(
                rows["input_ids"],
                attention,
                token_features,
                keep,
                mask_id=self.mask_id,
                pad_id=self.pad_id,
                word_start=word_start,
            )
            out = {"input_ids": ids, "attention_mask": kept}
            for key in rows.keys() - out.keys():  # token_type_ids, ...: with their tokens
                out[key] = align_tokens(
                    rows[key],
                    attention,
                    token_features,
                    keep,
                    masked=self.mask_id is not None,
                    word_start=word_start,
                )
            return out

        return compose_strings if isinstance(f, _Strings) else compose_tokens

    def _call_model(self, inputs: dict[str, Tensor], features: Features) -> Any:
        if not isinstance(features, _Strings):
            return _logits(self.model(**inputs))
        # the one step per perturbed text in Python: its UTF-8 bytes become a str
        texts = words.decode_texts(inputs["text"], inputs["length"])
        try:
            out = self.model(texts)
        except (TypeError, AttributeError) as error:
            raise TypeError(
                f"the model failed on a list of {len(texts)} strings ({type(error).__name__}: "
                f"{error}). input_ids holds strings and no tokenizer= is set, so the model is "
                "called as lime's classifier_fn(list[str]) -> (n, O); for a model over token "
                "ids pass tokenizer= (or tokenize first)"
            ) from error
        if isinstance(out, (list, tuple)):  # numpy arrays become tensors in the engine
            return np.asarray(out)
        out = _logits(out)
        return out.to(features.device) if isinstance(out, Tensor) else out

    def _result(self, features: Features, samples: Samples, keep_samples: bool) -> dict[str, Any]:
        f = cast(_Tokens, features)
        strings = isinstance(f, _Strings)
        return {
            "input_ids": f.ids if isinstance(f, _Strings) else f.inputs["input_ids"],
            "attention_mask": f.attention
            if isinstance(f, _Strings)
            else f.inputs["attention_mask"],
            "feature_tokens": f.feature_tokens,
            "token_features": f.token_features,
            "word_start": None if strings else f.word_start,
            "text": f.text,
            "spans": f.spans,
            "pieces": f.pieces,
        }

    def _settings(self) -> dict[str, Any]:
        return {
            "tokenizer": None if self.tokenizer is None else type(self.tokenizer).__name__,
            "bow": self.bow,
            "mask_id": self.mask_id,
            "pad_id": self.pad_id,
            "special_ids": self.special_ids,
            "split_expression": self.split_expression,
            "char_level": self.char_level,
            "mask_string": self.mask_string,
        }

    def _replay_kwargs(self, exp: Explanation) -> dict[str, Any]:
        text = cast(TextExplanation, exp)
        if text.text is not None:  # strings: the attention mask comes with them
            return {"masks": exp.masks}
        return {"masks": exp.masks, "attention_mask": text.attention_mask}


def _texts(x: Any) -> list[str] | None:
    """``x`` as a list of B >= 1 strings, or None when it is not text."""
    if isinstance(x, str):
        return [x]
    if not isinstance(x, (list, tuple)):
        return None
    if not x:
        raise ValueError("input_ids must hold at least one text (or sequence); got an empty list")
    kinds = {type(item).__name__ for item in x}
    if any(isinstance(item, str) for item in x) and kinds != {"str"}:
        raise TypeError(
            f"input_ids as a list must hold only strings (B texts); got a list of {sorted(kinds)}"
        )
    return list(x) if kinds == {"str"} else None


def _device_of(model: Any) -> torch.device:
    """Where a model's parameters (or buffers) live; the CPU for other callables."""
    if isinstance(model, nn.Module):
        for t in (*model.parameters(), *model.buffers()):
            return t.device
    return torch.device("cpu")


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
