"""resolution_test / resolution_report: Holm's pairwise rank tests at a stated FWER.

Checked against an independent brute-force Holm (numpy/scipy), and calibrated by
simulation against a known truth: Gaussian coefficient vectors with a known covariance,
and LIME-style regressions on masks (a linear model plus noise) with the sandwich
covariance, including near-ties, exact ties, ties at 0 and correlated coefficients.
"""

import math

import numpy as np
import pytest
import torch
from _helpers import assert_close
from _helpers import generator as _g
from _helpers import lime_problem as _problem
from scipy import stats
from torch import nn

from torchlime import Grid, LimeImage, stability
from torchlime.functional import (
    bootstrap_coef,
    lime_kernel,
    resolution_test,
    ridge_covariance,
    sample_masks,
    weighted_ridge,
)
from torchlime.segmentation import grid

ALPHA = 0.05


# ------------------------------------------------------------------ brute-force reference


def _holm_reference(b, cov, k, alpha):
    """Holm over the pairs (i, l), i < k, i < l, of positions by |b|; written from scratch."""
    kk = len(b)
    order = sorted(range(kk), key=lambda f: (-abs(b[f]), f))
    z = {}
    for i in range(min(k, kk)):
        for m in range(i + 1, kk):
            fi, fl = order[i], order[m]
            s = -1.0 if b[fi] < 0 else 1.0
            both = []
            for sign in (-1.0, 1.0):  # s b_i - b_l and s b_i + b_l
                num = s * b[fi] + sign * b[fl]
                var = cov[fi, fi] + cov[fl, fl] + 2 * sign * s * cov[fi, fl]
                both.append(num / math.sqrt(var) if num > 0 else 0.0)
            z[(i, m)] = min(both)

    def holm(scale):
        p = {key: 2 * stats.norm.sf(v * math.sqrt(scale)) for key, v in z.items()}
        rejected = set()
        for step, key in enumerate(sorted(p, key=p.get)):
            if p[key] > alpha / (len(p) - step):
                break
            rejected.add(key)
        return rejected

    def verdict(scale):
        rej = holm(scale)
        positions = [all(key in rej for key in z if j in key) for j in range(min(k, kk))]
        return positions, all(key in rej for key in z if key[0] < k <= key[1])

    return order, z, holm(1.0), verdict


def _random_cases(n_cases, kk, seed):
    g = np.random.default_rng(seed)
    coef = g.normal(size=(n_cases, kk)) * g.uniform(0.5, 3, size=(n_cases, 1))
    coef[::7, 1] = -coef[::7, 0]  # exact ties of |coef| with opposite signs
    coef[::5, 2:] = 0.0  # ties at 0
    a = g.normal(size=(n_cases, kk, kk)) * g.uniform(0.05, 0.6, size=(n_cases, 1, kk))
    cov = a @ a.transpose(0, 2, 1) + 1e-3 * np.eye(kk)
    return coef, cov


@pytest.mark.parametrize(("k", "alpha"), [(1, 0.05), (2, 0.05), (3, 0.2), (4, 0.1), (6, 0.05)])
def test_equals_a_brute_force_holm(k, alpha, device):
    kk, n = 4, 1000.0
    coef, cov = _random_cases(150, kk, seed=k)
    res = resolution_test(
        torch.tensor(coef, device=device), torch.tensor(cov, device=device), k, alpha,
        n_samples=n,
    )  # fmt: skip
    res = res._replace(**{f: getattr(res, f).cpu() for f in res._fields})
    assert res.resolved.shape == (150, k) and res.set_resolved.shape == (150,)
    for c in range(len(coef)):
        order, z, rejected, verdict = _holm_reference(coef[c], cov[c], k, alpha)
        assert res.order[c].tolist() == order
        positions, set_ok = verdict(1.0)
        kt = min(k, kk)
        assert res.resolved[c, :kt].tolist() == positions
        assert not res.resolved[c, kt:].any()
        assert bool(res.set_resolved[c]) == set_ok
        assert res.n_tests[c].item() == len(z)
        for (i, m), v in z.items():
            assert res.statistic[c, i, m].item() == pytest.approx(v, rel=1e-5, abs=1e-6)
            assert bool(res.rejected[c, i, m]) == ((i, m) in rejected)
        # n_needed: the smallest n at which the brute force resolves the set / position.
        checks = [(res.n_needed[c].item(), lambda s, verdict=verdict: verdict(s)[1])]
        checks += [
            (res.position_n_needed[c, j].item(), lambda s, j=j, verdict=verdict: verdict(s)[0][j])
            for j in range(kt)
        ]
        for needed, passes in checks:
            if math.isinf(needed):
                assert not passes(1e12)
            else:
                assert passes(needed / n * (1 + 1e-4))
                assert needed == 0 or not passes(needed / n * (1 - 1e-4))


