"""Verdicts in words: the summaries' numbers against hand computations, n_needed against a
simulation, every term defined, compact reprs."""

import math

import numpy as np
import pytest
import torch
from _helpers import PatchMLP
from _helpers import generator as _g
from _modalities import explained
from scipy import stats

from torchlime import Grid, LimeImage, metrics, stability
from torchlime.explanation import Explanation
from torchlime.functional import sample_masks, weighted_ridge

Z95 = stats.norm.ppf(0.95)


def _about(n):
    """Two significant figures, rounded up, written as the summary writes them."""
    if n < 100:
        return f"{math.ceil(n - 1e-9):,}"
    step = 10 ** (math.floor(math.log10(n)) - 1)
    return f"{math.ceil(n / step - 1e-9) * step:,}"


def _linear_explanation(beta, n, sigma, b, seed, alpha=1e-6):
    """B independent explanations of y = z @ beta + noise (iid masks, unit weights)."""
    g = _g(seed)
    k = len(beta)
    masks = sample_masks(b, n, k, generator=g)
    z = masks.double()
    y = z @ torch.tensor(beta, dtype=torch.float64)[:, None]
    y = y + sigma * torch.randn(b, n, 1, generator=g, dtype=torch.float64)
    w = torch.ones(b, n, dtype=torch.float64)
    valid = torch.ones(b, k, dtype=torch.bool)
    fit = weighted_ridge(masks, y, w, alpha, feature_mask=valid)
    zeros = torch.zeros(b, 1)
    return Explanation(
        coef=fit.coef.float(),
        intercept=fit.intercept.float(),
        score=fit.score.float(),
        local_pred=zeros,
        model_pred=zeros,
        target=torch.zeros(b, 1, dtype=torch.long),
        selected=valid[:, None],
        n_features=torch.full((b,), k),
        seed=torch.zeros(b, dtype=torch.long),
        masks=masks,
        scores=y,
        weights=w,
        config={"alpha": alpha, "design": "iid", "surrogate": "ridge"},
    )


def _block(text, i, t=0):
    """The lines of example i, target t (the t-th block that starts with 'example i,')."""
    blocks = text.split("\nexample ")[1:]
    mine = [blk for blk in blocks if blk.startswith(f"{i},")]
    return mine[t]


def test_report_summary_numbers_equal_hand_computations():
    # Well separated boundaries for examples 0-2, a near-tie (0.3 vs 0.28) for 3-5.
    sep = _linear_explanation([3.0, 2.0, 1.5, 0.3, 0.1, 0.05], 300, 0.5, 3, seed=1)
    close = _linear_explanation([3.0, 2.0, 0.3, 0.28, 0.1, 0.05], 300, 0.5, 3, seed=2)
    exp = Explanation.concat([sep, close])
    report = stability.stability_report(exp, 3, n_boot=100, generator=_g(3))
    text = report.summary(max_examples=6)
    coef = report.coef.double().numpy()
    ties = report.tie[:, 0].tolist()
    assert True in ties and False in ties  # both verdicts are exercised
    for i in range(6):
        block = _block(text, i)
        c = coef[i, 0]
        order = np.argsort(-np.abs(c), kind="stable")
        top = order[:3].tolist()
        listed = ", ".join(f"feature {f} ({c[f]:+.3g})" for f in top)
        assert f"top-3: {listed}." in block
        freq = report.top_k_frequency[i, 0].double().numpy()
        stable = sum(freq[f] >= 0.95 - 1e-6 for f in top)
        assert f"top-3 stable: {stable} of 3 features" in block
        assert f"Jaccard {report.jaccard[i, 0].item():.2f}" in block
        # the tie sentence appears exactly when gap <= z gap_se (one-sided 95 %)
        gap = abs(c[order[2]]) - abs(c[order[3]])
        se = report.gap_se[i, 0].item()
        assert report.gap[i, 0].item() == pytest.approx(gap, rel=1e-5)
        is_tie = gap <= Z95 * se
        assert is_tie == ties[i]
        pair = f"positions 3 and 4 (feature {order[2]}, feature {order[3]}) are a tie"
        assert (pair in block) == is_tie
        assert ("boundary is resolved" in block) == (not is_tie)
        if is_tie:  # n (z se / gap)^2, rounded up to two significant figures
            needed = 300 * (Z95 * se / gap) ** 2
            assert report.n_needed[i, 0].item() == pytest.approx(needed, rel=1e-4)
            assert f"about {_about(needed)} samples would resolve them" in block
    # signs: every flip named with its share of resamples
    assert "Terms: gap = |coefficient| at position 3 minus at position 4" in text
    assert str(report) == report.summary()


