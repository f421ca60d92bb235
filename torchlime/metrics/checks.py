"""Checks on explanations of every modality: model randomisation, feature deletion curves.

Both replay through the explanation's explainer: the same features and samples with a
randomised model, or masks that remove the features in the explanation's order.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

from torchlime._random import resolve_generator
from torchlime.explanation import Explanation, TabularExplanation, TextExplanation
from torchlime.functional.ranking import average_ranks, pearson
from torchlime.metrics._fill import recipe_baseline

__all__ = ["RandomisationCheck", "explanation_auc", "model_randomisation", "rank_correlation"]


class RandomisationCheck(NamedTuple):
    """Explanations of a trained model against those of a randomised copy."""

    spearman: Tensor
    """(B, T) rank correlation of the coefficients (signed)."""
    spearman_abs: Tensor
    """(B, T) rank correlation of their magnitudes."""
    coef: Tensor
    """(B, T, K) the randomised model's coefficients."""

    def __repr__(self) -> str:
        rho = self.spearman.detach().double()
        passed = int((rho.abs() < 0.3).sum())
        mean = f"{float(rho.mean()):+.2f}" if rho.numel() else "-"
        return (
            f"RandomisationCheck(spearman mean {mean}, |spearman| < 0.3 in {passed} of "
            f"{rho.numel()}; spearman, spearman_abs: {tuple(self.spearman.shape)}; "
            f"coef: {tuple(self.coef.shape)})"
        )


def rank_correlation(a: Tensor, b: Tensor, n_features: Tensor | None = None) -> Tensor:
    """Spearman rank correlation of two attribution vectors over the valid features.

    Args:
        a: (..., K) float.
        b: (..., K) float, the same shape.
        n_features: int64 K_b valid features, shaped like a prefix of the leading
            dimensions (e.g. (B,) for (B, T, K)); None: all K.

    Returns:
        (...) float in [-1, 1] (ties share their mean rank; 0 when a side is constant).

    Example:
        >>> rank_correlation(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([10.0, 30.0, 20.0]))
        tensor(0.5000)
    """
    if a.shape != b.shape:
        raise ValueError(
            f"a and b must have the same shape; got {tuple(a.shape)}, {tuple(b.shape)}"
        )
    valid = torch.ones_like(a, dtype=torch.bool)
    if n_features is not None:
        n = n_features.reshape(*n_features.shape, *([1] * (a.ndim - 1 - n_features.ndim)))
        valid = (torch.arange(a.shape[-1], device=a.device) < n[..., None]).expand_as(a)
    ra, _ = average_ranks(a, valid)
    rb, _ = average_ranks(b, valid)
    return pearson(ra, rb, valid).to(torch.promote_types(a.dtype, torch.float32))


