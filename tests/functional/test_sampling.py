"""Samplers: lime's contract (row 0 all True) and each law's distribution, checked statistically."""

import math

import numpy as np
import pytest
import torch
from _helpers import generator as _g
from scipy import stats

from torchlime.functional import (
    binomial_masks,
    count_log_prob,
    paired_masks,
    sample_masks,
    stratified_masks,
)

SAMPLERS = [sample_masks, paired_masks, stratified_masks, binomial_masks]


def test_sample_masks_is_lime_s_bernoulli_one_half(device):
    """lime's law: every feature kept independently with probability 1/2."""
    masks = sample_masks(1, 20001, 10, generator=torch.Generator(device).manual_seed(4))
    rows = masks[0, 1:].cpu().numpy()
    se = math.sqrt(0.25 / rows.shape[0])
    assert np.abs(rows.mean(0) - 0.5).max() < 4.5 * se
    kept = np.bincount(rows.sum(1), minlength=11)
    expected = stats.binom(10, 0.5).pmf(np.arange(11)) * rows.shape[0]
    assert stats.chisquare(kept, expected).pvalue > 1e-3
    pairs = (rows[:, :, None] & rows[:, None, :]).mean(0)  # independence: P(both) = 1/4
    off = ~np.eye(10, dtype=bool)
    assert np.abs(pairs[off] - 0.25).max() < 4.5 * math.sqrt(0.25 * 0.75 / rows.shape[0])


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_shape_dtype_row0_and_determinism(sampler, device):
    g = torch.Generator(device=device).manual_seed(3)
    masks = sampler(3, 40, 7, generator=g, device=device)
    assert masks.shape == (3, 40, 7)
    assert masks.dtype == torch.bool
    assert masks.device.type == device.type
    assert masks[:, 0].all()
    again = sampler(3, 40, 7, generator=torch.Generator(device=device).manual_seed(3))
    assert torch.equal(masks, again.to(masks.device))


@pytest.mark.parametrize("sampler", [paired_masks, stratified_masks, binomial_masks])
def test_padding_columns_stay_false_and_global_rng_untouched(sampler):
    state = torch.get_rng_state()
    n_valid = torch.tensor([3, 7, 5])
    masks = sampler(3, 60, 7, n_valid=n_valid, generator=_g(1))
    padded = torch.arange(7) >= n_valid[:, None, None]
    assert not (masks[:, 1:] & padded).any()
    assert torch.equal(torch.get_rng_state(), state)


def test_paired_rows_are_complements_and_marginally_half():
    n_valid = torch.tensor([12, 9])
    masks = paired_masks(2, 2001, 12, n_valid=n_valid, generator=_g(2))
    valid = torch.arange(12) < n_valid[:, None, None]
    first, second = masks[:, 1::2], masks[:, 2::2]
    assert torch.equal(first ^ second, valid.expand_as(first))
    # Each feature kept in exactly half of the 2000 random rows.
    kept = (masks[:, 1:] & valid).sum(1)
    assert torch.equal(kept, torch.where(valid[:, 0], 1000, 0))


def test_paired_odd_count_ends_with_an_unpaired_row():
    masks = paired_masks(1, 6, 5, generator=_g(0))  # rows 1-4 paired, row 5 alone
    assert torch.equal(masks[0, 1], ~masks[0, 2])
    assert torch.equal(masks[0, 3], ~masks[0, 4])


@pytest.mark.parametrize(("k", "n"), [(10, 1001), (7, 64), (25, 500)])
def test_stratified_counts_match_the_binomial_within_one(k, n):
    masks = stratified_masks(4, n, k, generator=_g(k))
    counts = masks[:, 1:].sum(-1)  # (B, N - 1)
    expected = (n - 1) * stats.binom.pmf(np.arange(k + 1), k, 0.5)
    for b in range(4):
        hist = np.bincount(counts[b].numpy(), minlength=k + 1)
        assert np.all(np.abs(hist - expected) < 1 + 1e-9), (hist, expected)


def test_stratified_rows_are_marginally_lime_bernoulli():
    # Given its count, a row keeps a uniformly random subset: every feature is kept in
    # about half of the rows, and pairs of features independently so.
    masks = stratified_masks(1, 20001, 6, generator=_g(4))[0, 1:].double()
    assert torch.allclose(masks.mean(0), torch.full((6,), 0.5, dtype=torch.float64), atol=0.015)
    cov = torch.cov(masks.T)
    off = cov - torch.diag(cov.diagonal())
    assert off.abs().max() < 0.015


