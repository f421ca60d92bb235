"""The tabular stages on their own: statistics against lime's discretizers, the sampler's
batch independence, the distance of boolean samples."""

import pytest
import torch
from _helpers import assert_close
from _tabular_data import CATEGORICAL, D, _lime, _table

from torchlime.functional import euclidean_distance, sample_tabular, tabular_stats


def test_statistics_equal_lime_discretizers():
    data, labels = _table(seed=4)
    for name in ("quartile", "decile", "entropy"):
        lime = _lime(data, labels, name, seed=0)
        stats = tabular_stats(
            data, categorical_features=CATEGORICAL, discretizer=name, training_labels=labels
        )
        for f, lam in lime.discretizer.lambdas.items():
            edges = stats.edges[f][torch.isfinite(stats.edges[f])]
            qts = lam.__defaults__[0]
            assert_close(edges, torch.from_numpy(qts), rtol=0, atol=0)
            assert_close(
                stats.bin_mean[f, : len(qts) + 1],
                torch.tensor(lime.discretizer.means[f]),
                rtol=1e-12,
                atol=1e-12,
            )
            assert_close(
                stats.bin_std[f, : len(qts) + 1],
                torch.tensor(lime.discretizer.stds[f]),
                rtol=1e-9,
                atol=1e-12,
            )
        for f in range(D):
            freq = stats.freq[f][stats.freq[f] > 0]
            assert_close(freq, torch.from_numpy(lime.feature_frequencies[f]), rtol=1e-12, atol=0)


def test_a_row_s_samples_do_not_depend_on_the_batch():
    """On the CPU, row i draws the same samples for a seed whether B is 2 or 5."""
    data, _ = _table(seed=10)
    stats = tabular_stats(data, categorical_features=CATEGORICAL)
    rows = data[:5].float()
    small = sample_tabular(rows[:2], stats, 300, generator=torch.Generator().manual_seed(1))
    large = sample_tabular(rows, stats, 300, generator=torch.Generator().manual_seed(1))
    assert torch.equal(small.values, large.values[:2])
    assert torch.equal(small.X, large.X[:2])


@pytest.mark.parametrize("k", [1, 8, 30, 127, 128, 300])
def test_euclidean_distance_of_masks_counts_the_differing_columns(k, device):
    """The packed-word count of bool samples equals a plain float distance."""
    X = torch.rand(3, 200, k, generator=torch.Generator().manual_seed(k)) < 0.4
    X[:, 0] = torch.rand(3, k, generator=torch.Generator().manual_seed(1)) < 0.5
    X = X.to(device)
    ref = (X.double() - X[:, :1].double()).pow(2).sum(-1).sqrt()
    assert torch.equal(euclidean_distance(X), ref)
    assert torch.equal(
        euclidean_distance(X[:, :, : k // 2 + 1].contiguous()),
        (X[..., : k // 2 + 1].double() - X[:, :1, : k // 2 + 1].double()).pow(2).sum(-1).sqrt(),
    )
