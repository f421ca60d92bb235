"""torchlime: LIME for PyTorch, batched, on the input's device."""

from torchlime import metrics, stability
from torchlime._version import __version__
from torchlime.dataset import explain_dataset
from torchlime.explanation import (
    Explanation,
    ImageExplanation,
    TabularExplanation,
    TensorExplanation,
    TextExplanation,
)
from torchlime.image import LimeImage
from torchlime.segmentation import SLIC, Grid, Quickshift, SoftSLIC
from torchlime.tabular import LimeTabular
from torchlime.tensor import KernelShap, Lime
from torchlime.text import LimeText

__all__ = [
    "SLIC",
    "Explanation",
    "Grid",
    "ImageExplanation",
    "KernelShap",
    "Lime",
    "LimeImage",
    "LimeTabular",
    "LimeText",
    "Quickshift",
    "SoftSLIC",
    "TabularExplanation",
    "TensorExplanation",
    "TextExplanation",
    "__version__",
    "explain_dataset",
    "metrics",
    "stability",
]
