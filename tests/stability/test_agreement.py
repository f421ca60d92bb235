"""Top-k agreement (Jaccard, VSI, CSI, Kendall's W) against set arithmetic and SciPy."""

import itertools

import numpy as np
import pytest
import torch
from _helpers import generator as _g
from scipy import stats

from torchlime import stability

from ._common import _top_set


def test_top_k_mask_breaks_ties_by_index_and_skips_padding():
    coef = torch.tensor([[0.5, -0.5, 0.1, 0.9], [0.2, 0.2, 0.2, 9.0]])
    assert stability.top_k_mask(coef, 2).tolist() == [
        [True, False, False, True],
        [True, False, False, True],
    ]
    got = stability.top_k_mask(coef, 2, torch.tensor([4, 3]))
    assert got.tolist() == [[True, False, False, True], [True, True, False, False]]


def test_jaccard_and_vsi_equal_set_arithmetic():
    r, b, t, k, top = 6, 2, 3, 9, 4
    coef = torch.randn(r, b, t, k, generator=_g(1)).round(decimals=1)  # ties happen
    n_features = torch.tensor([9, 6])
    jac = stability.jaccard(coef, top, n_features)
    v = stability.vsi(coef, top, n_features)
    assert jac.shape == v.shape == (b, t)
    for i, j in itertools.product(range(b), range(t)):
        sets = [_top_set(coef[q, i, j].numpy(), top, int(n_features[i])) for q in range(r)]
        pairs = list(itertools.combinations(sets, 2))
        ref_j = np.mean([len(p & q) / len(p | q) for p, q in pairs])
        ref_v = np.mean([len(p & q) / top for p, q in pairs])
        assert jac[i, j].item() == pytest.approx(ref_j)
        assert v[i, j].item() == pytest.approx(ref_v)


def test_kendall_w_is_friedman_over_r_times_k_minus_one():
    # Kendall's W = Friedman's tie-corrected chi-square / (R (K - 1)), SciPy computing the latter.
    r, k = 7, 8
    coef = torch.randn(r, 3, k, generator=_g(2)).round(decimals=1)
    coef[:, 2] = coef[0, 2] + 0.01 * torch.randn(r, k, generator=_g(3))  # concordant
    n_features = torch.tensor([8, 5, 8])
    w = stability.kendall_w(coef, n_features)
    for i in range(3):
        kb = int(n_features[i])
        data = coef[:, i, :kb].abs().numpy()
        chi2 = stats.friedmanchisquare(*[data[:, j] for j in range(kb)]).statistic
        assert w[i].item() == pytest.approx(chi2 / (r * (kb - 1)), rel=1e-5)
    assert w[2] > 0.9


def test_csi_counts_overlapping_intervals():
    r, k = 5, 6
    coef = torch.randn(r, 2, 1, k, generator=_g(4))
    std = 0.3 * torch.rand(r, 2, 1, k, generator=_g(5))
    n_features = torch.tensor([6, 4])
    got = stability.csi(coef, std, 0.9, n_features)
    z = stats.norm.ppf(0.95)
    for i in range(2):
        kb = int(n_features[i])
        per_feature = []
        for f in range(kb):
            lo = coef[:, i, 0, f] - z * std[:, i, 0, f]
            hi = coef[:, i, 0, f] + z * std[:, i, 0, f]
            agree = [
                bool(lo[p] <= hi[q] and lo[q] <= hi[p])
                for p, q in itertools.combinations(range(r), 2)
            ]
            per_feature.append(np.mean(agree))
        assert got[i, 0].item() == pytest.approx(np.mean(per_feature), abs=1e-6)


def test_pairwise_metrics_reject_a_single_replicate():
    with pytest.raises(ValueError, match="R >= 2"):
        stability.jaccard(torch.randn(1, 3, 5), 2)
    with pytest.raises(ValueError, match="n_features must have the shape"):
        stability.top_k_mask(torch.randn(3, 5), 2, torch.tensor([5, 5]))
