"""torchlime: LIME for PyTorch, batched, on the input's device."""

from torchlime import metrics, stability
from torchlime.explanation import Explanation, ImageExplanation
from torchlime.image import LimeImage
from torchlime.segmentation import Grid

__version__ = "0.1.0"

__all__ = [
    "Explanation",
    "Grid",
    "ImageExplanation",
    "LimeImage",
    "__version__",
    "metrics",
    "stability",
]
