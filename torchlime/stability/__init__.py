"""How much to trust an explanation: bootstrap and multi-seed stability, for every explainer.

LIME's top features change from one random seed to the next (Monte-Carlo noise plus
near-ties in the ranking). This package measures that, on the device, without a Python
loop over samples or features, and reads each explanation's recipe (``exp.config``) so that
it works the same on images, tables and text:

- :func:`stability_report`: from one explanation kept with ``keep_samples=True``, a
  bootstrap over its samples (zero extra model calls) gives each coefficient's spread and
  interval, the expected top-k Jaccard between two runs, sign stability, and whether the
  top-k boundary is resolved or a tie.
- :func:`resolution_report`: which top-k positions and which top-k set are resolved at a
  stated family-wise error rate (pairwise rank tests on the full covariance of the
  coefficients, Holm's step-down), and about how many samples would resolve the rest.
- :func:`seed_stability`: R seeds explained as one batch, scored with top-k Jaccard,
  Visani's VSI and CSI, and Kendall's W (:mod:`~torchlime.stability.agreement`).
- :func:`kernel_width_sweep`: refits for many kernel widths from the same model outputs.
- :func:`bayesian_ridge`: BayLIME's surrogate, with a posterior standard deviation per
  coefficient.
- :func:`adaptive_sampling`: the rounds behind ``n_samples="auto"`` (every explainer).

``print`` a :class:`StabilityReport` or :class:`SeedStability` for the verdict in words
(which top-k features are stable, whether positions k and k + 1 are a tie, about how many
samples would resolve it, with the explanation's feature and target names); their
docstrings define every term (gap, gap_se, n_needed, Jaccard, VSI, CSI, Kendall's W).
"""

from torchlime._adaptive import AdaptiveResult, adaptive_sampling
from torchlime.functional.bootstrap import bootstrap_weights, gap_test
from torchlime.functional.resolution import Resolution, resolution_test, ridge_covariance
from torchlime.functional.surrogate import ridge_std
from torchlime.stability.agreement import csi, jaccard, kendall_w, top_k_mask, vsi
from torchlime.stability.bayesian import BayesianRidgeFit, bayesian_ridge
from torchlime.stability.report import StabilityReport, stability_report
from torchlime.stability.resolution import ResolutionReport, resolution_report
from torchlime.stability.seeds import SeedStability, seed_stability
from torchlime.stability.sweep import kernel_width_sweep

__all__ = [
    "AdaptiveResult",
    "BayesianRidgeFit",
    "Resolution",
    "ResolutionReport",
    "SeedStability",
    "StabilityReport",
    "adaptive_sampling",
    "bayesian_ridge",
    "bootstrap_weights",
    "csi",
    "gap_test",
    "jaccard",
    "kendall_w",
    "kernel_width_sweep",
    "resolution_report",
    "resolution_test",
    "ridge_covariance",
    "ridge_std",
    "seed_stability",
    "stability_report",
    "top_k_mask",
    "vsi",
]
