"""torchlime.captum against captum: captum's own expectations, and captum on the same samples.

The cases are the facts captum 0.9.0's tests assert (``tests/attr/test_lime.py`` and
``tests/attr/test_kernel_shap.py`` in pytorch/captum, BSD-3): the same models (captum's
``BasicModel_*``), inputs, arguments, expected attributions and tolerances (``delta``, the
largest absolute error). captum seeds torch with 1234 before each test; these calls pass
``generator=1234``. The code here is torchlime's own.
"""

import io
from contextlib import redirect_stderr

import pytest
import torch

captum = pytest.importorskip("captum")

from _helpers import assert_close  # noqa: E402
from captum._utils.models.linear_model import (  # noqa: E402
    SGDLasso,
    SkLearnLasso,
    SkLearnLinearRegression,
    SkLearnRidge,
)
from captum.attr import Lime as CaptumLime  # noqa: E402
from captum.testing.helpers.basic_models import (  # noqa: E402
    BasicLinearModel,
    BasicModel_MultiLayer,
    BasicModel_MultiLayer_MultiInput,
    BasicModelBoolInput,
)

import torchlime.captum as torchlime_captum  # noqa: E402
from torchlime.captum import KernelShap, Lime, get_exp_kernel_similarity_function  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:You are providing multiple inputs:UserWarning")
T = torch.tensor
SEED = 1234
ONE = (T([[20.0, 50.0, 30.0]]),)
TWO = (T([[20.0, 50.0, 30.0], [10.0, 14.0, 4.0]]),)
MULTI = (T([[23.0, 0.0, 0.0]]), T([[20.0, 0.0, 50.0]]), T([[0.0, 100.0, 10.0]]))
MULTI_MASKED = (T([[20.0, 50.0, 30.0]]), T([[0.0, 100.0, 0.0]]), T([[2.0, 10.0, 3.0]]))
MASKS = (T([[0, 1, 0]]), T([[0, 1, 2]]), T([[0, 0, 0]]))
BATCH = (T([[23.0, 0.0, 0.0], [20.0, 50.0, 30.0]]), T([[20.0, 0.0, 50.0], [0.0, 100.0, 0.0]]),
         T([[0.0, 100.0, 10.0], [0.0, 10.0, 0.0]]))  # fmt: skip
BATCH_MASKED = (T([[23.0, 100.0, 0.0], [20.0, 50.0, 30.0]]),
                T([[20.0, 50.0, 30.0], [0.0, 100.0, 0.0]]),
                T([[0.0, 100.0, 10.0], [2.0, 10.0, 3.0]]))  # fmt: skip
BATCH_MASKS = (T([[1, 1, 1], [0, 1, 0]]), T([[0, 1, 2]]), T([[0, 1, 2], [0, 0, 0]]))
EMPTY = (T([[23.0, 0.0, 0.0, 23.0, 0.0, 0.0, 23.0]]), T([[]]))
EMPTY_MASKS = (T([[0, 1, 2, 3, 4, 5, 6]]), T([[]], dtype=torch.long))
SCALAR_BATCH = (T([[23.0, 100.0, 0.0], [20.0, 50.0, 30.0]]),
                T([[20.0, 50.0, 30.0], [0.0, 100.0, 0.0]]),
                T([[0.0, 100.0, 10.0], [20.0, 10.0, 13.0]]))  # fmt: skip
SCALAR_MASKS = (T([[1, 1, 1]]), T([[0, 1, 2]]), T([[0, 1, 2]]))
AFA = {"additional_forward_args": (1,)}


def _multi_sum(net):
    return lambda *inp: torch.sum(net(*inp))


