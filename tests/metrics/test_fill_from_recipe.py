"""The metrics hide features the way the explainer did: the fill comes from the recipe."""

import dataclasses

import pytest
import torch
from _helpers import RegionOracle, assert_close
from _helpers import generator as _g
from _modalities import text_case
from torch import nn

from torchlime import LimeImage, metrics
from torchlime.segmentation import grid

K = 16  # a 4 x 4 grid of 4 x 4 superpixels
REGION = 5  # the oracle scores superpixel 5 alone: its mean colour leaves it unchanged


def _setup(baseline="mean"):
    x = 0.2 + 0.6 * torch.rand(2, 3, 16, 16, generator=_g(0))  # mean colours far from black
    segments = grid(x, 4, 4)
    model = RegionOracle(segments[0] == REGION)
    explainer = LimeImage(
        model, baseline=baseline, output="identity", n_samples=100, progress=False
    )
    exp = explainer(x, 0, segments=segments, generator=_g(1))
    m = x[:, 0][:, segments[0] == REGION].mean(1)  # the score of each image
    # where the region goes in the explanation's order (1 = first), ties to the lower index
    order = exp.coef[:, 0].double().sort(dim=-1, descending=True, stable=True).indices
    j = (order == REGION).int().argmax(-1) + 1
    return x, model, explainer, exp, m.double(), j.double()


def test_deletion_from_the_recipe_is_the_explainers_mean_colour():
    x, model, _, exp, m, j = _setup("mean")
    kw = {"output": "identity"}
    from_recipe = metrics.deletion_auc(model, x, exp, **kw)
    assert from_recipe.shape == (2, 1)
    explicit = metrics.deletion_auc(
        model, x, exp.coef, exp.target, segments=exp.segments, baseline="mean", **kw
    )
    assert_close(from_recipe, explicit)
    # by construction: the mean colour leaves the region's mean as it is, the curve is flat
    assert_close(from_recipe[:, 0].double(), m, rtol=1e-6, atol=1e-6)
    # black: the score is m until the region goes at step j, then 0
    black = metrics.deletion_auc(model, x, exp, baseline=0.0, **kw)
    assert_close(black[:, 0].double(), m * (j - 0.5) / K, rtol=1e-6, atol=1e-6)
    assert ((from_recipe - black).abs() > 0.05).all()
    # plain attributions keep RISE's default, black
    plain = metrics.deletion_auc(model, x, exp.coef, exp.target, segments=exp.segments, **kw)
    assert_close(plain, black)


def test_insertion_and_constant_fills_from_the_recipe():
    x, model, _, exp, m, j = _setup(0.3)
    kw = {"output": "identity"}
    got = metrics.deletion_auc(model, x, exp, **kw)
    explicit = metrics.deletion_auc(model, x, exp, baseline=0.3, **kw)
    assert_close(got, explicit)
    expected = (m * (j - 0.5) + 0.3 * (K - j + 0.5)) / K  # m before step j, 0.3 after
    assert_close(got[:, 0].double(), expected, rtol=1e-6, atol=1e-6)
    ins = metrics.insertion_auc(model, x, exp, **kw)  # 0.3 until the region is revealed
    assert_close(ins, metrics.insertion_auc(model, x, exp, baseline=0.3, **kw))
    assert_close(
        ins[:, 0].double(), (0.3 * (j - 0.5) + m * (K - j + 0.5)) / K, rtol=1e-6, atol=1e-6
    )
    blur = metrics.insertion_auc(model, x, exp.coef, exp.target, segments=exp.segments, **kw)
    assert_close(blur, metrics.insertion_auc(model, x, exp, baseline="blur", **kw))