def test_n_needed_matches_a_simulation():
    """n_needed = n (z se / gap)^2: the bootstrap se is the true sampling se, and at
    n_needed samples z times the true se of the gap equals the gap (se ~ 1 / sqrt(N))."""
    beta, n0, sigma, b = [3.0, 2.5, 1.0, 0.8, 0.2, 0.1], 1000, 0.5, 120
    true_gap = 0.2
    exp = _linear_explanation(beta, n0, sigma, b, seed=5)
    report = stability.stability_report(exp, 3, n_boot=50, generator=_g(6))
    c = exp.coef[:, 0].double().abs()
    se_true = (c[:, 2] - c[:, 3]).std().item()  # over 120 independent explanations
    ratio = (report.gap_se[:, 0].double().median() / se_true).item()
    assert 0.85 < ratio < 1.15  # the bootstrap's gap_se estimates the sampling se
    n_star = n0 * (Z95 * se_true / true_gap) ** 2  # the simulation's answer
    got = report.n_needed[:, 0].double().median().item()
    assert 0.7 < got / n_star < 1.4
    # Fresh explanations at n_star samples: z times their gap's spread is the gap.
    fresh = _linear_explanation(beta, round(n_star), sigma, 400, seed=7)
    cf = fresh.coef[:, 0].double().abs()
    se_star = (cf[:, 2] - cf[:, 3]).std().item()
    assert 0.85 < Z95 * se_star / true_gap < 1.15
    assert se_star / se_true == pytest.approx(math.sqrt(n0 / n_star), rel=0.15)


def test_exact_tie_and_few_features_are_said_plainly():
    exp = _linear_explanation([1.0, 0.5, 0.2, 0.1], 200, 0.1, 2, seed=8)
    report = stability.stability_report(exp, 2, n_boot=20, generator=_g(9))
    forced = report._replace(
        gap=torch.zeros_like(report.gap),
        tie=torch.ones_like(report.tie),
        n_needed=torch.full_like(report.n_needed, math.inf),
    )
    assert "are an exact tie" in forced.summary() and "samples would" not in forced.summary()
    small = stability.stability_report(exp, 4, n_boot=20, generator=_g(9))
    assert "only 4 features: all are in the top-4" in small.summary()


@pytest.fixture(scope="module")
def image_report():
    x = torch.rand(8, 3, 24, 24, generator=_g(10))
    names = [f"class {c}" for c in range(4)]
    explainer = LimeImage(
        PatchMLP(n_classes=4), segmenter=Grid(4, 4), n_samples=200, class_names=names,
        progress=False,
    )  # fmt: skip
    exp = explainer(x, keep_samples=True, generator=_g(11))
    return explainer, x, exp, stability.stability_report(exp, 5, n_boot=50, generator=_g(12))


def test_summary_caps_examples_and_uses_names(image_report):
    _, _, exp, report = image_report
    text = str(report)
    assert text == report.summary()
    assert text.count("\nexample ") == 3
    assert "... and 5 more examples (summary(max_examples=8) shows all)." in text
    name = exp.target_names(0)[0]
    assert f"example 0, '{name}' (output {exp.target[0, 0].item()}) (200 samples):" in text
    top = int(exp.coef[0, 0].abs().argmax())
    assert f"top-5: {exp.feature_labels(0)[top]} (" in text
    assert report.summary(max_examples=8).count("\nexample ") == 8
    assert len(text) < 3000


def test_summary_on_every_explainer(modality):
    _, exp = explained(modality, 1.0, feature_selection="none")
    report = stability.stability_report(exp, 2, n_boot=20, generator=_g(13))
    text = report.summary()
    labels = exp.feature_labels(0)
    k_b = int(exp.n_features[0])
    top = int(exp.coef[0, 0, :k_b].abs().argmax())
    assert f"top-2: {labels[top]} (" in text
    assert ("are a tie" in _block(text, 0)) == bool(report.tie[0, 0])