# (id, model, inputs, attribute kwargs, expected attributions, expected coefficients, delta)
LIME_CASES = [
    ("simple", BasicModel_MultiLayer, ONE, {"n_samples": 500},
     [[73.3716, 193.3349, 113.3349]], [[73.3716, 193.3349, 113.3349]], 1.0),
    ("mask", BasicModel_MultiLayer, ONE,
     {"feature_mask": T([[0, 0, 1]]), "n_samples": 500},
     [[271.0, 271.0, 111.0]], [[271.0, 111.0]], 1.0),
    ("baselines", BasicModel_MultiLayer, ONE,
     {"feature_mask": T([[0, 0, 1]]), "baselines": 4},
     [[244.0, 244.0, 100.0]], [[244.0, 100.0]], 1.0),
    ("bool", BasicModelBoolInput, (T([[True, False, True]]),),
     {"feature_mask": T([[0, 0, 1]])}, [[31.42, 31.42, 30.90]], None, 1.0),
    ("bool_baselines", BasicModelBoolInput, (T([[True, False, True]]),),
     {"feature_mask": T([[0, 0, 1]]), "baselines": True}, [[-36.0, -36.0, 0.0]], None, 1.0),
    ("batch", BasicModel_MultiLayer, TWO, {"n_samples": 800},
     [[73.4450, 193.5979, 113.4363], [32.11, 48.00, 11.00]],
     [[73.4450, 193.5979, 113.4363], [32.11, 48.00, 11.00]], 1.0),
    ("batch_mask", BasicModel_MultiLayer, TWO,
     {"feature_mask": T([[0, 0, 1], [0, 1, 2]]), "n_samples": 600},
     [[271.0, 271.0, 111.0], [32.11, 48.00, 11.00]],
     [[271.0, 111.0, 0.0], [32.11, 48.00, 11.00]], 1.0),
    ("multi_input", BasicModel_MultiLayer_MultiInput, MULTI, {**AFA, "n_samples": 2000},
     ([[87, 0, 0]], [[75, 0, 195]], [[0, 395, 35]]), [[87, 0, 0, 75, 0, 195, 0, 395, 35]], 1.0),
    ("multi_input_mask", BasicModel_MultiLayer_MultiInput, MULTI_MASKED,
     {**AFA, "feature_mask": MASKS, "n_samples": 500},
     ([[251.0, 591.0, 251.0]], [[251.0, 591.0, 0.0]], [[251.0, 251.0, 251.0]]),
     [[251.0, 591.0, 0.0]], 1.0),
    ("multi_input_mask_baselines", BasicModel_MultiLayer_MultiInput, MULTI_MASKED,
     {**AFA, "feature_mask": MASKS, "baselines": (2, 3.0, 4), "n_samples": 500},
     ([[180, 576.0, 180]], [[180, 576.0, -8.0]], [[180, 180, 180]]), [[180, 576.0, -8.0]], 1.0),
    ("empty_input", BasicLinearModel, EMPTY, {"n_samples": 2000},
     ([[-4.0, 0, 0, 0, 0, 0, -4.0]], [[]]), [[-4.0, 0, 0, 0, 0, 0, -4.0]], 1.0),
    ("empty_input_mask", BasicLinearModel, EMPTY, {"n_samples": 2000, "feature_mask": EMPTY_MASKS},
     ([[-4.0, 0, 0, 0, 0, 0, -4.0]], [[]]), [[-4.0, 0, 0, 0, 0, 0, -4.0]], 1.0),
    ("multi_input_batch", BasicModel_MultiLayer_MultiInput, BATCH, {**AFA, "n_samples": 1000},
     ([[87.8777, 0.0, 0.0], [75.8461, 195.6842, 115.3390]],
      [[74.7283, 0.0, 195.1708], [0.0, 395.3823, 0.0]],
      [[0.0, 395.5216, 35.5530], [0.0, 35.1349, 0.0]]),
     [[87.8777, 0.0, 0.0, 74.7283, 0.0, 195.1708, 0.0, 395.5216, 35.5530],
      [75.8461, 195.6842, 115.3390, 0.0, 395.3823, 0.0, 0.0, 35.1349, 0.0]], 1.2),
    ("multi_input_batch_mask", BasicModel_MultiLayer_MultiInput, BATCH_MASKED,
     {**AFA, "feature_mask": BATCH_MASKS},
     ([[1086.2802, 1086.2802, 1086.2802], [250.8907, 590.9789, 250.8907]],
      [[73.2166, 1086.2802, 152.6888], [250.8907, 590.9789, 0.0]],
      [[73.2166, 1086.2802, 152.6888], [250.8907, 250.8907, 250.8907]]), None, 1.0),
    ("multi_input_batch_mask_baselines", BasicModel_MultiLayer_MultiInput, BATCH_MASKED,
     {**AFA, "feature_mask": BATCH_MASKS, "baselines": (2, 3.0, 4), "n_samples": 500},
     ([[1036.4233, 1036.4233, 1036.4233], [180.3035, 575.8969, 180.3035]],
      [[48.2441, 1036.4233, 128.3161], [180.3035, 575.8969, -8.3229]],
      [[48.2441, 1036.4233, 128.3161], [180.3035, 180.3035, 180.3035]]),
     [[48.2441, 1036.4233, 128.3161], [180.3035, 575.8969, -8.3229]], 1.0),
]  # fmt: skip

