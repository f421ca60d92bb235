"""Stability statistics against plain NumPy/SciPy/scikit-learn re-computations."""

import itertools

import numpy as np
import pytest
import torch
from _helpers import PatchMLP, assert_close
from scipy import stats
from sklearn.linear_model import BayesianRidge, Ridge
from sklearn.metrics import r2_score
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from torchlime import LimeImage, stability
from torchlime.explanation import Explanation
from torchlime.functional import lime_kernel, sample_masks, weighted_ridge
from torchlime.segmentation import grid


def _g(seed=0, device="cpu"):
    return torch.Generator(device=device).manual_seed(seed)


def _problem(b=2, n=150, k=6, t=2, seed=0):
    """LIME-like samples: binary masks, lime's weights, nonlinear scores of the masks."""
    g = _g(seed)
    masks = sample_masks(b, n, k, generator=g)
    weight = lime_kernel(masks, dtype=torch.float64)
    z = masks.double()
    proj = torch.randn(b, k, t, generator=g, dtype=torch.float64)
    y = torch.tanh(z @ proj / k**0.5) + 0.3 * z[..., :1] * z[..., 1:2]
    y = y + 0.05 * torch.randn(b, n, t, generator=g, dtype=torch.float64)
    return masks, y, weight


def _explanation(masks, y, w, n_features=None, alpha=1.0):
    b, _, k = masks.shape
    t = y.shape[-1]
    n_features = torch.full((b,), k) if n_features is None else n_features
    valid = torch.arange(k) < n_features[:, None]
    fit = weighted_ridge(masks, y, w, alpha, feature_mask=valid)
    zeros = torch.zeros(b, t)
    return Explanation(
        coef=fit.coef,
        intercept=fit.intercept,
        score=fit.score,
        local_pred=zeros,
        model_pred=zeros,
        target=torch.zeros(b, t, dtype=torch.long),
        selected=valid[:, None].expand(b, t, k),
        n_features=n_features,
        seed=torch.zeros(b, dtype=torch.long),
        masks=masks,
        scores=y,
        weights=w,
        config={"alpha": alpha},
    )


def _top_set(c, k, k_b):
    order = np.argsort(-np.abs(c[:k_b]), kind="stable")
    return set(order[:k].tolist())


# --------------------------------------------------------------------------- pairwise metrics


def test_top_k_mask_breaks_ties_by_index_and_skips_padding():
    coef = torch.tensor([[0.5, -0.5, 0.1, 0.9], [0.2, 0.2, 0.2, 9.0]])
    assert stability.top_k_mask(coef, 2).tolist() == [
        [True, False, False, True],
        [True, False, False, True],
    ]
    got = stability.top_k_mask(coef, 2, torch.tensor([4, 3]))
    assert got.tolist() == [[True, False, False, True], [True, True, False, False]]


def test_jaccard_and_vsi_equal_set_arithmetic():
    r, b, t, k, top = 6, 2, 3, 9, 4
    coef = torch.randn(r, b, t, k, generator=_g(1)).round(decimals=1)  # ties happen
    n_features = torch.tensor([9, 6])
    jac = stability.jaccard(coef, top, n_features)
    v = stability.vsi(coef, top, n_features)
    assert jac.shape == v.shape == (b, t)
    for i, j in itertools.product(range(b), range(t)):
        sets = [_top_set(coef[q, i, j].numpy(), top, int(n_features[i])) for q in range(r)]
        pairs = list(itertools.combinations(sets, 2))
        ref_j = np.mean([len(p & q) / len(p | q) for p, q in pairs])
        ref_v = np.mean([len(p & q) / top for p, q in pairs])
        assert jac[i, j].item() == pytest.approx(ref_j)
        assert v[i, j].item() == pytest.approx(ref_v)


def test_kendall_w_is_friedman_over_r_times_k_minus_one():
    # Kendall's W = Friedman's tie-corrected chi-square / (R (K - 1)), SciPy computing the latter.
    r, k = 7, 8
    coef = torch.randn(r, 3, k, generator=_g(2)).round(decimals=1)
    coef[:, 2] = coef[0, 2] + 0.01 * torch.randn(r, k, generator=_g(3))  # concordant
    n_features = torch.tensor([8, 5, 8])
    w = stability.kendall_w(coef, n_features)
    for i in range(3):
        kb = int(n_features[i])
        data = coef[:, i, :kb].abs().numpy()
        chi2 = stats.friedmanchisquare(*[data[:, j] for j in range(kb)]).statistic
        assert w[i].item() == pytest.approx(chi2 / (r * (kb - 1)), rel=1e-5)
    assert w[2] > 0.9


