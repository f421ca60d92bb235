"""torchlime: LIME for PyTorch, batched, on the input's device."""

from torchlime.segmentation import Grid

__version__ = "0.1.0"

__all__ = ["Grid", "__version__"]
