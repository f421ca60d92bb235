"""torchlime: LIME for PyTorch, batched, on the input's device."""

from torchlime.explanation import (
    Explanation,
    ImageExplanation,
    TabularExplanation,
    TextExplanation,
)
from torchlime.image import LimeImage
from torchlime.segmentation import Grid
from torchlime.tabular import LimeTabular

__version__ = "0.1.0"

__all__ = [
    "Explanation",
    "Grid",
    "ImageExplanation",
    "LimeImage",
    "LimeTabular",
    "TabularExplanation",
    "TextExplanation",
    "__version__",
]
