"""SLIC superpixels, batched on the input's device, with scikit-image's semantics.

The algorithm follows ``skimage.segmentation.slic`` (0.26): per-image min-max rescale,
Lab for 3 channels, seeds on ``regular_grid``, distance
``D = |dLab|^2 / compactness^2 + |dyx|^2 / S^2``, ``max_iter`` assignment steps that start
from centres of colour 0, then 4-connectivity with small components merged into a
neighbour. Three things differ:

* **Candidates.** scikit-image lets a pixel join any centre whose window (``+-2`` grid
  steps around the centre) holds it. Here the candidates of a pixel are fixed once: the
  centres of the 5 x 5 grid cells around the seed nearest to it, each used only where its
  window, as scikit-image truncates it, holds the pixel (a pixel no window holds keeps its
  label). Only a centre that drifted more than half a cell away from its seed is missed.
  Pixels are laid out in padded cell blocks, so batched matrix products give every
  distance (on a CPU in cache-sized tiles of blocks).
* **Exact arithmetic.** Features are rounded to a grid (a power of two chosen from the
  largest possible feature value: 1/64 of a grid step or of ``compactness`` Lab units for
  RGB with the default compactness) so that distances are small integers, exact in float32
  (and TF32) batched products, and centre sums are exact int64. An image therefore gets the
  same segments alone or in any batch and on any number of threads; ties go to the lower
  centre index, as in scikit-image. (CPU and GPU can still differ where their ``exp`` and
  ``log`` round a Lab value differently across a grid step.)
* **Connectivity.** :func:`~torchlime.segmentation.connectivity.enforce_connectivity`
  merges each small component into the neighbour scikit-image's raster-order
  breadth-first search would pick (approximating the search's visiting order), and never
  splits a large one.

:func:`soft_slic` runs the same iterations in floating point with ``softmax(-D /
temperature)`` in place of the hard assignment, over SSN's 3 x 3 candidate cells and
without the window, and returns the differentiable soft assignments.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from torchlime.segmentation._color import check_image, gaussian_blur, rescale, rgb_to_lab
from torchlime.segmentation._layout import Layout as _Layout
from torchlime.segmentation._layout import layout as _layout
from torchlime.segmentation.connectivity import enforce_connectivity as _enforce_connectivity
from torchlime.segmentation.relabel import relabel

__all__ = ["SLIC", "SoftSLIC", "slic", "soft_slic"]

# Exact distances: features are integers q with |q| <= Q and a distance is
# |q_c|^2 + F Q^2 - 2 q_c . q_f, in [0, 4 F Q^2], so Q is chosen with 4 F Q^2 <= 2**24: every
# product and partial sum is an integer below 2**24, exact in a float32 baddbmm. The matrix
# operands (q and -2 q_c) have at most 11 significant bits, so TF32 is exact too, and the
# norm enters through the accumulator, which TF32 does not round. A missing candidate gets
# the distance _ABSENT instead.
_EXACT = 2**24
_ABSENT = 2**25
# The float32 bits of _ABSENT read as int32: a smaller key is a reachable candidate.
_OUTSIDE_KEY = 0x4C000000
# Candidates of a pixel: the centres of the 5 x 5 cells around its own, which cover
# scikit-image's +-2 S window (3 x 3 cells miss 1 to 8 % of its assignments on photos).
_RADIUS = 2
# Distances per tile on a CPU (float32 elements): 4 MiB, well within a shared L3 cache.
_TILE = 2**20


def _check_args(n_segments: int, compactness: float, max_iter: int, sigma: float) -> None:
    if isinstance(n_segments, bool) or not isinstance(n_segments, int) or n_segments < 1:
        raise ValueError(f"n_segments must be an int >= 1; got {n_segments!r}")
    if not compactness > 0:
        raise ValueError(f"compactness must be > 0; got {compactness!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter must be an int >= 1; got {max_iter!r}")
    if not sigma >= 0:
        raise ValueError(f"sigma must be >= 0; got {sigma!r}")


def _colour(image: Tensor, sigma: float) -> Tensor:
    """scikit-image's SLIC colour: per-image min-max rescale, Lab for 3 channels, smoothing."""
    colour = rescale(image)
    if colour.shape[1] == 3:
        colour = rgb_to_lab(colour)
    return gaussian_blur(colour, sigma)