def test_csi_counts_overlapping_intervals():
    r, k = 5, 6
    coef = torch.randn(r, 2, 1, k, generator=_g(4))
    std = 0.3 * torch.rand(r, 2, 1, k, generator=_g(5))
    n_features = torch.tensor([6, 4])
    got = stability.csi(coef, std, 0.9, n_features)
    z = stats.norm.ppf(0.95)
    for i in range(2):
        kb = int(n_features[i])
        per_feature = []
        for f in range(kb):
            lo = coef[:, i, 0, f] - z * std[:, i, 0, f]
            hi = coef[:, i, 0, f] + z * std[:, i, 0, f]
            agree = [
                bool(lo[p] <= hi[q] and lo[q] <= hi[p])
                for p, q in itertools.combinations(range(r), 2)
            ]
            per_feature.append(np.mean(agree))
        assert got[i, 0].item() == pytest.approx(np.mean(per_feature), abs=1e-6)


def test_pairwise_metrics_reject_a_single_replicate():
    with pytest.raises(ValueError, match="R >= 2"):
        stability.jaccard(torch.randn(1, 3, 5), 2)
    with pytest.raises(ValueError, match="n_features must have the shape"):
        stability.top_k_mask(torch.randn(3, 5), 2, torch.tensor([5, 5]))


# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_weights_resample_rows_and_keep_the_original(device):
    w = torch.rand(2, 41, generator=_g(6), dtype=torch.float64) + 0.1
    w[1, 31:] = 0  # padding rows of image 1
    reps = stability.bootstrap_weights(w.to(device), 50, generator=_g(7, device)).cpu()
    counts = reps / w.clamp(min=0.1)
    assert reps.shape == (50, 2, 41)
    assert torch.equal(reps[:, :, 0], w[:, 0].expand(50, 2))
    assert torch.equal(reps[:, 1, 31:], torch.zeros(50, 10, dtype=torch.float64))
    assert torch.allclose(counts, counts.round())
    counts = counts.round()
    _assert_binomial_counts(counts[:, 0, 1:], 40)
    assert torch.equal(counts[:, 0, 1:].sum(-1), torch.full((50,), 40.0, dtype=torch.float64))
    assert torch.equal(counts[:, 1, 1:31].sum(-1), torch.full((50,), 30.0, dtype=torch.float64))


def _assert_binomial_counts(counts, units):
    """Resampling counts (R, U) against Binomial(units, 1/units): mean, variance, zeros."""
    p = 1.0 / units
    assert counts.mean().item() == pytest.approx(1.0, abs=0.02)
    assert counts.var().item() == pytest.approx(units * p * (1 - p), abs=0.05)
    zero = (counts == 0).double().mean().item()
    assert zero == pytest.approx((1 - p) ** units, abs=0.015)


def test_bootstrap_weights_pairs_and_strata(device):
    w = torch.ones(1, 21, dtype=torch.float64, device=device)
    paired = stability.bootstrap_weights(w, 30, pairs=True, generator=_g(8, device)).cpu()
    assert torch.equal(paired[:, 0, 1::2], paired[:, 0, 2::2])
    strata = torch.tensor([[0] + [1] * 8 + [2] * 12], device=device)
    strat = stability.bootstrap_weights(w, 30, strata=strata, generator=_g(9, device)).cpu()
    assert torch.equal(strat[:, 0, 1:9].sum(-1), torch.full((30,), 8.0, dtype=torch.float64))
    assert torch.equal(strat[:, 0, 9:].sum(-1), torch.full((30,), 12.0, dtype=torch.float64))
    # Each unit's count is Binomial(units, 1 / units) in its group: a bootstrap that did not
    # resample (every count 1) or drew from the wrong group would miss these moments.
    many = stability.bootstrap_weights(w, 3000, pairs=True, generator=_g(11, device)).cpu()
    _assert_binomial_counts(many[:, 0, 1::2], 10)  # 20 rows: 10 pairs
    many = stability.bootstrap_weights(w, 3000, strata=strata, generator=_g(12, device)).cpu()
    _assert_binomial_counts(many[:, 0, 1:9], 8)
    _assert_binomial_counts(many[:, 0, 9:], 12)
    poisson = stability.bootstrap_weights(w, 4000, method="poisson", generator=_g(10, device))
    poisson = poisson.cpu()
    assert poisson[:, 0, 1:].mean().item() == pytest.approx(1.0, abs=0.01)
    assert poisson[:, 0, 1:].var().item() == pytest.approx(1.0, abs=0.05)


