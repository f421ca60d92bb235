"""Regression-adjusted lime (``adjusted_fit``) against lime's exact estimand, by enumeration.

On K = 7 features every mask is enumerated with its probability under the law (lime's
images: Bernoulli(1/2); lime's text: a uniform number of features removed) and its kernel
weight; the population weighted ridge (the original row with its weight, the N - 1 drawn
rows as N - 1 times the law, lime's alpha) is the estimand lime's estimate at N samples
targets. Many seeds run as one batch: each example of the batch is one seed.
"""

from __future__ import annotations

import math

import pytest
import torch

from torchlime.functional import (
    adjust,
    adjusted_fit,
    count_log_prob,
    draw_masks,
    fit_surrogate,
    kernel_weights,
    weighted_ridge,
)
from torchlime.functional.adjust import check_adjust

K, N, SEEDS = 7, 200, 200
SMALL = {"hidden": 32, "steps": 100}
"""A smaller, faster g than the default (64 units, 200 steps): the estimand is the same."""
LAWS = {  # law: (kernel width, distance scale) of the modality that samples it
    "bernoulli": (0.25, 1.0),
    "removal": (25.0, 100.0),
}


def _model(masks: torch.Tensor) -> torch.Tensor:
    """(..., K) bool -> (..., 2): strong pairwise interactions inside a sigmoid and a tanh."""
    g = torch.Generator().manual_seed(123)
    pair = torch.randn(K, K, generator=g, dtype=torch.float64)
    pair = (pair + pair.T) / K**0.5
    lin = torch.randn(K, generator=g, dtype=torch.float64)
    s = masks.double() * 2 - 1
    q = torch.einsum("...i,ij,...j->...", s, pair, s)
    return torch.stack([torch.sigmoid(q + 0.5 * s @ lin), torch.tanh(0.3 * s @ lin - 0.2 * q)], -1)


def _weigh(law: str):
    width, scale = LAWS[law]
    return lambda masks: kernel_weights(masks, None, width, distance_scale=scale)


def _draw(law: str, sampler: str, batch: int, g: torch.Generator):
    n_valid = torch.full((batch,), K)
    return lambda m: draw_masks(sampler, batch, m, K, n_valid=n_valid, law=law, generator=g)


def _probability(masks: torch.Tensor) -> torch.Tensor:
    """(..., K) bool -> (..., 1): the model's sigmoid output alone, a probability."""
    return _model(masks)[..., :1]


def exact_estimand(law: str, n: int, alpha: float = 1.0, model=_model) -> torch.Tensor:
    """(T, K) lime's estimand at n samples: the population ridge over all 2^K masks."""
    every = ((torch.arange(2**K)[:, None] >> torch.arange(K)) & 1).bool()
    kept = every.sum(-1)
    log_count = count_log_prob(torch.tensor([K]), K, math.inf, law=law)[0]
    subsets = torch.tensor([math.comb(K, int(j)) for j in kept], dtype=torch.float64)
    prob = log_count[kept].exp() / subsets  # exchangeable: a count, then a uniform subset
    X = torch.cat([torch.ones(1, K, dtype=torch.bool), every])[None]
    weights = torch.cat([torch.ones(1, dtype=torch.float64), (n - 1) * prob * _weigh(law)(every)])
    return weighted_ridge(X, model(X), weights[None], alpha).coef[0]


def _estimates(
    law: str, sampler: str, control: str | None, seed: int = 0, model=_model, **options
) -> torch.Tensor:
    """(SEEDS, T, K): one estimate per example of one batch, each from its own samples."""
    g = torch.Generator().manual_seed(seed)
    draw, weigh = _draw(law, sampler, SEEDS, g), _weigh(law)
    X = draw(N)
    scores, weights, n_valid = model(X), weigh(X), torch.full((SEEDS,), K)
    if control is None:
        return fit_surrogate(X, scores, weights, n_valid).coef.double()
    fit = adjusted_fit(
        X, scores, weights, n_valid, draw=draw, weigh=weigh, control=control, generator=g,
        **SMALL, **options,
    )  # fmt: skip
    return fit.coef.double()


