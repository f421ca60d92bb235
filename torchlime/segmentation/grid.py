"""A regular grid of rectangular cells: the simplest, fully stable segmentation."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["Grid", "grid"]


def grid(
    image: Tensor,
    rows: int | None = None,
    cols: int | None = None,
    *,
    patch_size: int | tuple[int, int] | None = None,
) -> Tensor:
    """Split each image into a ``rows x cols`` grid of cells, numbered in raster order.

    Give either ``rows`` and ``cols`` or ``patch_size`` (cells of that many pixels, as a
    vision transformer's patches; a last, smaller cell takes the remainder).

    Args:
        image: (B, C, H, W). Only its shape and device are used.
        rows: number of cell rows.
        cols: number of cell columns (defaults to ``rows``).
        patch_size: cell height and width in pixels, instead of ``rows``/``cols``.

    Returns:
        (B, H, W) int64 with ids ``0..rows*cols-1``; pixel ``(y, x)`` is in cell
        ``(y * rows // H) * cols + x * cols // W``.

    Raises:
        ValueError: for a wrong rank, or counts that are missing, not positive or larger
            than the image.

    Example:
        >>> grid(torch.zeros(1, 3, 4, 4), 2, 2)[0].tolist()
        [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]
    """
    if image.ndim != 4:
        raise ValueError(f"image must be (B, C, H, W); got shape {tuple(image.shape)}")
    b, _, h, w = image.shape
    if patch_size is not None:
        if rows is not None or cols is not None:
            raise ValueError("give either rows/cols or patch_size, not both")
        ph, pw = (patch_size, patch_size) if isinstance(patch_size, int) else patch_size
        if ph < 1 or pw < 1:
            raise ValueError(f"patch_size must be positive; got {patch_size}")
        ys = torch.arange(h, device=image.device) // ph
        xs = torch.arange(w, device=image.device) // pw
        cols = -(-w // pw)
    else:
        if rows is None:
            raise ValueError("grid needs rows (and optionally cols) or patch_size")
        cols = rows if cols is None else cols
        if not (1 <= rows <= h and 1 <= cols <= w):
            raise ValueError(
                f"rows and cols must lie in [1, H] and [1, W] = [1, {h}] and [1, {w}]; "
                f"got rows={rows}, cols={cols}"
            )
        ys = torch.arange(h, device=image.device) * rows // h
        xs = torch.arange(w, device=image.device) * cols // w
    cells = ys[:, None] * cols + xs[None, :]
    return cells.expand(b, h, w).contiguous()


class Grid(nn.Module):
    """Module form of :func:`grid`: ``(B, C, H, W) -> (B, H, W)`` int64 cell ids.

    Args:
        rows: number of cell rows.
        cols: number of cell columns (defaults to ``rows``).
        patch_size: cell size in pixels, instead of ``rows``/``cols``.

    Example:
        >>> Grid(patch_size=16)(torch.zeros(2, 3, 224, 224)).amax().item()
        195
    """

    content_aware = False
    """A grid is what it promises: the explainer does not warn that its cells are one."""

    def __init__(
        self,
        rows: int | None = None,
        cols: int | None = None,
        *,
        patch_size: int | tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        if rows is None and patch_size is None:
            raise ValueError("Grid needs rows (and optionally cols) or patch_size")
        self.rows, self.cols, self.patch_size = rows, cols, patch_size

    def forward(self, image: Tensor) -> Tensor:
        """Segment ``image`` (B, C, H, W) into (B, H, W) int64 cell ids."""
        return grid(image, self.rows, self.cols, patch_size=self.patch_size)

    def extra_repr(self) -> str:
        """Configuration shown in ``repr``."""
        if self.patch_size is not None:
            return f"patch_size={self.patch_size}"
        return f"rows={self.rows}, cols={self.cols}"
