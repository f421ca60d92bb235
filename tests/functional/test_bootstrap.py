"""bootstrap_weights against the binomial laws of resampling counts; gap_test's edge case."""

import pytest
import torch
from _helpers import generator as _g

from torchlime import stability


def test_bootstrap_weights_resample_rows_and_keep_the_original(device):
    w = torch.rand(2, 41, generator=_g(6), dtype=torch.float64) + 0.1
    w[1, 31:] = 0  # padding rows of image 1
    reps = stability.bootstrap_weights(w.to(device), 50, generator=_g(7, device)).cpu()
    counts = reps / w.clamp(min=0.1)
    assert reps.shape == (50, 2, 41)
    assert torch.equal(reps[:, :, 0], w[:, 0].expand(50, 2))
    assert torch.equal(reps[:, 1, 31:], torch.zeros(50, 10, dtype=torch.float64))
    assert torch.allclose(counts, counts.round())
    counts = counts.round()
    _assert_binomial_counts(counts[:, 0, 1:], 40)
    assert torch.equal(counts[:, 0, 1:].sum(-1), torch.full((50,), 40.0, dtype=torch.float64))
    assert torch.equal(counts[:, 1, 1:31].sum(-1), torch.full((50,), 30.0, dtype=torch.float64))


def _assert_binomial_counts(counts, units):
    """Resampling counts (R, U) against Binomial(units, 1/units): mean, variance, zeros."""
    p = 1.0 / units
    assert counts.mean().item() == pytest.approx(1.0, abs=0.02)
    assert counts.var().item() == pytest.approx(units * p * (1 - p), abs=0.05)
    zero = (counts == 0).double().mean().item()
    assert zero == pytest.approx((1 - p) ** units, abs=0.015)


def test_bootstrap_weights_pairs_and_strata(device):
    w = torch.ones(1, 21, dtype=torch.float64, device=device)
    paired = stability.bootstrap_weights(w, 30, pairs=True, generator=_g(8, device)).cpu()
    assert torch.equal(paired[:, 0, 1::2], paired[:, 0, 2::2])
    strata = torch.tensor([[0] + [1] * 8 + [2] * 12], device=device)
    strat = stability.bootstrap_weights(w, 30, strata=strata, generator=_g(9, device)).cpu()
    assert torch.equal(strat[:, 0, 1:9].sum(-1), torch.full((30,), 8.0, dtype=torch.float64))
    assert torch.equal(strat[:, 0, 9:].sum(-1), torch.full((30,), 12.0, dtype=torch.float64))
    # Each unit's count is Binomial(units, 1 / units) in its group: a bootstrap that did not
    # resample (every count 1) or drew from the wrong group would miss these moments.
    many = stability.bootstrap_weights(w, 3000, pairs=True, generator=_g(11, device)).cpu()
    _assert_binomial_counts(many[:, 0, 1::2], 10)  # 20 rows: 10 pairs
    many = stability.bootstrap_weights(w, 3000, strata=strata, generator=_g(12, device)).cpu()
    _assert_binomial_counts(many[:, 0, 1:9], 8)
    _assert_binomial_counts(many[:, 0, 9:], 12)
    poisson = stability.bootstrap_weights(w, 4000, method="poisson", generator=_g(10, device))
    poisson = poisson.cpu()
    assert poisson[:, 0, 1:].mean().item() == pytest.approx(1.0, abs=0.01)
    assert poisson[:, 0, 1:].var().item() == pytest.approx(1.0, abs=0.05)


def test_gap_test_with_at_most_k_features_is_resolved():
    coef = torch.tensor([[[1.0, 0.5, 0.0]]])
    boot = coef + 0.1 * torch.randn(20, 1, 1, 3, generator=_g(13))
    gap, se, needed, ok = stability.gap_test(
        coef, boot, 2, torch.tensor([100]), n_features=torch.tensor([2])
    )
    assert torch.isinf(gap).all() and ok.all() and se.item() == 0 and needed.item() == 100