def test_stability_report_equals_a_sklearn_bootstrap(device):
    masks, y, w = _problem(b=2, n=120, k=6, t=2, seed=11)
    n_features = torch.tensor([6, 5])
    exp = _explanation(masks, y, w, n_features).to(device)
    r, top, conf = 25, 3, 0.9
    report = stability.stability_report(
        exp, top, n_boot=r, confidence=conf, design="iid", generator=_g(12, device)
    )
    report = type(report)(*(t.cpu() for t in report))
    reps = stability.bootstrap_weights(w.to(device), r, generator=_g(12, device)).cpu().numpy()
    z1 = stats.norm.ppf(conf)
    for i, j in itertools.product(range(2), range(2)):
        kb = int(n_features[i])
        X, yy = masks[i, :, :kb].double().numpy(), y[i, :, j].numpy()
        full = Ridge(alpha=1.0).fit(X, yy, sample_weight=w[i].numpy()).coef_
        boot = np.stack(
            [Ridge(alpha=1.0).fit(X, yy, sample_weight=reps[q, i]).coef_ for q in range(r)]
        )
        tol = {"rtol": 0, "atol": 1e-5}
        assert_close(report.coef[i, j, :kb], full, **tol)
        assert_close(report.coef_std[i, j, :kb], boot.std(0, ddof=1), **tol)
        assert_close(report.coef_low[i, j, :kb], np.percentile(boot, 5, axis=0), **tol)
        assert_close(report.coef_high[i, j, :kb], np.percentile(boot, 95, axis=0), **tol)
        assert_close(report.sign_stability[i, j, :kb], (np.sign(boot) == np.sign(full)).mean(0))
        sets = [_top_set(c, top, kb) for c in boot]
        freq = np.array([[f in s for f in range(kb)] for s in sets]).mean(0)
        assert_close(report.top_k_frequency[i, j, :kb], freq)
        pairs = list(itertools.combinations(sets, 2))
        ref_j = np.mean([len(p & q) / len(p | q) for p, q in pairs])
        assert report.jaccard[i, j].item() == pytest.approx(ref_j, abs=1e-6)
        inside = sorted(_top_set(full, top, kb))
        outside = [f for f in range(kb) if f not in inside]

        def gap(c, inside=inside, outside=outside):
            return np.abs(c[inside]).min() - np.abs(c[outside]).max()

        g, se = gap(full), np.std([gap(c) for c in boot], ddof=1)
        assert report.gap[i, j].item() == pytest.approx(g, abs=1e-5)
        assert report.gap_se[i, j].item() == pytest.approx(se, abs=1e-5)
        assert bool(report.tie[i, j]) == (g <= z1 * se)
        assert report.n_needed[i, j].item() == pytest.approx(120 * (z1 * se / g) ** 2, rel=1e-3)
    assert report.n_samples.tolist() == [120, 120]
    assert (report.coef[1, :, 5:] == 0).all() and (report.coef_std[1, :, 5:] == 0).all()


def test_gap_test_with_at_most_k_features_is_resolved():
    coef = torch.tensor([[[1.0, 0.5, 0.0]]])
    boot = coef + 0.1 * torch.randn(20, 1, 1, 3, generator=_g(13))
    gap, se, needed, ok = stability.gap_test(
        coef, boot, 2, torch.tensor([100]), n_features=torch.tensor([2])
    )
    assert torch.isinf(gap).all() and ok.all() and se.item() == 0 and needed.item() == 100