SHAP_CASES = [
    ("linear", BasicModel_MultiLayer, ONE,
     {"n_samples": 500, "baselines": T([[10.0, 20.0, 10.0]])},
     [[40.0, 120.0, 80.0]], [[40.0, 120.0, 80.0]], 1.0),
    ("simple", BasicModel_MultiLayer, ONE, {"n_samples": 500},
     [[76.66666, 196.66666, 116.66666]], None, 1.0),
    ("mask", BasicModel_MultiLayer, ONE, {"feature_mask": T([[0, 0, 1]])},
     [[275.0, 275.0, 115.0]], [[275.0, 115.0]], 1.0),
    ("baselines", BasicModel_MultiLayer, ONE, {"feature_mask": T([[0, 0, 1]]), "baselines": 4},
     [[248.0, 248.0, 104.0]], None, 1.0),
    ("batch", BasicModel_MultiLayer, (T([[2.0, 10.0, 3.0], [20.0, 50.0, 30.0]]),),
     {"n_samples": 2000}, [[7.0, 32.5, 10.5], [76.66666, 196.66666, 116.66666]], None, 1.0),
    ("batch_mask", BasicModel_MultiLayer, (T([[2.0, 10.0, 3.0], [20.0, 50.0, 30.0]]),),
     {"feature_mask": T([[0, 0, 1], [1, 1, 0]]), "n_samples": 100},
     [[39.5, 39.5, 10.5], [275.0, 275.0, 115.0]], [[39.5, 10.5], [115.0, 275.0]], 1.0),
    ("multi_input", BasicModel_MultiLayer_MultiInput, MULTI, {**AFA, "n_samples": 2000},
     ([[90, 0, 0]], [[78, 0, 198]], [[0, 398, 38]]), None, 1.0),
    ("multi_input_mask", BasicModel_MultiLayer_MultiInput, MULTI_MASKED,
     {**AFA, "feature_mask": MASKS},
     ([[255.0, 595.0, 255.0]], [[255.0, 595.0, 0.0]], [[255.0, 255.0, 255.0]]), None, 1.0),
    ("multi_input_mask_baselines", BasicModel_MultiLayer_MultiInput, MULTI_MASKED,
     {**AFA, "feature_mask": MASKS, "baselines": (2, 3.0, 4)},
     ([[184, 580.0, 184]], [[184, 580.0, -12.0]], [[184, 184, 184]]), None, 1.0),
    ("empty_input", BasicLinearModel, EMPTY, {"n_samples": 2000},
     ([[-8.0, 0, 0, -2.0, 0, 0, -8.0]], [[]]), [[-8.0, 0, 0, -2.0, 0, 0, -8.0]], 1.0),
    ("empty_input_mask", BasicLinearModel, EMPTY, {"n_samples": 2000, "feature_mask": EMPTY_MASKS},
     ([[-8.0, 0, 0, -2.0, 0, 0, -8.0]], [[]]), [[-8.0, 0, 0, -2.0, 0, 0, -8.0]], 1.0),
    ("multi_input_batch", BasicModel_MultiLayer_MultiInput, BATCH, {**AFA, "n_samples": 2500},
     ([[90, 0, 0], [78.0, 198.0, 118.0]], [[78, 0, 198], [0.0, 398.0, 0.0]],
      [[0, 398, 38], [0.0, 38.0, 0.0]]),
     [[90.0, 0, 0, 78, 0, 198, 0, 398, 38],
      [78.0, 198.0, 118.0, 0.0, 398.0, 0.0, 0.0, 38.0, 0.0]], 1.0),
    ("multi_input_batch_mask", BasicModel_MultiLayer_MultiInput, BATCH_MASKED,
     {**AFA, "feature_mask": BATCH_MASKS, "n_samples": 300},
     ([[1088.6666, 1088.6666, 1088.6666], [255.0, 595.0, 255.0]],
      [[76.6666, 1088.6666, 156.6666], [255.0, 595.0, 0.0]],
      [[76.6666, 1088.6666, 156.6666], [255.0, 255.0, 255.0]]), None, 1.0),
    ("multi_input_batch_mask_baselines", BasicModel_MultiLayer_MultiInput, BATCH_MASKED,
     {**AFA, "feature_mask": BATCH_MASKS, "baselines": (2, 3.0, 4)},
     ([[1040, 1040, 1040], [184, 580.0, 184]], [[52, 1040, 132], [184, 580.0, -12.0]],
      [[52, 1040, 132], [184, 184, 184]]), None, 1.0),
]  # fmt: skip


