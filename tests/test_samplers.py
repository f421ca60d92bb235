"""Every sampler on every explainer, each checked against the law it promises.

The laws are derived here by hand (not read from torchlime): lime's text law removes a
uniform number of words, GLIME tilts a law by the kernel, a Latin hypercube puts one
sample in each stratum, antithetic pairs mirror their uniforms.
"""

import math

import numpy as np
import pytest
import torch
from _helpers import PatchMLP, assert_close
from _helpers import generator as _g
from _helpers import smooth_images as _images
from _modalities import case
from scipy import stats
from sklearn.linear_model import Ridge

from torchlime import LimeImage
from torchlime.functional import lime_kernel, sample_masks
from torchlime.segmentation import grid

SAMPLERS = ["lime", "bernoulli", "paired", "stratified", "binomial", "custom"]


def _custom(batch, n_samples, n_features, *, generator=None, device=None):
    """A user's sampler: keep each feature with probability 0.7."""
    return torch.rand(batch, n_samples, n_features, generator=generator, device=device) < 0.7


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_every_sampler_runs_on_every_explainer(lime_modality, sampler):
    name = _custom if sampler == "custom" else sampler
    if lime_modality.kind == "tabular_continuous" and sampler in ("bernoulli", "custom"):
        with pytest.raises(ValueError, match="discretized or categorical"):
            lime_modality.explainer(n_samples=81, sampler=name)
        return
    explainer = lime_modality.explainer(n_samples=81, sampler=name)
    exp = lime_modality.explain(explainer, generator=0, keep_samples=True)
    assert torch.isfinite(exp.coef).all()
    assert exp.masks[:, 0].bool().all() if exp.masks.dtype == torch.bool else True
    expected = {"paired": "paired", "stratified": "stratified"}.get(sampler, "iid")
    if lime_modality.kind.startswith("tabular") and sampler == "stratified":
        expected = "iid"  # a Latin hypercube stratifies columns, not kept counts
    assert exp.config["design"] == expected
    if sampler == "binomial":
        assert exp.config["kernel"] == "folded" and (exp.weights == 1).all()
    else:
        assert (exp.weights < 1).any()
    auto = lime_modality.explainer(n_samples="auto", max_samples=150, sampler=name)
    assert lime_modality.explain(auto, generator=1).resolved is not None


# --------------------------------------------------------------------------- images


@pytest.mark.parametrize("sampler", ["paired", "stratified", "binomial"])
def test_limeimage_samplers(sampler, device):
    x = _images(b=2).to(device)
    segments = grid(x, 3, 3)
    model = PatchMLP(n_classes=3).to(device)
    exp = LimeImage(model, sampler=sampler, n_samples=101, progress=False)(
        x, segments=segments, keep_samples=True, generator=_g(24, device)
    )
    assert exp.masks[:, 0].all()
    assert exp.n_samples.tolist() == [101, 101] and exp.resolved is None
    if sampler == "paired":
        assert torch.equal(exp.masks[:, 1::2], ~exp.masks[:, 2::2])
        assert exp.config["design"] == "paired"
    if sampler == "binomial":
        assert (exp.weights == 1).all()
    else:
        assert_close(exp.weights, lime_kernel(exp.masks, 0.25, exp.n_features))
    # the scores are the model's on those masks: the lime-parity-tested masks= path
    # (Bernoulli weights) scores them the same
    given = LimeImage(model, n_samples=101, progress=False)(
        x, exp.target, segments=segments, masks=exp.masks, keep_samples=True
    )
    assert_close(exp.scores, given.scores, rtol=1e-6, atol=1e-7)
    for i in range(2):  # and the surrogate is scikit-learn's Ridge on them
        m, y = exp.masks[i].double().cpu().numpy(), exp.scores[i, :, 0].double().cpu().numpy()
        ref = Ridge(alpha=1.0).fit(m, y, sample_weight=exp.weights[i].double().cpu().numpy())
        assert_close(exp.coef[i, 0], ref.coef_, rtol=1e-4, atol=1e-6)
        assert_close(exp.intercept[i, 0], torch.tensor(ref.intercept_), rtol=1e-4, atol=1e-6)


def test_limeimage_rejects_bad_sampler_settings():
    model = PatchMLP()
    with pytest.raises(ValueError, match="sampler must be one of"):
        LimeImage(model, sampler="sobol")
    with pytest.raises(ValueError, match="max_samples"):
        LimeImage(model, n_samples="auto", max_samples=1)
    explainer = LimeImage(model, n_samples="auto", progress=False)
    with pytest.raises(ValueError, match='n_samples="auto" draws them'):
        explainer(torch.rand(1, 3, 8, 8), masks=torch.ones(1, 5, 4, dtype=torch.bool))
    custom = LimeImage(model, sampler=lambda b, n, k, **kw: torch.ones(b, n, k + 1), progress=False)
    with pytest.raises(ValueError, match="the sampler must return"):
        custom(torch.rand(1, 3, 8, 8))


# --------------------------------------------------------------------------- text laws


