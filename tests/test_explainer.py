"""The explainer template, tried on every explainer: one shared test per promise.

Shapes and the recipe, replay with given samples, determinism and the caller's state,
gradients, repeats, adaptive sampling, shared samples and chunking invariance: each runs on
images, tables (discretized and continuous) and text, through the ``modality`` fixture.
"""

import copy

import pytest
import torch
from _helpers import assert_close, exact_shapley

from torchlime import Explanation
from torchlime.functional import fit_surrogate, kernel_weights, shapley_kernel

RECIPE_KEYS = {
    "explainer", "n_samples", "sampler", "design", "share_samples", "kernel", "kernel_width",
    "distance", "distance_scale", "surrogate", "alpha", "feature_selection", "max_features",
    "output", "seed", "torchlime", "torch",
}  # fmt: skip


def test_shapes_dtypes_and_recipe(modality):
    explainer = modality.explainer(alpha=3.0)
    exp = modality.explain(explainer, top_labels=2, generator=7, keep_samples=True)
    b, t, k = exp.coef.shape
    assert (b, t) == (modality.batch, 2)
    assert exp.selected.dtype == torch.bool and exp.selected.shape == (b, t, k)
    assert exp.target.dtype == torch.long and exp.target.shape == (b, t)
    for name in ("intercept", "score", "local_pred", "model_pred"):
        assert getattr(exp, name).shape == (b, t), name
    assert exp.n_features.shape == (b,) and int(exp.n_features.max()) == k
    assert exp.masks.shape[::2] == (b, k) and exp.scores.shape == (b, exp.masks.shape[1], t)
    config = dict(exp.config)
    exact = config["design"] == "exact"  # KernelSHAP: every coalition, when fewer than N
    n = 2 ** int(exp.n_features.max()) if exact else explainer.n_samples
    assert exp.n_samples.tolist() == [n] * b
    assert exp.seed.tolist() == [7] * b
    assert set(config) >= RECIPE_KEYS
    assert config["explainer"] == type(explainer).__name__
    assert config["alpha"] == explainer.alpha and config["seed"] == 7
    assert config["kernel_width"] == explainer.kernel_width
    assert config["n_samples"] == explainer.n_samples
    # every recipe value is plain (it is saved with weights_only)
    assert all(v is None or isinstance(v, (str, int, float, bool, list)) for v in config.values())
    # the recipe's kernel gives the kept weights bit for bit (row 0 out if not fitted)
    if config["kernel"] == "shapley":
        w = shapley_kernel(exp.masks, exp.n_features, enumerated=exact)
    elif config["distance"].startswith("input_"):  # on the inputs, not kept: rebuilt by hand
        w = _input_cosine_weights(modality, exp, config["kernel_width"])
    else:
        w = kernel_weights(
            exp.masks, exp.n_features, config["kernel_width"], distance=config["distance"],
            distance_scale=config["distance_scale"],
        )  # fmt: skip
    if not config["fit_original"]:
        w[:, 0] = 0
    if config["distance"].startswith("input_"):
        assert_close(w, exp.weights, rtol=1e-12, atol=0)
    else:
        assert torch.equal(w, exp.weights)
    # and the recipe's surrogate gives the coefficients
    fit = fit_surrogate(
        exp.masks, exp.scores, exp.weights, exp.n_features, alpha=config["alpha"],
        feature_selection=config["feature_selection"], max_features=config["max_features"],
        surrogate=config["surrogate"],
    )  # fmt: skip
    assert_close(fit.coef, exp.coef, rtol=1e-6, atol=1e-7)
    assert torch.equal(fit.selected, exp.selected)


def _input_cosine_weights(case, exp, width):
    """captum's kernel by hand: exp(-d²/2w²), d the cosine distance between the flattened
    inputs and each perturbed input (its hidden features at the baseline, 0)."""
    (a, b), (mask_a, mask_b) = case.inputs, case.kwargs["feature_mask"]
    ids = torch.cat([mask_a.expand_as(a).flatten(1), mask_b.expand_as(b).flatten(1)], 1)
    x = torch.cat([a.flatten(1), b.flatten(1)], 1).double()  # (B, M)
    keep = exp.masks.gather(2, ids[:, None, :].expand(-1, exp.masks.shape[1], -1))  # (B, N, M)
    perturbed = torch.where(keep, x[:, None], 0.0)
    cos = torch.nn.functional.cosine_similarity(perturbed, x[:, None].expand_as(perturbed), -1)
    return torch.exp(-((1 - cos) ** 2) / (2 * width**2))


