"""stability_report against a scikit-learn bootstrap and against seed-to-seed agreement."""

import itertools

import numpy as np
import pytest
import torch
from _helpers import assert_close, assert_relative
from _helpers import generator as _g
from _helpers import lime_problem as _problem
from _modalities import explained
from scipy import stats
from sklearn.linear_model import Ridge
from torch.utils._python_dispatch import TorchDispatchMode

from torchlime import stability
from torchlime.explanation import Explanation
from torchlime.functional import lime_kernel, sample_masks, weighted_ridge

from ._common import _top_set


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


def test_stability_report_equals_a_sklearn_bootstrap(device):
    masks, y, w = _problem(b=2, n=120, k=6, t=2, seed=11)
    n_features = torch.tensor([6, 5])
    exp = _explanation(masks, y, w, n_features).to(device)
    r, top, conf = 25, 3, 0.9
    report = stability.stability_report(
        exp, top, n_boot=r, confidence=conf, design="iid", generator=_g(12, device)
    )
    report = report.cpu()
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


@pytest.mark.parametrize("alpha", [1.0, 20.0])
def test_stability_report_refits_with_the_recipe(modality, alpha):
    _, exp = explained(modality, alpha)
    report = stability.stability_report(exp, k=2, n_boot=40, generator=1)
    assert_relative(report.coef, exp.coef)
    assert report.tie.shape == exp.target.shape and report.tie.dtype == torch.bool
    assert ((report.jaccard >= 0) & (report.jaccard <= 1)).all()
    assert (report.coef_std[~exp.selected] == 0).all()
    if exp.config["design"] == "exact":  # every coalition: the Shapley values, no noise
        assert (report.coef_std == 0).all()
        return
    assert (report.coef_std[exp.selected & (exp.coef != 0)] > 0).all()  # lasso zeroes some
    # the recipe's penalty is what reproduces the coefficients: another one does not
    other = stability.stability_report(exp, k=2, n_boot=2, alpha=10 * alpha + 5, generator=1)
    assert (other.coef - exp.coef).abs().max() > 1e-3 * exp.coef.abs().max()
