"""Sanity checks: rank correlation against SciPy, model randomisation on a real explainer."""

import itertools

import numpy as np
import pytest
import torch
from _helpers import PatchMLP, assert_close
from _helpers import generator as _g
from _modalities import explained
from scipy import stats
from scipy import stats as scipy_stats

from torchlime import LimeImage, metrics
from torchlime.metrics import deletion_auc, insertion_auc
from torchlime.segmentation import grid


def test_rank_correlation_equals_scipy_spearman():
    a = torch.randn(3, 2, 9, generator=_g(12)).round(decimals=1)
    b = a + torch.randn(3, 2, 9, generator=_g(13)).round(decimals=1)
    n_features = torch.tensor([9, 6, 4])
    got = metrics.rank_correlation(a, b, n_features)
    for i in range(3):
        k = int(n_features[i])
        for t in range(2):
            ref = stats.spearmanr(a[i, t, :k].numpy(), b[i, t, :k].numpy()).statistic
            assert got[i, t].item() == pytest.approx(ref, abs=1e-6)


def test_model_randomisation_changes_the_explanation_and_leaves_the_model_alone():
    x = torch.rand(2, 3, 24, 24, generator=_g(14))
    model = PatchMLP(n_classes=3, seed=3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    explainer = LimeImage(model, segmenter=lambda im: grid(im, 4, 4), n_samples=300, progress=False)
    exp = explainer(x, keep_samples=True, generator=_g(15))
    same = metrics.model_randomisation(explainer, x, exp=exp, layers=[], generator=_g(16))
    assert_close(same.spearman, torch.ones(2, 1))
    check = metrics.model_randomisation(explainer, x, exp=exp, generator=_g(17))
    assert check.spearman.shape == check.spearman_abs.shape == (2, 1)
    for i in range(2):  # rank correlations of the coefficients, as scipy computes them
        a, b = exp.coef[i, 0].numpy(), check.coef[i, 0].numpy()
        assert check.spearman[i, 0].item() == pytest.approx(stats.spearmanr(a, b)[0], abs=1e-6)
        ref = stats.spearmanr(np.abs(a), np.abs(b))[0]
        assert check.spearman_abs[i, 0].item() == pytest.approx(ref, abs=1e-6)
    assert (check.spearman.abs() < 0.6).all()
    top = metrics.model_randomisation(explainer, x, exp=exp, layers=["fc2"], generator=_g(18))
    assert not torch.equal(top.coef, exp.coef)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])
    with pytest.raises(ValueError, match="not submodules"):
        metrics.model_randomisation(explainer, x, exp=exp, layers=["nope"])


def test_model_randomisation_on_every_explainer(modality):
    explainer, exp = explained(modality, 1.0, feature_selection="none")
    check = metrics.model_randomisation(
        explainer, modality.inputs, exp=exp, generator=0, **modality.kwargs
    )
    assert check.spearman.shape == exp.target.shape
    assert (check.coef - exp.coef).abs().max() > 1e-4
    k_b = int(exp.n_features[0])
    ref = scipy_stats.spearmanr(exp.coef[0, 0, :k_b], check.coef[0, 0, :k_b]).statistic
    assert check.spearman[0, 0].item() == pytest.approx(ref, abs=1e-6)


@pytest.mark.parametrize("kind", ["deletion", "insertion"])
def test_explanation_auc_where_it_applies(modality, kind):
    explainer, exp = explained(modality, 1.0, feature_selection="none")
    if modality.kind.startswith("tabular"):
        with pytest.raises(ValueError, match="tabular"):
            metrics.explanation_auc(explainer, modality.inputs, exp, kind=kind)
        return
    auc = metrics.explanation_auc(explainer, modality.inputs, exp, kind=kind, **modality.kwargs)
    assert auc.shape == exp.target.shape
    if modality.kind == "image":  # the functional RISE curves with the explainer's fill
        curve = deletion_auc if kind == "deletion" else insertion_auc
        ref = curve(
            explainer.model, modality.inputs, exp.coef, exp.target, segments=exp.segments,
            baseline="mean",
        )  # fmt: skip
        assert_close(auc, ref, rtol=1e-5, atol=1e-6)
    elif modality.kind in ("tensor", "tensor_captum", "kernel_shap"):  # baselines by hand
        ref = _tensor_auc(explainer.model, modality, exp, kind, explainer.output == "softmax")
        assert_close(auc, ref, rtol=1e-5, atol=1e-6)
    else:  # words removed by hand, the model called directly
        assert_close(auc, _text_auc(explainer.model, modality, exp, kind), rtol=1e-5, atol=1e-6)


def _tensor_auc(model, modality, exp, kind, softmax):
    (a, b), masks = modality.inputs, modality.kwargs["feature_mask"]
    scale = modality.kwargs["additional_forward_args"][0]
    out = torch.zeros(exp.target.shape, dtype=torch.float64)
    for i, t in itertools.product(range(len(a)), range(exp.target.shape[1])):
        k = int(exp.n_features[i])
        order = torch.argsort(-exp.coef[i, t, :k], stable=True).tolist()
        curve = []
        for s in range(k + 1):
            gone = torch.tensor(order[:s] if kind == "deletion" else order[s:], dtype=torch.long)
            pa = torch.where(torch.isin(masks[0][0], gone), 0.0, a[i])[None]
            pb = torch.where(torch.isin(masks[1][0], gone), 0.0, b[i])[None]
            with torch.no_grad():
                out_it = model(pa, pb, scale)
                out_it = out_it.softmax(-1) if softmax else out_it
                curve.append(out_it[0, exp.target[i, t]].item())
        y = np.array(curve)
        out[i, t] = (y[1:] + y[:-1]).sum() / 2 / k
    return out


def _text_auc(model, modality, exp, kind):
    ids, attention = modality.inputs, modality.kwargs["attention_mask"]
    out = torch.zeros(exp.target.shape, dtype=torch.float64)
    for b in range(len(ids)):
        k_b = int(exp.n_features[b])
        for t in range(exp.target.shape[1]):
            order = np.argsort(-exp.coef[b, t, :k_b].numpy(), kind="stable").tolist()
            scores = []
            for s in range(k_b + 1):
                gone = set(order[:s]) if kind == "deletion" else set(order[s:])
                keep = [
                    tok for tok, f, a in zip(ids[b].tolist(), exp.token_features[b].tolist(),
                                             attention[b].tolist(), strict=True)
                    if a and f not in gone
                ]  # fmt: skip
                row = torch.tensor([keep + [0] * (ids.shape[1] - len(keep))])
                mask = (torch.arange(ids.shape[1]) < len(keep)).long()[None]
                with torch.no_grad():
                    probs = model(input_ids=row, attention_mask=mask).softmax(-1)
                scores.append(probs[0, exp.target[b, t]].item())
            y = np.array(scores)
            out[b, t] = (y[1:] + y[:-1]).sum() / 2 / k_b
    return out