def test_bootstrap_jaccard_tracks_seed_to_seed_jaccard():
    # The report's zero-cost estimate against the real thing on a nonlinear mask model:
    # 12 seeds of 400 samples each, 12 features with a clear head and a noisy tail.
    r, n, k = 12, 400, 12
    g = _g(14)
    proj = torch.linspace(1.5, 0.1, k, dtype=torch.float64)
    masks = sample_masks(r, n, k, generator=g)
    z = masks.double()
    y = (torch.sigmoid(z @ proj - 3) + 0.4 * z[..., 0] * z[..., 3])[..., None]
    y = y + 0.05 * torch.randn(r, n, 1, generator=g, dtype=torch.float64)
    exp = _explanation(masks, y, lime_kernel(masks, dtype=torch.float64))
    seed_to_seed = stability.jaccard(exp.coef[:, None], 5).mean().item()
    report = stability.stability_report(exp, 5, n_boot=100, design="iid", generator=g)
    assert 0.3 < seed_to_seed < 0.95  # a case where the answer is not trivial
    assert report.jaccard.mean().item() == pytest.approx(seed_to_seed, abs=0.1)


def test_stability_report_needs_kept_samples_and_makes_no_host_sync():
    masks, y, w = _problem(b=1, n=60, k=5, t=1, seed=15)
    exp = _explanation(masks, y, w)
    bare = Explanation(**{**{f: getattr(exp, f) for f in ("coef", "intercept", "score")},
                          **{f: getattr(exp, f) for f in ("local_pred", "model_pred", "target")},
                          "selected": exp.selected, "n_features": exp.n_features,
                          "seed": exp.seed})  # fmt: skip
    with pytest.raises(ValueError, match="keep_samples=True"):
        stability.stability_report(bare)

    class Record(TorchDispatchMode):
        ops: set = set()  # noqa: RUF012

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.ops.add(str(func.overloadpacket))
            return func(*args, **(kwargs or {}))

    with Record() as rec:
        stability.stability_report(exp, 2, n_boot=10, design="paired", generator=_g(0))
    syncs = {"aten._local_scalar_dense", "aten.item", "aten.nonzero", "aten.equal"}
    assert not rec.ops & syncs


def test_ridge_std_is_the_sandwich_estimator():
    masks, y, w = _problem(b=1, n=200, k=5, t=1, seed=16)
    X, yy, ww = masks[0].double().numpy(), y[0, :, 0].numpy(), w[0].numpy()
    ridge = Ridge(alpha=1.0).fit(X, yy, sample_weight=ww)
    resid = yy - ridge.predict(X)
    xm = np.average(X, axis=0, weights=ww)
    Xc = X - xm
    G = Xc.T @ (ww[:, None] * Xc)
    A = np.linalg.inv(G + np.eye(5))
    sigma2 = (ww * resid**2).sum() / (200 - 5 - 1)
    ref = np.sqrt(np.diag(sigma2 * A @ G @ A))
    assert_close(stability.ridge_std(masks, y, w)[0, 0], ref, rtol=1e-6, atol=1e-9)
    # with a feature mask: the same estimator on the fitted columns only, 0 elsewhere
    chosen = np.array([True, False, True, True, False])
    Xs = X[:, chosen]
    ridge = Ridge(alpha=1.0).fit(Xs, yy, sample_weight=ww)
    resid = yy - ridge.predict(Xs)
    Xc = Xs - np.average(Xs, axis=0, weights=ww)
    G = Xc.T @ (ww[:, None] * Xc)
    A = np.linalg.inv(G + np.eye(3))
    sigma2 = (ww * resid**2).sum() / (200 - 3 - 1)
    ref = np.zeros(5)
    ref[chosen] = np.sqrt(np.diag(sigma2 * A @ G @ A))
    got = stability.ridge_std(masks, y, w, feature_mask=torch.from_numpy(chosen)[None])
    assert_close(got[0, 0], ref, rtol=1e-6, atol=1e-9)


# --------------------------------------------------------------------------- Bayesian ridge