def test_seed_summary_on_every_explainer(modality):
    explainer = modality.explainer(n_samples=60)
    s = stability.seed_stability(
        explainer, modality.inputs, n_seeds=3, k=2, generator=0, **modality.kwargs
    )
    exp = s.explanation
    mean = s.coef.mean(0)[0, 0, : int(exp.n_features[0])]
    top = int(mean.abs().argmax())
    text = str(s)
    assert f"top-2: {exp.feature_labels(0)[top]} (" in text
    assert ("are a tie" in _block(text, 0)) == bool(s.tie[0, 0])
    assert len(repr(s)) < 600


def test_seed_summary_equals_hand_computations():
    x = torch.rand(3, 3, 24, 24, generator=_g(14))
    explainer = LimeImage(PatchMLP(n_classes=4), segmenter=Grid(4, 4), n_samples=150,
                          progress=False)  # fmt: skip
    s = stability.seed_stability(explainer, x, n_seeds=6, k=4, generator=_g(15))
    text = s.summary()
    r = 6
    coef = s.coef.double().numpy()  # (R, B, T, K)
    for i in range(3):
        block = _block(text, i)
        mean = coef[:, i, 0].mean(0)
        order = np.argsort(-np.abs(mean), kind="stable")
        top = order[:4]
        sets = [set(np.argsort(-np.abs(c), kind="stable")[:4].tolist()) for c in coef[:, i, 0]]
        freq = {f: sum(f in st for st in sets) / r for f in top.tolist()}
        stable = sum(v >= 0.95 - 1e-6 for v in freq.values())
        assert f"top-4 stable: {stable} of 4 superpixels in the top-4 of >= 95 % of seeds" in block
        # the gap of the consensus, and each seed's gap against the consensus top set
        gap = abs(mean[order[3]]) - abs(mean[order[4]])
        inside, outside = order[:4], order[4:]
        per_seed = [np.abs(c[inside]).min() - np.abs(c[outside]).max() for c in coef[:, i, 0]]
        se = np.std(per_seed, ddof=1)
        assert s.gap[i, 0].item() == pytest.approx(gap, rel=1e-4, abs=1e-9)
        assert s.gap_se[i, 0].item() == pytest.approx(se, rel=1e-4, abs=1e-9)
        is_tie = gap <= Z95 * se
        assert bool(s.tie[i, 0]) == is_tie
        assert ("are a tie" in block) == is_tie
        if is_tie and gap > 0:
            n = int((s.explanation.weights[i] > 0).sum())
            assert f"about {_about(n * (Z95 * se / gap) ** 2)} samples" in block
        values = (s.jaccard, s.vsi, s.csi, s.kendall_w)
        j, v, c, w = (t[i, 0].item() for t in values)
        assert f"Jaccard {j:.2f}, VSI {v:.2f}, CSI {c:.2f}, Kendall's W {w:.2f}" in block
    assert "VSI = |A & B| / 4" in text and "CSI = share of seed pairs" in text
    rep = repr(s)
    assert len(rep) < 600 and "tensor(" not in rep and "R=6 seeds" in rep


def test_terms_are_defined_in_the_docstrings():
    report_doc = stability.StabilityReport.__doc__
    for term in ("gap_se", "Jaccard", "n_needed", "tie", "top_k_frequency", "sign_stability"):
        assert f"**{term}**" in report_doc
    assert "1/N" in report_doc and "sqrt(n / N)" in report_doc  # the derivation
    seeds_doc = stability.SeedStability.__doc__
    for term in ("VSI", "CSI", "Kendall's W", "Jaccard", "gap_se", "n_needed", "consensus"):
        assert f"**{term}**" in seeds_doc


def test_reprs_are_short(image_report):
    explainer, x, exp, report = image_report
    rep = repr(report)
    assert len(rep) < 600 and "tensor(" not in rep
    assert rep.startswith("StabilityReport(k=5, confidence=0.95, n_boot=50")
    assert "coef, coef_std, coef_low, coef_high" in rep and "(8, 1, 16) float32" in rep
    check = metrics.model_randomisation(explainer, x, exp=exp, generator=_g(16))
    rep = repr(check)
    assert len(rep) < 600 and "tensor(" not in rep and "(8, 1, 16)" in rep
    assert report.cpu().coef.device.type == "cpu"