def _to_blocks(x: Tensor, lay: _Layout) -> Tensor:
    """Gather (B, F, H, W) into padded blocks, (B, F, K * P)."""
    b, f, h, w = x.shape
    index = lay.pixels.view(1, -1).expand(b * f, -1)
    return torch.gather(x.reshape(b * f, h * w), 1, index).view(b, f, -1)


def _packing(maxima: list[int]) -> list[tuple[int, int, int]]:
    """Place non-negative fields into 63-bit words: (word, shift, mask) per field."""
    places, word, used = [], 0, 0
    for largest in maxima:
        width = max(1, largest.bit_length())
        if used + width > 63:
            word, used = word + 1, 0
        places.append((word, used, (1 << width) - 1))
        used += width
    return places


def _hard_slic(colour: Tensor, lay: _Layout, compactness: float, max_iter: int) -> Tensor:
    """SLIC's ``max_iter`` assignment steps in exact arithmetic; (B, H * W) centre per pixel."""
    b, c = colour.shape[:2]
    k = lay.seeds.shape[0]
    m, j = lay.neighbours.shape  # blocks, candidates per block
    p = lay.pixels.shape[1]
    f = c + 2
    dev = colour.device
    # Quantisation: the largest feature magnitude |q| maps to at most Q.
    q_max = math.isqrt(_EXACT // (4 * f))
    bound = max((110.0 if c == 3 else 1.0) / compactness, lay.reach)  # |Lab| <= 110
    scale = 2.0 ** math.floor(math.log2(q_max / bound))
    colour_q = _to_blocks(torch.round(colour * (scale / compactness)), lay)  # (B, C, M * P)
    # Block features (B * M, F, P): colour and (y, x) from the block's origin, in quanta.
    feats = torch.empty(b, m, f, p, device=dev)
    feats[:, :, :c] = colour_q.view(b, c, m, p).transpose(1, 2)
    feats[:, :, c:] = torch.round(lay.offset * (scale / lay.step))
    feats = feats.view(b * m, f, p)

    # Centre sums: per (block, slot) bin, non-negative integer fields packed into int64
    # words (colour + Q, y and x from the block's origin, a count; 0 at padding), added
    # with one index_add_, unpacked, then summed over the J bins that hold each centre.
    q_off = float(q_max)
    values = [(colour_q.view(b, c, m, p)[:, i] + q_off) * lay.valid for i in range(c)]
    # A bin holds at most P pixels: these bound its sums.
    places = _packing([p * 2 * q_max] * c + [p * (lay.cell[0] - 1), p * (lay.cell[1] - 1), p])
    n_words = places[-1][0] + 1
    packed = torch.zeros(n_words, b, m, p, dtype=torch.long, device=dev)
    rows = [*values, lay.offset[:, 0] * lay.valid, lay.offset[:, 1] * lay.valid, lay.valid]
    for row, (word, shift, _) in zip(rows, places, strict=True):
        packed[word] += row.long() << shift
    packed = packed.view(n_words, b * m * p)
    # Bin of (image i, block n, slot s) is i * (M * J + 1) + n * J + s; the last bin of each
    # image stays 0 and stands in for absent senders.
    block = torch.arange(b * m, device=dev)
    bins_of = (block * j + block // m)[:, None]
    image_bins = (torch.arange(b, device=dev) * (m * j + 1))[:, None, None]
    source = (lay.source[None] + image_bins).view(-1)
    n_source = lay.source.shape[1]
    word_of = torch.tensor([word for word, _, _ in places], device=dev)
    shifts = torch.tensor([shift for _, shift, _ in places], device=dev)[:, None]
    masks = torch.tensor([mask for _, _, mask in places], device=dev)[:, None]
    # Unpacked bin sums minus count * this give true sums: colour loses its +Q offset and
    # (y, x) gain the block's origin.
    bin_origin = torch.cat((lay.origin.repeat_interleave(j, 0), lay.origin.new_zeros(1, 2)))
    shift_back = (
        torch.cat(
            (
                torch.full((c, m * j + 1), float(q_max), device=dev),
                -bin_origin.t(),
                torch.zeros(1, m * j + 1, device=dev),
            )
        )
        .long()
        .repeat(1, b)
    )  # (F + 1, B * (M * J + 1))

    # The slot rides in the low bits of the distance's float bits (see below).
    slot_bits = max(1, (j - 1).bit_length())
    slot_mask = (1 << slot_bits) - 1
    slots = torch.arange(j, device=dev, dtype=torch.int32).view(1, j, 1)
    # Centre features (colour in quanta, (y, x) in pixels) to candidate quanta per block.
    centre_origin = torch.cat((torch.zeros(m, 1, c, device=dev), lay.origin[:, None]), -1)
    centre_scale = torch.tensor([1.0] * c + [scale / lay.step] * 2, device=dev)
    absent = (~lay.present).expand(b, m, j)
    # Pixel rows and columns of each block, for scikit-image's window: centre (cy, cx)
    # reaches row y iff cy - 2 sy - 1 < y <= cy + 2 sy (its C loop truncates the bounds).
    # The test runs per centre over every row (column) a block reaches, then is gathered
    # onto (block, slot, row): row_at[m, i, h] = centre * rows + origin + h.
    hc, wc = lay.cell
    n_rows, n_cols = int(lay.origin[:, 0].max()) + hc, int(lay.origin[:, 1].max()) + wc
    all_rows = torch.arange(n_rows, device=dev, dtype=torch.float32)
    all_cols = torch.arange(n_cols, device=dev, dtype=torch.float32)
    first = lay.origin.long()
    row_at = lay.neighbours[..., None] * n_rows + first[:, None, :1] + torch.arange(hc, device=dev)
    col_at = lay.neighbours[..., None] * n_cols + first[:, None, 1:] + torch.arange(wc, device=dev)
    row_at, col_at = row_at.view(1, -1).expand(b, -1), col_at.view(1, -1).expand(b, -1)
    (reach_y, reach_x), outside = lay.window, float(_ABSENT)
    outside_t, zero_t = torch.tensor(outside, device=dev), torch.tensor(0.0, device=dev)
    # scikit-image's start: colour 0 at the seeds (the first step is purely spatial).
    centres = torch.cat((torch.zeros(k, c, device=dev), lay.seeds), 1).expand(b, k, f)
    # Buffers reused by every iteration (fresh large allocations page-fault on CPU). On a
    # CPU the distances are computed and reduced in tiles of blocks that stay in the cache:
    # the steps below are memory-bound and the whole (B * M, J, P) tensor is far larger.
    chunk = b * m if dev.type != "cpu" else max(1, _TILE // (j * p))
    dist = torch.empty(min(chunk, b * m), j, p, device=dev)
    row_cost = torch.empty(b * m, j, hc, 1, device=dev)
    col_cost = torch.empty(b * m, j, 1, wc, device=dev)
    best = torch.empty(b * m, p, dtype=torch.int32, device=dev)
    # A pixel no window reaches keeps its label, as in scikit-image. (At the start every
    # pixel lies in its own seed's window, so the initial slot is never used.)
    slot = torch.zeros(b * m, p, dtype=torch.int32, device=dev)
    target = torch.empty(b * m, p, dtype=torch.long, device=dev)
    bins = torch.empty(n_words, b * (m * j + 1), dtype=torch.long, device=dev)
    for it in range(max_iter):
        cand = ((centres[:, lay.neighbours] - centre_origin) * centre_scale).round_()
        cand.masked_fill_(absent[..., None], 0.0)  # (B, M, J, F) integers, |q_c| <= Q
        # |q_f - q_c|^2 - |q_f|^2 + F Q^2 = |q_c|^2 + F Q^2 - 2 q_c . q_f, in [0, 4 F Q^2];
        # an absent centre, or one whose window misses the pixel, gets at least _ABSENT.
        norm = torch.linalg.vecdot(cand, cand).add_(float(f * q_max * q_max))
        norm.masked_fill_(absent, outside)
        dy = all_rows - centres[..., c, None]  # (B, K, rows)
        dx = all_cols - centres[..., c + 1, None]  # (B, K, columns)
        row_in = (dy > -reach_y - 1).logical_and_(dy <= reach_y).view(b, -1).gather(1, row_at)
        col_in = (dx > -reach_x - 1).logical_and_(dx <= reach_x).view(b, -1)
        torch.where(
            row_in.view(b, m, j, hc), norm[..., None], outside_t, out=row_cost.view(b, m, j, hc)
        )
        torch.gather(torch.where(col_in, zero_t, outside_t), 1, col_at, out=col_cost.view(b, -1))
        cand = cand.mul_(-2.0).reshape(b * m, j, f)
        for lo in range(0, b * m, chunk):  # a few large tiles, not a loop over segments
            hi = min(lo + chunk, b * m)
            tile = dist[: hi - lo]
            torch.add(row_cost[lo:hi], col_cost[lo:hi], out=tile.view(hi - lo, j, hc, wc))
            tile.baddbmm_(cand[lo:hi], feats[lo:hi])
            # One amin gives min and argmin: distances within 2**(slot_bits - 23) (relative)
            # tie, and ties go to the lower slot, the lower centre, as in scikit-image.
            key = tile.view(torch.int32).bitwise_and_(-1 << slot_bits).bitwise_or_(slots)
            torch.amin(key, 1, out=best[lo:hi])
        torch.where(best < _OUTSIDE_KEY, best.bitwise_and_(slot_mask), slot, out=slot)
        if it == max_iter - 1:
            break
        target.copy_(slot).add_(bins_of)
        bins.zero_().index_add_(1, target.view(-1), packed)
        fields = (bins.index_select(0, word_of) >> shifts) & masks
        fields -= fields[-1:] * shift_back
        sums = fields.index_select(1, source).view(f + 1, b, k, n_source).sum(-1)
        count = sums[-1]
        centres = (sums[:-1].float() / count.clamp(min=1).float()).permute(1, 2, 0)
        absent = ~lay.present | (count == 0)[:, lay.neighbours]
    target.copy_(slot).add_((block % m)[:, None] * j)
    label = lay.neighbours.view(-1).index_select(0, target.view(-1))
    return label.view(b, m * p).index_select(1, lay.inverse)


def _soft_slic(
    colour: Tensor, lay: _Layout, compactness: float, max_iter: int, temperature: float
) -> Tensor:
    """SLIC with soft assignments ``softmax(-D / temperature)``; returns (B, K, H, W)."""
    b, c, h, w = colour.shape
    k, j = lay.neighbours.shape
    f = c + 2
    ys = torch.arange(h, device=colour.device, dtype=colour.dtype) / lay.step
    xs = torch.arange(w, device=colour.device, dtype=colour.dtype) / lay.step
    spatial = torch.stack(torch.meshgrid(ys, xs, indexing="ij"))[None].expand(b, 2, h, w)
    feats = _to_blocks(torch.cat((colour / compactness, spatial), 1), lay)  # (B, F, K * P)
    feats = feats.view(b, f, k, -1).transpose(1, 2).reshape(b * k, f, -1)
    # [f, |f|^2, 1] against [-2 c, 1, |c|^2 + absent] gives |f - c|^2 in one product.
    aug = torch.cat((feats, feats.square().sum(1, keepdim=True), torch.ones_like(feats[:, :1])), 1)
    # Per block position: features and a count, zero at padding, for the centre update.
    update = torch.cat((feats, torch.ones_like(feats[:, :1])), 1) * lay.valid.repeat(b, 1)[:, None]
    update = update.transpose(1, 2)  # (BK, P, F + 1)
    missing = ((~lay.present).to(feats.dtype) * 1e30).expand(b, k, j)[..., None]
    pos = (lay.seeds / lay.step).to(feats)
    centres = torch.cat((pos.new_zeros(k, c), pos), 1).expand(b, k, f)
    source = lay.source.view(-1)
    for it in range(max_iter):
        cand = centres[:, lay.neighbours]  # (B, K, J, F)
        norm = cand.square().sum(-1, keepdim=True) + missing
        cand = torch.cat((-2.0 * cand, torch.ones_like(norm), norm), -1).view(b * k, j, f + 2)
        soft = torch.softmax(torch.matmul(cand, aug) / -temperature, dim=1)  # (BK, J, P)
        if it == max_iter - 1:
            break
        partial = torch.matmul(soft, update).view(b, k * j, f + 1)  # per block and slot
        partial = torch.cat((partial, partial.new_zeros(b, 1, f + 1)), 1)
        sums = partial.index_select(1, source).view(b, k, j, f + 1).sum(2)
        count = sums[..., -1:]
        centres = torch.where(count > 0, sums[..., :-1] / count.clamp(min=1e-30), centres)
    # Scatter (block, slot, position) onto (centre, pixel); absent slots and padding go to a
    # dump entry at the end, which is dropped.
    dump = k * h * w
    target = lay.neighbours[:, :, None] * (h * w) + lay.pixels[:, None, :]  # (K, J, P)
    keep = lay.present[:, :, None] & lay.valid[:, None, :]
    target = torch.where(keep, target, dump).view(-1).expand(b, -1)
    out = soft.new_zeros(b, dump + 1).scatter(1, target, soft.reshape(b, -1))
    return out[:, :dump].view(b, k, h, w)


def _check_options(min_size_factor: float) -> None:
    if not min_size_factor >= 0:
        raise ValueError(f"min_size_factor must be >= 0; got {min_size_factor!r}")


def slic(
    image: Tensor,
    n_segments: int = 50,
    compactness: float = 10.0,
    max_iter: int = 10,
    sigma: float = 0.0,
    *,
    enforce_connectivity: bool = True,
    min_size_factor: float = 0.5,
) -> Tensor:
    """SLIC superpixels of a batch, as ``skimage.segmentation.slic`` computes them.

    Each image is min-max rescaled to [0, 1], converted to Lab when it has 3 channels
    (other channel counts are used as they are), optionally smoothed, and clustered by
    ``max_iter`` k-means steps in ``[Lab / compactness, yx / S]`` space from centres on
    ``skimage.util.regular_grid``. With ``enforce_connectivity``, segments are then split into
    4-connected components and components smaller than
    ``int(min_size_factor * H * W / n_centres)`` pixels are merged into a neighbour. See the
    module docstring for the three places where this differs from scikit-image.

    The work is batched: no loop over images or pixels, all on ``image``'s device. The
    connectivity step synchronises with the host a few times (once per union-find round).
    Deterministic, and an image gets the same segments alone or in any batch.

    Args:
        image: (B, C, H, W) float. RGB in [0, 1] for Lab; any range works (each image is
            rescaled).
        n_segments: approximate number of superpixels (the number of grid seeds).
        compactness: weight of space against colour; higher gives squarer superpixels.
        max_iter: number of assignment steps (scikit-image's ``max_num_iter``).
        sigma: standard deviation of a Gaussian smoothing of the Lab image, in pixels.
        enforce_connectivity: make every segment 4-connected and merge small components.
        min_size_factor: smallest component kept, as a fraction of ``H * W / n_centres``.

    Returns:
        (B, H, W) int64, contiguous ids ``0..K_b-1`` per image, numbered in raster order of
        first pixel (in centre order without ``enforce_connectivity``).

    Raises:
        TypeError: if ``image`` is not a floating-point tensor.
        ValueError: for a wrong rank, an empty image, NaN or infinite pixels, or arguments
            out of range.

    Example:
        >>> image = torch.zeros(2, 3, 32, 32)
        >>> image[:, 0, :, 16:] = 1.0  # red right half
        >>> seg = slic(image, n_segments=4)
        >>> seg.shape, seg.dtype, seg.amax().tolist()
        (torch.Size([2, 32, 32]), torch.int64, 3)
    """
    check_image(image)
    _check_args(n_segments, compactness, max_iter, sigma)
    _check_options(min_size_factor)
    b, _, h, w = image.shape
    if b == 0:
        return torch.zeros(0, h, w, dtype=torch.long, device=image.device)
    with torch.no_grad():
        lay = _layout(h, w, n_segments, image.device, _RADIUS)
        colour = _colour(image.float(), sigma)
        labels = _hard_slic(colour, lay, compactness, max_iter).view(b, h, w)
        if not enforce_connectivity:
            return relabel(labels)[0]
        min_size = int(min_size_factor * h * w / (lay.rows * lay.cols))
        return _enforce_connectivity(labels, min_size)


def soft_slic(
    image: Tensor,
    n_segments: int = 50,
    compactness: float = 10.0,
    max_iter: int = 10,
    sigma: float = 0.0,
    *,
    temperature: float = 1.0,
) -> Tensor:
    """Differentiable SLIC: soft assignments of every pixel to the grid's superpixel centres.

    The iterations of :func:`slic` with the hard assignment replaced by
    ``softmax(-D / temperature)`` over each pixel's 3 x 3 candidate centres, and the centres
    updated as soft-weighted means (the SSN formulation). Gradients flow to ``image``
    through the Lab conversion and every iteration. ``argmax`` over ``K`` gives, for a small
    temperature, hard labels close to those SLIC iterations on the same 3 x 3 candidates
    (:func:`slic` searches scikit-image's wider window); they are not relabelled or made
    connected.

    Args:
        image: (B, C, H, W) float. RGB in [0, 1] for Lab, or any channels (see :func:`slic`).
        n_segments: approximate number of superpixels; the exact number ``K`` is the number
            of seeds of ``skimage.util.regular_grid((1, H, W), n_segments)``.
        compactness: weight of space against colour.
        max_iter: number of assignment steps.
        sigma: standard deviation of a Gaussian smoothing of the Lab image, in pixels.
        temperature: softmax temperature in units of ``D`` (a grid step, or a colour
            difference of ``compactness``, is 1). Lower is harder.

    Returns:
        (B, K, H, W) same dtype as ``image``: non-negative, summing to 1 over ``K`` at each
        pixel, and 0 outside a pixel's 3 x 3 candidate centres.

    Raises:
        TypeError: if ``image`` is not a floating-point tensor.
        ValueError: for a wrong rank, an empty image, NaN or infinite pixels, or arguments
            out of range.

    Example:
        >>> image = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
        >>> soft = soft_slic(image.requires_grad_(), n_segments=4, temperature=0.5)
        >>> soft.shape, torch.allclose(soft.sum(1), torch.ones(1, 16, 16))
        (torch.Size([1, 4, 16, 16]), True)
        >>> soft[:, 0].sum().backward()
        >>> image.grad.shape
        torch.Size([1, 3, 16, 16])
    """
    check_image(image)
    _check_args(n_segments, compactness, max_iter, sigma)
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0; got {temperature!r}")
    b, _, h, w = image.shape
    lay = _layout(h, w, n_segments, image.device)
    if b == 0:
        return image.new_zeros(0, lay.rows * lay.cols, h, w)
    work = image.float() if image.dtype in (torch.float16, torch.bfloat16) else image
    soft = _soft_slic(_colour(work, sigma), lay, compactness, max_iter, temperature)
    return soft.to(image.dtype)


class SLIC(nn.Module):
    """Module form of :func:`slic`: ``(B, C, H, W) float -> (B, H, W)`` int64 superpixel ids.

    Args:
        n_segments: approximate number of superpixels.
        compactness: weight of space against colour.
        max_iter: number of assignment steps.
        sigma: Gaussian smoothing of the Lab image, in pixels.
        enforce_connectivity: make every segment 4-connected and merge small components.
        min_size_factor: smallest component kept, as a fraction of the expected size.

    Example:
        >>> SLIC(n_segments=4)(torch.rand(2, 3, 16, 16)).shape
        torch.Size([2, 16, 16])
    """

    def __init__(
        self,
        n_segments: int = 50,
        compactness: float = 10.0,
        max_iter: int = 10,
        sigma: float = 0.0,
        *,
        enforce_connectivity: bool = True,
        min_size_factor: float = 0.5,
    ) -> None:
        super().__init__()
        _check_args(n_segments, compactness, max_iter, sigma)
        _check_options(min_size_factor)
        self.n_segments, self.compactness = n_segments, compactness
        self.max_iter, self.sigma = max_iter, sigma
        self.enforce_connectivity, self.min_size_factor = enforce_connectivity, min_size_factor

    def forward(self, image: Tensor) -> Tensor:
        """Segment ``image`` (B, C, H, W) into (B, H, W) int64 superpixel ids."""
        return slic(
            image,
            self.n_segments,
            self.compactness,
            self.max_iter,
            self.sigma,
            enforce_connectivity=self.enforce_connectivity,
            min_size_factor=self.min_size_factor,
        )

    def extra_repr(self) -> str:
        """Configuration shown in ``repr``."""
        return (
            f"n_segments={self.n_segments}, compactness={self.compactness}, "
            f"max_iter={self.max_iter}, sigma={self.sigma}, "
            f"enforce_connectivity={self.enforce_connectivity}, "
            f"min_size_factor={self.min_size_factor}"
        )


class SoftSLIC(nn.Module):
    """Module form of :func:`soft_slic`: ``(B, C, H, W) -> (B, K, H, W)`` soft assignments.

    Args:
        n_segments: approximate number of superpixels.
        compactness: weight of space against colour.
        max_iter: number of assignment steps.
        sigma: Gaussian smoothing of the Lab image, in pixels.
        temperature: softmax temperature in units of the SLIC distance.

    Example:
        >>> SoftSLIC(n_segments=4)(torch.rand(1, 3, 16, 16)).shape
        torch.Size([1, 4, 16, 16])
    """

    def __init__(
        self,
        n_segments: int = 50,
        compactness: float = 10.0,
        max_iter: int = 10,
        sigma: float = 0.0,
        *,
        temperature: float = 1.0,
    ) -> None:
        super().__init__()
        _check_args(n_segments, compactness, max_iter, sigma)
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0; got {temperature!r}")
        self.n_segments, self.compactness = n_segments, compactness
        self.max_iter, self.sigma, self.temperature = max_iter, sigma, temperature

    def forward(self, image: Tensor) -> Tensor:
        """Soft assignments (B, K, H, W) of ``image`` (B, C, H, W) to the superpixel centres."""
        return soft_slic(
            image,
            self.n_segments,
            self.compactness,
            self.max_iter,
            self.sigma,
            temperature=self.temperature,
        )

    def extra_repr(self) -> str:
        """Configuration shown in ``repr``."""
        return (
            f"n_segments={self.n_segments}, compactness={self.compactness}, "
            f"max_iter={self.max_iter}, sigma={self.sigma}, temperature={self.temperature}"
        )