def _within(actual, expected, delta):
    """captum's ``mode="max"`` comparison: every value within ``delta``, shapes equal."""
    actual = actual if isinstance(actual, tuple) else (actual,)
    expected = expected if isinstance(expected, tuple) else (expected,)
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        e = torch.tensor(e, dtype=a.dtype)
        assert a.shape == e.shape, (a.shape, e.shape)
        if a.numel():
            assert (a - e).abs().max() <= delta, (a, e)


def _lime(model):
    return Lime(
        model,
        interpretable_model=SkLearnLasso(alpha=1.0),
        similarity_func=get_exp_kernel_similarity_function("cosine", 10.0),
    )


def _inputs(inputs):
    return inputs if len(inputs) > 1 else inputs[0]


def _build(model):
    """captum's model as its test builds it, after seeding torch with 1234 (BasicLinearModel's
    weights are random); torch's global generator is restored afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        return model()


@pytest.mark.parametrize(("case", "model", "inputs", "kwargs", "attr", "coefs", "delta"),
                         LIME_CASES, ids=[c[0] for c in LIME_CASES])  # fmt: skip
def test_lime_gives_captums_expected_attributions(case, model, inputs, kwargs, attr, coefs, delta):
    lime = _lime(_build(model))
    call = {"target": 0, "n_samples": 100, **kwargs, "generator": SEED}
    _within(lime.attribute(_inputs(inputs), **call), attr, delta)
    if coefs is not None:
        _within(lime.attribute(_inputs(inputs), return_input_shape=False, **call), coefs, delta)


@pytest.mark.parametrize(("case", "model", "inputs", "kwargs", "attr", "coefs", "delta"),
                         SHAP_CASES, ids=[c[0] for c in SHAP_CASES])  # fmt: skip
def test_kernel_shap_gives_captums_expected_attributions(
    case, model, inputs, kwargs, attr, coefs, delta
):
    shap = KernelShap(_build(model))
    call = {"target": 0, "n_samples": 100, **kwargs, "generator": SEED}
    _within(shap.attribute(_inputs(inputs), **call), attr, delta)
    if coefs is not None:
        _within(shap.attribute(_inputs(inputs), return_input_shape=False, **call), coefs, delta)


SCALARS = {
    "float": lambda f: lambda *x: torch.sum(f(*x)).item(),
    "tensor_0d": lambda f: lambda *x: torch.sum(f(*x)),
    "tensor_1d": lambda f: lambda *x: torch.sum(f(*x)).reshape(1),
    "int": lambda f: lambda *x: int(torch.sum(f(*x)).item()),
}


@pytest.mark.parametrize("kind", SCALARS)
def test_a_forward_returning_one_value_per_batch_is_explained_once(kind):
    """captum's scalar cases: one surrogate for the whole batch, (1, ...) attributions."""
    single = SCALARS[kind](BasicModel_MultiLayer())
    x = T([[2.0, 10.0, 3.0]])
    call = {"target": None, "feature_mask": T([[0, 0, 1]]), "generator": SEED}
    _within(_lime(single).attribute(x, n_samples=700, **call), [[75.0, 75.0, 17.0]], 1.0)
    _within(
        _lime(single).attribute(x, n_samples=700, return_input_shape=False, **call),
        [[75.0, 17.0]],
        1.0,
    )
    _within(KernelShap(single).attribute(x, **call), [[79.0, 79.0, 21.0]], 1.0)

    multi = SCALARS[kind](BasicModel_MultiLayer_MultiInput())
    call = {**AFA, "target": None, "feature_mask": SCALAR_MASKS, "n_samples": 1500,
            "generator": SEED}  # fmt: skip
    lime_attr = ([[3850.6666] * 3], [[305.5, 3850.6666, 410.1]], [[305.5, 3850.6666, 410.1]])
    _within(_lime(multi).attribute(SCALAR_BATCH, **call), lime_attr, 1.5)
    _within(
        _lime(multi).attribute(SCALAR_BATCH, return_input_shape=False, **call),
        [[305.5, 3850.6666, 410.1]],
        1.5,
    )
    shap_attr = ([[3850.6666] * 3], [[306.6666, 3850.6666, 410.6666]],
                 [[306.6666, 3850.6666, 410.6666]])  # fmt: skip
    _within(KernelShap(multi).attribute(SCALAR_BATCH, **call), shap_attr, 1.0)
    with pytest.raises(ValueError, match="Perturbations per eval must be 1"):
        _lime(multi).attribute(SCALAR_BATCH, perturbations_per_eval=2, **call)


