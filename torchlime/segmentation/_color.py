"""Input checks, colour conversion and smoothing shared by the segmenters.

Private: the public segmenters validate with :func:`check_image` and build their colour
features with :func:`rgb_to_lab` and :func:`gaussian_blur`.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["check_image", "gaussian_blur", "rescale", "rgb_to_lab"]

# sRGB (D65) -> XYZ, and the D65 / 2 degree reference white: the constants scikit-image's
# ``rgb2lab`` uses, so that features match it to float precision.
_XYZ_FROM_RGB = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
_WHITE_D65 = (0.95047, 1.0, 1.08883)


def check_image(image: Tensor, name: str = "image") -> None:
    """Validate a batch of images at a segmenter's boundary.

    Args:
        image: (B, C, H, W) floating point, finite.
        name: the argument's name, used in the messages.

    Raises:
        TypeError: if ``image`` is not a floating-point tensor.
        ValueError: for a wrong rank, an empty image (``C``, ``H`` or ``W`` is 0) or NaN
            or infinite values.
    """
    if not isinstance(image, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(image).__name__}")
    if image.ndim != 4:
        raise ValueError(f"{name} must be (B, C, H, W); got shape {tuple(image.shape)}")
    if not image.dtype.is_floating_point:
        raise TypeError(f"{name} must be a floating-point tensor; got dtype {image.dtype}")
    if min(image.shape[1:]) == 0:
        raise ValueError(
            f"{name} must have C, H and W >= 1; got shape {tuple(image.shape)} (B, C, H, W)"
        )
    if not torch.compiler.is_compiling() and not bool(torch.isfinite(image).all()):
        raise ValueError(f"{name} must be finite; got NaN or infinite values")


def _step(x: Tensor, threshold: float) -> Tensor:
    """``(x > threshold)`` as 0/1 in ``x``'s dtype, with arithmetic only (no bool kernels).

    ``(x - threshold)`` is either 0, negative, or at least one ulp of ``threshold``; scaled by
    1e30 and clamped it is exactly 0 or 1. Its gradient is zero.
    """
    return ((x.detach() - threshold) * 1e30).clamp_(0.0, 1.0)


def _power(x: Tensor, exponent: float) -> Tensor:
    """``x ** exponent`` for positive ``x`` as ``exp(exponent * log(x))``.

    ``torch.pow`` with a float exponent rounds differently in its vectorised and scalar CPU
    paths, so a pixel's value would depend on where it falls in a tensor (on the batch);
    ``exp`` and ``log`` do not.
    """
    return torch.exp(torch.log(x) * exponent)


def rgb_to_lab(image: Tensor) -> Tensor:
    """Convert sRGB in [0, 1] to CIE Lab (D65, 2 degree observer), as scikit-image's ``rgb2lab``.

    Written with arithmetic blends instead of ``torch.where`` (several times faster on CPU),
    exact per element (a pixel's Lab does not depend on the rest of the batch), and
    differentiable everywhere except at the two branch thresholds.

    Args:
        image: (B, 3, H, W) float. RGB values in [0, 1].

    Returns:
        (B, 3, H, W) same dtype. ``L`` in [0, 100], ``a`` and ``b`` roughly in [-128, 127].

    Example:
        >>> lab = rgb_to_lab(torch.ones(1, 3, 1, 1))
        >>> [round(v, 3) for v in lab.flatten().tolist()]
        [100.0, -0.002, 0.005]
    """
    dtype = image.dtype
    x = image.float() if dtype in (torch.float16, torch.bfloat16) else image
    # sRGB -> linear RGB: x / 12.92 below 0.04045, ((x + 0.055) / 1.055) ** 2.4 above.
    low = x / 12.92
    high = _power(((x + 0.055) / 1.055).clamp(min=0.05), 2.4)
    lin = low + _step(x, 0.04045) * (high - low)
    # Linear RGB -> XYZ normalised by the white point, one (3, 3) x (3, H*W) product.
    matrix = torch.tensor(_XYZ_FROM_RGB, dtype=x.dtype, device=x.device)
    white = torch.tensor(_WHITE_D65, dtype=x.dtype, device=x.device)
    xyz = (matrix / white[:, None]) @ lin.flatten(2)
    # XYZ -> Lab: cube root above 0.008856, a line below (clamped so its gradient is finite).
    cube = _power(xyz.clamp(min=0.008856), 1.0 / 3.0)
    line = xyz * 7.787 + 16.0 / 116.0
    f = line + _step(xyz, 0.008856) * (cube - line)
    fx, fy, fz = f.unbind(1)
    lab = torch.stack((116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)), dim=1)
    return lab.view_as(x).to(dtype)


def rescale(image: Tensor) -> Tensor:
    """Min-max rescale each image of a batch to [0, 1] (a constant image becomes 0).

    Args:
        image: (B, C, H, W) float.

    Returns:
        (B, C, H, W) same dtype: ``(image - min) / (max - min)`` per image.
    """
    low = image.amin(dim=(1, 2, 3), keepdim=True)
    span = image.amax(dim=(1, 2, 3), keepdim=True) - low
    # A constant image has span 0: divide by 1 instead (scikit-image skips the division).
    return (image - low) / (span + (span == 0).to(image.dtype))


def _reflect_index(n: int, radius: int, device: torch.device) -> Tensor:
    """Indices that pad ``range(n)`` by ``radius`` on both sides, mirrored as ``d c b a | a b c d``.

    This is scipy.ndimage's ``mode='reflect'`` (half-sample symmetric), which scikit-image's
    ``gaussian`` uses; it repeats periodically when ``radius > n``.
    """
    idx = torch.arange(-radius, n + radius, device=device) % (2 * n)
    return torch.minimum(idx, 2 * n - 1 - idx)


def gaussian_blur(image: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian smoothing over H and W, as ``scipy.ndimage.gaussian_filter``.

    Same kernel as scipy and scikit-image (``truncate=4``, so the radius is
    ``int(4 * sigma + 0.5)``, normalised weights) and the same ``reflect`` border. Written as
    shifted multiply-adds in a fixed order, so a pixel's result does not depend on the batch.

    Args:
        image: (B, C, H, W) float.
        sigma: standard deviation in pixels; ``0`` returns ``image`` unchanged.

    Returns:
        (B, C, H, W) same dtype.
    """
    if sigma <= 0:
        return image
    radius = int(4.0 * sigma + 0.5)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    weights = (kernel / kernel.sum()).tolist()
    _, _, h, w = image.shape
    x = image.index_select(2, _reflect_index(h, radius, image.device))
    rows = x[:, :, 0:h] * weights[0]
    for t in range(1, 2 * radius + 1):
        rows = rows + x[:, :, t : t + h] * weights[t]
    x = rows.index_select(3, _reflect_index(w, radius, image.device))
    out = x[..., 0:w] * weights[0]
    for t in range(1, 2 * radius + 1):
        out = out + x[..., t : t + w] * weights[t]
    return out