def test_random_orders_and_faithfulness_take_the_recipes_fill():
    x, model, _, exp, _, _ = _setup("mean")
    kw = {"output": "identity"}
    rand = metrics.random_order_auc(model, x, exp=exp, n_orders=4, generator=_g(2), **kw)
    ref = metrics.random_order_auc(
        model, x, exp.target, segments=exp.segments, baseline="mean", n_orders=4,
        generator=_g(2), **kw,
    )  # fmt: skip
    assert rand.shape == (4, 2, 1)
    assert_close(rand, ref)
    faith = metrics.faithfulness_correlation(model, x, exp, n_runs=8, generator=_g(3), **kw)
    ref = metrics.faithfulness_correlation(
        model, x, exp.coef, exp.target, segments=exp.segments, baseline="mean", n_runs=8,
        generator=_g(3), **kw,
    )  # fmt: skip
    assert_close(faith, ref)


def test_a_recipe_without_the_fill_warns_and_says_what_it_assumes():
    x, model, explainer, exp, m, _ = _setup("mean")
    old = dataclasses.replace(exp, config={k: v for k, v in exp.config.items() if k != "baseline"})
    with pytest.warns(UserWarning, match=r"assuming .*baseline='mean'") as record:
        got = metrics.deletion_auc(model, x, old, output="identity")
    assert record[0].filename == __file__  # the warning points at the caller
    assert_close(got[:, 0].double(), m, rtol=1e-6, atol=1e-6)
    with pytest.warns(UserWarning, match="assuming the explainer's own"):
        metrics.explanation_auc(explainer, x, old)


def test_a_fill_the_recipe_only_describes_must_be_passed_again():
    x = torch.rand(1, 3, 16, 16, generator=_g(4))
    segments = grid(x, 4, 4)
    model = RegionOracle(segments[0] == REGION)
    fill = torch.full((1, 3, 16, 16), 0.5)
    exp = LimeImage(model, baseline=fill, output="identity", n_samples=50, progress=False)(
        x, 0, segments=segments, generator=_g(5)
    )
    with pytest.raises(ValueError, match="pass it again as baseline="):
        metrics.deletion_auc(model, x, exp, output="identity")
    got = metrics.deletion_auc(model, x, exp, baseline=fill, output="identity")
    assert_close(got, metrics.deletion_auc(model, x, exp, baseline=0.5, output="identity"))


def test_explanation_auc_follows_the_recipe_not_the_explainer():
    x, model, _, exp, m, j = _setup("mean")
    other = LimeImage(model, baseline=0.0, output="identity", n_samples=100, progress=False)
    got = metrics.explanation_auc(other, x, exp)
    assert_close(got, metrics.deletion_auc(model, x, exp, output="identity"), rtol=1e-6, atol=1e-6)
    assert_close(got[:, 0].double(), m, rtol=1e-6, atol=1e-6)
    black = metrics.explanation_auc(other, x, exp, baseline=0.0)
    assert_close(black[:, 0].double(), m * (j - 0.5) / K, rtol=1e-6, atol=1e-6)
    assert other.baseline == 0.0  # the explainer is left as it was


def test_explanation_auc_on_text_uses_the_recipes_mask_id():
    case = text_case()
    explainer = case.explainer()
    exp = case.explain(explainer, generator=_g(6))
    assert exp.config["mask_id"] is None
    masking = case.explainer(mask_id=0)  # another removal than the explanation's
    got = metrics.explanation_auc(masking, case.inputs, exp, **case.kwargs)
    assert_close(got, metrics.explanation_auc(explainer, case.inputs, exp, **case.kwargs))
    forced = metrics.explanation_auc(explainer, case.inputs, exp, baseline=0, **case.kwargs)
    relabelled = dataclasses.replace(exp, config={**exp.config, "mask_id": 0})
    ref = metrics.explanation_auc(explainer, case.inputs, relabelled, **case.kwargs)
    assert_close(forced, ref)
    assert not torch.allclose(forced, got)
    assert masking.mask_id == 0


def test_the_curves_want_an_image_explanation():
    case = text_case()
    exp = case.explain(case.explainer(), generator=_g(7))
    x = torch.rand(2, 3, 16, 16)
    with pytest.raises(ValueError, match="image explanation"):
        metrics.deletion_auc(nn.Identity(), x, exp)
