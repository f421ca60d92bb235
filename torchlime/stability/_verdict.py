"""Plain-language verdicts and compact reprs for the stability results.

Analysis code, not a hot path: every number is brought to the host once, here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from torchlime._repr import compact_repr
from torchlime.functional.ranking import normal_quantile

__all__ = [
    "Boundary",
    "about",
    "compact_repr",
    "describe",
    "headline_stats",
    "names",
    "tensors_to",
]

_EPS = 1e-6  # frequencies are means of bools in float32: 19 / 20 must count as 95 %


def about(n: float) -> str:
    """A sample count rounded *up* to two significant figures, with thousands separators.

    Example:
        >>> about(2371.2), about(87.1), about(1000.0)
        ('2,400', '88', '1,000')
    """
    if not math.isfinite(n):
        return "inf"
    n = max(float(n), 1.0)
    if n < 100:
        return f"{math.ceil(n - 1e-9):,}"
    step = 10 ** (math.floor(math.log10(n)) - 1)
    return f"{math.ceil(n / step - 1e-9) * step:,}"


def _pct(p: float) -> str:
    return f"{100 * p:.0f} %"


def _num(x: float) -> str:
    return f"{x:.2g}"


def tensors_to(obj: Any, *args: Any, **kwargs: Any) -> Any:
    """A NamedTuple result with every tensor field moved by ``Tensor.to``."""
    moved: dict[str, Any] = {
        name: value.to(*args, **kwargs)
        for name, value in obj._asdict().items()
        if isinstance(value, Tensor)
    }
    return obj._replace(**moved)


def headline_stats(name: str, values: Tensor) -> str:
    """``"name mean 0.81 (min 0.62)"`` of a tensor (``"name -"`` when empty)."""
    if values.numel() == 0:
        return f"{name} -"
    v = values.detach().double()
    return f"{name} mean {_num(float(v.mean()))} (min {_num(float(v.min()))})"


@dataclass
class Boundary:
    """What :func:`describe` reads, every field on the host (or tensors it moves there)."""

    kind: str  # "report" or "seeds"
    coef: Tensor  # (B, T, K) the fit (report) or the mean over seeds
    top_k_frequency: Tensor  # (B, T, K)
    gap: Tensor  # (B, T)
    gap_se: Tensor  # (B, T)
    n_needed: Tensor  # (B, T)
    tie: Tensor  # (B, T)
    n_samples: Tensor  # (B,)
    n_features: Tensor  # (B,)
    k: int
    confidence: float
    replicates: int  # bootstrap resamples or seeds
    explanation: Any
    agreement: dict[str, Tensor]  # name -> (B, T), printed on one line
    sign_stability: Tensor | None = None  # (B, T, K), report only


def names(exp: Any, index: int, k: int, t: int) -> tuple[list[str], list[str]]:
    """Feature labels (K) and target names (T) of example ``index``, with fallbacks."""
    try:
        features = list(exp.feature_labels(index))
    except (AttributeError, TypeError, IndexError, KeyError):  # a hand-made result
        features = []
    if len(features) != k:
        features = [f"feature {f}" for f in range(k)]
    try:
        targets = list(exp.target_names(index))
        ids = exp.target[index].tolist()
    except (AttributeError, TypeError, IndexError, KeyError):
        targets, ids = [], []
    if len(targets) != t:
        return features, [f"target {j}" for j in range(t)]
    named = [
        name if name == f"output {i}" else f"{name!r} (output {i})"
        for name, i in zip(targets, ids, strict=True)
    ]
    return features, named


def describe(v: Boundary, max_examples: int) -> str:
    """The plain-language summary of a stability result (see ``summary`` of each type)."""
    b, t, k_pad = v.coef.shape
    coef, freq = v.coef.detach().double().cpu(), v.top_k_frequency.detach().double().cpu()
    gap, se = v.gap.detach().double().cpu().tolist(), v.gap_se.detach().double().cpu().tolist()
    needed, tie = v.n_needed.detach().double().cpu().tolist(), v.tie.cpu().tolist()
    n_samples, n_features = v.n_samples.cpu().tolist(), v.n_features.cpu().tolist()
    signs = None if v.sign_stability is None else v.sign_stability.detach().double().cpu()
    agreement = {name: a.detach().double().cpu().tolist() for name, a in v.agreement.items()}
    k, conf, z = v.k, v.confidence, normal_quantile(v.confidence)
    unit = "resamples" if v.kind == "report" else "seeds"
    if v.kind == "report":
        head = (
            f"Bootstrap stability of {b} explanation{'s' * (b != 1)} x {t} target"
            f"{'s' * (t != 1)}: top-{k} by |coefficient|, {v.replicates} resamples of each "
            f"explanation's own samples, {_pct(conf)} confidence."
        )
    else:
        head = (
            f"Seed-to-seed stability of {b} input{'s' * (b != 1)} x {t} target{'s' * (t != 1)}, "
            f"each explained with {v.replicates} seeds: top-{k} by |coefficient| of the mean "
            f"over seeds, {_pct(conf)} confidence."
        )
    lines = [head]
    noun = "superpixels" if hasattr(v.explanation, "segments") else "features"
    for i in range(min(b, max_examples)):
        features, targets = names(v.explanation, i, k_pad, t)
        k_b = int(n_features[i])
        for j in range(t):
            c = coef[i, j, :k_b]
            order = c.abs().sort(descending=True, stable=True).indices.tolist()
            top = order[:k]
            per = " per seed" if v.kind == "seeds" else ""
            lines.append(f"example {i}, {targets[j]} ({int(n_samples[i]):,} samples{per}):")
            listed = ", ".join(f"{features[f]} ({float(c[f]):+.3g})" for f in top)
            lines.append(f"  top-{k}: {listed}.")
            if k_b <= k:
                lines.append(
                    f"  only {k_b} {noun if k_b != 1 else noun[:-1]}: all are in the top-{k}, "
                    "so there is no boundary to test."
                )
                continue
            stable = [f for f in top if freq[i, j, f] >= conf - _EPS]
            text = (
                f"  top-{k} stable: {len(stable)} of {k} {noun} in the top-{k} of "
                f">= {_pct(conf)} of {unit}"
            )
            shaky = [f for f in top if f not in stable]
            if shaky:
                text += "; " + ", ".join(
                    f"{features[f]} only in {_pct(float(freq[i, j, f]))}" for f in shaky
                )
            lines.append(text + ".")
            pair = f"positions {k} and {k + 1} ({features[top[-1]]}, {features[order[k]]})"
            if tie[i][j]:
                if gap[i][j] <= 0:
                    lines.append(
                        f"  {pair} are an exact tie (equal |coefficient|): more samples will "
                        "not separate them."
                    )
                else:
                    lines.append(
                        f"  {pair} are a tie: gap {_num(gap[i][j])} <= {z:.2f} gap_se "
                        f"({_num(se[i][j])}); about {about(needed[i][j])} samples would "
                        "resolve them."
                    )
            else:
                lines.append(
                    f"  the top-{k} boundary is resolved: gap {_num(gap[i][j])} to position "
                    f"{k + 1} > {z:.2f} gap_se ({_num(se[i][j])})."
                )
            if signs is not None:
                flips = [f for f in top if signs[i, j, f] < conf - _EPS]
                lines.append(
                    f"  signs: every top-{k} coefficient keeps its sign in >= {_pct(conf)} of "
                    f"{unit}."
                    if not flips
                    else f"  signs kept in < {_pct(conf)} of {unit}: "
                    + ", ".join(f"{features[f]} ({_pct(float(signs[i, j, f]))})" for f in flips)
                    + "."
                )
            values = ", ".join(f"{name} {a[i][j]:.2f}" for name, a in agreement.items())
            who = "two runs" if v.kind == "report" else unit
            lines.append(f"  agreement between {who}: {values} (1 = identical).")
    if b > max_examples:
        more = b - max_examples
        lines.append(
            f"... and {more} more example{'s' * (more != 1)} (summary(max_examples={b}) shows all)."
        )
    lines.append(_GLOSSARY[v.kind].format(k=k, k1=k + 1, z=z, conf=_pct(conf)))
    return "\n".join(lines)


_GLOSSARY = {
    "report": (
        "Terms: gap = |coefficient| at position {k} minus at position {k1}; gap_se = its "
        "bootstrap standard error; a tie = gap <= {z:.2f} gap_se ({conf}, one-sided); samples "
        "to resolve = n (z gap_se / gap)^2, as the standard error shrinks like 1/sqrt(n); "
        "Jaccard = |A & B| / |A | B| of two top-{k} sets."
    ),
    "seeds": (
        "Terms: gap = |mean coefficient| at position {k} minus at position {k1}; gap_se = "
        "the seed-to-seed standard deviation of one run's gap; a tie = gap <= {z:.2f} gap_se "
        "({conf}, one-sided); samples to resolve = n (z gap_se / gap)^2; Jaccard = "
        "|A & B| / |A | B| and VSI = |A & B| / {k} of two seeds' top-{k} sets; CSI = share "
        "of seed pairs whose {conf} coefficient intervals overlap; Kendall's W = agreement "
        "of the full rankings."
    ),
}
