"""The block layout SLIC's batched iterations share: seeds, candidate centres, padded cells.

Private to :mod:`torchlime.segmentation.slic`; built on the CPU once per image size and
cached per device.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["Layout", "layout"]


class Layout(NamedTuple):
    """Seeds, candidates and the padded block layout for one image size, shared by a batch.

    Pixels are grouped into blocks, one per seed: the pixels whose nearest seed it is. Every
    pixel of block ``m`` has the same ``J = (2 r + 1)**2`` candidate centres, the seeds of the
    cells within ``r`` cells of ``m``, in raster order (so slot order is centre order).
    """

    rows: int  # kh, seed rows
    cols: int  # kw, seed columns; K = kh * kw
    step: float  # S, the spatial normaliser: the largest grid step
    window: tuple[int, int]  # (2 sy, 2 sx), half-widths of scikit-image's search window
    cell: tuple[int, int]  # (Hc, Wc), the padded block height and width; P = Hc * Wc
    reach: float  # largest |coordinate - block origin| of a pixel or candidate centre, / S
    seeds: Tensor  # (K, 2) float32 seed (y, x)
    neighbours: Tensor  # (K, J) int64 candidate centre per block slot (own centre if absent)
    present: Tensor  # (K, J) bool, the candidate exists
    source: Tensor  # (K, J) int64 bin (block * J + slot) holding centre k's j-th sum; K*J: none
    origin: Tensor  # (K, 2) float32 (y, x) of each block's first pixel
    offset: Tensor  # (K, 2, P) float32 (y, x) of each block position minus the origin
    pixels: Tensor  # (K, P) int64 flat pixel of each block position (padding repeats one)
    valid: Tensor  # (K, P) bool, the block position is a real pixel
    inverse: Tensor  # (H * W,) int64 block position ``m * P + p`` of each pixel


def _regular_grid(height: int, width: int, n_segments: int) -> tuple[int, int, int, int]:
    """Seed starts and steps ``(y0, sy, x0, sx)`` of ``skimage.util.regular_grid((1, H, W), n)``."""
    shape = (1, height, width)
    if height * width <= n_segments:
        return 0, 1, 0, 1
    order = sorted(range(3), key=lambda d: shape[d])
    dims = [float(shape[d]) for d in order]
    steps = [(height * width / n_segments) ** (1.0 / 3.0)] * 3
    if any(d < s for d, s in zip(dims, steps, strict=True)):
        for dim in range(3):
            steps[dim] = dims[dim]
            rest = 1.0
            for d in dims[dim + 1 :]:
                rest *= d
            for later in range(dim + 1, 3):
                steps[later] = (rest / n_segments) ** (1.0 / (3 - dim - 1))
            if all(d >= s for d, s in zip(dims, steps, strict=True)):
                break
    starts = [int(s // 2) for s in steps]
    rounded = [round(s) for s in steps]  # numpy rounds half to even, as Python does
    by_dim = {order[i]: (starts[i], rounded[i]) for i in range(3)}
    return by_dim[1][0], by_dim[1][1], by_dim[2][0], by_dim[2][1]


def _cells(n: int, start: int, step: int, count: int) -> Tensor:
    """Index of the nearest seed ``start + i * step`` of each coordinate (ties go to the lower)."""
    offset = torch.arange(n) - start
    return torch.div(2 * offset + step - 1, 2 * step, rounding_mode="floor").clamp_(0, count - 1)


def _blocks(cell: Tensor, count: int) -> tuple[Tensor, Tensor, Tensor]:
    """Coordinates of each cell padded to the largest: (count, L) index, validity, offset."""
    sizes = torch.bincount(cell, minlength=count)
    first = torch.cumsum(sizes, 0) - sizes
    offsets = torch.arange(int(sizes.max()))
    valid = offsets[None, :] < sizes[:, None]
    within = torch.minimum(offsets[None, :], sizes[:, None] - 1).clamp(min=0)
    return first[:, None] + within, valid, within


class _Axis(NamedTuple):
    """The cells along one axis and the cells of their candidate centres."""

    cell: Tensor  # (n,) int64 cell (nearest seed) of each coordinate
    candidates: Tensor  # (count, 2 r + 1) int64 candidate cell per slot, ascending
    inside: Tensor  # (count, 2 r + 1) bool, the candidate cell exists
    reach: int  # largest |coordinate - cell start| of a member of a candidate's centre


def _axis(n: int, start: int, step: int, count: int, radius: int) -> _Axis:
    """Cells of ``range(n)``, each with the cells within ``radius`` as candidates."""
    cell = _cells(n, start, step, count)
    candidates = torch.arange(count)[:, None] + torch.arange(-radius, radius + 1)
    inside = (candidates >= 0) & (candidates < count)
    # The members of candidate c's centre lie in cells c - r..c + r.
    first = torch.searchsorted(cell, (candidates - radius).clamp(0, count - 1))
    last = torch.searchsorted(cell, (candidates + radius).clamp(0, count - 1), right=True) - 1
    cell_start = torch.searchsorted(cell, torch.arange(count))
    reach = max(
        int((cell_start[:, None] - first).max()),
        int((last - cell_start[:, None]).max()),
        int(torch.bincount(cell).max()) - 1,
    )
    return _Axis(cell, candidates, inside, reach)


@lru_cache(maxsize=64)
def layout(
    height: int, width: int, n_segments: int, device: torch.device, radius: int = 1
) -> Layout:
    """The layout of an image size, built on the CPU once and cached per device."""
    y0, sy, x0, sx = _regular_grid(height, width, n_segments)
    rows, cols = len(range(y0, height, sy)), len(range(x0, width, sx))
    k = rows * cols
    seeds = torch.stack(
        torch.meshgrid(torch.arange(rows) * sy + y0, torch.arange(cols) * sx + x0, indexing="ij"),
        -1,
    ).view(k, 2)
    ay, ax = _axis(height, y0, sy, rows, radius), _axis(width, x0, sx, cols, radius)
    # Candidate (i, l) of block (r, c) is the centre of cell (candidates_y[r, i],
    # candidates_x[c, l]); an absent one is replaced by the block's own centre.
    neighbours = (ay.candidates[:, None, :, None] * cols + ax.candidates[None, :, None, :]).reshape(
        k, -1
    )
    present = (ay.inside[:, None, :, None] & ax.inside[None, :, None, :]).reshape(k, -1)
    j = neighbours.shape[1]
    neighbours = torch.where(present, neighbours, torch.arange(k)[:, None])
    # Centre n is candidate j of at most one block; that bin (block * J + j) gets its sums.
    source = torch.full((k, j), k * j)
    slot = torch.arange(j).expand(k, j)
    source[neighbours[present], slot[present]] = torch.arange(k * j).view(k, j)[present]
    row_index, row_valid, row_within = _blocks(ay.cell, rows)
    col_index, col_valid, col_within = _blocks(ax.cell, cols)
    hc, wc = row_index.shape[1], col_index.shape[1]
    pixels = (row_index[:, None, :, None] * width + col_index[None, :, None, :]).reshape(k, -1)
    valid = (row_valid[:, None, :, None] & col_valid[None, :, None, :]).reshape(k, -1)
    inverse = torch.empty(height * width, dtype=torch.long)
    inverse[pixels[valid]] = torch.arange(pixels.numel()).view_as(pixels)[valid]
    origin = torch.stack(torch.meshgrid(row_index[:, 0], col_index[:, 0], indexing="ij"), -1).view(
        k, 2
    )
    offset = torch.stack(
        (
            row_within[:, None, :, None].expand(rows, cols, hc, wc),
            col_within[None, :, None, :].expand(rows, cols, hc, wc),
        ),
        2,
    ).reshape(k, 2, -1)
    step = float(max(1, sy, sx))
    reach = max(ay.reach, ax.reach) / step
    return Layout(
        rows, cols, step, (2 * sy, 2 * sx), (hc, wc), reach, seeds.float().to(device),
        neighbours.to(device), present.to(device), source.to(device), origin.float().to(device),
        offset.float().to(device), pixels.to(device), valid.to(device), inverse.to(device),
    )  # fmt: skip