def test_another_captum_model_is_fitted_by_captum_itself():
    """captum's SGDLasso case (initial_lr 0.1, 500 epochs): fitted by captum's own code."""
    model = SGDLasso()
    fit = model.fit
    model.fit = lambda data: fit(data, initial_lr=0.1, max_epoch=500)
    lime = Lime(BasicModel_MultiLayer(), interpretable_model=model,
                similarity_func=get_exp_kernel_similarity_function("cosine", 10.0))  # fmt: skip
    x = T([[20.0, 50.0, 30.0]], requires_grad=True)
    attr = lime.attribute(x, target=0, n_samples=1000, generator=SEED)
    _within(attr, [[73.3716, 193.3349, 113.3349]], 1.0)


def _replay(n_features, n_samples, seed=0, columns=None):
    """A perturb_func (a generator function, as captum allows) yielding the same interpretable
    samples to captum and to torchlime (their first ``columns``, if given)."""
    g = torch.Generator().manual_seed(seed)
    samples = (torch.rand(n_samples, n_features, generator=g) < 0.5).float()[:, :columns]

    def perturb(original_input, **kwargs):
        yield from (row[None] for row in samples)

    return perturb


@pytest.mark.parametrize(
    ("model", "tol"),
    [(SkLearnRidge, 1e-5), (SkLearnLinearRegression, 1e-5), (SkLearnLasso, 1e-3)],
    ids=["ridge", "linear_regression", "lasso"],
)
def test_on_the_same_samples_it_equals_captum(model, tol):
    """captum's interpretable models, solved on the device, against captum's own fit of them."""
    net = BasicModel_MultiLayer()
    x = T([[20.0, 50.0, 30.0], [10.0, 14.0, 4.0]])
    mask = T([[0, 1, 2], [2, 0, 1]])  # every example has all K features (see below)
    kernel = get_exp_kernel_similarity_function("euclidean", 50.0)
    answers = []
    for cls in (CaptumLime, Lime):
        kwargs = {} if model is SkLearnLinearRegression else {"alpha": 0.5}
        interpretable = model(**kwargs)
        if cls is Lime:  # solved here: captum's (scikit-learn) fit must not be called

            def no_fit(*args, **kwargs):
                raise AssertionError("captum's fit was called")

            interpretable.fit = no_fit
        lime = cls(net, interpretable_model=interpretable, similarity_func=kernel,
                   perturb_func=_replay(3, 60))  # fmt: skip
        answers.append(lime.attribute(x, target=1, feature_mask=mask, n_samples=60,
                                      return_input_shape=False))  # fmt: skip
    theirs, ours = answers
    scale = theirs.abs().max()
    assert_close(ours / scale, theirs / scale, rtol=0, atol=tol)


def test_a_feature_an_example_lacks_gets_zero_where_captum_fits_noise():
    """captum pads every example to the batch's K and fits a coefficient to a column that
    changes nothing; torchlime leaves it out of the fit: 0, and the others are unaffected."""
    net = BasicModel_MultiLayer()
    x = T([[20.0, 50.0, 30.0], [10.0, 14.0, 4.0]])
    call = {"target": 1, "n_samples": 60, "return_input_shape": False}
    lime = Lime(net, SkLearnRidge(alpha=0.5), get_exp_kernel_similarity_function("euclidean", 50.0),
                _replay(3, 60))  # fmt: skip
    both = lime.attribute(x, feature_mask=T([[0, 1, 2], [0, 0, 1]]), **call)
    alone = Lime(
        net,
        SkLearnRidge(alpha=0.5),
        get_exp_kernel_similarity_function("euclidean", 50.0),
        _replay(3, 60, columns=2),
    )
    second = alone.attribute(x[1:], feature_mask=T([[0, 0, 1]]), **call)  # K = 2 of its own
    assert both[1, 2] == 0
    assert_close(both[1, :2], second[0], rtol=1e-6, atol=1e-6)


