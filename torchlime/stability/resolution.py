"""Which top-k positions and which top-k set an explanation resolves, at a stated FWER."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from torchlime._random import resolve_generator
from torchlime.functional.bootstrap import bootstrap_coef
from torchlime.functional.fit import refit
from torchlime.functional.resolution import resolution_test, ridge_covariance
from torchlime.stability._recipe import recipe_alpha, recipe_design, recipe_surrogate, samples_of
from torchlime.stability._verdict import about, compact_repr, names, tensors_to

__all__ = ["ResolutionReport", "resolution_report"]

COVARIANCES = ("sandwich", "bootstrap")


class ResolutionReport(NamedTuple):
    """Resolved top-k positions and set of each explanation and target, at FWER ``alpha``.

    ``print(report)`` (or :meth:`summary`) says in words which positions of the top k are
    resolved, which are not and against whom, whether the top-k set is resolved, and about
    how many samples would resolve the rest; ``repr`` gives shapes and counts.

    Terms (see :func:`~torchlime.functional.resolution_test` for the formulas):

    - **position j** (from 1): the j-th largest ``|coef|``. It is *resolved* when its
      feature's ``|coef|`` is significantly larger than every feature's below it and
      smaller than every feature's above it: it holds rank j. The leading resolved
      positions are Goldwasser & Hooker's sequentially verified ranks.
    - **top-k set resolved**: every top-k feature beats every other feature.
    - **FWER**: every claim about one explanation and target (its positions and its set)
      is right with probability at least ``1 - alpha``: Holm's step-down over its pairwise
      tests.
    - **pairwise test**: ``z`` of ``|b_i| - |b_l|`` with ``Var(b_i - b_l)`` from the full
      covariance of the coefficients (the sandwich of the ridge, or the bootstrap's), two
      sided, signs checked (an intersection-union test).
    - **n_needed**: samples at which the set's tests would pass, the estimates held fixed:
      the covariance falls as 1/N, so ``z`` grows as ``sqrt(N)``. Below n when resolved;
      inf for an exact tie.
    """

    coef: Tensor
    """(B, T, K) the surrogate refitted on the kept samples (equal to ``Explanation.coef``)."""
    coef_cov: Tensor
    """(B, T, K, K) float64 covariance of the coefficients."""
    order: Tensor
    """(B, T, K) int64 features by decreasing ``|coef|``."""
    statistic: Tensor
    """(B, T, k, K) pairwise ``z`` of position i against position l (0 outside the tests)."""
    rejected: Tensor
    """(B, T, k, K) bool position i beats position l (True outside the tests)."""
    resolved: Tensor
    """(B, T, k) bool position j holds rank j."""
    set_resolved: Tensor
    """(B, T) bool the top-k set is resolved."""
    n_needed: Tensor
    """(B, T) samples that would resolve the top-k set."""
    position_n_needed: Tensor
    """(B, T, k) samples that would resolve each position."""
    n_samples: Tensor
    """(B,) int64 samples behind each fit (rows with positive weight)."""
    k: int = 5
    """The size of the top set."""
    alpha: float = 0.05
    """The family-wise error rate."""
    covariance: str = "sandwich"
    """Where the covariance came from: ``"sandwich"`` or ``"bootstrap"``."""
    n_boot: int = 0
    """Bootstrap replicates (0 for the sandwich)."""
    explanation: Any = None
    """The explanation (feature and target names for the summary)."""

    def summary(self, max_examples: int = 3) -> str:
        """The report in words: per example and target, which of its top k are resolved.

        Args:
            max_examples: examples shown (the others are counted).

        Returns:
            a few lines per (example, target): the top k with their coefficients, the
            resolved positions, the unresolved ones and the pairs that tie, the set's
            verdict and about how many samples would resolve the rest; then the terms.
        """
        return _describe(self, max_examples)

    def to(self, *args: Any, **kwargs: Any) -> ResolutionReport:
        """Every tensor field moved by ``Tensor.to`` (the other fields kept)."""
        return tensors_to(self, *args, **kwargs)

    def cpu(self) -> ResolutionReport:
        """Every tensor field on the CPU (the explanation stays where it is)."""
        return self.to("cpu")

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        head = (
            f"k={self.k}, alpha={self.alpha}, covariance={self.covariance!r}, sets resolved "
            f"{int(self.set_resolved.sum())} of {self.set_resolved.numel()}, positions "
            f"resolved {int(self.resolved.sum())} of {self.resolved.numel()}"
        )
        return compact_repr(self, head)


def resolution_report(
    exp: Any,
    k: int = 5,
    alpha: float = 0.05,
    *,
    covariance: str = "sandwich",
    n_boot: int = 200,
    design: str | None = None,
    generator: torch.Generator | int | None = None,
    surrogate: Any = None,
) -> ResolutionReport:
    """Which top-k positions and which top-k set an explanation resolves, at FWER ``alpha``.

    No model call: the covariance of the coefficients comes from the explanation's kept
    samples, either the ridge's sandwich (:func:`~torchlime.functional.ridge_covariance`,
    deterministic, the default) or the covariance of a bootstrap of the samples refitted
    with the recipe's surrogate (any surrogate, KernelSHAP included). The pairwise rank
    tests and Holm's step-down are :func:`~torchlime.functional.resolution_test`'s.
    Feature selection is held fixed (the explanation's ``selected``).

    Args:
        exp: an :class:`~torchlime.Explanation` made with ``keep_samples=True``.
        k: size of the top set (by ``|coef|``), >= 1.
        alpha: the family-wise error rate, in (0, 1).
        covariance: ``"sandwich"`` (ridge and least-squares surrogates) or
            ``"bootstrap"``.
        n_boot: bootstrap replicates (``covariance="bootstrap"``).
        design: how the samples were drawn (``"iid"``, ``"paired"``, ``"stratified"``);
            None: the recipe's.
        generator: randomness of the bootstrap (None: a fresh seed).
        surrogate: the surrogate (None: the recipe's; a callable must be passed again).

    Returns:
        :class:`ResolutionReport`; ``print`` it for the verdict in words.

    Raises:
        ValueError: if the explanation kept no samples, or the sandwich is asked of a
            surrogate it does not describe.

    Example:
        >>> from torch import nn
        >>> from torchlime import Grid, LimeImage
        >>> model = nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(12, 3))
        >>> g = torch.Generator().manual_seed(0)
        >>> exp = LimeImage(model, segmenter=Grid(4, 4), n_samples=300, progress=False)(
        ...     torch.rand(1, 3, 16, 16, generator=g), keep_samples=True, generator=g)
        >>> report = resolution_report(exp, k=3)
        >>> report.resolved.shape, report.set_resolved.shape, report.coef_cov.shape
        (torch.Size([1, 1, 3]), torch.Size([1, 1]), torch.Size([1, 1, 16, 16]))
    """
    if covariance not in COVARIANCES:
        raise ValueError(f"covariance must be one of {COVARIANCES}; got {covariance!r}")
    where = "resolution_report"
    X, scores, weights = samples_of(exp, where)
    alpha_fit = recipe_alpha(exp, None, where)
    surrogate = recipe_surrogate(exp, surrogate, where)
    design = design or recipe_design(exp) or "iid"
    coef = refit(X, scores, weights, exp.selected, surrogate=surrogate, alpha=alpha_fit).coef
    if covariance == "sandwich":
        if surrogate not in ("ridge", "ols") or exp.config.get("kernel") == "shapley":
            raise ValueError(
                f"{where}: covariance='sandwich' describes a ridge or least-squares fit; this "
                f"explanation's surrogate is {surrogate!r} (kernel "
                f"{exp.config.get('kernel', 'lime')!r}): use covariance='bootstrap'"
            )
        penalty = 0.0 if surrogate == "ols" else alpha_fit
        cov = ridge_covariance(
            X, scores, weights, penalty, feature_mask=exp.selected, design=design
        )
        n_boot = 0
    else:
        generator, _ = resolve_generator(generator, X.device)
        boot = bootstrap_coef(
            X, scores, weights, exp.selected, exp.n_features, alpha_fit, n_boot,
            design=design, generator=generator, surrogate=surrogate,
        ).double()  # fmt: skip
        centred = boot - boot.mean(0)
        cov = torch.einsum("rbtk,rbtl->btkl", centred, centred) / (n_boot - 1)
    n_used = (weights > 0).sum(-1)
    res = resolution_test(coef, cov, k, alpha, n_samples=n_used[:, None], n_features=exp.n_features)
    return ResolutionReport(
        coef=coef,
        coef_cov=cov,
        order=res.order,
        statistic=res.statistic,
        rejected=res.rejected,
        resolved=res.resolved,
        set_resolved=res.set_resolved,
        n_needed=res.n_needed,
        position_n_needed=res.position_n_needed,
        n_samples=n_used,
        k=k,
        alpha=alpha,
        covariance=covariance,
        n_boot=n_boot,
        explanation=exp,
    )


def _ranges(positions: list[int]) -> str:
    """``[1, 2, 3, 5]`` -> ``"1-3 and 5"`` (positions from 1)."""
    runs: list[list[int]] = []
    for p in positions:
        if runs and p == runs[-1][-1] + 1:
            runs[-1].append(p)
        else:
            runs.append([p])
    parts = [f"{r[0]}-{r[-1]}" if len(r) > 2 else " and ".join(map(str, r)) for r in runs]
    return ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]


def _samples(n: float, what: str) -> str:
    if n == float("inf"):
        return f"an exact tie (equal |coefficient|): more samples will not resolve {what}"
    return f"about {about(n)} samples would resolve {what}"


def _pairs(pairs: list[tuple[int, int]], z: Tensor, features: list[str], order: list[int]) -> str:
    """``"a vs b, c vs d and 3 more pairs"`` for position pairs (from 0), smallest z first."""
    pairs = sorted(pairs, key=lambda pair: float(z[pair]))
    shown = [f"{features[order[i]]} vs {features[order[j]]}" for i, j in pairs[:3]]
    more = len(pairs) - len(shown)
    return ", ".join(shown) + (f" and {more} more pair{'s' * (more != 1)}" if more else "")


def _describe(r: ResolutionReport, max_examples: int) -> str:
    """The plain-language summary of a :class:`ResolutionReport`."""
    b, t, k_pad = r.coef.shape
    k, pct = r.k, f"{100 * r.alpha:g} %"
    coef = r.coef.detach().double().cpu()
    order, rejected = r.order.cpu().tolist(), r.rejected.cpu()
    stat = r.statistic.detach().double().cpu()
    resolved, set_ok = r.resolved.cpu().tolist(), r.set_resolved.cpu().tolist()
    needed, pos_needed = r.n_needed.double().cpu().tolist(), r.position_n_needed.double().cpu()
    n_samples = r.n_samples.cpu().tolist()
    n_features = getattr(r.explanation, "n_features", None)
    k_valid = [k_pad] * b if n_features is None else n_features.cpu().tolist()
    source = "sandwich" if r.covariance == "sandwich" else f"bootstrap ({r.n_boot} resamples)"
    lines = [
        f"Resolution of {b} explanation{'s' * (b != 1)} x {t} target{'s' * (t != 1)}: "
        f"top-{k} by |coefficient| at FWER {pct}, pairwise tests with the {source} "
        "covariance of the coefficients, Holm's step-down."
    ]
    for i in range(min(b, max_examples)):
        features, targets = names(r.explanation, i, k_pad, t)
        k_b = int(k_valid[i])
        for j in range(t):
            o = order[i][j]
            lines.append(f"example {i}, {targets[j]} ({int(n_samples[i]):,} samples):")
            top = o[: min(k, k_b)]
            listed = ", ".join(f"{features[f]} ({float(coef[i, j, f]):+.3g})" for f in top)
            lines.append(f"  top-{k}: {listed}.")
            ok = [p + 1 for p in range(min(k, k_b)) if resolved[i][j][p]]
            bad = [p + 1 for p in range(min(k, k_b)) if not resolved[i][j][p]]
            if ok:
                lines.append(f"  position{'s' * (len(ok) > 1)} {_ranges(ok)} resolved.")
            if bad:
                rej = rejected[i, j]
                pairs = [
                    (p, q)
                    for p in range(min(k, k_b))
                    for q in range(p + 1, k_b)
                    if not rej[p, q] and (p + 1 in bad or q + 1 in bad)
                ]
                worst = max(float(pos_needed[i, j, p - 1]) for p in bad)
                them = "it" if len(bad) == 1 else "them"
                lines.append(
                    f"  position{'s' * (len(bad) > 1)} {_ranges(bad)} not resolved "
                    f"({_pairs(pairs, stat[i, j], features, o)}); {_samples(worst, them)}."
                )
            if k_b <= k:
                lines.append(
                    f"  only {k_b} feature{'s' * (k_b != 1)}: the top-{k} set is all of them."
                )
            elif set_ok[i][j]:
                lines.append(f"  top-{k} set resolved at FWER {pct}.")
            else:
                rej = rejected[i, j]
                pairs = [(p, q) for p in range(k) for q in range(k, k_b) if not rej[p, q]]
                tie = _pairs(pairs, stat[i, j], features, o)
                lines.append(
                    f"  top-{k} set not resolved at FWER {pct} ({tie}); "
                    f"{_samples(needed[i][j], 'it')}."
                )
    if b > max_examples:
        more = b - max_examples
        lines.append(
            f"... and {more} more example{'s' * (more != 1)} (summary(max_examples={b}) shows all)."
        )
    lines.append(
        f"Terms: position j resolved = its |coefficient| is significantly below every one "
        f"above it and above every one below it, so it holds rank j; top-{k} set resolved = "
        f"every top-{k} feature beats every other; all claims hold together with probability "
        f">= {100 * (1 - r.alpha):g} % (FWER {pct}); a vs b = a pair not separated; samples "
        "to resolve = n max (c / z)^2 over Holm's steps, as z grows like sqrt(n)."
    )
    return "\n".join(lines)
