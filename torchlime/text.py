"""LimeText: LIME for models on token ids, a batch of sequences per call, on the device.

The text hooks of the explainer template, with lime 0.2.0.1's ``LimeTextExplainer``
semantics on token-id tensors instead of strings: the features are distinct tokens or
words (bag of words) or positions (:func:`~torchlime.functional.text_features`), lime's
sampler removes a uniform number of them
(:func:`~torchlime.functional.sample_removals`), removed tokens are dropped or masked
(:func:`~torchlime.functional.remove_tokens`) chunk by chunk, and the kernel is lime's
cosine kernel, width 25 on 100 x the cosine distance.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, cast

import torch
from torch import Tensor

from torchlime import _checks
from torchlime._engine import Compose
from torchlime._explainer import Explainer, Features, Samples
from torchlime.explanation import Explanation, TextExplanation
from torchlime.functional.sampling import sample_removals
from torchlime.functional.text import TextFeatures, remove_tokens, text_features
from torchlime.types import Output, Sampler

__all__ = ["LimeText", "TextFeatures", "remove_tokens", "sample_removals", "text_features"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Tokens(Features):
    """Sequences (``inputs``: input_ids and attention_mask) and their features."""

    token_features: Tensor
    """(B, L) int64 feature of each token, -1 for tokens that are not features."""
    feature_tokens: Tensor
    """(B, K) int64 token id of each feature's first piece."""
    word_start: Tensor | None
    """(B, L) bool first piece of each word (with word_ids), else None."""


class LimeText(Explainer):
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
        n_samples: N >= 2 samples per sequence, the sequence included (lime: 5000), or
            ``"auto"``.
        batch_size: perturbed sequences per model call (bounds memory), or ``"auto"`` (at
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
    """

    explanation = TextExplanation
    law = "removal"
    distance = "cosine"
    distance_scale = 100.0

    def __init__(
        self,
        model: Callable[..., Any],
        *,
        bow: bool = True,
        mask_id: int | None = None,
        pad_id: int = 0,
        special_ids: Sequence[int] = (),
        output: Output = "softmax",
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
            output=output,
            sampler=sampler,
            **settings,
        )
        self.bow = bow
        self.mask_id = mask_id
        self.pad_id = pad_id
        self.special_ids = [int(i) for i in special_ids]

    def forward(
        self,
        input_ids: Tensor,
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
                sequence with no feature (empty text), masks of the wrong shape,
                targets out of range, or a model output that is not (n, O).
            TypeError: for non-integer token ids or non-integer targets.
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

    def _features(  # type: ignore[override]  # its forward's inputs, by name
        self,
        input_ids: Any,
        *,
        k: int | None = None,
        attention_mask: Tensor | None = None,
        word_ids: Tensor | None = None,
    ) -> _Tokens:
        ids, attention = _checks.tokens(input_ids, attention_mask)
        words = _checks.word_ids(word_ids, ids)
        feats = text_features(
            ids, attention, bow=self.bow, special_ids=self.special_ids, word_ids=words
        )
        if self.validate and not torch.compiler.is_compiling():
            empty = feats.n_features == 0
            if bool(empty.any()):
                raise ValueError(
                    f"sequences {empty.nonzero().flatten().tolist()[:10]} have no feature to "
                    "explain (empty text: only padding and special tokens)"
                )
        return _Tokens(
            inputs={"input_ids": ids, "attention_mask": attention},
            n_features=feats.n_features,
            k=feats.feature_tokens.shape[1],
            token_features=feats.token_features,
            feature_tokens=feats.feature_tokens,
            word_start=None if words is None else feats.word_start,
        )

    def _compose(self, features: Features, samples: Samples, differentiable: bool) -> Compose:
        f = cast(_Tokens, features)
        ids, attention = f.inputs["input_ids"], f.inputs["attention_mask"]
        masks = samples.data
        b, n, k = masks.shape
        per = n - 1
        # flat perturbed rows (engine order) and the sequence each belongs to, once per call
        perturbed = masks[:, 1:].reshape(b * per, k)
        owner = torch.arange(b, device=ids.device).repeat_interleave(per)

        def compose_rows(start: int, stop: int) -> dict[str, Tensor]:
            example = owner[start:stop]
            new_ids, new_attention = remove_tokens(
                ids.index_select(0, example),
                attention.index_select(0, example),
                f.token_features.index_select(0, example),
                perturbed[start:stop],
                mask_id=self.mask_id,
                pad_id=self.pad_id,
                word_start=None if f.word_start is None else f.word_start.index_select(0, example),
            )
            return {"input_ids": new_ids, "attention_mask": new_attention}

        return compose_rows

    def _call_model(self, inputs: dict[str, Tensor], features: Features) -> Any:
        return _logits(self.model(**inputs))

    def _result(self, features: Features, samples: Samples, keep_samples: bool) -> dict[str, Any]:
        f = cast(_Tokens, features)
        return {
            "input_ids": f.inputs["input_ids"],
            "attention_mask": f.inputs["attention_mask"],
            "feature_tokens": f.feature_tokens,
            "token_features": f.token_features,
            "word_start": f.word_start,
        }

    def _settings(self) -> dict[str, Any]:
        return {
            "bow": self.bow,
            "mask_id": self.mask_id,
            "pad_id": self.pad_id,
            "special_ids": self.special_ids,
        }

    def _replay_kwargs(self, exp: Explanation) -> dict[str, Any]:
        return {"masks": exp.masks, "attention_mask": cast(TextExplanation, exp).attention_mask}


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
