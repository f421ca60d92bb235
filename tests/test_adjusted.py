"""Regression-adjusted lime in the explainers (``adjust=``): recipe, agreement, refusals."""

from __future__ import annotations

import pytest
import torch
from _modalities import KINDS, case

SUPPORTED = ("image", "tabular_discretized", "text", "tensor")
"""The kinds whose samples are masks, with lime's kernel and ridge."""


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_records_it_and_agrees_with_lime_or_refuses(kind):
    c = case(kind)
    settings = {"feature_selection": "none", "max_features": None}
    if kind == "kernel_shap":
        with pytest.raises(ValueError, match="KernelSHAP"):
            c.explainer(adjust="mlp")
        return
    if kind == "tensor_captum":  # captum's Lasso is not linear in the scores
        with pytest.raises(ValueError, match="linear in the scores"):
            c.explainer(adjust="mlp", **settings)
        return
    if kind == "tabular_continuous":  # its samples are not masks: refused at construction
        with pytest.raises(ValueError, match=r"adjust='mlp' gives masks over columns"):
            c.explainer(adjust="mlp", n_samples=1000, **settings)
        return
    adjusted = c.explainer(adjust="mlp", n_samples=1000, **settings)
    assert kind in SUPPORTED
    exp = c.explain(adjusted, top_labels=2, generator=0)
    assert exp.config["adjust"] == "mlp"
    assert "adjust='mlp'" in repr(adjusted) or "adjust=mlp" in repr(adjusted)
    target = exp.target
    reference = c.explain(c.explainer(n_samples=20_000, **settings), target=target, generator=1)
    plain = c.explain(c.explainer(n_samples=1000, **settings), target=target, generator=0)
    assert plain.config["adjust"] is None
    err_adjusted = _relative(exp.coef, reference.coef)
    err_plain = _relative(plain.coef, reference.coef)
    print(
        f"{kind}: relative error vs N=20000 lime: adjusted {err_adjusted:.3f}, lime {err_plain:.3f}"
    )
    # the same estimand: within lime's own noise at N = 1000 of a converged reference
    assert err_adjusted < max(1.5 * err_plain, 0.05), (err_adjusted, err_plain)


def test_deterministic_with_paired_sampling_and_selection():
    c = case("image")
    explainer = c.explainer(
        adjust="mlp",
        sampler="paired",
        n_samples=200,
        feature_selection="highest_weights",
        max_features=4,
    )
    state = torch.get_rng_state()
    first = c.explain(explainer, top_labels=2, generator=3)
    again = c.explain(explainer, top_labels=2, generator=3)
    assert torch.equal(state, torch.get_rng_state())
    assert torch.equal(first.coef, again.coef) and torch.equal(first.score, again.score)
    assert (first.selected.sum(-1) == 4).all()
    assert (first.coef[~first.selected] == 0).all()
    assert first.config["sampler"] == "paired" and first.config["adjust"] == "mlp"


def test_quadratic_and_ols():
    c = case("tensor")
    exp = c.explain(c.explainer(adjust="quadratic", surrogate="ols", n_samples=200), generator=0)
    assert exp.config["adjust"] == "quadratic" and exp.config["surrogate"] == "ols"
    assert torch.isfinite(exp.coef).all() and torch.isfinite(exp.score).all()


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"kernel": "shapley"}, "KernelSHAP"),
        ({"n_samples": "auto"}, "fixed n_samples"),
        ({"surrogate": "bayesian"}, "linear in the scores"),
        ({"adjust": "gbm"}, "adjust must be"),
    ],
)
def test_refused_settings(settings, match):
    c = case("image")
    with pytest.raises(ValueError, match=match):
        c.explainer(**{"adjust": "mlp", **settings})


def test_continuous_tables_are_refused_clearly():
    c = case("tabular_continuous")
    with pytest.raises(ValueError, match=r"columns \[.*\] are\s+continuous"):
        c.explainer(adjust="mlp", n_samples=100)


def test_refitting_tools_say_they_describe_lime_s_plain_fit():
    from torchlime.stability import stability_report

    c = case("image")
    exp = c.explain(c.explainer(adjust="mlp", n_samples=200), generator=0, keep_samples=True)
    with pytest.warns(UserWarning, match="regression-adjusted.*plain fit"):
        stability_report(exp, n_boot=20)


@pytest.mark.parametrize(("output", "link"), [("softmax", "logit"), ("identity", "identity")])
def test_the_control_is_fitted_to_log_odds_of_probabilities(monkeypatch, output, link):
    import torchlime._explainer as explainer_module

    seen = []
    real = explainer_module.adjusted_fit

    def spy(*args, **kwargs):
        seen.append(kwargs["link"])
        return real(*args, **kwargs)

    monkeypatch.setattr(explainer_module, "adjusted_fit", spy)
    c = case("image")
    exp = c.explain(c.explainer(adjust="mlp", n_samples=100, output=output), generator=0)
    assert seen == [link] and exp.config["output"] == output