def model_randomisation(
    explainer: Any,
    x: Any,
    target: int | Tensor | None = None,
    *,
    exp: Explanation | None = None,
    layers: Sequence[str] | None = None,
    generator: torch.Generator | int | None = None,
    **call_kwargs: Any,
) -> RandomisationCheck:
    """Model-randomisation sanity check (Adebayo et al., 2018) on the surrogate's weights.

    A copy of the explainer's model has its parameters randomised (each parameter tensor's
    entries shuffled: their distribution is kept, the learned structure destroyed), and
    explains the same inputs with the same features and the same samples
    (:meth:`~torchlime._explainer.Explainer.replay`), so the only difference is the model.
    An explanation that reflects the model should change: the rank correlation with the
    trained model's coefficients should be near 0 (a common pass criterion is
    ``|spearman| < 0.3``). The explainer and its model are not modified. Works for every
    explainer.

    Args:
        explainer: a torchlime explainer whose ``model`` is an ``nn.Module``.
        x: (B, ...) inputs, as the explainer takes them.
        target: the explained outputs (default: ``exp.target``, else each input's top one).
        exp: an explanation of ``x`` by ``explainer`` made with ``keep_samples=True``
            (None: one is made here).
        layers: names of the submodules to randomise (cascading checks randomise growing
            sets from the output layer down); None randomises every parameter.
        generator: source of randomness on ``x``'s device (None: a fresh seed).
        **call_kwargs: the explainer's other inputs (``attention_mask=``, ...).

    Returns:
        :class:`RandomisationCheck` with (B, T) rank correlations.

    Example:
        >>> from torch import nn
        >>> from torchlime import LimeImage
        >>> model = nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(12, 3))
        >>> explainer = LimeImage(model, n_samples=100, progress=False)
        >>> check = model_randomisation(explainer, torch.rand(2, 3, 16, 16))
        >>> check.spearman.shape
        torch.Size([2, 1])
    """
    model = getattr(explainer, "model", None)
    if not isinstance(model, torch.nn.Module):
        raise TypeError("model_randomisation needs an explainer whose .model is an nn.Module")
    if getattr(explainer, "n_samples", None) == "auto":
        raise ValueError(
            'model_randomisation replays the same samples: use a fixed n_samples, not "auto"'
        )
    device = exp.coef.device if exp is not None else _device(x)
    generator = _generator(generator, device)
    if exp is None or exp.masks is None:
        exp = explainer(x, target, keep_samples=True, generator=generator, **call_kwargs)
    randomised = copy.deepcopy(explainer)
    modules = dict(randomised.model.named_modules())
    if layers is None:
        params = list(randomised.model.parameters())
    else:
        missing = [name for name in layers if name not in modules]
        if missing:
            raise ValueError(f"layers {missing} are not submodules of the model")
        params = [p for name in layers for p in modules[name].parameters()]
    with torch.no_grad():
        for p in params:
            flat = p.view(-1)
            perm = torch.randperm(flat.numel(), generator=generator, device=generator.device)
            flat.copy_(flat[perm.to(flat.device)])
    rand = randomised.replay(x, exp, **call_kwargs)
    return RandomisationCheck(
        spearman=rank_correlation(exp.coef, rand.coef, exp.n_features),
        spearman_abs=rank_correlation(exp.coef.abs(), rand.coef.abs(), exp.n_features),
        coef=rand.coef,
    )


def explanation_auc(
    explainer: Any,
    inputs: Any,
    exp: Explanation,
    *,
    kind: str = "deletion",
    baseline: Any = None,
    **call_kwargs: Any,
) -> Tensor:
    """Deletion or insertion AUC over an explanation's own features, the explainer's way.

    The features (superpixels, words) are removed (``"deletion"``) or revealed
    (``"insertion"``, from none) in decreasing order of their coefficient (the RISE
    protocol: the feature that raises the score most goes first), and every
    step is built by the explainer itself from masks, so the curve tests the ranking
    against the very perturbation it explains. That perturbation is the explanation's
    recipe: an image explanation's ``config["baseline"]`` (each superpixel's mean colour
    for LimeImage's default), a text explanation's ``config["mask_id"]`` (None: removed
    words are dropped), even when ``explainer`` was built with another (a shallow copy
    with the recipe's setting is used; the explainer is not modified). Tensor explanations
    hide features with the ``baselines=`` of the call (pass them in ``call_kwargs``). The
    AUC is the trapezoidal area under the model's score over the fraction of features
    removed (revealed), in [0, 1]. One explainer call per target.

    Args:
        explainer: the torchlime explainer that made ``exp`` (images or text).
        inputs: the inputs ``exp`` explains, as given to the explainer.
        exp: the explanation (its ``target`` and ranking are used).
        kind: ``"deletion"`` (lower is better) or ``"insertion"`` (higher is better).
        baseline: what hidden features show, overriding the recipe: for images a fill
            (see :func:`~torchlime.functional.make_fill`), for text the token id hidden
            words show. None: the recipe's (with a warning, and the explainer's own
            setting assumed, when the recipe lacks it).
        **call_kwargs: the explainer's other inputs (``attention_mask=``, ...); an image
            explanation's ``segments`` are reused.

    Returns:
        (B, T) float.

    Raises:
        ValueError: for an unknown kind, or a tabular explanation: lime's tabular
            perturbations resample a column from the training data rather than remove it,
            so there is no deletion curve to follow; for ``baseline`` with a tensor
            explanation (its baselines are a call input).

    Example:
        >>> from torch import nn
        >>> from torchlime import Grid, LimeImage
        >>> model = nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(12, 3))
        >>> explainer = LimeImage(model, segmenter=Grid(4, 4), n_samples=100, progress=False)
        >>> x = torch.rand(2, 3, 16, 16)
        >>> explanation_auc(explainer, x, explainer(x)).shape
        torch.Size([2, 1])
    """
    if kind not in ("deletion", "insertion"):
        raise ValueError(f"kind must be 'deletion' or 'insertion'; got {kind!r}")
    if isinstance(exp, TabularExplanation):
        raise ValueError(
            "explanation_auc removes features: lime's tabular perturbations resample a column "
            "from the training data instead of removing it, so deletion and insertion curves "
            "do not apply to tabular explanations"
        )
    explainer = _with_recipe_fill(explainer, exp, baseline)
    b, t, k = exp.coef.shape
    valid = torch.arange(k, device=exp.coef.device) < exp.n_features[:, None, None]
    strength = torch.where(valid, exp.coef.double(), -torch.inf)  # padding last
    order = strength.sort(dim=-1, descending=True, stable=True).indices  # most positive first
    rank = torch.empty_like(order).scatter_(
        -1, order, torch.arange(k, device=order.device).expand_as(order)
    )
    steps = torch.arange(k + 1, device=order.device)  # features removed (revealed) per row
    gone = rank[:, :, None, :] < steps[:, None]  # (B, T, K + 1, K)
    keep = gone if kind == "insertion" else ~gone
    if hasattr(exp, "segments"):
        call_kwargs.setdefault("segments", exp.segments)
    curves = []
    for i in range(t):  # over targets (a handful), not samples
        rows = torch.cat([keep.new_ones(b, 1, k), keep[:, i]], 1)  # row 0: the original
        out = explainer(inputs, exp.target[:, i], masks=rows, keep_samples=True, **call_kwargs)
        curves.append(out.scores[:, 1:, 0])
    curve = torch.stack(curves, 1).double()  # (B, T, K + 1)
    last = exp.n_features.to(order.device)[:, None, None]
    s = steps.view(1, 1, -1)
    trapezoid = torch.where((s == 0) | (s == last), 0.5, 1.0) * (s <= last)
    auc = (curve * trapezoid).sum(-1) / last[..., 0].clamp(min=1)
    return auc.to(torch.promote_types(exp.coef.dtype, torch.float32))


