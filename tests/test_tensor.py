"""Lime and KernelShap for any tensors: answers known by construction, and captum's facts.

The captum expectations are the values captum 0.9.0's own tests assert
(``tests/attr/test_kernel_shap.py``) for its ``BasicModel_MultiLayer``; they are exact
Shapley values, which an enumeration of every coalition must reproduce.
"""

import math

import pytest
import torch
from _helpers import assert_close, exact_shapley
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


def test_kernel_shap_enumerates_the_shapley_values_of_a_nonlinear_model():
    net = nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 2)).double()
    x = torch.rand(2, 5, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    exp = KernelShap(net, n_samples=64, progress=False)(x, target=1, baselines=0.5)
    assert exp.config["design"] == "exact"
    for i in range(2):

        def value(z, i=i):
            masked = torch.where(torch.tensor(z), x[i], 0.5)
            return net(masked[None])[0, 1].item()

        assert_close(exp.coef[i, 0], torch.tensor(exact_shapley(value, 5)), rtol=0, atol=1e-9)


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


def test_kernel_shap_equals_shaps_kernel_explainer_given_the_same_coalitions():
    """shap's KernelExplainer samples coalitions (fewer than 2^K) and weighs them; given those
    coalitions and weights, torchlime's constrained least squares gives shap's values."""
    shap = pytest.importorskip("shap")
    net = nn.Sequential(nn.Linear(7, 5), nn.Tanh(), nn.Linear(5, 1)).double()
    g = torch.Generator().manual_seed(4)
    x = torch.rand(1, 7, generator=g, dtype=torch.float64)
    background = torch.rand(1, 7, generator=g, dtype=torch.float64) - 1.0  # differs everywhere

    def f(rows):
        with torch.no_grad():
            return net(torch.as_tensor(rows, dtype=torch.float64))[:, 0].numpy()

    explainer = shap.KernelExplainer(f, background.numpy())
    theirs = explainer.shap_values(x.numpy(), nsamples=60, l1_reg=False, silent=True)
    n = explainer.nsamplesAdded
    assert n < 2**7  # sampled, not enumerated
    coalitions = torch.as_tensor(explainer.maskMatrix[:n]).bool()
    ends = torch.tensor([[True] * 7, [False] * 7])  # torchlime's constraint rows: full, empty
    masks = torch.cat([ends, coalitions])[None]
    weights = torch.cat([torch.zeros(2), torch.as_tensor(explainer.kernelWeights[:n])])[None]
    exp = KernelShap(net, progress=False)(x, target=0, baselines=background, masks=masks,
                                          weights=weights.double())  # fmt: skip
    assert_close(exp.coef[0, 0], torch.as_tensor(theirs).reshape(7), rtol=0, atol=1e-6)


def test_a_users_kernel_weighs_the_samples_on_the_device():
    """kernel=callable: its (B, N) weights are the fit's, as a weighted OLS by hand shows."""
    model = Linear()
    a, b = _inputs()

    def kernel(masks, n_features):  # more weight to samples that keep more features
        return 1.0 + masks.double().sum(-1) / n_features[:, None]

    exp = Lime(model, kernel=kernel, surrogate="ols", n_samples=60, progress=False)(
        (a, b), generator=0, keep_samples=True
    )
    assert exp.config["kernel"].startswith("callable:") and exp.config["kernel"].endswith("kernel")
    X, y = exp.masks.double(), exp.scores[..., 0].double()
    for i in range(2):
        w = kernel(exp.masks, exp.n_features)[i]
        design = torch.cat([torch.ones(60, 1, dtype=torch.float64), X[i]], 1)
        sol = torch.linalg.lstsq(design * w.sqrt()[:, None], y[i] * w.sqrt()).solution
        assert_close(exp.coef[i, 0], sol[1:].to(exp.coef.dtype), rtol=1e-6, atol=1e-8)
    with pytest.raises(ValueError, match=r"kernel: expected \(B, N\)"):
        Lime(model, kernel=lambda m, n: m.double(), n_samples=20, progress=False)((a, b))
    with pytest.raises(ValueError, match="kernel: expected weights >= 0"):
        Lime(model, kernel=lambda m, n: -m.double().sum(-1), n_samples=20, progress=False)((a, b))


def test_chunks_of_many_small_examples_or_a_few_large_ones_compose_alike():
    """A chunk spanning many examples gathers row by row; one spanning a few broadcasts each
    example's input: the explanation does not depend on which (nor on the chunking)."""
    model = Linear()
    a, b = _inputs(batch=12)
    mask_a = torch.randint(0, 5, (12, 2, 3), generator=torch.Generator().manual_seed(2))
    call = {"feature_mask": (mask_a, torch.tensor([[0, 1, 2, 3]])), "baselines": (0.5, -1.0)}
    answers = [
        Lime(model, n_samples=9, batch_size=size, progress=False)((a, b), generator=5, **call)
        for size in (96, 3, 5)  # every example in one chunk (by row); then 1-2 per chunk
    ]
    for other in answers[1:]:
        assert_close(other.coef, answers[0].coef, rtol=1e-10, atol=1e-12)
