"""Pure tensor functions: the pipeline's stages, usable on their own.

``sample_masks`` -> ``lime_kernel`` -> (model scores) -> ``select_features`` ->
``weighted_ridge``. Nothing here keeps state, draws from the global RNG, or prints.
"""

from torchlime.functional.kernels import cosine_distance, exponential_kernel, lime_kernel
from torchlime.functional.sampling import sample_masks
from torchlime.functional.surrogate import (
    FEATURE_SELECTION,
    RidgeFit,
    forward_selection,
    highest_weights,
    select_features,
    weighted_ridge,
)

__all__ = [
    "FEATURE_SELECTION",
    "RidgeFit",
    "cosine_distance",
    "exponential_kernel",
    "forward_selection",
    "highest_weights",
    "lime_kernel",
    "sample_masks",
    "select_features",
    "weighted_ridge",
]