def _text(sampler, n):
    text = case("text")
    exp = text.explain(text.explainer(n_samples=n, sampler=sampler), generator=0, keep_samples=True)
    return exp, exp.n_features.tolist()


def test_text_paired_samples_mirror_their_removals():
    exp, k_b = _text("paired", 201)
    for b, k in enumerate(k_b):
        removed = ~exp.masks[b, 1:, :k]
        first, second = removed[0::2], removed[1::2]
        # the mirror removes K + 1 - s features: the s the first kept last, and one more
        assert ((first.sum(-1) + second.sum(-1)) == k + 1).all()
        assert ((first & second).sum(-1) == 1).all() and (first | second).all()


def test_text_stratified_counts_are_a_systematic_sample():
    exp, k_b = _text("stratified", 201)
    for b, k in enumerate(k_b):
        removed = (~exp.masks[b, 1:, :k]).sum(-1)
        counts = torch.bincount(removed, minlength=k + 1)[1:]  # 1..K removed, uniformly
        assert (counts - 200 / k).abs().max() <= 1
        assert counts.sum() == 200


def test_text_binomial_tilts_lime_s_law_by_the_kernel():
    exp, k_b = _text("binomial", 20001)
    for b, k in enumerate(k_b):
        kept = exp.masks[b, 1:, :k].sum(-1).numpy()
        j = np.arange(k)  # lime's text law keeps 0..K-1 features, each count equally likely
        d = 100 * (1 - np.sqrt(j / k))
        p = np.exp(-(d**2) / (2 * 25.0**2))
        p /= p.sum()
        observed = np.bincount(kept, minlength=k)[:k]
        assert stats.chisquare(observed, p * observed.sum()).pvalue > 1e-3


# --------------------------------------------------------------------------- tabular laws


def _tabular(kind, sampler, n):
    table = case(kind)
    explainer = table.explainer(n_samples=n, sampler=sampler)
    exp = table.explain(explainer, generator=0, keep_samples=True)
    continuous = ~(explainer.discretized | explainer.categorical)
    return explainer, exp, continuous


def test_tabular_paired_samples_are_antithetic():
    _, exp, continuous = _tabular("tabular_continuous", "paired", 401)
    z = exp.masks[:, 1:, continuous]  # standardised values
    assert (z[:, 0::2] + z[:, 1::2]).abs().max() < 1e-9


def test_tabular_stratified_columns_are_latin_hypercubes():
    _, exp, continuous = _tabular("tabular_continuous", "stratified", 501)
    z = exp.masks[:, 1:, continuous].double()
    u = torch.special.ndtr(z).sort(1).values  # each column's N - 1 quantiles, sorted
    m = u.shape[1]
    centre = (torch.arange(m, dtype=torch.float64) + 0.5) / m
    assert (u - centre[None, :, None]).abs().max() <= 0.5 / m + 1e-6


@pytest.mark.parametrize("kind", ["tabular_discretized", "tabular_continuous"])
def test_tabular_binomial_is_lime_s_law_tilted_by_the_kernel(kind):
    explainer, exp, continuous = _tabular(kind, "binomial", 20001)
    w = explainer.kernel_width
    data = explainer_data(explainer)
    x = exp.x.numpy()
    X = exp.masks[:, 1:].double().numpy()
    for d in range(x.shape[1]):
        for b in range(x.shape[0]):
            if continuous[d]:  # N(0, 1) times exp(-(z - z0)^2 / (2 w^2))
                mu, sd = data[:, d].mean(), data[:, d].std()
                z0 = (x[b, d] - mu) / sd
                var = 1 / (1 + 1 / w**2)
                assert X[b, :, d].mean() == pytest.approx(z0 / w**2 * var, abs=0.05)
                assert X[b, :, d].var() == pytest.approx(var, rel=0.05)
                continue
            p0 = _same_bin_frequency(explainer, data, x[b], d)
            c = math.exp(-1 / (2 * w**2))
            p = p0 / (p0 + c * (1 - p0))
            se = math.sqrt(p * (1 - p) / X.shape[1])
            assert abs(X[b, :, d].mean() - p) < 4.5 * se + 1e-12


def test_tabular_masks_are_honoured_column_by_column():
    _, exp, _ = _tabular("tabular_discretized", "bernoulli", 300)
    b, n, d = exp.masks.shape
    expected = sample_masks(b, n, d, generator=torch.Generator().manual_seed(0))
    assert torch.equal(exp.masks[:, 1:], expected[:, 1:])


def explainer_data(explainer):
    """The training table of the test's tabular case (tests/_modalities.py)."""
    from _modalities import _table

    return _table().numpy()


def _same_bin_frequency(explainer, data, row, d):
    """Training frequency of the row's bin (quartiles, numpy's) or category, by hand."""
    if explainer.categorical[d]:
        return float((data[:, d] == row[d]).mean())
    edges = np.unique(np.quantile(data[:, d], [0.25, 0.5, 0.75]))
    bins = np.searchsorted(edges, data[:, d])
    return float((bins == np.searchsorted(edges, row[d])).mean())
