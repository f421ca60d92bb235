"""Evaluating explanations without labels: deletion/insertion, faithfulness, sanity checks.

- :func:`deletion_auc` / :func:`insertion_auc`: the RISE protocol (Petsiuk et al., 2018)
  on images: remove (insert) the most important superpixels or pixels first and integrate
  the model's score over the fraction removed (inserted): a faithful ranking makes the
  score fall fast (low deletion AUC) and rise fast (high insertion AUC).
  :func:`random_order_auc` gives the same curves for random orders, the reference any
  explanation should beat.
- :func:`explanation_auc`: the same curves over any explanation's own features (images,
  text), built by its explainer's own perturbation.
- :func:`faithfulness_correlation` (Bhatt et al., 2020): over random subsets of features,
  the correlation between the attributions' sum and the score drop when they are removed.
- :func:`model_randomisation` (Adebayo et al., 2018): the rank correlation between the
  explanation of the trained model and of a randomised copy (every explainer), which
  should be near 0.

Given an explanation, the metrics hide features the way its explainer did (the recipe's
``config["baseline"]`` for images, ``config["mask_id"]`` for text): LimeImage's default
fill is each superpixel's mean colour, and a black fill tests another perturbation. An
explicit ``baseline=`` overrides the recipe.
"""

from torchlime.metrics.checks import (
    RandomisationCheck,
    explanation_auc,
    model_randomisation,
    rank_correlation,
)
from torchlime.metrics.curves import (
    deletion_auc,
    faithfulness_correlation,
    insertion_auc,
    random_order_auc,
)

__all__ = [
    "RandomisationCheck",
    "deletion_auc",
    "explanation_auc",
    "faithfulness_correlation",
    "insertion_auc",
    "model_randomisation",
    "random_order_auc",
    "rank_correlation",
]
