"""Pure tensor functions: the pipeline's stages, usable on their own.

``sample_masks`` -> ``compose`` (with ``segment_mean`` as lime's fill) -> (model scores)
-> ``lime_kernel`` -> ``select_features`` -> ``weighted_ridge``. Other samplers with
``sample_masks``' signature: ``paired_masks``, ``stratified_masks`` and ``binomial_masks``
(GLIME, fitted with unit weights). Nothing here keeps state, draws from the global RNG,
or prints.
"""

from torchlime.functional.kernels import cosine_distance, exponential_kernel, lime_kernel
from torchlime.functional.perturb import compose, segment_mean
from torchlime.functional.sampling import (
    SAMPLERS,
    binomial_masks,
    count_log_prob,
    paired_masks,
    sample_masks,
    stratified_masks,
)
from torchlime.functional.surrogate import (
    FEATURE_SELECTION,
    Moments,
    RidgeFit,
    forward_selection,
    highest_weights,
    ridge_from_moments,
    select_features,
    weighted_moments,
    weighted_ridge,
)

__all__ = [
    "FEATURE_SELECTION",
    "SAMPLERS",
    "Moments",
    "RidgeFit",
    "binomial_masks",
    "compose",
    "cosine_distance",
    "count_log_prob",
    "exponential_kernel",
    "forward_selection",
    "highest_weights",
    "lime_kernel",
    "paired_masks",
    "ridge_from_moments",
    "sample_masks",
    "segment_mean",
    "select_features",
    "stratified_masks",
    "weighted_moments",
    "weighted_ridge",
]
