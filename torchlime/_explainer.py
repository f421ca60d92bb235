"""The explainer template: the settings every explainer shares, and THE forward.

One place owns the LIME loop::

    check -> interpretable features -> targets -> generator -> samples -> weights
          -> model scores in chunks -> surrogate -> Explanation (with its recipe)

A modality (image, tabular, text) subclasses :class:`Explainer` and supplies small hooks;
the template calls them, never the other way round:

- ``_features(inputs, k=..., **kwargs) -> Features``: check the inputs and find their
  interpretable features (superpixels, columns, words);
- ``_compose(features, samples, differentiable) -> compose(start, stop)``: model inputs
  for a range of flat perturbed rows (see :mod:`torchlime._engine`);
- ``_result(features, samples, keep_samples) -> dict``: the modality's own result fields;
- optionally ``_draw`` (how samples are drawn; default: masks from ``sampler``),
  ``_given`` (samples a caller passes), ``_call_model``, ``_settings`` (recipe and
  ``repr``), ``_replay_kwargs``, ``_design`` and ``_target``.

Class attributes set the modality's kernel (``distance``, ``distance_scale``), its lime
sampler's law (``law``), its largest chunk (``max_batch``) and its result (``explanation``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from torchlime import _checks
from torchlime._adaptive import STOPS, adaptive_sampling, first_round
from torchlime._engine import (
    Compose,
    Progress,
    Scores,
    borrowed_eval,
    check_memory,
    chunk_rows,
    normalise_target,
    output_fn,
    row_bytes,
    score_samples,
)
from torchlime._features import Features, Run, Samples
from torchlime._random import new_generator
from torchlime._version import __version__
from torchlime.explanation import Explanation
from torchlime.functional.adjust import adjusted_fit, check_adjust
from torchlime.functional.fit import SURROGATES, Surrogate, SurrogateFn, fit_chunk, fit_surrogate
from torchlime.functional.kernels import kernel_weights
from torchlime.functional.sampling import SAMPLERS, draw_masks
from torchlime.functional.selection import FEATURE_SELECTION
from torchlime.functional.shapley import enumeration, shapley_kernel, shapley_masks
from torchlime.types import Output, Sampler

__all__ = ["KERNELS", "Explainer", "Features", "Samples"]

KERNELS = ("lime", "shapley")


class Explainer(nn.Module):
    """The base of every explainer: shared settings, their validation and ``repr``, the loop.

    The model is stored as ``self.model``; when it is an ``nn.Module`` it is a submodule,
    so ``explainer.to(device)`` moves it and ``explainer.state_dict()`` holds its weights.
    A model found in training mode is explained in eval mode and handed back exactly as
    found (``eval_mode=False`` explains it as it is).

    Args:
        model: the model to explain (see each explainer for its call convention).
        n_samples: N >= 2 samples per example, the original included, or ``"auto"``:
            sample in rounds until each example's top-``top_k`` boundary is statistically
            resolved or ``max_samples`` is spent (S-LIME-style); the explanation's
            ``resolved`` then says, per example and target, which happened, and
            ``n_samples`` how many samples each example used.
        batch_size: perturbed inputs per model call, or ``"auto"`` (the default): chunks
            sized from one input's size and the device (:func:`~torchlime._engine.chunk_rows`:
            24 MB of inputs on a CPU, a sixteenth of the free memory on CUDA), at most the
            explainer's ``max_batch``. Either way the call's memory is bounded by the chunk,
            not by examples x samples; a call whose samples cannot fit is refused up front.
        kernel_width: width of lime's exponential kernel on the modality's distance.
        alpha: the surrogate's penalty (lime's ridge: 1; captum's lasso: 0.01).
        feature_selection: ``"auto"``, ``"none"``, ``"highest_weights"``,
            ``"forward_selection"`` or ``"lasso_path"``, as lime.
        max_features: lime's ``num_features``: at most this many features per target get
            a weight; None keeps all.
        surrogate: ``"ridge"`` (lime's), ``"lasso"``, ``"ols"``, ``"bayesian"`` or a
            callable (see :mod:`torchlime.functional.fit`).
        kernel: ``"lime"`` (lime's exponential kernel on the modality's distance) or
            ``"shapley"``: KernelSHAP (:mod:`torchlime.functional.shapley`): the Shapley
            kernel's coalitions (all of them when ``2^K <= n_samples``: the Shapley values
            exactly; sampler ``"lime"`` or ``"paired"`` otherwise), fitted under the
            efficiency constraint, every feature attributed; or a callable ``(masks (B, N, K)
            bool, n_features (B,) int64) -> (B, N)`` sample weights, on the samples' device
            (row 0 is the original, all True; columns past ``n_features`` are padding).
        output: ``"softmax"``, ``"identity"``, ``"sigmoid"``, ``"log_softmax"`` or a
            callable ``(n, O) -> (n, O)``.
        sampler: how samples are drawn: ``"lime"`` (the modality's own lime sampler),
            ``"bernoulli"`` (every feature kept with probability 1/2), ``"paired"``
            (antithetic pairs), ``"stratified"`` (lime's law, stratified), ``"binomial"``
            (GLIME: the kernel folded into the sampling, then a fit with unit weights), or
            a callable with :func:`~torchlime.functional.sample_masks`' signature.
        share_samples: every example of a call reads the same random numbers (common
            random numbers): each still gets its own law's samples, but examples explained
            together share their sampling noise. Where the perturbed inputs are then the
            same for every example (lime's tabular sampling) the model runs on them once.
        fit_original: the original input (row 0) is one of the surrogate's samples, as in
            lime; False leaves it out of the fit, as captum does.
        adjust: None (lime's fit), ``"mlp"`` or ``"quadratic"``: regression-adjusted lime
            (:func:`~torchlime.functional.adjusted_fit`): lime's estimand, with a cross-fitted
            model of the scores over the masks as control variate (of their log-odds for
            softmax and sigmoid outputs; evaluated on free masks too: no model calls).
            Features are selected as lime does; the final fit is adjusted.
            Needs masks (tables: discretized), surrogate "ridge" or "ols", a fixed n_samples.
        max_samples: with ``n_samples="auto"``, the budget of samples per example.
        top_k: with ``n_samples="auto"``, the size of the top set whose boundary is tested.
        confidence: with ``n_samples="auto"``, the one-sided confidence of that test.
        stop: with ``n_samples="auto"``, ``"gap"`` (that test) or ``"set"``: stop when the
            top-k set is resolved at FWER ``1 - confidence`` (``stability.resolution_report``).
        class_names: a name for each model output (lime's ``class_names``): explanations
            and their views name targets with them (``exp.target_names()``).
        progress: progress bar on stderr (None: only on a terminal).
        eval_mode: borrow eval mode for the model during the call.
        validate: check inputs and outputs (host syncs at the boundary).
    """

    law: ClassVar[str] = "bernoulli"
    max_batch: ClassVar[int] = 256
    distance: ClassVar[str] = "cosine"
    distance_scale: ClassVar[float] = 1.0
    explanation: ClassVar[type[Explanation]] = Explanation

    def __init__(
        self,
        model: Callable[..., Any],
        *,
        n_samples: int | str,
        batch_size: int | str,
        kernel_width: float,
        alpha: float = 1.0,
        feature_selection: str = "auto",
        max_features: int | None = None,
        surrogate: str | SurrogateFn = "ridge",
        kernel: str | Callable[..., Tensor] = "lime",
        output: Output = "softmax",
        sampler: Sampler = "lime",
        share_samples: bool = False,
        fit_original: bool = True,
        adjust: str | None = None,
        max_samples: int = 10_000,
        top_k: int = 5,
        confidence: float = 0.95,
        stop: str = "gap",
        class_names: Sequence[Any] | None = None,
        progress: bool | None = None,
        eval_mode: bool = True,
        validate: bool = True,
    ) -> None:
        super().__init__()
        auto = n_samples == "auto"
        _checks.integer("n_samples", 2 if auto else n_samples, 2, '>= 2 or "auto"')
        if auto:
            _checks.integer("max_samples", max_samples, 3, ">= 3")
            _checks.integer("top_k", top_k, 1, ">= 1")
            if not 0 < confidence < 1:
                raise ValueError(f"confidence must be in (0, 1); got {confidence!r}")
            _checks.one_of("stop", stop, STOPS)
        if batch_size != "auto":
            _checks.integer("batch_size", batch_size, 1, '>= 1 or "auto"')
        output_fn(output)
        _checks.one_of("feature_selection", feature_selection, FEATURE_SELECTION)
        if max_features is not None:
            _checks.integer("max_features", max_features, 1, ">= 1 or None")
        if not (isinstance(kernel_width, (int, float)) and kernel_width > 0):
            raise ValueError(f"kernel_width must be a number > 0; got {kernel_width!r}")
        if not (isinstance(alpha, (int, float)) and alpha >= 0):
            raise ValueError(f"alpha must be a number >= 0; got {alpha!r}")
        _checks.one_of("surrogate", surrogate, SURROGATES, or_callable=True)
        _checks.one_of("kernel", kernel, KERNELS, or_callable=True)
        if kernel == "shapley":
            surrogate = _checks.shapley_settings(sampler, surrogate, feature_selection, auto)
            feature_selection, max_features = "none", None
        if not isinstance(sampler, str) and not callable(sampler):
            raise TypeError(f"sampler must be a name or a callable; got {type(sampler).__name__}")
        _checks.one_of("sampler", sampler, SAMPLERS, or_callable=True)
        if adjust is not None:
            check_adjust(adjust, kernel=kernel, surrogate=surrogate, n_samples=n_samples)
        if share_samples and not isinstance(sampler, str):
            raise ValueError("share_samples needs a built-in sampler: a callable draws its own")
        if share_samples and auto:
            raise ValueError(
                'share_samples cannot be combined with n_samples="auto": adaptive rounds draw '
                "more samples for the unresolved examples only"
            )
        self.model = model
        self.n_samples = n_samples
        self.batch_size = batch_size
        self.kernel_width = float(kernel_width)
        self.alpha = float(alpha)
        self.feature_selection = feature_selection
        self.max_features = max_features
        self.surrogate = surrogate
        self.kernel = kernel
        self.output = output
        self.sampler = sampler
        self.share_samples = share_samples
        self.fit_original = fit_original
        self.adjust = adjust
        self.max_samples = max_samples
        self.top_k = top_k
        self.confidence = confidence
        self.stop = stop
        self.class_names = _checks.names("class_names", class_names)
        self.progress = progress
        self.eval_mode = eval_mode
        self.validate = validate

    # ------------------------------------------------------------------ recipe and repr

    def recipe(
        self, seed: int | None = None, design: str | None = None, output: Output | None = None
    ) -> dict[str, Any]:
        """How this explainer makes an explanation: the ``config`` its explanations carry.

        Args:
            seed: the call's seed (None when the caller brought a generator).
            design: how this call's samples were drawn, where the call decides it (an
                enumeration of every coalition: ``"exact"``); None: the sampler's.
            output: the call's output transform, where the call decides it (None:
                ``output=``).

        Returns:
            a plain mapping (str, numbers, bools, None), saved with the explanation.
        """
        auto = self.n_samples == "auto"
        config: dict[str, Any] = {
            "explainer": type(self).__name__,
            **{key: _checks.plain(value) for key, value in self._settings().items()},
            "n_samples": self.n_samples,
            "max_samples": self.max_samples if auto else None,
            "top_k": self.top_k if auto else None,
            "confidence": self.confidence if auto else None,
            "stop": self.stop if auto else None,
            "sampler": _checks.plain(self.sampler),
            "design": design or self._design(),
            "share_samples": self.share_samples,
            "fit_original": self.fit_original,
            "adjust": self.adjust,
            "kernel": self._kernel_name(),
            "kernel_width": self.kernel_width,
            "distance": self.distance,
            "distance_scale": self.distance_scale,
            "surrogate": _checks.plain(self.surrogate),
            "alpha": self.alpha,
            "feature_selection": self.feature_selection,
            "max_features": self.max_features,
            "output": _checks.plain(self.output if output is None else output),
            "class_names": self.class_names,
            "seed": seed,
            "torchlime": __version__,
            "torch": str(torch.__version__),
        }
        return config

    def extra_repr(self) -> str:
        """The settings, as ``repr`` shows them."""
        skip = {"explainer", "seed", "torchlime", "torch", "distance", "distance_scale"}
        items = [(k, v) for k, v in self.recipe().items() if k not in skip and v is not None]
        return ", ".join(f"{k}={_checks.short(v)}" for k, v in items)

    # ------------------------------------------------------------------ the loop

    def explain(
        self,
        inputs: Any,
        target: int | Tensor | None = None,
        *,
        top_labels: int | None = None,
        given: Any = None,
        generator: torch.Generator | int | None = None,
        keep_samples: bool = False,
        differentiable: bool = False,
        repeats: int = 1,
        **feature_kwargs: Any,
    ) -> Explanation:
        """THE forward, for every modality (each explainer's ``forward`` documents its inputs).

        Args:
            inputs: the batch, in the modality's format.
            target: an int, (B,) or (B, T) output indices; None explains each example's
                ``top_labels`` top outputs.
            top_labels: T, with ``target=None``.
            given: the samples to use instead of drawing them, in the modality's format
                (masks for images and text, rows for tables); row 0 is the original.
            generator: source of randomness: a ``torch.Generator`` on the inputs' device,
                an int seed, or None (a fresh seed, recorded in ``exp.seed``).
            keep_samples: keep the samples, scores and weights on the explanation.
            differentiable: keep the autograd graph from the model to the coefficients.
            repeats: explain every example R times with independent samples, in one
                batch of R * B (replicate-major), features computed once.
            **feature_kwargs: the modality's own inputs (``segments``, ``attention_mask``).

        Returns:
            the modality's :class:`~torchlime.explanation.Explanation`, with its recipe.
        """
        self._check_call(given, repeats, differentiable)
        k = given.shape[-1] if isinstance(given, Tensor) and given.ndim == 3 else None
        bar = Progress(0, self.progress, desc=type(self).__name__)
        bar.stage("features", 1)
        features = self._features(inputs, k=k, **feature_kwargs)
        bar.update(1)
        target_bt = self._target(target, top_labels, len(features))
        if repeats > 1:
            features = features.repeat(repeats)
            target_bt = None if target_bt is None else target_bt.repeat(repeats, 1)
        generator, seed = new_generator(generator, features.device)
        t = target_bt.shape[1] if target_bt is not None else (top_labels or 1)
        auto = self.n_samples == "auto"
        n = self.max_samples if auto else int(self.n_samples)
        self._check_memory(features, given.shape[1] if isinstance(given, Tensor) else n, t)
        with torch.no_grad():  # samples are drawn, not differentiated through
            if given is not None:
                samples = self._given(features, given)
            else:
                samples = self._draw(features, first_round(n) if auto else n, generator)
        with borrowed_eval(self.model, self.eval_mode):
            scored = self._score(features, samples, target_bt, top_labels, differentiable, bar)
            weights = samples.weights
            run = Run(samples, scored.scores, self._sample_weights(features, samples.X, weights))
            if auto:
                run = self._adapt(features, run, scored.target, generator, differentiable, bar)
        bar.close()
        exact = self.kernel == "shapley" and enumeration(run.samples.X)
        design = "exact" if exact else None
        fit = self._fit(features, run, generator)
        return self.explanation(
            coef=fit.coef,
            intercept=fit.intercept,
            score=fit.score,
            local_pred=fit.local_pred,
            model_pred=run.scores[:, 0],
            target=scored.target,
            selected=fit.selected,
            n_features=features.n_features,
            seed=torch.full((len(features),), seed, dtype=torch.long, device=features.device),
            masks=run.samples.X if keep_samples else None,
            scores=run.scores if keep_samples else None,
            weights=run.weights if keep_samples else None,
            n_samples=run.n_samples(),
            resolved=run.resolved,
            config=self.recipe(seed if seed >= 0 else None, design, self._output(features)),
            **self._result(features, run.samples, keep_samples),
        )

    def _fit(self, features: Features, run: Run, generator: torch.Generator) -> Surrogate:
        """The surrogate of the run's samples: lime's fit, or regression-adjusted."""
        X, scores, weights, n_valid = run.samples.X, run.scores, run.weights, features.n_features
        if self.adjust is None:
            return fit_surrogate(
                X,
                scores,
                weights,
                n_valid,
                alpha=self.alpha,
                feature_selection=self.feature_selection,
                max_features=self.max_features,
                surrogate=self.surrogate,
                chunk_size=fit_chunk(X),
            )
        return adjusted_fit(
            X,
            scores,
            weights,
            n_valid,
            control=self.adjust,
            link="logit" if self._output(features) in ("softmax", "sigmoid") else "identity",
            generator=generator,
            draw=lambda m: self._draw(features, m, generator).X,
            weigh=lambda masks: self._sample_weights(features, masks),
            alpha=0.0 if self.surrogate == "ols" else self.alpha,
            feature_selection=self.feature_selection,
            max_features=self.max_features,
        )

    def _check_call(self, given: Any, repeats: int, differentiable: bool) -> None:
        _checks.integer("repeats", repeats, 1, ">= 1")
        if differentiable and torch.is_inference_mode_enabled():
            raise ValueError(
                "differentiable=True keeps an autograd graph, which torch.inference_mode() "
                "forbids: explain outside inference mode (torch.no_grad() is fine without "
                "differentiable)"
            )
        if given is not None and self.n_samples == "auto":
            raise ValueError('given samples are fixed; n_samples="auto" draws them itself')
        if given is not None and repeats > 1:
            raise ValueError("repeats draws new samples for every replicate; given= fixes them")
        if self.share_samples and repeats > 1:
            raise ValueError(
                "repeats draws independent samples for every replicate; share_samples gives "
                "every example the same ones (explain with share_samples=False: each example's "
                "law is the same)"
            )

    def replay(self, inputs: Any, exp: Explanation, **kwargs: Any) -> Explanation:
        """Explain ``inputs`` again with the features and samples kept on ``exp``.

        For a changed model (model randomisation) or another output: the only thing that
        differs from ``exp`` is what the model says. ``exp`` must come from this kind of
        explainer with ``keep_samples=True`` and a fixed ``n_samples``.

        Args:
            inputs: the inputs ``exp`` explains, as given to the explainer.
            exp: the explanation to replay.
            **kwargs: further inputs of the call (``attention_mask``, ``word_ids``).

        Returns:
            a new explanation of the same targets, with its samples kept.
        """
        if exp.masks is None or exp.scores is None:
            raise ValueError(
                "replay needs the explanation's samples: explain with keep_samples=True"
            )
        if exp.config.get("n_samples") == "auto":
            raise ValueError('replay needs a fixed n_samples; "auto" pads its samples')
        call = {"keep_samples": True, **self._replay_kwargs(exp), **kwargs}
        return self(inputs, exp.target, **call)

    # ------------------------------------------------------------------ steps

    def _target(self, target: Any, top_labels: int | None, batch: int) -> Tensor | None:
        """(B, T) int64 targets, or None for the top labels (a hook: regression's output 0)."""
        return normalise_target(target, top_labels, batch)

    def _draw(self, features: Features, n: int, generator: torch.Generator) -> Samples:
        """N samples per example, row 0 the original: masks from the configured sampler."""
        masks = self._masks(len(features), n, features.k, features.n_features, generator)
        return Samples(masks, masks)

    def _masks(self, b: int, n: int, k: int, n_valid: Tensor, generator: torch.Generator) -> Tensor:
        """(b, n, k) bool masks from ``sampler`` under the modality's ``law``, row 0 all True."""
        if self.kernel == "shapley":
            paired = self.sampler == "paired"
            return shapley_masks(b, n, k, n_valid=n_valid, paired=paired, generator=generator,
                                 shared=self.share_samples)  # fmt: skip
        return draw_masks(
            self.sampler, b, n, k, n_valid=n_valid, law=self.law, kernel_width=self.kernel_width,
            distance=self.distance, distance_scale=self.distance_scale, shared=self.share_samples,
            generator=generator,
        )  # fmt: skip

    def _given(self, features: Features, given: Any) -> Samples:
        """Samples the caller passed: (B, N, K) masks, row 0 forced to all True."""
        masks = _checks.masks(given, len(features), features.device, features.k)
        return Samples(masks, masks)

    def _weigh(self, features: Features, X: Tensor) -> Tensor:
        """(B, N) float64 weights: the kernel on the distance, or ones (GLIME)."""
        if self.kernel == "shapley":
            return shapley_kernel(X, features.n_features, enumerated=enumeration(X))
        if callable(self.kernel):
            weights = self.kernel(X, features.n_features)
            return _checks.sample_weights(weights, X, "kernel", self.validate)
        if self.sampler == "binomial":
            return torch.ones(X.shape[:2], dtype=torch.float64, device=X.device)
        return kernel_weights(
            X,
            features.n_features if features.padded else None,
            self.kernel_width,
            distance=self.distance,
            distance_scale=self.distance_scale,
        )

    def _output(self, features: Features) -> Output:
        """The output transform for these features' model calls (default: ``output=``)."""
        return self.output

    def _score(
        self,
        features: Features,
        samples: Samples,
        target: Tensor | None,
        top_labels: int | None,
        differentiable: bool,
        bar: Progress | None = None,
        *,
        originals: bool = True,
    ) -> Scores:
        """Scores (B, N, T) of the samples (row 0: the originals), or of rows 1.. only."""
        return score_samples(
            lambda inputs: self._call_model(inputs, features),
            features.inputs if originals else None,
            self._compose(features, samples, differentiable),
            batch=len(features),
            n_samples=samples.X.shape[1],
            target=target,
            top_labels=top_labels,
            output=self._output(features),
            batch_size=self._rows_per_call(features),
            device=features.device,
            progress=self.progress if bar is None else bar,
            differentiable=differentiable,
            validate=self.validate,
            shared=samples.shared,
        )

    def _adapt(
        self,
        features: Features,
        run: Run,
        target: Tensor,
        generator: torch.Generator,
        differentiable: bool,
        bar: Progress,
    ) -> Run:
        """``n_samples="auto"``: more samples for the examples whose top k is not resolved."""

        def draw(index: Tensor, n_extra: int) -> tuple[Tensor, Tensor, Tensor]:
            sub = features.take(index)
            with torch.no_grad():  # row 0, the original, is not scored
                new = self._draw(sub, n_extra + 1, generator)
            more = self._score(sub, new, target[index], None, differentiable, bar, originals=False)
            return new.X[:, 1:], more.scores, new.data[:, 1:]

        separate = run.samples.data is not run.samples.X  # tables: rows beside X
        grown = adaptive_sampling(
            draw,
            lambda X, index: self._sample_weights(features.take(index), X),
            run.samples.X,
            run.scores,
            features.n_features,
            data=run.samples.data if separate else None,
            k=self.top_k,
            max_samples=self.max_samples,
            confidence=self.confidence,
            stop=self.stop,
            alpha=self.alpha,
            design=self._design(),
            generator=generator,
        )
        data = grown.data if grown.data is not None else grown.masks
        samples = Samples(grown.masks, data)
        return Run(samples, grown.scores, grown.weights, grown.resolved, grown.n_samples)

    def _rows_per_call(self, features: Features) -> int:
        """``batch_size``, or the ``"auto"`` chunk for this call's inputs."""
        if self.batch_size != "auto":
            return int(self.batch_size)
        return chunk_rows(row_bytes(features.inputs), features.device, self.max_batch)

    def _check_memory(self, features: Features, n: int, t: int) -> None:
        """Refuse, before any work, a call whose samples or chunks cannot fit in memory."""
        rows = self._rows_per_call(features)
        check_memory(len(features), n, features.k, t, rows, row_bytes(features.inputs),
                     features.device)  # fmt: skip

    # ------------------------------------------------------------------ hooks

    def _features(self, inputs: Any, *, k: int | None = None, **kwargs: Any) -> Features:
        """Check the inputs and find their features; ``k`` is K when samples are given.

        Each explainer takes the keyword inputs its ``forward`` passes (``segments``, ...).
        """
        raise NotImplementedError

    def _compose(self, features: Features, samples: Samples, differentiable: bool) -> Compose:
        raise NotImplementedError

    def _result(self, features: Features, samples: Samples, keep_samples: bool) -> dict[str, Any]:
        return {}

    def _call_model(self, inputs: Any, features: Features) -> Any:
        return self.model(inputs)

    def _settings(self) -> dict[str, Any]:
        """The modality's own settings, first in the recipe and the ``repr``."""
        return {}

    def _sample_weights(self, features: Features, X: Tensor, given: Tensor | None = None) -> Tensor:
        """(B, N) weights of the fit: the kernel's (or given ones); row 0 out unless fitted."""
        weights = self._weigh(features, X) if given is None else given.to(torch.float64)
        if not self.fit_original:  # row 0 stays the original, out of the fit
            weights = torch.cat([torch.zeros_like(weights[:, :1]), weights[:, 1:]], 1)
        return weights

    def _kernel_name(self) -> str:
        if callable(self.kernel):
            return str(_checks.plain(self.kernel))
        if self.kernel == "shapley":
            return "shapley"
        return "folded" if self.sampler == "binomial" else "exponential"

    def _design(self) -> str:
        """How the sampler draws, as the bootstrap must mimic it."""
        return str(self.sampler) if self.sampler in ("paired", "stratified") else "iid"

    def _replay_kwargs(self, exp: Explanation) -> dict[str, Any]:
        return {"masks": exp.masks}