def test_hand_made_cases():
    eye = 0.01 * torch.eye(4, dtype=torch.float64)
    # Well separated: everything resolved; an exact tie at 3/4: position 3 and the set fail.
    res = resolution_test(
        torch.tensor([[3.0, -2.0, 1.0, 0.0], [3.0, -2.0, 1.0, -1.0]], dtype=torch.float64),
        eye.expand(2, 4, 4), k=3, n_samples=100,
    )  # fmt: skip
    assert res.resolved.tolist() == [[True, True, True], [True, True, False]]
    assert res.set_resolved.tolist() == [True, False]
    assert math.isinf(res.n_needed[1]) and res.n_needed[0] < 100
    # Positions 1 and 2 tie, 3 is clear of both and of 4: position 3 resolved alone.
    res = resolution_test(torch.tensor([2.0, 2.0, 1.0, 0.0]), 0.001 * torch.eye(4), k=3)
    assert res.resolved.tolist() == [False, False, True] and res.set_resolved.item()
    # The covariance matters: strongly positively correlated, a small gap is resolved.
    corr = torch.tensor([[1.0, 0.99], [0.99, 1.0]]) * 0.01
    coef = torch.tensor([1.0, 0.9])
    assert resolution_test(coef, corr, k=1).set_resolved.item()
    assert not resolution_test(coef, torch.diag(corr.diagonal()), k=1).set_resolved.item()
    # At most k valid features: the set is resolved; padded positions are not.
    res = resolution_test(
        torch.tensor([[1.0, 0.5, 0.0]]), 0.01 * torch.eye(3)[None], 3, n_features=torch.tensor([2])
    )
    assert res.set_resolved.tolist() == [True]
    assert res.resolved.tolist() == [[True, True, False]]


def test_checks():
    with pytest.raises(ValueError, match="covariance must be"):
        resolution_test(torch.zeros(2, 3), torch.zeros(2, 3), 1)
    with pytest.raises(ValueError, match="alpha"):
        resolution_test(torch.zeros(3), torch.eye(3), 1, alpha=1.5)
    with pytest.raises(ValueError, match="k must be"):
        resolution_test(torch.zeros(3), torch.eye(3), 0)


# ------------------------------------------------------------------ calibration by simulation


def _equicorrelated(kk, rho, sd):
    sd = torch.as_tensor(sd, dtype=torch.float64)
    c = torch.full((kk, kk), rho, dtype=torch.float64).fill_diagonal_(1.0)
    return c * sd[:, None] * sd[None, :]


def _errors(beta, res, k):
    """Per replicate: a declared position or set is wrong for the true |beta|."""
    a = beta.abs()[res.order]  # true |beta| in each replicate's estimated order
    kk, kt = a.shape[-1], min(k, a.shape[-1])
    beats = a[:, :kt, None] > a[:, None, :]  # (R, k, K) strictly, in truth
    ok_pos = torch.stack(
        [beats[:, j, j + 1 :].all(1) & beats[:, :j, j].all(1) for j in range(kt)], 1
    )
    ok_set = a[:, :kt].amin(1) > a[:, kt:].amax(1) if kt < kk else torch.ones_like(res.set_resolved)
    return (res.resolved[:, :kt] & ~ok_pos).any(1) | (res.set_resolved & ~ok_set)