def test_recipe_survives_slicing_concat_and_save(modality, tmp_path):
    explainer = modality.explainer(n_samples=60)
    exp = modality.explain(explainer, generator=1, keep_samples=True)
    assert exp[0].config == exp.config
    assert [len(e) for e in exp] == [1] * len(exp)
    with pytest.raises(IndexError):
        exp[len(exp)]
    other = modality.explain(explainer, generator=2, keep_samples=True)
    both = type(exp).concat([exp, other])
    assert len(both) == 2 * len(exp) and both.config["seed"] is None
    assert both.seed.tolist() == [1] * len(exp) + [2] * len(exp)
    assert_close(both.coef[len(exp) :, :, : other.coef.shape[-1]], other.coef)
    exp.save(tmp_path / "e.pt")
    back = Explanation.load(tmp_path / "e.pt")
    assert type(back) is type(exp) and back.config == exp.config
    for name in type(exp).tensor_fields():
        a, b = getattr(exp, name), getattr(back, name)
        assert (a is None) == (b is None), name
        assert a is None or torch.equal(a, b), name
    setting = "kernel_width" if modality.kind == "kernel_shap" else "alpha"  # SHAP fixes alpha
    changed = modality.explainer(n_samples=60, **{setting: 2.0})
    with pytest.raises(ValueError, match=setting):
        type(exp).concat([exp, modality.explain(changed, generator=3)])


def test_replay_reproduces_the_explanation(modality):
    explainer = modality.explainer(n_samples=120)
    exp = modality.explain(explainer, top_labels=2, keep_samples=True, generator=0)
    again = explainer.replay(modality.inputs, exp, **modality.kwargs)
    assert torch.equal(again.target, exp.target)
    assert_close(again.coef, exp.coef, rtol=1e-6, atol=1e-7)
    assert_close(again.scores, exp.scores)


def test_seed_replays_and_global_rng_untouched(modality):
    explainer = modality.explainer(n_samples=80)
    state = torch.get_rng_state()
    a = modality.explain(explainer, generator=5)
    b = modality.explain(explainer, generator=torch.Generator().manual_seed(5))
    fresh = modality.explain(explainer)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a.coef, b.coef)
    assert b.config["seed"] is None and b.seed.tolist() == [-1] * len(b)
    replayed = modality.explain(explainer, generator=int(fresh.seed[0]))
    assert torch.equal(replayed.coef, fresh.coef)


def test_model_state_is_handed_back(modality):
    explainer = modality.explainer(n_samples=40)
    model = explainer.model
    model.train()
    frozen = next(model.modules())
    params = copy.deepcopy(model.state_dict())
    with torch.enable_grad():
        modality.explain(explainer)
        assert torch.is_grad_enabled()
    assert all(m.training for m in model.modules()) and frozen.training
    for name, value in model.state_dict().items():
        assert torch.equal(value, params[name]), name


def test_differentiable_explanations_carry_gradients(modality):
    explainer = modality.explainer(n_samples=40, feature_selection="none")
    exp = modality.explain(explainer, differentiable=True, generator=0)
    assert exp.coef.requires_grad
    exp.coef.square().sum().backward()
    grads = [p.grad for p in explainer.model.parameters()]
    assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)


def test_repeats_share_features_and_draw_new_samples(modality):
    explainer = modality.explainer(n_samples=50)
    exp = modality.explain(explainer, repeats=3, keep_samples=True, generator=0)
    b = modality.batch
    assert len(exp) == 3 * b
    assert torch.equal(exp.n_features, modality.explain(explainer).n_features.repeat(3))
    assert not torch.equal(exp.masks[:b], exp.masks[b : 2 * b])
    assert torch.equal(exp.target[:b], exp.target[b : 2 * b])
    # replicate r of example i is example i explained with another seed: same recipe
    single = modality.explain(explainer, generator=0, keep_samples=True)
    assert exp.config == single.config


def test_batch_size_does_not_change_the_explanation(modality):
    small = modality.explainer(n_samples=90, batch_size=7)
    large = modality.explainer(n_samples=90, batch_size=1000)
    a = modality.explain(small, generator=3)
    b = modality.explain(large, generator=3)
    assert_close(a.coef, b.coef, rtol=1e-5, atol=1e-6)


def test_adaptive_sampling_on_every_explainer(lime_modality):
    explainer = lime_modality.explainer(n_samples="auto", max_samples=200, top_k=2)
    exp = lime_modality.explain(explainer, generator=0, keep_samples=True)
    assert exp.resolved.shape == exp.target.shape and exp.resolved.dtype == torch.bool
    assert ((exp.n_samples >= 51) & (exp.n_samples <= 200)).all()
    used = (exp.weights > 0).sum(-1)
    assert torch.equal(used, exp.n_samples)  # padding rows carry weight 0
    assert exp.config["n_samples"] == "auto" and exp.config["max_samples"] == 200


