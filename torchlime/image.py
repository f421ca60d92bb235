"""LimeImage: LIME over superpixels for any image model, a whole batch per call.

The image hooks of the explainer template: superpixels (the segmenter, relabelled to
``0..K_b-1``) are the features, hidden superpixels show the baseline (lime's mean colour by
default), and perturbed images are built chunk by chunk into one reused buffer.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from typing import Any, cast

import torch
from torch import Tensor

from torchlime import _checks
from torchlime._engine import Compose, runs
from torchlime._explainer import Explainer, Features, Samples
from torchlime.explanation import Explanation, ImageExplanation
from torchlime.functional.image import BASELINES, compose, make_fill
from torchlime.segmentation import SLIC, relabel
from torchlime.types import Baseline, Output, Sampler, Segmenter

__all__ = ["BASELINES", "LimeImage", "make_fill"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class ImageFeatures(Features):
    """Images (``inputs``, (B, C, H, W)), their superpixels and what hidden ones show."""

    segments: Tensor
    """(B, H, W) int64 superpixel ids ``0..K_b-1``."""
    fill: Tensor
    """(B, C, H, W) what hidden superpixels show."""


class LimeImage(Explainer):
    """LIME for images: superpixels switched on and off, a weighted ridge surrogate per target.

    Every step runs as batched tensor work on the input's device: segmentation, mask
    sampling (from a per-call ``torch.Generator``), building perturbed images (one chunk of
    ``batch_size`` at a time, drawn across all B x N samples), the model, lime's cosine
    kernel, and one weighted least-squares solve for every image and target. The settings
    shared by every explainer (``n_samples``, ``sampler``, ``share_samples``,
    ``max_samples``, ``top_k``, ``confidence``, ``stop``, ``class_names``, ``progress``,
    ``eval_mode``, ``validate``)
    are described on :class:`~torchlime._explainer.Explainer`.

    Args:
        model: callable ``(n, C, H, W) -> (n, O)`` raw outputs (logits, say).
        segmenter: callable ``(B, C, H, W) -> (B, H, W)`` integer ids; any ids are
            relabelled to ``0..K_b-1``. Default: ``SLIC(n_segments=50)`` on the device
            (scikit-image's SLIC semantics; on a real photo its superpixels gave higher
            surrogate R² and steadier rankings than lime's quickshift).
        baseline: what hidden superpixels show (see
            :func:`~torchlime.functional.make_fill`); ``"mean"`` is lime's default
            (``hide_color=None``), a number is lime's ``hide_color``.
        output: ``"softmax"`` (default, for classifiers), ``"identity"`` (regression,
            logits), ``"sigmoid"``, ``"log_softmax"``, or a callable ``(n, O) -> (n, O)``.
        n_samples: N >= 2 samples per image, the original included (lime: 1000), or
            ``"auto"``.
        batch_size: perturbed images per model call, or ``"auto"`` (24 MB of images per call on
            a CPU, at most 256; see :class:`~torchlime._explainer.Explainer`).
        kernel_width: width of lime's cosine kernel (0.25).
        alpha: ridge penalty of the surrogate (lime: 1).
        feature_selection: ``"auto"``, ``"none"``, ``"highest_weights"``,
            ``"forward_selection"`` or ``"lasso_path"``, as lime.
        max_features: lime's ``num_features``: at most this many superpixels per target get
            a weight; None keeps all (lime's default, 100000, does the same).
        **settings: the shared settings (see above).

    Example:
        >>> from torch import nn
        >>> model = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 4))
        >>> from torchlime import Grid
        >>> explainer = LimeImage(model, segmenter=Grid(8, 8), n_samples=64, progress=False)
        >>> exp = explainer(torch.rand(2, 3, 32, 32), generator=0)
        >>> exp.coef.shape, exp.attributions.shape, exp.config["kernel_width"]
        (torch.Size([2, 1, 64]), torch.Size([2, 1, 32, 32]), 0.25)
    """

    explanation = ImageExplanation
    law = "bernoulli"
    distance = "cosine"

    def __init__(
        self,
        model: Callable[[Tensor], Tensor],
        *,
        segmenter: Segmenter | None = None,
        baseline: Baseline = "mean",
        output: Output = "softmax",
        n_samples: int | str = 1000,
        sampler: Sampler = "lime",
        batch_size: int | str = "auto",
        kernel_width: float = 0.25,
        alpha: float = 1.0,
        feature_selection: str = "auto",
        max_features: int | None = None,
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
        self.segmenter = segmenter if segmenter is not None else SLIC(n_segments=50)
        self.baseline = baseline

    def forward(
        self,
        x: Tensor,
        target: int | Tensor | None = None,
        *,
        top_labels: int | None = None,
        segments: Tensor | None = None,
        masks: Tensor | None = None,
        generator: torch.Generator | int | None = None,
        keep_samples: bool = False,
        differentiable: bool = False,
        repeats: int = 1,
    ) -> ImageExplanation:
        """Explain a batch of images.

        Args:
            x: (B, C, H, W) float images, as the model takes them.
            target: what to explain: an int (the same output for every image), (B,) or
                (B, T) int64 output indices; None explains the ``top_labels`` most
                probable outputs of each image (1 by default).
            top_labels: T, with ``target=None``: explain each image's T top outputs, in
                decreasing order (lime's ``top_labels``).
            segments: (B, H, W) integer superpixel ids, instead of the segmenter.
            masks: (B, N, K) bool interpretable samples, instead of drawing them (K at least
                the largest superpixel count; extra columns are padding; row 0 is forced to
                all True, as lime does). With ``masks`` given the call makes no host sync.
            generator: source of randomness for the masks: a ``torch.Generator`` on
                ``x``'s device, an int seed, or None (a fresh seed, recorded in
                ``Explanation.seed``). One seed gives different streams on CPU and CUDA:
                pass ``masks=`` for cross-device equality.
            keep_samples: keep masks, scores and weights on the explanation (for
                stability analysis).
            differentiable: keep the autograd graph from the model to the coefficients.
            repeats: explain every image R times with independent samples (R * B results,
                replicate-major), segmenting once.

        Returns:
            :class:`~torchlime.explanation.ImageExplanation`.

        Raises:
            ValueError: for a non-4-D or channels-last ``x``, segments or masks of the
                wrong shape, targets out of range, a model output that is not (n, O), or
                NaN/inf scores (naming how many samples).
            TypeError: for non-float images or non-integer targets.
        """
        exp = self.explain(
            x,
            target,
            top_labels=top_labels,
            given=masks,
            generator=generator,
            keep_samples=keep_samples,
            differentiable=differentiable,
            repeats=repeats,
            segments=segments,
        )
        return cast(ImageExplanation, exp)

    # ------------------------------------------------------------------ hooks

    def _features(  # type: ignore[override]  # its forward's inputs, by name
        self, x: Any, *, k: int | None = None, segments: Tensor | None = None
    ) -> ImageFeatures:
        x = _checks.images(x)
        segments_given = segments
        if segments is None:
            # segmentation is not part of the model: full precision, whatever autocast says
            with torch.autocast(x.device.type, enabled=False):
                found = self.segmenter(x if x.dtype != torch.bfloat16 else x.float())
            segments, n_segments = relabel(_checks.segments(found, x, "the segmenter's output"))
        else:
            raw = _checks.segments(segments, x).to(x.device)
            segments, n_segments = relabel(raw)
            if self.validate and not torch.equal(segments, raw):
                warnings.warn(
                    "segments were relabelled to contiguous ids 0..K_b-1 per image "
                    "(lime would have mis-assigned features for ids not starting at 0)",
                    stacklevel=4,
                )
        if k is None:
            k = int(n_segments.max())  # the one host sync: the padded feature count
        elif self.validate and bool((n_segments > k).any()):
            raise ValueError(
                f"masks must be (B, N, K) with K >= every image's superpixel count "
                f"{n_segments.tolist()}; got K={k}"
            )
        if self.validate and segments_given is None:  # does the segmentation say much?
            aware = getattr(self.segmenter, "content_aware", True)
            _checks.segmentation(
                segments, n_segments, k, content_aware=aware, channels=x.shape[1], stacklevel=7
            )
        fill = make_fill(x, segments, k, self.baseline)
        return ImageFeatures(inputs=x, n_features=n_segments, k=k, segments=segments, fill=fill)

    def _given(self, features: Features, given: Any) -> Samples:
        masks = _checks.masks(given, len(features), features.device)  # K: the masks' own
        return Samples(masks, masks)

    def _compose(self, features: Features, samples: Samples, differentiable: bool) -> Compose:
        f = cast(ImageFeatures, features)
        x, fill, segments, masks = f.inputs, f.fill, f.segments, samples.data
        per = masks.shape[1] - 1
        memory: list[Tensor] = []  # one chunk of perturbed images, reused chunk after chunk

        def compose_rows(start: int, stop: int) -> Tensor:
            parts = [
                (slice(i, i + 1), masks[i : i + 1, 1 + s0 : 1 + s1], o0, o1)
                for i, s0, s1, o0, o1 in runs(start, stop, per)
            ]
            if differentiable:  # autograd forbids out=: build the chunk by concatenation
                return torch.cat(
                    [compose(x[i], fill[i], segments[i], m)[0] for i, m, _, _ in parts]
                )
            if not memory:  # sized for the largest chunk (the first one is smaller)
                # in x's memory format: a channels-last x gives the model channels-last chunks
                layout = torch.channels_last if _is_channels_last(x) else torch.contiguous_format
                shape = (min(self._rows_per_call(features), x.shape[0] * per), *x.shape[1:])
                memory[:] = [
                    torch.empty(shape, dtype=x.dtype, device=x.device, memory_format=layout)
                ]
            out = memory[0][: stop - start]
            for i, m, o0, o1 in parts:  # the examples of this chunk, not its samples
                compose(x[i], fill[i], segments[i], m, out=out[o0:o1].unsqueeze(0))
            return out

        return compose_rows

    def _result(self, features: Features, samples: Samples, keep_samples: bool) -> dict[str, Any]:
        return {"segments": cast(ImageFeatures, features).segments}

    def _settings(self) -> dict[str, Any]:
        return {"segmenter": self.segmenter, "baseline": self.baseline}

    def _replay_kwargs(self, exp: Explanation) -> dict[str, Any]:
        return {"segments": cast(ImageExplanation, exp).segments, "masks": exp.masks}


def _is_channels_last(x: Tensor) -> bool:
    return (
        x.shape[1] > 1
        and x.is_contiguous(memory_format=torch.channels_last)
        and not (x.is_contiguous())
    )
