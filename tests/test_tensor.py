"""Lime and KernelShap for any tensors: answers known by construction, and captum's facts.

The captum expectations are the values captum 0.9.0's own tests assert
(``tests/attr/test_kernel_shap.py``) for its ``BasicModel_MultiLayer``; they are exact
Shapley values, which an enumeration of every coalition must reproduce.
"""

import itertools
import math

import pytest
import torch
from _helpers import assert_close
from torch import nn

from torchlime import KernelShap, Lime


class Linear(nn.Module):
    """f(a, b) = a · wa + b · wb + c, a (n, 2, 3), b (n, 4): linear in every input scalar."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.wa = nn.Parameter(torch.randn(2, 3, generator=g, dtype=torch.float64))
        self.wb = nn.Parameter(torch.randn(4, generator=g, dtype=torch.float64))

    def forward(self, a, b, offset=0.0):
        return (a * self.wa).sum((1, 2)) + b @ self.wb + offset


def _inputs(batch=2):
    g = torch.Generator().manual_seed(1)
    return (torch.rand(batch, 2, 3, generator=g, dtype=torch.float64),
            torch.rand(batch, 4, generator=g, dtype=torch.float64))  # fmt: skip


def test_a_linear_model_gives_its_weights_times_the_input_minus_the_baseline():
    model = Linear()
    a, b = _inputs()
    base_a, base_b = 0.5, torch.full((1, 4), -1.0, dtype=torch.float64)
    explainer = Lime(model, surrogate="ols", n_samples=200, progress=False)
    exp = explainer((a, b), baselines=(base_a, base_b), generator=0)  # every scalar a feature
    expected = torch.cat([((a - base_a) * model.wa).flatten(1), (b - base_b) * model.wb], 1)
    assert_close(exp.coef[:, 0], expected.detach(), rtol=1e-8, atol=1e-8)
    attr_a, attr_b = exp.attributions
    assert attr_a.shape == (2, 1, 2, 3) and attr_b.shape == (2, 1, 4)
    assert_close(attr_b[:, 0], ((b - base_b) * model.wb).detach(), rtol=1e-8, atol=1e-8)


def test_shared_ids_group_scalars_across_inputs_and_a_mask_broadcasts():
    model = Linear()
    a, b = _inputs()
    mask_a = torch.tensor([[[0, 1, 2], [0, 1, 2]]])  # (1, 2, 3): broadcast over the batch
    mask_b = torch.tensor([[2, 3, 3, 0]])
    exp = Lime(model, surrogate="ols", n_samples=100, progress=False)(
        (a, b), feature_mask=(mask_a, mask_b), generator=0
    )
    terms_a, terms_b = (a * model.wa).detach(), (b * model.wb).detach()
    expected = torch.stack(
        [
            terms_a[:, :, 0].sum(1) + terms_b[:, 3],
            terms_a[:, :, 1].sum(1),
            terms_a[:, :, 2].sum(1) + terms_b[:, 0],
            terms_b[:, 1] + terms_b[:, 2],
        ],
        1,
    )
    assert_close(exp.coef[:, 0], expected, rtol=1e-8, atol=1e-8)
    attr_a, _ = exp.attributions  # every scalar carries its feature's weight
    assert_close(attr_a[:, 0, 1, 2], exp.coef[:, 0, 2], rtol=0, atol=0)


def test_per_example_masks_ragged_features_and_forward_arguments():
    model = Linear()
    a, b = _inputs()
    mask_a = torch.stack(
        [torch.zeros(2, 3, dtype=torch.long), torch.tensor([[0, 1, 2], [3, 4, 5]])]
    )
    mask_b = torch.stack([torch.ones(4, dtype=torch.long), torch.full((4,), 6)])
    offset = torch.tensor([10.0, -10.0], dtype=torch.float64)  # follows its example
    exp = Lime(model, surrogate="ols", n_samples=300, progress=False)(
        (a, b), feature_mask=(mask_a, mask_b), additional_forward_args=(offset,), generator=0
    )
    assert exp.n_features.tolist() == [2, 7] and (exp.coef[0, 0, 2:] == 0).all()
    assert_close(exp.coef[0, 0, 0], (a[0] * model.wa).sum().detach(), rtol=1e-8, atol=1e-8)
    assert_close(exp.model_pred[:, 0], model(a, b, offset).detach().float(), rtol=1e-6, atol=1e-6)


def test_scalar_outputs_bool_and_integer_inputs():
    def count(flags, ints):  # (n, 5) bool, (n, 3) int64 -> (n,)
        weights = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
        return flags.float() @ weights + ints.float().sum(1)

    flags = torch.tensor([[True, False, True, True, False]])
    ints = torch.tensor([[3, 0, 7]])
    exp = Lime(count, surrogate="ols", n_samples=300, progress=False)((flags, ints), generator=0)
    assert exp.target.tolist() == [[0]]  # one output per example
    expected = torch.tensor([[1.0, 0.0, 3.0, 4.0, 0.0, 3.0, 0.0, 7.0]])  # baseline False / 0
    assert_close(exp.coef[:, 0], expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("mode", ["cosine", "euclidean"])
def test_input_space_distances_equal_captum_s_formula_on_the_composed_inputs(mode):
    model = Linear()
    a, b = _inputs(1)
    base = (0.25, torch.full((4,), 2.0, dtype=torch.float64))
    width = 1.5
    exp = Lime(model, distance=f"input_{mode}", kernel_width=width, n_samples=50,
               progress=False)((a, b), baselines=base, keep_samples=True, generator=0)  # fmt: skip
    original = torch.cat([a.flatten(), b.flatten()])
    for z, weight in zip(exp.masks[0], exp.weights[0], strict=True):
        pa = torch.where(z[:6].view(2, 3), a[0], base[0])
        pb = torch.where(z[6:], b[0], base[1])
        perturbed = torch.cat([pa.flatten(), pb.flatten()])
        if mode == "cosine":  # captum: 1 - CosineSimilarity(dim=0), then exp(-d^2 / (2 w^2))
            d = 1 - nn.CosineSimilarity(dim=0)(original, perturbed)
        else:
            d = torch.norm(original - perturbed)
        assert weight.item() == pytest.approx(math.exp(-(d.item() ** 2) / (2 * width**2)))


def _shapley(value, k):
    phi = [0.0] * k
    for i in range(k):
        for subset in itertools.product([False, True], repeat=k):
            if subset[i]:
                continue
            with_i = list(subset)
            with_i[i] = True
            r = sum(subset)
            share = math.factorial(r) * math.factorial(k - r - 1) / math.factorial(k)
            phi[i] += share * (value(with_i) - value(list(subset)))
    return phi


def test_kernel_shap_enumerates_the_shapley_values_of_a_nonlinear_model():
    net = nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 2)).double()
    x = torch.rand(2, 5, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    exp = KernelShap(net, n_samples=64, progress=False)(x, target=1, baselines=0.5)
    assert exp.config["design"] == "exact"
    for i in range(2):

        def value(z, i=i):
            masked = torch.where(torch.tensor(z), x[i], 0.5)
            return net(masked[None])[0, 1].item()

        assert_close(exp.coef[i, 0], torch.tensor(_shapley(value, 5)), rtol=0, atol=1e-9)


@pytest.mark.parametrize(
    ("x", "kwargs", "expected"),
    [  # captum 0.9.0 tests/attr/test_kernel_shap.py
        (
            [[20.0, 50.0, 30.0]],
            {"baselines": torch.tensor([[10.0, 20.0, 10.0]])},
            [[40.0, 120.0, 80.0]],
        ),
        ([[20.0, 50.0, 30.0]], {}, [[76.66666, 196.66666, 116.66666]]),
        (
            [[20.0, 50.0, 30.0]],
            {"feature_mask": torch.tensor([[0, 0, 1]])},
            [[275.0, 275.0, 115.0]],
        ),
        (
            [[20.0, 50.0, 30.0]],
            {"feature_mask": torch.tensor([[0, 0, 1]]), "baselines": 4},
            [[248.0, 248.0, 104.0]],
        ),
        (
            [[2.0, 10.0, 3.0], [20.0, 50.0, 30.0]],
            {},
            [[7.0, 32.5, 10.5], [76.66666, 196.66666, 116.66666]],
        ),
    ],
)
def test_kernel_shap_equals_captum_s_expectations(x, kwargs, expected):
    from captum.testing.helpers.basic_models import BasicModel_MultiLayer

    exp = KernelShap(BasicModel_MultiLayer(), progress=False)(torch.tensor(x), target=0, **kwargs)
    assert_close(exp.attributions[:, 0], torch.tensor(expected), rtol=0, atol=1e-4)
