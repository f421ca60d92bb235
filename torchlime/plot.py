"""Figures for explanations. matplotlib is imported inside the functions (extra ``plot``).

Every figure names what it shows: the explained class (``exp.target_names``: the
explainer's ``class_names``, else ``"output i"``) and the features (``exp.as_list``), and
paints weights as the HTML view does (:mod:`torchlime.explanation.render`): red where a
feature pushes the class's score up, blue where it pushes it down. (Bars used lime's
green and red before; they now follow the same red / blue.)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from torchlime.explanation import ImageExplanation, TabularExplanation, TextExplanation
from torchlime.explanation.render import (
    BLUE,
    RED,
    STRENGTH,
    boundaries,
    overlay,
    to_rgb,
    upscale_factor,
)

__all__ = [
    "bar_figure",
    "boundaries",
    "image_figure",
    "image_grid",
    "save_bar_figure",
    "save_image_figure",
    "save_image_grid",
]


def _image(image: Tensor, index: int) -> Tensor:
    """(H, W, 3) float RGB of image ``index`` of (B, C, H, W), or of a single (C, H, W)."""
    return to_rgb(image[index] if image.ndim == 4 else image)


def _check_image(exp: ImageExplanation, image: Tensor) -> None:
    if image.ndim not in (3, 4) or tuple(image.shape[-2:]) != tuple(exp.segments.shape[1:]):
        raise ValueError(
            f"image must be (B, C, H, W) or (C, H, W) with (H, W)="
            f"{tuple(exp.segments.shape[1:])}, as the explanation's segments; "
            f"got {tuple(image.shape)}"
        )


def _weight_cmap() -> Any:
    """The colours of :func:`~torchlime.explanation.render.overlay` on white, as a colormap."""
    from matplotlib.colors import LinearSegmentedColormap

    def tint(c: tuple[float, float, float]) -> tuple[float, ...]:
        return tuple(1 - STRENGTH + STRENGTH * v for v in c)

    return LinearSegmentedColormap.from_list("torchlime", [tint(BLUE), (1, 1, 1), tint(RED)])


def _legend_handles(name: str, negative: bool = True) -> list[Any]:
    from matplotlib.patches import Patch

    handles = [Patch(color=RED, label=f"pushes {name} up")]
    if negative:
        handles.append(Patch(color=BLUE, label=f"pushes {name} down"))
    return handles


def _facts(exp: ImageExplanation | TabularExplanation | TextExplanation, i: int, t: int) -> str:
    return f"model {float(exp.model_pred[i, t]):.3g}, surrogate R² {float(exp.score[i, t]):.2f}"


def image_figure(
    exp: ImageExplanation,
    image: Tensor,
    *,
    index: int = 0,
    target: int = 0,
    k: int = 5,
    title: str | None = None,
    negative: bool = False,
) -> Any:
    """Three panels for one image and target: the original, the weights, the top ``k``.

    The weights panel paints every superpixel over the image in grey (red pushes the
    class up, blue pushes it down, borders in grey) with a colorbar in the weights' units.
    The top-``k`` panel keeps lime's ``get_image_and_mask`` superpixels bright, outlined in
    red, and dims the rest; with ``negative=True`` it also outlines the top ``k`` that push
    the class down, in blue.

    Args:
        exp: an image explanation.
        image: (B, C, H, W) or (C, H, W) float in [0, 1], the explained images (RGB or gray).
        index: which image of the batch.
        target: which of the T explained targets.
        k: superpixels shown in the mask panel (positive weights, as lime; and negative
            ones with ``negative``).
        title: figure title (default: the class, the model's score and the surrogate's R²).
        negative: also mark the top ``k`` superpixels that push the class down.

    Returns:
        A ``matplotlib.figure.Figure`` whose three image axes are titled with the class.
    """
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    _check_image(exp, image)
    name = exp.target_names(index)[target]
    rgb = _image(image, index)
    coef = exp.coef[index, target].detach().float().cpu()
    seg = exp.segments[index].cpu()
    limit = float(coef.abs().max()) or 1.0
    img = image[index] if image.ndim == 4 else image

    fig = Figure(figsize=(11.0, 4.2), layout="constrained")
    axes = fig.subplots(1, 3)
    axes[0].imshow(rgb.numpy())
    axes[0].set_title("original")
    zoom = upscale_factor(*seg.shape)  # thin borders on small images
    axes[1].imshow(overlay(coef, seg, img, limit=limit, scale=zoom).numpy())
    bar = ScalarMappable(Normalize(-limit / STRENGTH, limit / STRENGTH), _weight_cmap())
    fig.colorbar(
        bar, ax=axes[1], shrink=0.8, label=f"surrogate weight\nred: pushes {name} up, blue: down"
    )
    axes[1].set_title(f"{name}: weights of {int(exp.n_features[index])} superpixels")
    up = _paint_mask(exp.top_features(k), seg, index, target)
    down = torch.zeros_like(up)
    if negative:
        lows = exp.top_features(k, positive_only=False, negative_only=True)
        down = _paint_mask(lows, seg, index, target)
    shown = torch.where((up | down)[..., None], rgb, rgb * 0.25)
    shown[_outline(up)] = torch.tensor(RED)
    shown[_outline(down)] = torch.tensor(BLUE)
    axes[2].imshow(shown.numpy())
    axes[2].set_title(f"{name}: top {k}" + (" each way" if negative else ""))
    axes[2].legend(
        handles=_legend_handles(name, negative),
        loc="upper center",
        bbox_to_anchor=(0.5, -0.02),
        fontsize="small",
        frameon=False,
    )
    for ax in axes:
        ax.set_axis_off()
    fig.suptitle(title if title is not None else f"{name}: {_facts(exp, index, target)}")
    return fig


def _paint_mask(chosen: Tensor, segments: Tensor, index: int, target: int) -> Tensor:
    """(H, W) bool pixels of the chosen (B, T, K) features of one example and target."""
    mine = chosen[index, target].cpu()
    return torch.where(segments >= 0, mine[segments.clamp(min=0)], False)


def _outline(mask: Tensor) -> Tensor:
    """Pixels of ``mask`` (H, W) that touch a pixel outside it (8-neighbourhood)."""
    outside = (~mask).float()[None, None]
    near = torch.nn.functional.max_pool2d(outside, 3, stride=1, padding=1)[0, 0] > 0
    return mask & near


def image_grid(
    exp: ImageExplanation,
    images: Tensor,
    *,
    indices: Sequence[int] | None = None,
    targets: Sequence[int] | None = None,
    negative: bool = True,
    max_images: int = 8,
    title: str | None = None,
) -> Any:
    """Several images × classes in one figure: a row per image, the original first.

    Each weights panel is titled with its class, the model's score and the surrogate's R²,
    and paints the superpixels over the image in grey, red pushing that class up and blue
    pushing it down, at full colour for the panel's largest ``|weight|`` (in the title).

    Args:
        exp: an image explanation.
        images: (B, C, H, W) float in [0, 1], the explained images.
        indices: which images (default: the first ``max_images``).
        targets: which of the T explained targets, positions in ``exp.target`` (default
            all).
        negative: paint the superpixels that push the class down too (else only the
            positive ones).
        max_images: the most rows when ``indices`` is None.
        title: figure title.

    Returns:
        A ``matplotlib.figure.Figure`` with ``len(indices) * (1 + len(targets))`` axes.
    """
    from matplotlib.figure import Figure

    if images.ndim != 4:
        raise ValueError(f"images must be (B, C, H, W); got {tuple(images.shape)}")
    _check_image(exp, images)
    rows = list(range(min(len(exp), max_images))) if indices is None else list(indices)
    cols = list(range(exp.coef.shape[1])) if targets is None else list(targets)
    if not rows or not cols:
        raise ValueError("image_grid needs at least one image and one target")
    fig = Figure(figsize=(2.6 * (1 + len(cols)), 3.0 * len(rows) + 0.6), layout="constrained")
    axes = fig.subplots(len(rows), 1 + len(cols), squeeze=False)
    for r, i in enumerate(rows):
        names = exp.target_names(i)
        axes[r, 0].imshow(_image(images, i).numpy())
        axes[r, 0].set_title(f"image {i}", fontsize="medium")
        for c, t in enumerate(cols):
            coef = exp.coef[i, t].detach().float().cpu()
            limit = float(coef.abs().max())
            shown = coef if negative else coef.clamp(min=0)
            seg = exp.segments[i].cpu()
            zoom = upscale_factor(*seg.shape)
            painted = overlay(shown, seg, images[i], limit=limit or None, scale=zoom)
            axes[r, 1 + c].imshow(painted.numpy())
            axes[r, 1 + c].set_title(
                f"{names[t]}\n{_facts(exp, i, t)}\nfull colour ±{limit:.2g}", fontsize="small"
            )
    for ax in axes.flat:
        ax.set_axis_off()
    fig.legend(
        handles=_legend_handles("the panel's class", negative),
        loc="outside lower center",
        ncols=2,
        frameon=False,
    )
    if title:
        fig.suptitle(title)
    return fig


def _save(fig: Any, path: str | os.PathLike[str]) -> None:
    folder = os.path.dirname(os.fspath(path))
    if folder:
        os.makedirs(folder, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")


def save_image_figure(
    exp: ImageExplanation, image: Tensor, path: str | os.PathLike[str], **kwargs: Any
) -> None:
    """Write :func:`image_figure` to ``path`` (PNG by extension), creating its folder."""
    _save(image_figure(exp, image, **kwargs), path)


def save_image_grid(
    exp: ImageExplanation, images: Tensor, path: str | os.PathLike[str], **kwargs: Any
) -> None:
    """Write :func:`image_grid` to ``path`` (PNG by extension), creating its folder."""
    _save(image_grid(exp, images, **kwargs), path)


def bar_figure(
    exp: TabularExplanation | TextExplanation,
    names: Any = None,
    *,
    index: int = 0,
    target: int = 0,
    k: int = 10,
    title: str | None = None,
    **as_list_kwargs: Any,
) -> Any:
    """Horizontal bars of the top ``k`` feature weights, as lime's ``as_pyplot_figure``.

    Red bars push the explained class up, blue ones push it down (a legend says so, with
    the class's name); the strongest feature is at the top. Names come from
    ``exp.as_list(names, ...)``: column names with their bins for a tabular explanation
    (default: the explainer's), words from a vocabulary for a text one.

    Args:
        exp: a tabular or text explanation.
        names: what ``exp.as_list`` names features with (None: its default).
        index: which example of the batch.
        target: which of the T explained targets.
        k: how many features at most.
        title: figure title (default: the class, the model's score and the surrogate's R²).
        **as_list_kwargs: passed to ``as_list`` (``categorical_names``, ``positions``).

    Returns:
        A ``matplotlib.figure.Figure``.
    """
    from matplotlib.figure import Figure

    pairs = exp.as_list(names, index=index, target=target, **as_list_kwargs)[:k]
    labels = [label for label, _ in pairs][::-1]
    weights = [weight for _, weight in pairs][::-1]
    colours = [RED if w > 0 else BLUE for w in weights]
    name = exp.target_names(index)[target]
    fig = Figure(figsize=(6.4, 0.45 * max(len(pairs), 2) + 1.6), layout="constrained")
    ax = fig.subplots()
    ax.barh(range(len(weights)), weights, color=colours)
    ax.set_yticks(range(len(labels)), labels)
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_xlabel("surrogate weight")
    ax.legend(handles=_legend_handles(name), loc="best", fontsize="small")
    ax.set_title(title if title is not None else f"{name}: {_facts(exp, index, target)}")
    return fig


def save_bar_figure(
    exp: TabularExplanation | TextExplanation,
    path: str | os.PathLike[str],
    names: Any = None,
    **kwargs: Any,
) -> None:
    """Write :func:`bar_figure` to ``path`` (PNG by extension), creating its folder."""
    _save(bar_figure(exp, names, **kwargs), path)
