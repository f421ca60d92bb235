"""LimeImage: LIME over superpixels for any image model, a whole batch per call."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
from torch import Tensor, nn

from torchlime import _checks, _engine
from torchlime.explanation import ImageExplanation
from torchlime.functional.kernels import lime_kernel
from torchlime.functional.perturb import compose, segment_mean
from torchlime.functional.sampling import (
    SAMPLERS,
    binomial_masks,
    paired_masks,
    sample_masks,
    stratified_masks,
)
from torchlime.segmentation import SLIC, relabel
from torchlime.stability import adaptive_sampling

__all__ = ["BASELINES", "LimeImage", "make_fill"]

Segmenter = Callable[[Tensor], Tensor]
Sampler = Callable[..., Tensor]  # sample_masks' signature: (B, N, K, *, generator, device)
Baseline = str | float | Tensor | Callable[[Tensor, Tensor], Tensor]
BASELINES = ("mean", "blur")


def make_fill(x: Tensor, segments: Tensor, n_segments: int, baseline: Baseline) -> Tensor:
    """What hidden superpixels show, for each image.

    Args:
        x: (B, C, H, W) float images.
        segments: (B, H, W) int64 superpixel ids ``0..K-1``.
        n_segments: K, the padded number of superpixels.
        baseline: ``"mean"`` (each superpixel's own mean colour: lime's ``hide_color=None``),
            ``"blur"`` (a Gaussian-blurred copy, sigma 5% of the image size), a number (a
            constant colour, lime's ``hide_color``), a tensor broadcastable to (B, C, H, W),
            or a callable ``(x, segments) -> (B, C, H, W)``.

    Returns:
        (B, C, H, W) in ``x``'s dtype.

    Example:
        >>> x = torch.rand(2, 3, 8, 8)
        >>> make_fill(x, torch.zeros(2, 8, 8, dtype=torch.long), 1, 0.0).abs().sum().item()
        0.0
    """
    if isinstance(baseline, str):
        if baseline == "mean":
            return segment_mean(x, segments, n_segments)
        if baseline == "blur":
            from kornia.filters import gaussian_blur2d

            sigma = 0.05 * max(x.shape[-2:])
            size = 2 * int(3 * sigma) + 1
            return gaussian_blur2d(x, (size, size), (sigma, sigma), border_type="reflect")
        raise ValueError(
            f"baseline must be one of {BASELINES}, a number, a tensor or a callable; "
            f"got {baseline!r}"
        )
    if isinstance(baseline, (int, float)) and not isinstance(baseline, bool):
        return torch.full_like(x, float(baseline))
    if isinstance(baseline, Tensor):
        try:
            return baseline.to(device=x.device, dtype=x.dtype).expand_as(x)
        except RuntimeError:
            raise ValueError(
                f"a baseline tensor must broadcast to x's shape (B, C, H, W) = {tuple(x.shape)}; "
                f"got shape {tuple(baseline.shape)}"
            ) from None
    if callable(baseline):
        fill = baseline(x, segments)
        if not isinstance(fill, Tensor) or fill.shape != x.shape:
            got = tuple(fill.shape) if isinstance(fill, Tensor) else type(fill).__name__
            raise ValueError(
                f"a baseline callable must return (B, C, H, W) = {tuple(x.shape)}; got {got}"
            )
        return fill.to(x.dtype)
    raise TypeError(
        f"baseline must be a str, number, tensor or callable; got {type(baseline).__name__}"
    )


class LimeImage(nn.Module):
    """LIME for images: superpixels switched on and off, a weighted ridge surrogate per target.

    Every step runs as batched tensor work on the input's device: segmentation, mask
    sampling (from a per-call ``torch.Generator``), building perturbed images (one chunk of
    ``batch_size`` at a time, drawn across all B x N samples), the model, lime's cosine
    kernel, and one weighted least-squares solve for every image and target.

    The model is stored as ``self.model``; when it is an ``nn.Module`` it is a submodule,
    so ``explainer.to(device)`` moves it and ``explainer.state_dict()`` holds its weights.
    A model found in training mode is explained in eval mode and handed back exactly as
    found (``eval_mode=False`` explains it as it is).

    Args:
        model: callable ``(n, C, H, W) -> (n, O)`` raw outputs (logits, say).
        segmenter: callable ``(B, C, H, W) -> (B, H, W)`` integer ids; any ids are
            relabelled to ``0..K_b-1``. Default: ``SLIC(n_segments=50)`` on the device
            (scikit-image's SLIC semantics; on a real photo its superpixels gave higher
            surrogate R² and steadier rankings than lime's quickshift).
        baseline: what hidden superpixels show (see :func:`make_fill`); ``"mean"`` is lime's
            default (``hide_color=None``), a number is lime's ``hide_color``.
        output: ``"softmax"`` (default, for classifiers), ``"identity"`` (regression,
            logits), ``"sigmoid"``, ``"log_softmax"``, or a callable ``(n, O) -> (n, O)``.
        n_samples: N >= 2 samples per image, the original included (lime: 1000), or
            ``"auto"``: sample in rounds until each image's top-``top_k`` boundary is
            statistically resolved or ``max_samples`` is spent (S-LIME-style, see
            :func:`~torchlime.stability.adaptive_sampling`); the explanation's
            ``resolved`` then says, per image and target, which happened, and
            ``n_samples`` how many samples each image used.
        sampler: how masks are drawn: ``"bernoulli"`` (lime's), ``"paired"`` (each mask
            followed by its complement), ``"stratified"`` (lime's law, stratified by the
            number of kept superpixels), ``"binomial"`` (GLIME: the kernel folded into the
            sampling, then a fit with unit weights), or a callable with
            :func:`~torchlime.functional.sample_masks`' signature (weighted by lime's
            kernel).
        max_samples: with ``n_samples="auto"``, the budget of model calls per image.
        top_k: with ``n_samples="auto"``, the size of the top set whose boundary is tested.
        confidence: with ``n_samples="auto"``, the one-sided confidence of that test.
        batch_size: perturbed images per model call.
        kernel_width: width of lime's cosine kernel (0.25).
        alpha: ridge penalty of the surrogate (lime: 1).
        feature_selection: ``"auto"``, ``"none"``, ``"highest_weights"``,
            ``"forward_selection"`` or ``"lasso_path"``, as lime.
        max_features: lime's ``num_features``: at most this many superpixels per target get
            a weight; None keeps all (lime's default, 100000, does the same).
        progress: progress bar on stderr (None: only on a terminal).
        eval_mode: borrow eval mode for the model during the call.
        validate: check the model's outputs (shapes; NaN/inf, at one host sync).

    Example:
        >>> model = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 4))
        >>> from torchlime import Grid
        >>> explainer = LimeImage(model, segmenter=Grid(8, 8), n_samples=64, progress=False)
        >>> exp = explainer(torch.rand(2, 3, 32, 32), generator=torch.Generator().manual_seed(0))
        >>> exp.coef.shape, exp.attributions.shape
        (torch.Size([2, 1, 64]), torch.Size([2, 1, 32, 32]))
    """

    def __init__(
        self,
        model: Callable[[Tensor], Tensor],
        *,
        segmenter: Segmenter | None = None,
        baseline: Baseline = "mean",
        output: _engine.Output = "softmax",
        n_samples: int | str = 1000,
        sampler: str | Sampler = "bernoulli",
        max_samples: int = 10_000,
        top_k: int = 5,
        confidence: float = 0.95,
        batch_size: int = 256,
        kernel_width: float = 0.25,
        alpha: float = 1.0,
        feature_selection: str = "auto",
        max_features: int | None = None,
        progress: bool | None = None,
        eval_mode: bool = True,
        validate: bool = True,
    ) -> None:
        super().__init__()
        if n_samples == "auto" and (not isinstance(max_samples, int) or max_samples < 3):
            raise ValueError(f"max_samples must be an int >= 3; got {max_samples!r}")
        if isinstance(sampler, str) and sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS} or a callable; got {sampler!r}")
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1; got {top_k}")
        if not 0 < confidence < 1:
            raise ValueError(f"confidence must be in (0, 1); got {confidence}")
        _engine.check_config(
            n_samples=max_samples if n_samples == "auto" else n_samples,
            batch_size=batch_size,
            output=output,
            feature_selection=feature_selection,
            max_features=max_features,
            kernel_width=kernel_width,
            alpha=alpha,
        )
        self.model = model
        self.segmenter = segmenter if segmenter is not None else SLIC(n_segments=50)
        self.baseline = baseline
        self.output = output
        self.n_samples = n_samples
        self.sampler = sampler
        self.max_samples = max_samples
        self.top_k = top_k
        self.confidence = confidence
        self.batch_size = batch_size
        self.kernel_width = kernel_width
        self.alpha = alpha
        self.feature_selection = feature_selection
        self.max_features = max_features
        self.progress = progress
        self.eval_mode = eval_mode
        self.validate = validate

    def extra_repr(self) -> str:
        """Configuration shown in ``repr``."""
        return (
            f"baseline={self.baseline!r}, output={self.output!r}, n_samples={self.n_samples!r}, "
            + (
                f"max_samples={self.max_samples}, top_k={self.top_k}, "
                f"confidence={self.confidence}, "
                if self.n_samples == "auto"
                else ""
            )
            + f"sampler={self.sampler!r}, batch_size={self.batch_size}, "
            f"kernel_width={self.kernel_width}, "
            f"alpha={self.alpha}, feature_selection={self.feature_selection!r}, "
            f"max_features={self.max_features}"
        )

    def forward(
        self,
        x: Tensor,
        target: int | Tensor | None = None,
        *,
        top_labels: int | None = None,
        segments: Tensor | None = None,
        masks: Tensor | None = None,
        generator: torch.Generator | None = None,
        keep_samples: bool = False,
        differentiable: bool = False,
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
            generator: source of randomness for the masks, on ``x``'s device. None uses a
                fresh seed, recorded in ``Explanation.seed``. One seed gives different
                streams on CPU and CUDA: pass ``masks=`` for cross-device equality.
            keep_samples: keep masks, scores and weights on the explanation (for
                stability analysis).
            differentiable: keep the autograd graph from the model to the coefficients.

        Returns:
            :class:`~torchlime.explanation.ImageExplanation`.

        Raises:
            ValueError: for a non-4-D or channels-last ``x``, segments or masks of the
                wrong shape, targets out of range, a model output that is not (n, O), or
                NaN/inf scores (naming how many samples).
            TypeError: for non-float images or non-integer targets.
        """
        x = _checks.images(x)
        b = x.shape[0]
        target_bt = _engine.normalise_target(target, top_labels, b)
        if segments is None:
            segments = _checks.segments(self.segmenter(x), x, "the segmenter's output")
            segments, n_segments = relabel(segments)
        else:
            raw = _checks.segments(segments, x).to(x.device)
            segments, n_segments = relabel(raw)
            if self.validate and not torch.equal(segments, raw):
                warnings.warn(
                    "segments were relabelled to contiguous ids 0..K_b-1 per image "
                    "(lime would have mis-assigned features for ids not starting at 0)",
                    stacklevel=2,
                )
        generator, seed = _engine.new_generator(generator, x.device)
        auto = self.n_samples == "auto"
        if masks is None:
            k = int(n_segments.max())  # the one host sync: the padded feature count
            n0 = self._first_round() if auto else int(self.n_samples)
            masks = self._sample(b, n0, k, n_segments, generator)
        else:  # K comes from the masks' shape: no host sync at all
            if auto:
                raise ValueError('masks= fixes the samples; n_samples="auto" draws them itself')
            masks = _checks.masks(masks, b, x.device)
            k = masks.shape[2]
            if self.validate and bool((n_segments > k).any()):
                raise ValueError(
                    f"masks must be (B, N, K) with K >= every image's superpixel count "
                    f"{n_segments.tolist()}; got K={k}"
                )
        fill = make_fill(x, segments, k, self.baseline)

        with _engine.borrowed_eval(self.model, self.eval_mode):
            result = self._score(x, x, fill, segments, masks, target_bt, top_labels, differentiable)
            scores, weights, resolved = result.scores, None, None
            n_used = torch.full((b,), masks.shape[1], dtype=torch.long, device=x.device)
            if auto:

                def draw(index: Tensor, n_extra: int) -> tuple[Tensor, Tensor]:
                    # The sampler's row 0 is the original: draw one more and drop it. The
                    # first new row goes in the place of the originals, so the engine's
                    # extra model call on row 0 scores a new sample, not the image again.
                    new = self._sample(len(index), n_extra + 1, k, n_segments[index], generator)
                    new = new[:, 1:]
                    xi, fi, si = x[index], fill[index], segments[index]
                    first = compose(xi, fi, si, new[:, :1])[:, 0]
                    target_i = result.target[index]
                    more = self._score(first, xi, fi, si, new, target_i, None, differentiable)
                    return new, more.scores

                masks, scores, weights, resolved, n_used = adaptive_sampling(
                    draw,
                    lambda m, index: self._weigh(m, n_segments[index]),
                    masks,
                    scores,
                    n_segments,
                    k=self.top_k,
                    max_samples=self.max_samples,
                    confidence=self.confidence,
                    alpha=self.alpha,
                    design=self._design(),
                    generator=generator,
                )
        if weights is None:
            weights = self._weigh(masks, n_segments)
        fit = _engine.fit_surrogate(
            masks,
            scores,
            weights,
            n_segments,
            alpha=self.alpha,
            feature_selection=self.feature_selection,
            max_features=self.max_features,
        )
        return ImageExplanation(
            **_engine.explanation_fields(
                fit,
                scores,
                result.target,
                masks,
                weights,
                n_segments,
                seed,
                keep_samples=keep_samples,
            ),
            segments=segments,
            n_samples=n_used,
            resolved=resolved,
        )

    def _first_round(self) -> int:
        """``n_samples="auto"``: a quarter of the budget (at most 1000), odd so pairs align."""
        return min(1000, max(self.max_samples // 4, 3)) | 1

    def _sample(
        self, b: int, n: int, k: int, n_valid: Tensor, generator: torch.Generator
    ) -> Tensor:
        """(b, n, k) masks from the configured sampler, row 0 all True."""
        device = n_valid.device
        if self.sampler == "bernoulli":
            return sample_masks(b, n, k, generator=generator, device=device)
        if self.sampler == "paired":
            return paired_masks(b, n, k, n_valid=n_valid, generator=generator, device=device)
        if self.sampler == "stratified":
            return stratified_masks(b, n, k, n_valid=n_valid, generator=generator, device=device)
        if self.sampler == "binomial":
            return binomial_masks(
                b,
                n,
                k,
                kernel_width=self.kernel_width,
                n_valid=n_valid,
                generator=generator,
                device=device,
            )
        masks = self.sampler(b, n, k, generator=generator, device=device)  # type: ignore[operator]
        if not isinstance(masks, Tensor) or tuple(masks.shape) != (b, n, k):
            got = tuple(masks.shape) if isinstance(masks, Tensor) else type(masks).__name__
            raise ValueError(f"the sampler must return (B, N, K) = {(b, n, k)} masks; got {got}")
        masks = masks.to(device=device, dtype=torch.bool)
        masks[:, 0] = True
        return masks

    def _design(self) -> str:
        """The sampler's design, as the bootstrap of ``n_samples="auto"`` must mimic it."""
        paired_or_stratified = self.sampler in ("paired", "stratified")
        return str(self.sampler) if paired_or_stratified else "iid"

    def _weigh(self, masks: Tensor, n_valid: Tensor) -> Tensor:
        """(B, N) sample weights: lime's kernel, or ones when the sampler folded it in."""
        if self.sampler == "binomial":
            return torch.ones(masks.shape[:2], dtype=torch.float64, device=masks.device)
        return lime_kernel(masks, self.kernel_width, n_valid, dtype=torch.float64)

    def _score(
        self,
        originals: Tensor,
        x: Tensor,
        fill: Tensor,
        segments: Tensor,
        masks: Tensor,
        target: Tensor | None,
        top_labels: int | None,
        differentiable: bool,
    ) -> _engine.Scores:
        """Model scores (B, N, T) of ``masks``: row 0 is ``originals``, the rest composed."""
        n = masks.shape[1]
        memory: list[Tensor] = []  # one chunk of perturbed images, reused chunk after chunk

        def compose_rows(start: int, stop: int) -> Tensor:
            parts = [
                (slice(i, i + 1), masks[i : i + 1, 1 + s0 : 1 + s1], o0, o1)
                for i, s0, s1, o0, o1 in _engine.runs(start, stop, n - 1)
            ]
            if differentiable:  # autograd forbids out=: build the chunk by concatenation
                return torch.cat(
                    [compose(x[i], fill[i], segments[i], m)[0] for i, m, _, _ in parts]
                )
            if not memory:  # sized for the largest chunk (the first one is smaller)
                # in x's memory format: a channels-last x gives the model channels-last chunks
                layout = torch.channels_last if _is_channels_last(x) else torch.contiguous_format
                shape = (min(self.batch_size, x.shape[0] * (n - 1)), *x.shape[1:])
                memory[:] = [
                    torch.empty(shape, dtype=x.dtype, device=x.device, memory_format=layout)
                ]
            out = memory[0][: stop - start]
            for i, m, o0, o1 in parts:  # the examples of this chunk, not its samples
                compose(x[i], fill[i], segments[i], m, out=out[o0:o1].unsqueeze(0))
            return out

        return _engine.score_samples(
            self.model,
            originals,
            compose_rows,
            batch=x.shape[0],
            n_samples=n,
            target=target,
            top_labels=top_labels,
            output=self.output,
            batch_size=self.batch_size,
            device=x.device,
            progress=self.progress,
            differentiable=differentiable,
            validate=self.validate,
        )


def _is_channels_last(x: Tensor) -> bool:
    return (
        x.shape[1] > 1
        and x.is_contiguous(memory_format=torch.channels_last)
        and not (x.is_contiguous())
    )