def _nmse(coef: torch.Tensor, ref: torch.Tensor) -> float:
    return float(((coef - ref) ** 2).sum((-2, -1)).mean() / (ref**2).sum())


@pytest.mark.parametrize("law", list(LAWS))
def test_unbiased_and_lower_variance_than_lime(law):
    """(a) mean over 200 seeds within a few standard errors of the exact estimand;
    (b) NMSE at least 2x below lime's sampling at the same N."""
    ref = exact_estimand(law, N)
    adjusted = _estimates(law, "lime", "mlp")
    plain = _estimates(law, "lime", None)
    se = adjusted.std(0) / SEEDS**0.5
    z = (adjusted.mean(0) - ref) / se
    assert z.abs().max() < 4.5, z
    factor = _nmse(plain, ref) / _nmse(adjusted, ref)
    print(f"{law}: NMSE lime / adjusted(mlp) = {factor:.1f}")
    assert factor >= 2.0


def test_paired_and_quadratic_keep_the_estimand():
    ref = exact_estimand("bernoulli", N)
    for sampler, control in (("paired", "mlp"), ("lime", "quadratic")):
        coef = _estimates("bernoulli", sampler, control, seed=1)
        z = (coef.mean(0) - ref) / (coef.std(0) / SEEDS**0.5)
        assert z.abs().max() < 4.5, (sampler, control, z)
        assert _nmse(coef, ref) < _nmse(_estimates("bernoulli", "lime", None, seed=1), ref)


@pytest.mark.parametrize("control", ["mlp", "quadratic"])
def test_a_control_on_the_log_odds_keeps_the_estimand(control):
    """link="logit" (probabilities): g on the log-odds, read back through the sigmoid."""
    ref = exact_estimand("bernoulli", N, model=_probability)
    plain = _estimates("bernoulli", "lime", None, seed=2, model=_probability)
    coef = _estimates("bernoulli", "lime", control, seed=2, model=_probability, link="logit")
    z = (coef.mean(0) - ref) / (coef.std(0) / SEEDS**0.5)
    assert z.abs().max() < 4.5, z
    factor = _nmse(plain, ref) / _nmse(coef, ref)
    print(f"{control}, logit link: NMSE lime / adjusted = {factor:.1f}")
    assert factor >= 2.0


def test_a_control_that_is_the_model_leaves_only_the_free_masks_noise(monkeypatch):
    """A quadratic model is its own quadratic control: what remains is beta*(g)'s noise."""
    monkeypatch.setattr(adjust, "_QUADRATIC_PENALTY", 1e-6)  # g = the model, exactly
    g = torch.Generator().manual_seed(0)
    pair = torch.randn(K, K, generator=g, dtype=torch.float64)

    def model(masks):
        s = masks.double() * 2 - 1
        return torch.einsum("...i,ij,...j->...", s, pair, s)[..., None]

    every = ((torch.arange(2**K)[:, None] >> torch.arange(K)) & 1).bool()
    X_all = torch.cat([torch.ones(1, K, dtype=torch.bool), every])[None]
    w_all = torch.cat(
        [torch.ones(1, dtype=torch.float64), (N - 1) * 0.5**K * _weigh("bernoulli")(every)]
    )
    ref = weighted_ridge(X_all, model(X_all), w_all[None], 1.0).coef[0]
    draw, weigh = _draw("bernoulli", "lime", 4, g), _weigh("bernoulli")
    X = draw(N)
    fit = adjusted_fit(
        X,
        model(X),
        weigh(X),
        torch.full((4,), K),
        draw=draw,
        weigh=weigh,
        control="quadratic",
        n_free=200_000,
        generator=g,
    )
    plain = fit_surrogate(X, model(X), weigh(X), torch.full((4,), K)).coef.double()
    assert _nmse(fit.coef.double(), ref) < 0.01 * _nmse(plain, ref)