def test_stratified_with_ragged_features_uses_each_images_binomial():
    n_valid = torch.tensor([4, 9])
    masks = stratified_masks(2, 801, 9, n_valid=n_valid, generator=_g(5))
    for b, k in enumerate(n_valid.tolist()):
        hist = np.bincount(masks[b, 1:].sum(-1).numpy(), minlength=10)
        expected = 800 * stats.binom.pmf(np.arange(10), k, 0.5)
        assert np.all(np.abs(hist - expected) < 1 + 1e-9)


@pytest.mark.parametrize(
    ("distance", "width"), [("cosine", 0.25), ("cosine", 0.1), ("euclidean", 1.0)]
)
def test_binomial_count_law_is_glimes(distance, width):
    k, n = 12, 20001
    masks = binomial_masks(1, n, k, kernel_width=width, distance=distance, generator=_g(6))
    hist = np.bincount(masks[0, 1:].sum(-1).numpy(), minlength=k + 1)
    # GLIME-Binomial: P(j) ∝ C(k, j) exp(-d(j)² / (2 w²)), written out independently.
    j = np.arange(k + 1)
    d2 = (1 - np.sqrt(j / k)) ** 2 if distance == "cosine" else k - j
    p = np.array([math.comb(k, int(i)) for i in j]) * np.exp(-d2 / (2 * width**2))
    p /= p.sum()
    assert np.allclose(count_log_prob(torch.tensor([k]), k, width, distance).exp()[0], p)
    keep = p * (n - 1) >= 5  # chi-square needs expected counts >= 5: pool the rest
    observed = np.append(hist[keep], hist[~keep].sum())
    expected = np.append(p[keep], p[~keep].sum()) * (n - 1)
    if expected[-1] == 0:
        observed, expected = observed[:-1], expected[:-1]
    assert stats.chisquare(observed, expected).pvalue > 1e-3


def test_binomial_euclidean_is_independent_bernoulli():
    # exp(-(k - j) / (2 w²)) tilts Binomial(k, 1/2) into Binomial(k, 1 / (1 + e^{-1/(2w²)})).
    w = 0.8
    masks = binomial_masks(1, 40001, 10, kernel_width=w, distance="euclidean", generator=_g(7))
    p = 1 / (1 + math.exp(-1 / (2 * w**2)))
    freq = masks[0, 1:].double().mean(0)
    assert torch.allclose(freq, torch.full((10,), p, dtype=torch.float64), atol=0.01)


def test_binomial_subsets_are_uniform_given_the_count():
    masks = binomial_masks(1, 30001, 8, kernel_width=0.25, generator=_g(8))[0, 1:]
    counts = masks.sum(-1)
    for j in (3, 5, 6):
        rows = masks[counts == j].double()
        assert torch.allclose(rows.mean(0), torch.full((8,), j / 8, dtype=torch.float64), atol=0.03)


def test_samplers_reject_bad_arguments():
    with pytest.raises(ValueError, match="n_samples >= 1"):
        paired_masks(1, 0, 3)
    with pytest.raises(ValueError, match="n_valid must be an integer"):
        stratified_masks(2, 5, 3, n_valid=torch.tensor([3.0, 2.0]))
    with pytest.raises(ValueError, match="kernel_width must be > 0"):
        binomial_masks(1, 5, 3, kernel_width=0)
    with pytest.raises(ValueError, match="distance must be"):
        binomial_masks(1, 5, 3, distance="manhattan")


def test_a_generator_on_another_device_is_refused_by_every_random_function():
    from torchlime.functional.sampling import resolve_generator
    from torchlime.text import sample_removals

    cpu = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="generator lives on cpu but the data is on meta"):
        resolve_generator(cpu, "meta")
    with pytest.raises(ValueError, match="generator lives on cpu"):
        sample_masks(2, 3, 4, generator=cpu, device="meta")
    with pytest.raises(ValueError, match="generator lives on cpu"):
        sample_removals(torch.tensor([3, 2], device="meta"), 5, 3, generator=cpu)
    generator, device = resolve_generator(None, None)  # a fresh one, seeded by the OS
    assert device.type == "cpu"
    assert generator.device.type == "cpu"
