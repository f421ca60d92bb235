"""Pixels for views of explanations: PNG bytes, superpixel borders, signed overlays.

Shared by the HTML view (:mod:`~torchlime.explanation.html`) and the matplotlib figures
(:mod:`torchlime.plot`), so both paint a weight with the same colour: red where a feature
pushes the explained score up, blue where it pushes it down, the tint's strength in
proportion to ``|weight|`` (relative to the largest of the panel). Only torch and the
standard library (``zlib``, ``struct``): no matplotlib, no image library.
"""

from __future__ import annotations

import math
import struct
import zlib

import torch
from torch import Tensor

__all__ = [
    "BLUE",
    "RED",
    "STRENGTH",
    "boundaries",
    "encode_png",
    "image_pixels",
    "nice",
    "overlay",
    "to_rgb",
    "upscale_factor",
]

RED = (0.84, 0.15, 0.16)
"""The colour of a feature that pushes the explained score up (RGB in [0, 1])."""
BLUE = (0.13, 0.40, 0.80)
"""The colour of a feature that pushes the explained score down (RGB in [0, 1])."""
BORDER = 0.25  # grey of superpixel borders (R = G = B, so it carries no sign)
PADDING = 0.85  # grey of padded pixels (segment -1) of concatenated images
STRENGTH = 0.85
"""How much of its colour the strongest feature of a panel takes (the rest is background)."""


def encode_png(pixels: Tensor) -> bytes:
    r"""Encode an 8-bit image as PNG (no filter, zlib level 6).

    Args:
        pixels: (H, W, 3) uint8 RGB, or (H, W) uint8 grey.

    Returns:
        The bytes of a PNG file.

    Raises:
        ValueError: for another dtype or shape.

    Example:
        >>> encode_png(torch.zeros(2, 3, 3, dtype=torch.uint8))[:8]
        b'\x89PNG\r\n\x1a\n'
    """
    if pixels.dtype != torch.uint8 or pixels.ndim not in (2, 3):
        raise ValueError(
            f"pixels must be (H, W, 3) or (H, W) uint8; got {tuple(pixels.shape)} {pixels.dtype}"
        )
    if pixels.ndim == 3 and pixels.shape[2] != 3:
        raise ValueError(f"pixels must be (H, W, 3) or (H, W) uint8; got {tuple(pixels.shape)}")
    h, w = pixels.shape[:2]
    rows = pixels.detach().cpu().reshape(h, -1)
    raw = torch.cat([torch.zeros(h, 1, dtype=torch.uint8), rows], 1).contiguous()
    colour_type = 2 if pixels.ndim == 3 else 0

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", w, h, 8, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw.numpy().tobytes(), 6))
        + chunk(b"IEND", b"")
    )


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


def upscale_factor(height: int, width: int, target: int = 192) -> int:
    """The integer zoom that brings the longer side of a small image near ``target`` pixels.

    Example:
        >>> upscale_factor(24, 24), upscale_factor(224, 224)
        (8, 1)
    """
    return max(1, target // max(height, width, 1))


def to_rgb(image: Tensor) -> Tensor:
    """An image as float RGB in [0, 1].

    Args:
        image: (C, H, W) float with C = 3 (RGB) or 1 (grey), values in [0, 1] (clamped).

    Returns:
        (H, W, 3) float32.
    """
    if image.ndim != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"image must be (C, H, W) with C = 1 or 3; got {tuple(image.shape)}")
    img = image.detach().float().cpu().clamp(0, 1)
    return img.expand(3, -1, -1).permute(1, 2, 0).contiguous()


def overlay(
    coef: Tensor,
    segments: Tensor,
    image: Tensor | None = None,
    *,
    scale: int = 1,
    borders: bool = True,
    limit: float | None = None,
) -> Tensor:
    """Paint one target's superpixel weights: red pushes the score up, blue pushes it down.

    Each pixel is its superpixel's colour (:data:`RED` or :data:`BLUE`) over a background,
    mixed with weight ``0.85 * |coef| / limit``: white without an image, else the image in
    grey (so a pixel's red-minus-blue sign is the weight's sign, whatever the image's
    colours). Borders and padding (segment -1) are grey (R = G = B).

    Args:
        coef: (K,) float weights of the superpixels.
        segments: (H, W) int64 superpixel ids (-1 on padding).
        image: (C, H, W) float in [0, 1] (C = 1 or 3), or None.
        scale: integer zoom (nearest neighbour); borders are drawn after zooming (1 px).
        borders: draw superpixel borders.
        limit: the weight painted at full strength (default: the largest ``|coef|``).

    Returns:
        (H * scale, W * scale, 3) uint8.

    Example:
        >>> seg = torch.tensor([[0, 1]])
        >>> overlay(torch.tensor([1.0, -1.0]), seg, borders=False)[0].tolist()
        [[220, 71, 73], [66, 125, 212]]
    """
    coef = coef.detach().float().cpu()
    segments = segments.cpu()
    if limit is None:
        limit = float(coef.abs().max()) if coef.numel() else 0.0
    valid = segments >= 0
    weight = torch.where(valid, coef[segments.clamp(min=0)], 0.0)
    alpha = (STRENGTH * weight.abs() / limit if limit > 0 else torch.zeros_like(weight))[..., None]
    alpha = alpha.clamp(max=1.0)
    colour = torch.where(weight[..., None] > 0, torch.tensor(RED), torch.tensor(BLUE))
    if image is None:
        base = torch.ones(*segments.shape, 3)
    else:
        rgb = to_rgb(image)
        if rgb.shape[:2] != segments.shape:
            raise ValueError(
                f"image is {tuple(rgb.shape[:2])} pixels but segments are {tuple(segments.shape)}"
            )
        grey = rgb @ torch.tensor([0.299, 0.587, 0.114])
        base = (0.3 + 0.7 * grey)[..., None].expand(-1, -1, 3)  # lightened, to show the tint
    out = base * (1 - alpha) + colour * alpha
    out = torch.where(valid[..., None], out, PADDING)
    if scale > 1:
        out = out.repeat_interleave(scale, 0).repeat_interleave(scale, 1)
        segments = segments.repeat_interleave(scale, 0).repeat_interleave(scale, 1)
    if borders:
        out = torch.where(boundaries(segments)[..., None], BORDER, out)
    return (out * 255).round().clamp(0, 255).to(torch.uint8)


def image_pixels(image: Tensor, *, scale: int = 1) -> Tensor:
    """An image as (H * scale, W * scale, 3) uint8 (image: (C, H, W) float in [0, 1])."""
    rgb = to_rgb(image)
    if scale > 1:
        rgb = rgb.repeat_interleave(scale, 0).repeat_interleave(scale, 1)
    return (rgb * 255).round().to(torch.uint8)


def nice(value: float) -> str:
    """A short, readable number: 3 significant digits, sign kept.

    Example:
        >>> nice(0.012345), nice(-123.4), nice(0.0)
        ('0.0123', '-123', '0')
    """
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    return f"{value:.3g}"