def test_bayesian_ridge_equals_sklearn_with_sample_weights(device):
    masks, y, w = _problem(b=2, n=150, k=7, t=2, seed=17)
    fit = stability.bayesian_ridge(masks.to(device), y.to(device), w.to(device), n_iter=300)
    fit = type(fit)(*(t.cpu() for t in fit))
    assert fit.coef.shape == fit.coef_std.shape == (2, 2, 7)
    for i, j in itertools.product(range(2), range(2)):
        X, yy, ww = masks[i].double().numpy(), y[i, :, j].numpy(), w[i].numpy()
        ref = BayesianRidge(max_iter=300, tol=1e-300).fit(X, yy, sample_weight=ww)
        tol = {"rtol": 1e-6, "atol": 1e-9}
        assert_close(fit.coef[i, j], ref.coef_, **tol)
        assert_close(fit.intercept[i, j], torch.tensor(ref.intercept_), **tol)
        assert_close(fit.coef_std[i, j], np.sqrt(np.diag(ref.sigma_)), **tol)
        assert fit.noise_precision[i, j].item() == pytest.approx(float(ref.alpha_), rel=1e-6)
        assert fit.prior_precision[i, j].item() == pytest.approx(float(ref.lambda_), rel=1e-6)
        r2 = r2_score(yy, ref.predict(X), sample_weight=ww)
        assert fit.score[i, j].item() == pytest.approx(r2, abs=1e-9)


def test_bayesian_ridge_stays_finite_with_fewer_samples_than_features():
    masks, y, w = _problem(b=1, n=12, k=20, t=1, seed=19)
    fit = stability.bayesian_ridge(masks, y, w)
    assert torch.isfinite(fit.coef_std).all() and (fit.coef_std > 0).all()
    assert (fit.noise_precision > 0).all()


def test_bayesian_ridge_feature_mask_fits_only_those_columns():
    masks, y, w = _problem(b=1, n=150, k=6, t=2, seed=18)
    keep = torch.tensor([[[True, False, True, True, False, True], [True] * 3 + [False] * 3]])
    fit = stability.bayesian_ridge(masks, y, w, n_iter=50, feature_mask=keep)
    for j in range(2):
        cols = keep[0, j].nonzero()[:, 0].numpy()
        X = masks[0].double().numpy()[:, cols]
        ref = BayesianRidge(max_iter=50, tol=1e-300).fit(X, y[0, :, j].numpy(), w[0].numpy())
        assert_close(fit.coef[0, j, cols], ref.coef_, rtol=1e-6, atol=1e-9)
        assert_close(fit.coef_std[0, j, cols], np.sqrt(np.diag(ref.sigma_)), rtol=1e-6, atol=1e-9)
        assert (fit.coef[0, j, ~keep[0, j]] == 0).all()
        assert (fit.coef_std[0, j, ~keep[0, j]] == 0).all()


# --------------------------------------------------------------------------- with LimeImage


def _images(b=2, size=24, seed=0):
    g = _g(seed)
    base = torch.rand(b, 3, 4, 4, generator=g)
    x = nn.functional.interpolate(base, size=(size, size), mode="bilinear", align_corners=False)
    return (x + 0.05 * torch.rand(b, 3, size, size, generator=g)).clamp(0, 1)


def test_kernel_width_sweep_equals_separate_fits(device):
    x = _images().to(device)
    segments = grid(x, 4, 4)
    model = PatchMLP(n_classes=4).to(device)
    exp = LimeImage(model, n_samples=200, progress=False)(
        x, top_labels=2, segments=segments, keep_samples=True, generator=_g(19, device)
    )
    widths = [0.1, 0.25, 0.6, 2.0]
    sweep = stability.kernel_width_sweep(exp, widths)
    assert sweep.coef.shape == (4, 2, 2, 16)
    for i, width in enumerate(widths):
        alone = LimeImage(model, n_samples=200, kernel_width=width, progress=False)(
            x, exp.target, segments=segments, masks=exp.masks
        )
        assert_close(sweep.coef[i], alone.coef, rtol=1e-5, atol=1e-6)
        assert_close(sweep.score[i], alone.score, rtol=1e-5, atol=1e-6)


