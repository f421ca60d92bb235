"""KernelSHAP against the Shapley values computed by brute force, and its sampler's laws."""

import itertools
import math

import pytest
import torch
from _helpers import generator

from torchlime.functional import shapley_fit, shapley_kernel, shapley_masks


def brute_force_shapley(value, k):
    """φ_i = Σ_S |S|! (k - |S| - 1)! / k! (v(S ∪ {i}) - v(S)), over subsets S of the others."""
    phi = torch.zeros(k, dtype=torch.float64)
    for i in range(k):
        others = [j for j in range(k) if j != i]
        for r in range(k):
            for subset in itertools.combinations(others, r):
                z = torch.zeros(k, dtype=torch.bool)
                z[list(subset)] = True
                with_i = z.clone()
                with_i[i] = True
                share = math.factorial(r) * math.factorial(k - r - 1) / math.factorial(k)
                phi[i] += share * (value(with_i) - value(z))
    return phi


def set_function(k, seed=0):
    """A nonlinear value of coalitions: tanh of a sum, plus a three-way interaction."""
    w = torch.randn(k, generator=generator(seed), dtype=torch.float64)

    def value(z):
        z = z.double()
        return torch.tanh(z @ w) + 0.5 * z[..., 0] * z[..., 1] * z[..., -1]

    return value


@pytest.mark.parametrize("k", [2, 3, 6])
def test_enumeration_gives_the_shapley_values_exactly(k):
    value = set_function(k)
    masks = shapley_masks(1, 2**k, k, n_valid=torch.tensor([k]))
    assert masks.shape == (1, 2**k, k) and masks.unique(dim=1).shape[1] == 2**k
    scores = value(masks)[..., None]
    fit = shapley_fit(masks, scores, shapley_kernel(masks, torch.tensor([k])), torch.tensor([k]))
    torch.testing.assert_close(fit.coef[0, 0], brute_force_shapley(value, k), rtol=0, atol=1e-12)
    assert fit.intercept.item() == pytest.approx(value(torch.zeros(k, dtype=torch.bool)).item())


def test_padded_examples_enumerate_their_own_features():
    values = [set_function(5, seed=1), set_function(3, seed=2)]
    n_valid = torch.tensor([5, 3])
    masks = shapley_masks(2, 64, 5, n_valid=n_valid)  # 2^5 coalitions; example 1 repeats its 8
    scores = torch.stack([values[b](masks[b, :, : int(n_valid[b])]) for b in range(2)])[..., None]
    fit = shapley_fit(masks, scores, shapley_kernel(masks, n_valid), n_valid)
    torch.testing.assert_close(
        fit.coef[0, 0], brute_force_shapley(values[0], 5), atol=1e-12, rtol=0
    )
    torch.testing.assert_close(
        fit.coef[1, 0, :3], brute_force_shapley(values[1], 3), atol=1e-12, rtol=0
    )
    assert (fit.coef[1, 0, 3:] == 0).all()


def test_sampled_coalitions_follow_the_kernel_and_average_to_the_shapley_values():
    # 40 independent KernelSHAP estimates of 1000 coalitions each (2^12 = 4096 would be
    # exact): each is efficient, their mean is the exact values (no bias), and antithetic
    # pairs halve the error of one estimate.
    k, r = 12, 40
    value = set_function(k, seed=3)
    valid = torch.full((r,), k)
    everything = shapley_masks(1, 2**k, k, n_valid=valid[:1])
    kernel = shapley_kernel(everything, valid[:1])
    exact = shapley_fit(everything, value(everything)[..., None], kernel, valid[:1]).coef[0, 0]
    errors = {}
    for paired in (False, True):
        masks = shapley_masks(r, 1000, k, n_valid=valid, paired=paired, generator=generator(9))
        assert masks.shape == (r, 1000, k) and masks[:, 0].all() and not masks[:, 1].any()
        if paired:
            assert torch.equal(masks[:, 2:-1:2], ~masks[:, 3::2])
        sizes = masks[:, 2:].sum(-1).flatten()
        law = torch.tensor([(k - 1) / (s * (k - s)) for s in range(1, k)], dtype=torch.float64)
        observed = torch.bincount(sizes, minlength=k)[1:k].double() / sizes.numel()
        assert (observed - law / law.sum()).abs().max() < 0.01  # the kernel's size law
        scores = value(masks)[..., None]
        weights = shapley_kernel(masks, valid, enumerated=False)
        estimates = shapley_fit(masks, scores, weights, valid).coef[:, 0]  # (R, K)
        gap = scores[:, 0, 0] - scores[:, 1, 0]
        torch.testing.assert_close(estimates.sum(-1), gap, rtol=0, atol=1e-12)  # efficiency
        assert (estimates.mean(0) - exact).abs().max() < 0.015  # unbiased (its error / sqrt(R))
        errors[paired] = (estimates - exact).abs().amax(-1).mean()
    assert errors[True] < 0.75 * errors[False]


def test_the_fit_needs_the_empty_coalition():
    masks = torch.ones(1, 5, 3, dtype=torch.bool)
    with pytest.raises(ValueError, match="empty coalition"):
        shapley_fit(masks, torch.zeros(1, 5, 1), torch.ones(1, 5), torch.tensor([3]))