def _gaussian(beta, cov1, n, k, reps=4000, seed=0, marginal=False):
    beta = torch.as_tensor(beta, dtype=torch.float64)
    cov = cov1 / n
    b = beta + torch.randn(reps, len(beta), generator=_g(seed), dtype=torch.float64) @ (
        torch.linalg.cholesky(cov).T
    )
    used = torch.diag(cov.diagonal()) if marginal else cov
    res = resolution_test(b, used.expand(reps, -1, -1), k, ALPHA, n_samples=n)
    return res, _errors(beta, res, k).double().mean().item()


def _slack(reps):
    return 3 * math.sqrt(ALPHA * (1 - ALPHA) / reps)


_K = 8
_TIE = _equicorrelated(_K, 0.0, [1.0] * _K)
_TIE[4, 5] = _TIE[5, 4] = -0.8  # negatively correlated: Var(b4 - b5) > Var(b4) + Var(b5)
CONFIGS = {
    "near ties": ([3, 2.5, 2, 1.5, 1.05, 1.0, 0.5, 0], _equicorrelated(_K, 0.3, [1] * _K), 5),
    "exact tie at the boundary": ([3, 2.5, 2, 1.5, 1.0, 1.0, 0.5, 0], _TIE, 5),
    "opposite-sign tie": ([3, 2, 1, -1, 0.5, 0, 0, 0], _equicorrelated(_K, 0.5, [1] * _K), 3),
    "tie inside the top k": ([3, 2, 2, 1, 0, 0, 0, 0], _equicorrelated(_K, 0.6, [1] * _K), 3),
    "ties at 0, unequal variances": (
        [3, 2, 1, 0, 0, 0, 0, 0],
        _equicorrelated(_K, 0.2, [1, 1, 1, 10, 0.1, 3, 0.3, 0.03]),
        5,
    ),
    "all 0": ([0] * _K, _equicorrelated(_K, 0.0, [1, 10, 0.1, 3, 0.3, 1, 30, 0.03]), 5),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_fwer_is_controlled_for_gaussian_coefficients(name):
    beta, cov1, k = CONFIGS[name]
    for n in (25, 100, 400):
        _, fwer = _gaussian(beta, cov1, n, k, seed=n)
        assert fwer <= ALPHA + _slack(4000), (name, n, fwer)


def test_marginal_variances_alone_are_miscalibrated():
    # With the boundary pair negatively correlated the marginal test claims a tie is
    # resolved far more often than alpha; the full covariance does not.
    beta, cov1, k = CONFIGS["exact tie at the boundary"]
    _, full = _gaussian(beta, cov1, 400, k)
    _, marginal = _gaussian(beta, cov1, 400, k, marginal=True)
    assert full <= ALPHA + _slack(4000) < 2 * ALPHA < marginal


def test_power_grows_with_n_and_n_needed_predicts_it():
    beta, cov1, k = CONFIGS["near ties"]
    beta_t = torch.tensor(beta, dtype=torch.float64)
    # At the true values the set passes from N* on (z grows as sqrt(N)).
    n_star = resolution_test(beta_t, cov1, k, ALPHA, n_samples=1.0).n_needed.item()
    rates = [
        _gaussian(beta, cov1, n_star * f, k, seed=3)[0].set_resolved.double().mean().item()
        for f in (0.25, 1.0, 4.0)
    ]
    assert rates[0] < 0.25 < 0.35 < rates[1] < 0.65 < 0.95 < rates[2]
    # Power per position grows with N too.
    powers = [
        _gaussian(beta, cov1, n, k, seed=4)[0].resolved.double().mean().item()
        for n in (25, 100, 400)
    ]
    assert powers[0] < powers[1] < powers[2]
    # From estimates at N* / 4, the median n_needed is within a factor 1.5 of N*.
    res, _ = _gaussian(beta, cov1, n_star / 4, k, seed=5)
    ratio = res.n_needed.double().median().item() / n_star
    assert 1 / 1.5 < ratio < 1.5


def _lime_regressions(beta, reps, n, seed, alpha=1.0, noise=1.0):
    """``reps`` LIME-style fits of a linear model over masks plus heteroskedastic noise."""
    g = _g(seed)
    kk = len(beta)
    masks = sample_masks(reps, n, kk, generator=g)
    z = masks.double()
    scale = noise * (0.3 + 0.4 * z[..., :1])
    noise = scale * torch.randn(reps, n, 1, generator=g, dtype=torch.float64)
    y = z @ torch.tensor(beta, dtype=torch.float64)[:, None] + noise
    w = lime_kernel(masks, dtype=torch.float64)
    coef = weighted_ridge(masks, y, w, alpha).coef[:, 0]
    cov = ridge_covariance(masks, y, w, alpha)[:, 0]
    return coef, cov


def test_fwer_is_controlled_on_lime_regressions_with_the_sandwich():
    # Exchangeable masks keep exact ties exact in the ridge's estimand: positions 5 and 6
    # are an exact tie of opposite signs, positions 3 and 4 a near-tie.
    beta = [0.8, -0.6, 0.45, 0.4, 0.3, -0.3, 0.1, 0.05, 0.0, 0.0]
    reps, n = 2000, 1000
    coef, cov = _lime_regressions(beta, reps, n, seed=7, noise=0.2)
    # The sandwich is the covariance over replications.
    empirical = torch.cov(coef.T)
    assert_close(cov.mean(0), empirical, rtol=0, atol=0.06 * empirical.diagonal().max().item())
    truth = torch.tensor(beta, dtype=torch.float64)
    fwer = {}
    for k in (3, 5):
        res = resolution_test(coef, cov, k, ALPHA, n_samples=n)
        fwer[k] = _errors(truth, res, k).double().mean().item()
        assert res.resolved[:, :2].all()  # positions 1 and 2 are clear
    assert fwer[3] <= fwer[5] <= ALPHA + _slack(reps), fwer
    assert res.resolved[:, 2:4].double().mean() > 0.9  # the near-tie, mostly resolved


def test_the_sandwich_agrees_with_the_bootstrap():
    masks, y, w = _problem(b=2, n=400, k=5, t=2, seed=3)
    for design in ("iid", "paired"):
        cov = ridge_covariance(masks, y, w, 1.0, design=design)
        boot = bootstrap_coef(
            masks, y, w, torch.ones(2, 5, dtype=torch.bool), torch.tensor([5, 5]), 1.0, 3000,
            design=design, generator=_g(4),
        ).double()  # fmt: skip
        centred = boot - boot.mean(0)
        ref = torch.einsum("rbtk,rbtl->btkl", centred, centred) / (len(boot) - 1)
        scale = ref.diagonal(dim1=-2, dim2=-1).amax(-1)[..., None, None]
        assert ((cov - ref).abs() / scale).max() < 0.15, design


# ------------------------------------------------------------------ the report


class _SegmentLinear(nn.Module):
    """Score = Σ_j c_j * (share of cell j shown) on a 4 x 4 grid of 6 x 6 cells, plus an
    interaction (so the fit has residuals), per image: ``weights`` (B, 16)."""

    def __init__(self, weights):
        super().__init__()
        self.register_buffer("weight", torch.as_tensor(weights, dtype=torch.float32))
        self.calls = 0

    def forward(self, x):
        self.calls += x.shape[0]
        cells = nn.functional.avg_pool2d(x[:, :1], 6)[:, 0].flatten(1)  # (n, 16)
        which = (x[:, 1].sum((-2, -1)) < 0.5 * x[:, 0].sum((-2, -1))).long()  # image id
        inter = 0.8 * cells[:, 12] * cells[:, 13] - 0.8 * cells[:, 14] * cells[:, 15]
        return ((cells * self.weight[which]).sum(-1) + inter)[:, None]


def _two_images(device):
    x = torch.ones(2, 3, 24, 24, device=device)
    x[1, 1] = 0.2  # image 1 is told apart by its green channel
    clear = torch.linspace(1.0, 0.0, 16) * 4
    tie = torch.tensor([5.0, 4.0, 3.0, 2.0, 1.0, 1.0] + [0.0] * 10)
    return x, grid(x, 4, 4), _SegmentLinear(torch.stack([clear, tie])).to(device)


def test_report_is_the_functional_test_on_the_explanation(device):
    x, segments, model = _two_images(device)
    names = [f"class {i}" for i in range(1)]
    explainer = LimeImage(model, baseline=0.0, output="identity", n_samples=400, progress=False,
                          class_names=names)  # fmt: skip
    exp = explainer(x, 0, segments=segments, generator=_g(1, device), keep_samples=True)
    report = stability.resolution_report(exp, k=5)
    n = (exp.weights > 0).sum(-1)
    cov = ridge_covariance(exp.masks, exp.scores, exp.weights, 1.0, feature_mask=exp.selected)
    ref = resolution_test(exp.coef, cov, 5, ALPHA, n_samples=n[:, None], n_features=exp.n_features)
    assert_close(report.coef, exp.coef, rtol=1e-5, atol=1e-6)
    assert torch.equal(report.resolved, ref.resolved)
    assert torch.equal(report.set_resolved, ref.set_resolved)
    assert report.set_resolved.tolist() == [[True], [False]]  # image 1: cells 4 and 5 tie
    assert report.resolved[1, 0].tolist() == [True, True, True, True, False]
    text = str(report)
    assert "FWER 5 %" in text and "'class 0' (output 0)" in text
    assert "superpixel 4 vs superpixel 5" in text or "superpixel 5 vs superpixel 4" in text
    assert "positions 1-4 resolved" in text and "top-5 set resolved at FWER 5 %" in text
    assert "ResolutionReport(k=5, alpha=0.05, covariance='sandwich'" in repr(report)
    boot = stability.resolution_report(
        exp, k=5, covariance="bootstrap", n_boot=300, generator=_g(2, device)
    )
    assert boot.set_resolved.tolist() == [[True], [False]] and "bootstrap (300" in str(boot)
    with pytest.raises(ValueError, match="keep_samples=True"):
        stability.resolution_report(explainer(x, 0, segments=segments))
    with pytest.raises(ValueError, match="covariance must be"):
        stability.resolution_report(exp, covariance="marginal")
    lasso = LimeImage(model, baseline=0.0, output="identity", n_samples=100, progress=False,
                      surrogate="lasso", alpha=0.01)  # fmt: skip
    exp = lasso(x, 0, segments=segments, generator=_g(3, device), keep_samples=True)
    with pytest.raises(ValueError, match="use covariance='bootstrap'"):
        stability.resolution_report(exp)


def test_report_of_a_real_model_runs_on_every_target():
    model = nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(12, 3))
    explainer = LimeImage(model, segmenter=Grid(4, 4), n_samples=200, progress=False)
    x = torch.rand(2, 3, 16, 16, generator=_g(0))
    exp = explainer(x, top_labels=2, keep_samples=True, generator=_g(1))
    report = stability.resolution_report(exp, k=3, alpha=0.1)
    assert report.resolved.shape == (2, 2, 3) and report.n_needed.shape == (2, 2)
    assert report.coef_cov.shape == (2, 2, 16, 16)
    assert "FWER 10 %" in report.summary(max_examples=1)
    assert report.cpu().coef.device.type == "cpu"


# ------------------------------------------------------------------ n_samples="auto", stop="set"


def test_auto_stops_on_the_set(device):
    x, segments, model = _two_images(device)
    explainer = LimeImage(
        model, baseline=0.0, output="identity", n_samples="auto", max_samples=900, top_k=5,
        stop="set", progress=False,
    )  # fmt: skip
    exp = explainer(x, 0, segments=segments, generator=_g(21, device), keep_samples=True)
    assert exp.config["stop"] == "set"
    assert exp.resolved.tolist() == [[True], [False]]
    assert exp.n_samples[0] < 900 and exp.n_samples[1] == 900  # the tie spends the budget
    assert model.calls == exp.n_samples.sum().item()
    report = stability.resolution_report(exp, k=5, alpha=1 - explainer.confidence)
    assert torch.equal(report.set_resolved, exp.resolved)
    assert (report.n_samples == exp.n_samples).all()
    # The default stays the bootstrap gap test.
    assert LimeImage(model, n_samples="auto").stop == "gap"
    with pytest.raises(ValueError, match="stop must be one of"):
        LimeImage(model, n_samples="auto", stop="never")