def _with_recipe_fill(explainer: Any, exp: Explanation, baseline: Any) -> Any:
    """The explainer, hiding features as ``baseline`` or the recipe says (a shallow copy)."""
    if isinstance(exp, TextExplanation):
        name = "mask_id"
        if baseline is not None:
            value = int(baseline)
        elif name in exp.config:
            value = exp.config[name]
        else:
            warnings.warn(
                "explanation_auc: the explanation's recipe does not record mask_id (saved "
                f"by an older torchlime); assuming the explainer's own ({explainer.mask_id!r}).",
                stacklevel=3,
            )
            return explainer
    elif hasattr(exp, "segments"):
        name = "baseline"
        if baseline is not None:
            value = baseline
        elif "baseline" not in exp.config:
            warnings.warn(
                "explanation_auc: the explanation's recipe does not record the explainer's "
                "baseline (saved by an older torchlime); assuming the explainer's own "
                f"({explainer.baseline!r}). Pass baseline= to be sure.",
                stacklevel=3,
            )
            return explainer
        else:
            own = explainer.baseline
            if isinstance(own, Tensor) or (callable(own) and not isinstance(own, str)):
                described = str(exp.config["baseline"]).startswith(("tensor of", "callable:"))
                if described:  # the recipe only describes it: the explainer's own
                    return explainer
            value = recipe_baseline(exp, "explanation_auc", stacklevel=4)
    elif baseline is not None:
        raise ValueError(
            "explanation_auc: baseline= is for image and text explanations; a tensor "
            "explanation hides features with the call's baselines= (pass them again)"
        )
    else:
        return explainer
    clone = copy.copy(explainer)
    object.__setattr__(clone, name, value)  # shadows a submodule too; the original is kept
    return clone


def _generator(generator: torch.Generator | int | None, device: torch.device) -> torch.Generator:
    return resolve_generator(generator, device)[0]


def _device(inputs: Any) -> torch.device:
    """The device of an explainer's inputs: a tensor, or the first tensor of a mapping."""
    if isinstance(inputs, Tensor):
        return inputs.device
    values = inputs.values() if isinstance(inputs, dict) else ()
    first = next((v for v in values if isinstance(v, Tensor)), None)
    return first.device if first is not None else torch.device("cpu")