def test_shapes_selection_padding_and_determinism():
    b, n, k, t = 3, 60, 6, 2
    n_valid = torch.tensor([6, 4, 5])

    def run(seed):
        g = torch.Generator().manual_seed(seed)
        draw = lambda m: draw_masks("lime", b, m, k, n_valid=n_valid, generator=g)  # noqa: E731
        X = draw(n)
        y = torch.sigmoid(X[..., :t].float() * X[..., 1:2] * 3)
        weigh = lambda masks: kernel_weights(masks, n_valid, 0.25)  # noqa: E731
        return adjusted_fit(
            X,
            y,
            weigh(X),
            n_valid,
            draw=draw,
            weigh=weigh,
            steps=20,
            feature_selection="highest_weights",
            max_features=2,
            generator=g,
        )

    fit = run(0)
    assert fit.coef.shape == (b, t, k) and fit.intercept.shape == fit.score.shape == (b, t)
    assert fit.coef.dtype == torch.float32
    assert (fit.selected.sum(-1) == 2).all()
    assert (fit.coef[~fit.selected] == 0).all()
    padded = torch.arange(k) >= n_valid[:, None, None]
    assert not (fit.selected & padded).any()
    again = run(0)
    assert torch.equal(fit.coef, again.coef) and torch.equal(fit.score, again.score)
    state = torch.get_rng_state()
    run(1)
    assert torch.equal(state, torch.get_rng_state())


def test_runs_under_inference_mode_and_gradients_reach_the_scores():
    g = torch.Generator().manual_seed(0)
    draw = lambda m: draw_masks("lime", 1, m, 5, n_valid=torch.tensor([5]), generator=g)  # noqa: E731
    X = draw(40)
    weigh = lambda m: kernel_weights(m, None, 0.25)  # noqa: E731

    def fit(scores):
        return adjusted_fit(
            X, scores, weigh(X), torch.tensor([5]), draw=draw, weigh=weigh, steps=5, generator=g
        )

    with torch.inference_mode():
        assert fit(X[..., :1].double()).coef.shape == (1, 1, 5)
    scores = X[..., :1].double().requires_grad_()
    fit(scores).coef.sum().backward()
    assert scores.grad is not None and scores.grad.abs().sum() > 0


def test_errors():
    X = torch.ones(1, 20, 3, dtype=torch.bool)
    y, w, nf = torch.zeros(1, 20, 1), torch.ones(1, 20), torch.tensor([3])
    kw = {
        "draw": lambda m: torch.ones(1, m, 3, dtype=torch.bool),
        "weigh": lambda m: m[..., 0].double(),
    }
    with pytest.raises(ValueError, match="bool masks"):
        adjusted_fit(X.float(), y, w, nf, **kw)
    with pytest.raises(ValueError, match="control must be"):
        adjusted_fit(X, y, w, nf, control="tree", **kw)
    with pytest.raises(ValueError, match="link must be"):
        adjusted_fit(X, y, w, nf, link="probit", **kw)
    with pytest.raises(ValueError, match="2 \\* folds \\+ 1"):
        adjusted_fit(X, y, w, nf, folds=10, **kw)
    with pytest.raises(ValueError, match="folds must be"):
        adjusted_fit(X, y, w, nf, folds=1, **kw)
    with pytest.raises(ValueError, match="must return"):
        adjusted_fit(
            X,
            y,
            w,
            nf,
            draw=lambda m: torch.ones(1, m, 2, dtype=torch.bool),
            weigh=kw["weigh"],
            n_free=50,
        )
    with pytest.raises(ValueError, match="KernelSHAP"):
        check_adjust("mlp", kernel="shapley", surrogate="ridge", n_samples=100)
    with pytest.raises(ValueError, match="fixed n_samples"):
        check_adjust("mlp", kernel="lime", surrogate="ridge", n_samples="auto")
    with pytest.raises(ValueError, match="linear in the scores"):
        check_adjust("mlp", kernel="lime", surrogate="lasso", n_samples=100)
    with pytest.raises(ValueError, match="adjust must be"):
        check_adjust("gbm", kernel="lime", surrogate="ridge", n_samples=100)
    check_adjust(None, kernel="shapley", surrogate="lasso", n_samples="auto")