def test_seed_stability_batches_the_seeds_and_scores_them():
    x = _images()
    model = PatchMLP(n_classes=4)
    explainer = LimeImage(model, segmenter=lambda im: grid(im, 3, 4), n_samples=120, progress=False)
    s = stability.seed_stability(explainer, x, n_seeds=4, k=3, generator=_g(20))
    assert s.coef.shape == (4, 2, 1, 12)
    exp = s.explanation
    assert len(exp) == 8 and exp.masks is not None
    assert torch.equal(exp.segments[:2], exp.segments[6:])  # one segmentation, shared
    assert not torch.equal(exp.masks[0], exp.masks[2])  # independent samples per seed
    assert_close(s.jaccard, stability.jaccard(s.coef, 3, exp.n_features[:2]))
    assert_close(s.vsi, stability.vsi(s.coef, 3, exp.n_features[:2]))
    assert_close(s.kendall_w, stability.kendall_w(s.coef, exp.n_features[:2]))
    assert_close(s.csi, stability.csi(s.coef, s.coef_std, 0.95, exp.n_features[:2]))
    # Seed 3's explanation of image 1 is an ordinary explanation with those masks.
    alone = explainer(x[1:], exp.target[7:], segments=exp.segments[7:], masks=exp.masks[7:])
    assert_close(s.coef[3, 1], alone.coef[0], rtol=1e-5, atol=1e-6)


class _SegmentLinear(nn.Module):
    """Score = Σ_j c_j * (fraction of superpixel j showing x), on a 4 x 4 grid of 6 x 6 cells.

    With a constant-0 fill and x = 1 the score is linear in the masks: coefficient j is
    about c_j. Counts the images it sees.
    """

    def __init__(self, c):
        super().__init__()
        self.register_buffer("weight", torch.as_tensor(c, dtype=torch.float32).view(4, 4))
        self.calls = 0

    def forward(self, x):
        self.calls += x.shape[0]
        cells = nn.functional.avg_pool2d(x[:, :1], 6)[:, 0]  # (n, 4, 4)
        return (cells * self.weight).sum((-2, -1))[:, None]


def test_auto_stops_when_resolved_and_reports_a_tie_at_the_budget(device):
    x = torch.ones(2, 3, 24, 24, device=device)
    segments = grid(x, 4, 4)
    clear = torch.linspace(1.0, 0.0, 16)
    model = _SegmentLinear(clear).to(device)
    explainer = LimeImage(
        model, baseline=0.0, output="identity", n_samples="auto", max_samples=900, top_k=5,
        progress=False,
    )  # fmt: skip
    first_round = 225  # documented: a quarter of max_samples (at most 1000), odd
    exp = explainer(x[:1], 0, segments=segments[:1], generator=_g(21, device), keep_samples=True)
    assert exp.resolved.tolist() == [[True]]
    assert exp.n_samples.tolist() == [first_round]
    assert model.calls == exp.n_samples.sum().item()
    # Superpixels 4 and 5 tie exactly at the top-5 boundary of image 1, plus a small
    # interaction so that the fit is noisy: no budget resolves it.
    tie = torch.tensor([5.0, 4.0, 3.0, 2.0, 1.0, 1.0] + [0.0] * 10, device=device)

    class Mixed(_SegmentLinear):
        def forward(self, x):
            cells = nn.functional.avg_pool2d(x[:, :1], 6)[:, 0].flatten(1)
            out = super().forward(x)
            # Image 1 is darker in green than in red wherever it shows (the fill is 0).
            second = x[:, 1].sum((-2, -1)) < 0.5 * x[:, 0].sum((-2, -1))
            inter = 0.8 * cells[:, 6] * cells[:, 7] - 0.8 * cells[:, 8] * cells[:, 9]
            tied = (cells * tie).sum(-1) + inter
            return torch.where(second[:, None], tied[:, None], out)

    x2 = x.clone()
    x2[1, 1] = 0.2
    model = Mixed(clear).to(device)
    explainer.model = model
    exp = explainer(x2, 0, segments=segments, generator=_g(22, device), keep_samples=True)
    assert exp.resolved.tolist() == [[True], [False]]
    assert exp.n_samples.tolist() == [first_round, 900]
    assert model.calls == exp.n_samples.sum().item()  # no model call is wasted
    n0 = first_round
    assert (exp.weights[0, n0:] == 0).all() and (exp.weights[1] > 0).all()
    # The fit of image 0 is the ordinary fit of its own samples.
    alone = LimeImage(model, baseline=0.0, output="identity", n_samples=n0, progress=False)
    ref = alone(x2[:1], 0, segments=segments[:1], masks=exp.masks[:1, :n0])
    assert_close(exp.coef[0], ref.coef[0], rtol=1e-5, atol=1e-6)
    report = stability.stability_report(exp, 5, generator=_g(23, device))
    assert report.tie.tolist() == [[False], [True]]


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
