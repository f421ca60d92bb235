"""``n_samples="auto"``: sample in rounds until each top-k boundary is resolved, any modality.

The explainer template calls :func:`adaptive_sampling` with two callbacks of its own
(draw and score more samples for some examples; weigh samples), so every explainer gets
adaptive sampling from the same code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from torchlime._random import resolve_generator
from torchlime._repr import compact_repr
from torchlime.functional.bootstrap import bootstrap_coef, gap_test
from torchlime.functional.resolution import resolution_test, ridge_covariance
from torchlime.functional.surrogate import weighted_ridge

__all__ = ["STOPS", "AdaptiveResult", "adaptive_sampling", "first_round"]

STOPS = ("gap", "set")
"""When ``n_samples="auto"`` stops: the bootstrap gap test of the top-k boundary at
``confidence`` (``"gap"``, S-LIME's), or the top-k set resolved by Holm's pairwise rank
tests at the family-wise error rate ``1 - confidence`` (``"set"``, see
:func:`~torchlime.functional.resolution_test`)."""

Draw = Callable[[Tensor, int], Sequence[Tensor]]


class AdaptiveResult(NamedTuple):
    """Samples gathered in rounds; rows past ``n_samples[b]`` are padding with weight 0."""

    masks: Tensor
    """(B, N, K) interpretable samples (bool masks, or float tabular samples)."""
    scores: Tensor
    """(B, N, T) float."""
    weights: Tensor
    """(B, N) float, 0 on padding rows."""
    resolved: Tensor
    """(B, T) bool: the top-k boundary is resolved (with ``stop="set"``: the top-k set at
    the family-wise error rate ``1 - confidence``); False: a tie at the budget."""
    n_samples: Tensor
    """(B,) int64 rows used per example, the original included."""
    data: Tensor | None = None
    """(B, N, ...) what the samples were composed from, grown alongside (tabular rows)."""

    def __repr__(self) -> str:
        return compact_repr(self, f"resolved {int(self.resolved.sum())} of {self.resolved.numel()}")


def first_round(max_samples: int) -> int:
    """The first round's samples: a quarter of the budget (at most 1000), odd so pairs align.

    Example:
        >>> first_round(10_000), first_round(100)
        (1001, 25)
    """
    return min(1000, max(max_samples // 4, 3)) | 1


def adaptive_sampling(
    draw: Draw,
    weigh: Callable[[Tensor, Tensor], Tensor],
    masks: Tensor,
    scores: Tensor,
    n_features: Tensor,
    *,
    data: Tensor | None = None,
    k: int = 5,
    max_samples: int = 10_000,
    confidence: float = 0.95,
    n_boot: int = 200,
    alpha: float = 1.0,
    design: str = "iid",
    generator: torch.Generator | None = None,
    stop: str = "gap",
) -> AdaptiveResult:
    """Sample in rounds until each example's top-k boundary is resolved or the budget is spent.

    After each round a bootstrap (:func:`~torchlime.functional.gap_test`) asks, for every
    example and target, whether the gap between the k-th and (k+1)-th ``|coef|`` is
    significant. Examples that are resolved for all their targets stop; the others get
    more samples, as S-LIME does (Zhou et al., 2021), up to ``min(n_needed, 2 n,
    max_samples)`` in total, but earlier samples are kept and only the additional ones are
    drawn and scored. An example still unresolved at ``max_samples`` is reported as a tie
    (``resolved`` False) rather than pretending to a certain top k. One host sync per
    round decides who goes on.

    With ``stop="set"`` the question after each round is instead whether the top-k *set*
    is resolved at the family-wise error rate ``1 - confidence``
    (:func:`~torchlime.functional.resolution_test` on the ridge's sandwich covariance,
    :func:`~torchlime.functional.ridge_covariance`: no bootstrap, so ``resolved`` is what
    :func:`~torchlime.stability.resolution_report` says of the final samples), and the
    next round aims at that test's ``n_needed``.

    Args:
        draw: ``draw(index, n_extra)`` draws and scores ``n_extra`` new samples for the
            examples ``index`` ((B',) int64): returns interpretable samples (B', n_extra,
            K) and scores (B', n_extra, T), and with ``data`` given, their data (B',
            n_extra, ...).
        weigh: ``weigh(masks, index)`` sample weights (B', N') of samples (B', N', K) of
            the examples ``index`` (the kernel; ones for a kernel-folded sampler).
        masks: (B, N0, K) first-round interpretable samples, row 0 the original.
        scores: (B, N0, T) float their scores.
        n_features: (B,) int64 valid features.
        data: (B, N0, ...) what the samples were composed from, grown alongside.
        k: size of the top set to resolve.
        max_samples: the budget per example, the original included (>= N0).
        confidence: one-sided confidence of the gap test.
        n_boot: bootstrap replicates per round.
        alpha: the ridge penalty of the surrogate.
        design: how the sampler draws (``"iid"``, ``"paired"``, ``"stratified"``; see
            :func:`~torchlime.functional.bootstrap_coef`); paired rounds add an even
            number of samples.
        generator: source of randomness for the bootstrap, on the samples' device.
        stop: ``"gap"`` or ``"set"`` (see ``STOPS``).

    Returns:
        :class:`AdaptiveResult`.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> truth = torch.tensor([5.0, 4.0, 1.0, 0.9, 0.0])  # a near-tie at k = 3
        >>> def score(m):
        ...     noise = 0.5 * torch.randn(*m.shape[:2], 1, generator=g)
        ...     return (m.float() @ truth)[..., None] + noise
        >>> def draw(index, n):
        ...     m = torch.rand(len(index), n, 5, generator=g) < 0.5
        ...     return m, score(m)
        >>> m0 = torch.rand(2, 50, 5, generator=g) < 0.5
        >>> out = adaptive_sampling(draw, lambda m, i: torch.ones(m.shape[:2]), m0, score(m0),
        ...                         torch.tensor([5, 5]), k=3, max_samples=4000, generator=g)
        >>> out.resolved.tolist(), out.n_samples.tolist()
        ([[True], [True]], [400, 400])
    """
    b, n, kk = masks.shape
    device = masks.device
    generator, _ = resolve_generator(generator, device)
    if stop not in STOPS:
        raise ValueError(f"stop must be one of {STOPS}; got {stop!r}")
    if max_samples < n:
        raise ValueError(f"max_samples must be >= the first round's {n} samples; got {max_samples}")
    all_rows = torch.arange(b, device=device)
    weights = weigh(masks, all_rows)
    resolved = torch.zeros(b, scores.shape[-1], dtype=torch.bool, device=device)
    n_used = torch.full((b,), n, dtype=torch.long, device=device)
    active = all_rows
    n_cur = n
    valid = torch.arange(kk, device=device) < n_features[:, None]
    while True:
        sub = (masks[active], scores[active], weights[active])
        coef = weighted_ridge(*sub, alpha, feature_mask=valid[active]).coef
        if stop == "set":
            cov = ridge_covariance(*sub, alpha, feature_mask=valid[active], design=design)
            res = resolution_test(coef, cov, k, 1 - confidence, n_samples=n_used[active, None],
                                  n_features=n_features[active])  # fmt: skip
            needed, ok = res.n_needed, res.set_resolved
        else:
            boot = bootstrap_coef(
                *sub, valid[active], n_features[active], alpha, n_boot, design=design,
                generator=generator,
            )  # fmt: skip
            _, _, needed, ok = gap_test(
                coef, boot, k, n_used[active], n_features=n_features[active],
                confidence=confidence,
            )  # fmt: skip
        resolved[active] = ok
        going = ~ok.all(-1)
        goal = torch.where(going[:, None], needed, 0.0).amax().clamp(max=2.0 * n_cur)
        step = torch.stack([goal.ceil() - n_cur, going.sum().to(goal.dtype)])
        n_extra, n_going = (int(v) for v in step.tolist())  # the round's one host sync
        n_extra = min(max(n_extra, 2), max_samples - n_cur)
        if design == "paired":
            n_extra -= n_extra % 2
        if n_going == 0 or n_extra < 1:
            break
        active = active[going]
        new = draw(active, n_extra)
        rows = masks.shape[1]
        masks = _grow(masks, active, new[0], rows)
        scores = _grow(scores, active, new[1].to(scores.dtype), rows)
        if data is not None:
            data = _grow(data, active, new[2], rows)
        new_weights = weigh(masks[active], active)
        weights = _grow(weights, active, new_weights[:, rows:].to(weights.dtype), rows)
        n_used[active] += n_extra
        n_cur += n_extra
    return AdaptiveResult(masks, scores, weights, resolved, n_used, data)


def _grow(t: Tensor, index: Tensor, new: Tensor, rows: int) -> Tensor:
    """Append ``new`` (B', M, ...) after row ``rows`` for examples ``index``; zeros elsewhere."""
    pad = t.new_zeros(t.shape[0], new.shape[1], *t.shape[2:])
    out = torch.cat([t, pad], 1)
    out[index, rows:] = new.to(out.dtype)
    return out