def test_a_custom_similarity_is_called_as_captum_calls_it():
    seen = []

    def similarity(original, perturbed, interpretable, **kwargs):
        seen.append((original.shape, perturbed.shape, interpretable.shape, sorted(kwargs)))
        return 1.0 + interpretable.sum()  # any weights: the fit must use them

    net = BasicModel_MultiLayer()
    x = T([[20.0, 50.0, 30.0]])
    theirs = CaptumLime(net, SkLearnRidge(alpha=0.1), similarity, _replay(3, 40, seed=3))
    ours = Lime(net, SkLearnRidge(alpha=0.1), similarity, _replay(3, 40, seed=3))
    args = {"target": 0, "n_samples": 40, "return_input_shape": False}
    expected = theirs.attribute(x, **args)
    got = ours.attribute(x, **args)
    assert_close(got, expected, rtol=1e-5, atol=1e-4)
    assert len(seen) == 80 and seen[-1] == seen[39]  # the same calls, 40 each


def test_no_global_randomness_and_a_generator_replays_a_call():
    net = BasicModel_MultiLayer()
    x = T([[20.0, 50.0, 30.0], [10.0, 14.0, 4.0]])
    state = torch.get_rng_state()
    first = _lime(net).attribute(x, target=0, n_samples=200)
    again = _lime(net).attribute(x, target=0, n_samples=200)
    assert torch.equal(torch.get_rng_state(), state)  # read torch.initial_seed(), no draw
    assert torch.equal(first, again)
    g = torch.Generator().manual_seed(7)
    seeded = _lime(net).attribute(x, target=0, n_samples=200, generator=g)
    assert torch.equal(seeded, _lime(net).attribute(x, target=0, n_samples=200, generator=7))


def test_results_do_not_depend_on_perturbations_per_eval():
    net = BasicModel_MultiLayer_MultiInput()
    call = {**AFA, "target": 0, "feature_mask": BATCH_MASKS, "n_samples": 300, "generator": 0}
    one, three = (_lime(net).attribute(BATCH_MASKED, perturbations_per_eval=p, **call)
                  for p in (1, 3))  # fmt: skip
    for a, b in zip(one, three, strict=True):
        assert_close(a, b, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize(("cls", "label"), [(Lime, "Lime"), (KernelShap, "Kernel Shap")])
def test_show_progress_reaches_100_percent(cls, label):
    err = io.StringIO()
    with redirect_stderr(err):
        cls(BasicModel_MultiLayer()).attribute(ONE[0], target=0, show_progress=True)
    assert f"{label} attribution: 100%" in err.getvalue()


def test_captums_other_methods_and_errors():
    lime = Lime(BasicLinearModel())
    assert not lime.has_convergence_delta() and not lime.multiplies_by_inputs
    with pytest.raises(NotImplementedError):
        lime.attribute_future()
    with pytest.raises(ValueError, match="cosine or euclidean"):
        get_exp_kernel_similarity_function("manhattan")
    with pytest.raises(ValueError, match="tuple targets"):
        Lime(BasicModel_MultiLayer()).attribute(ONE[0], target=(0, 1))


def test_the_similarity_function_is_captums():
    """One perturbed input, as captum computes it: exp(-d² / (2 w²))."""
    a, p = T([[1.0, 2.0, 3.0]]), T([[1.0, 0.0, 3.0]])
    for mode in ("cosine", "euclidean"):
        ours = get_exp_kernel_similarity_function(mode, 2.0)(a, p, None)
        theirs = captum.attr._core.lime.get_exp_kernel_similarity_function(mode, 2.0)(a, p, None)
        assert ours == pytest.approx(float(theirs), rel=1e-7)  # float32 distances


@pytest.mark.parametrize("name", ["Lime", "KernelShap"])
def test_the_signatures_are_captums(name):
    """Constructor and attribute(): the same parameters, order and defaults (plus generator)."""
    import inspect

    theirs, ours = getattr(captum.attr, name), getattr(torchlime_captum, name)
    for method in ("__init__", "attribute"):
        expected = inspect.signature(getattr(theirs, method)).parameters
        got = dict(inspect.signature(getattr(ours, method)).parameters)
        got.pop("generator", None)
        assert list(got) == list(expected), method
        assert [p.default for p in got.values()] == [p.default for p in expected.values()]