def test_shared_samples_give_every_example_the_same_random_numbers(modality):
    explainer = modality.explainer(n_samples=60, share_samples=True)
    exp = modality.explain(explainer, generator=0, keep_samples=True)
    assert exp.config["share_samples"] is True
    if modality.kind == "text":  # different feature counts: same uniforms, own law
        assert not torch.equal(exp.masks[0], exp.masks[1])
        return
    if modality.kind.startswith("tabular"):  # one pool of rows for every row
        assert torch.equal(exp.samples[0, 1:], exp.samples[1, 1:])
        return
    assert torch.equal(exp.masks[0], exp.masks[1])


def test_bad_settings_name_the_argument(lime_modality):
    with pytest.raises(ValueError, match="n_samples"):
        lime_modality.explainer(n_samples=1)
    with pytest.raises(ValueError, match="kernel_width"):
        lime_modality.explainer(kernel_width=-1.0)
    with pytest.raises(ValueError, match="alpha"):
        lime_modality.explainer(alpha=float("nan"))
    with pytest.raises(ValueError, match="sampler"):
        lime_modality.explainer(sampler="sobol")
    with pytest.raises(ValueError, match="share_samples"):
        lime_modality.explainer(n_samples="auto", share_samples=True)
    with pytest.raises(ValueError, match="repeats"):
        lime_modality.explain(lime_modality.explainer(), repeats=0)
    with pytest.raises(ValueError, match="share_samples"):
        lime_modality.explain(lime_modality.explainer(share_samples=True), repeats=2)
    explainer = lime_modality.explainer(n_samples=20)
    assert type(explainer).__name__ in repr(explainer) and "alpha=1.0" in repr(explainer)


@pytest.mark.parametrize("surrogate", ["lasso", "ols", "bayesian"])
def test_every_surrogate_on_every_explainer_with_its_recipe(lime_modality, surrogate):
    from sklearn.linear_model import BayesianRidge, Lasso, LinearRegression

    from torchlime import stability

    alpha = 0.001 if surrogate == "lasso" else 1.0
    explainer = lime_modality.explainer(n_samples=150, surrogate=surrogate, alpha=alpha)
    exp = lime_modality.explain(explainer, keep_samples=True, generator=0)
    assert exp.config["surrogate"] == surrogate
    k = int(exp.n_features[0])
    ref = {
        "lasso": Lasso(alpha=alpha, tol=1e-12, max_iter=200_000),
        "ols": LinearRegression(),
        "bayesian": BayesianRidge(max_iter=300, tol=1e-300),
    }[surrogate].fit(
        exp.masks[0, :, :k].double().numpy(),
        exp.scores[0, :, 0].double().numpy(),
        sample_weight=exp.weights[0].numpy(),
    )
    scale = max(abs(ref.coef_).max(), 1e-12)
    assert (exp.coef[0, 0, :k].double() - torch.from_numpy(ref.coef_)).abs().max() < 1e-4 * scale
    report = stability.stability_report(exp, k=2, n_boot=5, generator=1)
    assert_close(report.coef, exp.coef, rtol=1e-5, atol=1e-6 * exp.coef.abs().max().item())
    w = explainer.kernel_width
    sweep = stability.kernel_width_sweep(exp, [w, 2 * w])
    assert_close(sweep.coef[0], exp.coef, rtol=1e-5, atol=1e-6 * exp.coef.abs().max().item())


def test_kernel_shap_on_every_explainer(lime_modality):
    from torchlime import stability

    if lime_modality.kind == "tabular_continuous":  # coalitions need columns that can be "off"
        with pytest.raises(ValueError, match="discretized or categorical"):
            lime_modality.explainer(kernel="shapley")
        return
    explainer = lime_modality.explainer(n_samples=300, kernel="shapley")
    exp = lime_modality.explain(explainer, keep_samples=True, generator=0)
    config = exp.config
    assert config["kernel"] == "shapley" and config["surrogate"] == "shapley"
    # efficiency, exactly: the attributions sum to f(x) - f(empty), the intercept is f(empty)
    assert_close(exp.coef.sum(-1) + exp.intercept, exp.model_pred, rtol=1e-5, atol=1e-6)
    report = stability.stability_report(exp, k=2, n_boot=5, generator=1)
    assert_close(report.coef, exp.coef, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="no width"):
        stability.kernel_width_sweep(exp, [1.0])
    k = int(exp.n_features[0])
    if 2 ** exp.masks.shape[-1] > 300:
        assert config["design"] == "iid"  # sampled: too many coalitions for the budget
        return
    assert config["design"] == "exact"  # every coalition once: the Shapley values
    table = {
        tuple(m[:k].tolist()): s
        for m, s in zip(exp.masks[0], exp.scores[0, :, 0].tolist(), strict=True)
    }
    phi = exact_shapley(lambda coalition: table[tuple(coalition)], k)
    assert exp.coef[0, 0, :k].tolist() == pytest.approx(phi, abs=1e-6)
