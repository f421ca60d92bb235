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
from torchlime.text import LimeText

__version__ = "0.1.0"

__all__ = [
    "Explanation",
    "Grid",
    "ImageExplanation",
    "LimeImage",
    "LimeTabular",
    "LimeText",
    "TabularExplanation",
    "TextExplanation",
    "__version__",
]
