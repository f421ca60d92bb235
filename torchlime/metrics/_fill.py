"""What the metrics hide features with: by default, what the explainer hid them with.

An explanation describes the model's response to one perturbation: LimeImage's default
shows a hidden superpixel as its own mean colour, and a deletion curve that blacks it out
instead tests the ranking against another perturbation (off the image distribution), which
can flip the conclusion. So the metrics read the explainer's fill from the recipe
(``exp.config["baseline"]`` for images, ``exp.config["mask_id"]`` for text); an explicit
``baseline=`` overrides it.
"""

from __future__ import annotations

import warnings
from typing import Any

from torch import Tensor

from torchlime.explanation import Explanation

__all__ = ["image_inputs", "recipe_baseline"]

_DESCRIBED = ("tensor of shape", "callable:")


def recipe_baseline(exp: Any, where: str, stacklevel: int) -> Any:
    """The image fill the explanation was made with: ``"mean"``, ``"blur"`` or a number.

    A recipe without one (an explanation saved by an older torchlime) gives LimeImage's
    default, ``"mean"``, with a warning. A tensor or callable baseline is only described by
    the recipe: it must be passed again.
    """
    config = getattr(exp, "config", {})
    if "baseline" not in config:
        warnings.warn(
            f"{where}: the explanation's recipe does not record the explainer's baseline "
            "(saved by an older torchlime); assuming LimeImage's default, each superpixel's "
            "mean colour (baseline='mean'). Pass baseline= to be sure.",
            stacklevel=stacklevel,
        )
        return "mean"
    value = config["baseline"]
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{where}: the recipe's baseline {value!r} is not a fill")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value.startswith(_DESCRIBED):
        raise ValueError(
            f"{where}: the explanation was made with a baseline the recipe can only describe "
            f"({value}); pass it again as baseline="
        )
    return value


def image_inputs(
    attributions: Any,
    target: Any,
    segments: Tensor | None,
    baseline: Any,
    default: Any,
    where: str,
) -> tuple[Tensor, Any, Tensor | None, Any]:
    """Resolve a metric's inputs when ``attributions`` is an image explanation.

    Returns (attributions, target, segments, baseline): an explanation gives its ``coef``,
    ``target``, ``segments`` and recipe's fill wherever the caller passed None; plain
    attributions with ``baseline=None`` get the metric's ``default``.
    """
    if not isinstance(attributions, Explanation):
        return attributions, target, segments, default if baseline is None else baseline
    exp = attributions
    if not hasattr(exp, "segments"):
        raise ValueError(
            f"{where} perturbs image superpixels: pass an image explanation (with "
            f"segments), or attributions; got a {type(exp).__name__}"
        )
    if baseline is None:
        baseline = recipe_baseline(exp, where, stacklevel=4)
    segments = exp.segments if segments is None else segments
    return exp.coef, exp.target if target is None else target, segments, baseline
