"""Pure tensor functions: every stage of the pipeline, usable on its own.

Modality-agnostic first, in pipeline order:

- sampling (:mod:`~torchlime.functional.sampling`): ``sample_masks`` (lime's images),
  ``sample_removals`` (lime's text), ``paired_masks``, ``stratified_masks``,
  ``binomial_masks`` (GLIME), ``count_log_prob``;
- kernels (:mod:`~torchlime.functional.kernels`): ``cosine_distance``,
  ``euclidean_distance``, ``exponential_kernel``, ``lime_kernel``, ``kernel_weights``;
- surrogates: ``weighted_moments`` -> ``ridge_from_moments`` (= ``weighted_ridge``),
  ``select_features`` (lime's modes), ``fit_surrogate`` (both, as every explainer, with
  the ridge, ``lasso_from_moments``, least squares, ``bayesian_from_moments`` or a callable),
  ``refit``, ``ridge_std``, ``bayesian_ridge``; ``adjusted_fit`` (regression-adjusted
  lime: the same estimand, a cross-fitted control variate);
- KernelSHAP: ``shapley_masks``, ``shapley_kernel``, ``shapley_fit`` (the efficiency
  constraint, exactly);
- analysis helpers: ``bootstrap_weights``, ``bootstrap_coef``, ``gap_test``,
  ``ridge_covariance``, ``resolution_test`` (resolved top-k positions and set at a
  family-wise error rate), ``top_k_mask``, ``average_ranks``.

Then the modality stages: images (``make_fill``, ``segment_mean``, ``compose``), tables
(``tabular_stats``, ``discretize``, ``tabular_representation``, ``sample_tabular``,
``sample_tabular_pool``) and text (``text_features``, ``remove_tokens``). Nothing here
keeps state, draws from the global RNG, or prints.
"""

from torchlime.functional.adjust import CONTROLS, LINKS, adjusted_fit
from torchlime.functional.bayesian import BayesianRidgeFit, bayesian_from_moments, bayesian_ridge
from torchlime.functional.bootstrap import DESIGNS, bootstrap_coef, bootstrap_weights, gap_test
from torchlime.functional.fit import SURROGATES, Surrogate, fit_chunk, fit_surrogate, refit
from torchlime.functional.image import BASELINES, compose, make_fill, segment_mean
from torchlime.functional.kernels import (
    DISTANCES,
    cosine_distance,
    euclidean_distance,
    exponential_kernel,
    kernel_weights,
    lime_kernel,
)
from torchlime.functional.lasso import lasso_from_moments
from torchlime.functional.ranking import average_ranks, top_k_mask, valid_features
from torchlime.functional.resolution import Resolution, resolution_test, ridge_covariance
from torchlime.functional.sampling import (
    LAWS,
    SAMPLERS,
    binomial_masks,
    count_log_prob,
    draw_masks,
    paired_masks,
    sample_masks,
    sample_removals,
    stratified_masks,
)
from torchlime.functional.selection import (
    FEATURE_SELECTION,
    forward_selection,
    highest_weights,
    select_features,
)
from torchlime.functional.shapley import shapley_fit, shapley_kernel, shapley_masks
from torchlime.functional.surrogate import (
    Moments,
    RidgeFit,
    r2_score,
    residual_sum_of_squares,
    ridge_from_moments,
    ridge_std,
    weighted_moments,
    weighted_ridge,
)
from torchlime.functional.tabular import (
    DISCRETIZERS,
    TabularStats,
    discretize,
    instance_representation,
    row_bins,
    stats_from_summary,
    tabular_representation,
    tabular_stats,
)
from torchlime.functional.tabular_sampling import (
    TABULAR_SAMPLERS,
    TabularPool,
    TabularSamples,
    sample_tabular,
    sample_tabular_pool,
)
from torchlime.functional.text import TextFeatures, align_tokens, remove_tokens, text_features
from torchlime.functional.words import remove_words, split_text

__all__ = [
    "BASELINES",
    "CONTROLS",
    "DESIGNS",
    "DISCRETIZERS",
    "DISTANCES",
    "FEATURE_SELECTION",
    "LAWS",
    "LINKS",
    "SAMPLERS",
    "SURROGATES",
    "TABULAR_SAMPLERS",
    "BayesianRidgeFit",
    "Moments",
    "Resolution",
    "RidgeFit",
    "Surrogate",
    "TabularPool",
    "TabularSamples",
    "TabularStats",
    "TextFeatures",
    "adjusted_fit",
    "align_tokens",
    "average_ranks",
    "bayesian_from_moments",
    "bayesian_ridge",
    "binomial_masks",
    "bootstrap_coef",
    "bootstrap_weights",
    "compose",
    "cosine_distance",
    "count_log_prob",
    "discretize",
    "draw_masks",
    "euclidean_distance",
    "exponential_kernel",
    "fit_chunk",
    "fit_surrogate",
    "forward_selection",
    "gap_test",
    "highest_weights",
    "instance_representation",
    "kernel_weights",
    "lasso_from_moments",
    "lime_kernel",
    "make_fill",
    "paired_masks",
    "r2_score",
    "refit",
    "remove_tokens",
    "remove_words",
    "residual_sum_of_squares",
    "resolution_test",
    "ridge_covariance",
    "ridge_from_moments",
    "ridge_std",
    "row_bins",
    "sample_masks",
    "sample_removals",
    "sample_tabular",
    "sample_tabular_pool",
    "segment_mean",
    "select_features",
    "shapley_fit",
    "shapley_kernel",
    "shapley_masks",
    "split_text",
    "stats_from_summary",
    "stratified_masks",
    "tabular_representation",
    "tabular_stats",
    "text_features",
    "top_k_mask",
    "valid_features",
    "weighted_moments",
    "weighted_ridge",
]
