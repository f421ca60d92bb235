"""Explanation results: frozen dataclasses of tensors with declared dims, and their recipe.

:class:`Explanation` (:mod:`~torchlime.explanation.base`) holds what every explainer
returns and how it was made (``config``); each modality adds its own fields
(:mod:`~torchlime.explanation.kinds`).
"""

from torchlime.explanation.base import Explanation
from torchlime.explanation.kinds import (
    ImageExplanation,
    TabularExplanation,
    TensorExplanation,
    TextExplanation,
)

__all__ = [
    "Explanation",
    "ImageExplanation",
    "TabularExplanation",
    "TensorExplanation",
    "TextExplanation",
]
