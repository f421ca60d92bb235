"""torchlime: LIME for PyTorch, batched, on the input's device."""

from torchlime import metrics, stability
from torchlime.data import explain_dataset
from torchlime.explanation import (
    Explanation,
    ImageExplanation,
    TabularExplanation,
    TextExplanation,
)
from torchlime.image import LimeImage
from torchlime.segmentation import SLIC, Grid, Quickshift, SoftSLIC
from torchlime.tabular import LimeTabular
from torchlime.text import LimeText

__version__ = "0.1.0"

__all__ = [
    "SLIC",
    "Explanation",
    "Grid",
    "ImageExplanation",
    "LimeImage",
    "LimeTabular",
    "LimeText",
    "Quickshift",
    "SoftSLIC",
    "TabularExplanation",
    "TextExplanation",
    "__version__",
    "explain_dataset",
    "metrics",
    "stability",
]
