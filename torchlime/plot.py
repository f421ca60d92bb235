"""Figures for explanations. matplotlib is imported inside the functions (extra ``plot``)."""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import Tensor

from torchlime.explanation import ImageExplanation, TabularExplanation, TextExplanation

__all__ = ["bar_figure", "boundaries", "image_figure", "save_bar_figure", "save_image_figure"]


def boundaries(segments: Tensor) -> Tensor:
    """Pixels on a superpixel border (4-neighbourhood).

    Args:
        segments: (..., H, W) integer ids.

    Returns:
        (..., H, W) bool, True where a right or lower neighbour has another id.

    Example:
        >>> boundaries(torch.tensor([[0, 0, 1], [0, 0, 1]])).int().tolist()
        [[0, 1, 0], [0, 1, 0]]
    """
    edge = torch.zeros_like(segments, dtype=torch.bool)
    edge[..., :, :-1] |= segments[..., :, :-1] != segments[..., :, 1:]
    edge[..., :-1, :] |= segments[..., :-1, :] != segments[..., 1:, :]
    return edge


def image_figure(
    exp: ImageExplanation,
    image: Tensor,
    *,
    index: int = 0,
    target: int = 0,
    k: int = 5,
    title: str | None = None,
) -> Any:
    """Three panels for one image and target: heat map, superpixels, top-``k`` mask.

    Args:
        exp: an image explanation.
        image: (B, C, H, W) or (C, H, W) float in [0, 1], the explained images (RGB or gray).
        index: which image of the batch.
        target: which of the T explained targets.
        k: superpixels shown in the mask panel (positive weights only, as lime).
        title: figure title.

    Returns:
        A ``matplotlib.figure.Figure``.
    """
    from matplotlib.figure import Figure

    img = (image[index] if image.ndim == 4 else image).detach().float().cpu().clamp(0, 1)
    rgb = img.permute(1, 2, 0).numpy() if img.shape[0] == 3 else img[0].numpy()
    cmap_img = None if img.shape[0] == 3 else "gray"
    attr = exp.attributions[index, target].detach().float().cpu()
    seg = exp.segments[index].cpu()
    mask = exp.top_mask(k)[index, target].cpu()
    edge = boundaries(seg)
    limit = float(attr.abs().max()) or 1.0

    fig = Figure(figsize=(10.5, 3.8), layout="constrained")
    axes = fig.subplots(1, 3)
    axes[0].imshow(rgb, cmap=cmap_img)
    heat = axes[0].imshow(attr.numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit, alpha=0.6)
    fig.colorbar(heat, ax=axes[0], shrink=0.8, label="surrogate weight")
    axes[0].set_title("weights per superpixel")
    shown = torch.from_numpy(rgb.copy()) if img.shape[0] == 3 else img[0][..., None].repeat(1, 1, 3)
    marked = shown.clone()
    marked[edge] = torch.tensor([1.0, 1.0, 0.0])
    axes[1].imshow(marked.numpy())
    axes[1].set_title(f"{int(exp.n_features[index])} superpixels")
    dimmed = shown * 0.25
    dimmed[mask] = shown[mask]
    dimmed[_outline(mask)] = torch.tensor([0.0, 1.0, 0.0])
    axes[2].imshow(dimmed.numpy())
    axes[2].set_title(f"top {k} (positive)")
    for ax in axes:
        ax.set_axis_off()
    if title:
        fig.suptitle(title)
    return fig


def _outline(mask: Tensor) -> Tensor:
    """Pixels of ``mask`` (H, W) that touch a pixel outside it (8-neighbourhood)."""
    outside = (~mask).float()[None, None]
    near = torch.nn.functional.max_pool2d(outside, 3, stride=1, padding=1)[0, 0] > 0
    return mask & near


def save_image_figure(
    exp: ImageExplanation, image: Tensor, path: str | os.PathLike[str], **kwargs: Any
) -> None:
    """Write :func:`image_figure` to ``path`` (PNG by extension), creating its folder."""
    folder = os.path.dirname(os.fspath(path))
    if folder:
        os.makedirs(folder, exist_ok=True)
    fig = image_figure(exp, image, **kwargs)
    fig.savefig(path, dpi=110)


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

    Positive weights (pushing the explained score up) are green, negative ones red; the
    strongest feature is at the top. Names come from ``exp.as_list(names, ...)``: column
    names for a tabular explanation, a vocabulary for a text one.

    Args:
        exp: a tabular or text explanation.
        names: what ``exp.as_list`` names features with (None: indices / token ids).
        index: which example of the batch.
        target: which of the T explained targets.
        k: how many features at most.
        title: figure title (default: the target, the surrogate's score and the model's).
        **as_list_kwargs: passed to ``as_list`` (``categorical_names``, ``positions``).

    Returns:
        A ``matplotlib.figure.Figure``.
    """
    from matplotlib.figure import Figure

    pairs = exp.as_list(names, index=index, target=target, **as_list_kwargs)[:k]
    labels = [name for name, _ in pairs][::-1]
    weights = [weight for _, weight in pairs][::-1]
    colours = ["#2ca02c" if w > 0 else "#d62728" for w in weights]
    fig = Figure(figsize=(6.4, 0.45 * max(len(pairs), 2) + 1.2), layout="constrained")
    ax = fig.subplots()
    ax.barh(range(len(weights)), weights, color=colours)
    ax.set_yticks(range(len(labels)), labels)
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_xlabel("surrogate weight")
    if title is None:
        out, pred = int(exp.target[index, target]), float(exp.model_pred[index, target])
        title = (
            f"output {out}: model {pred:.3f}, surrogate R² {float(exp.score[index, target]):.2f}"
        )
    ax.set_title(title)
    return fig


def save_bar_figure(
    exp: TabularExplanation | TextExplanation,
    path: str | os.PathLike[str],
    names: Any = None,
    **kwargs: Any,
) -> None:
    """Write :func:`bar_figure` to ``path`` (PNG by extension), creating its folder."""
    folder = os.path.dirname(os.fspath(path))
    if folder:
        os.makedirs(folder, exist_ok=True)
    bar_figure(exp, names, **kwargs).savefig(path, dpi=110)
