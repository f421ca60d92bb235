"""kernel_width_sweep against separate fits, one per kernel width."""

import pytest
import torch
from _helpers import PatchMLP, assert_close, assert_relative
from _helpers import generator as _g
from _helpers import smooth_images as _images
from _modalities import explained

from torchlime import Lime, LimeImage, stability
from torchlime.segmentation import grid


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


@pytest.mark.parametrize("alpha", [1.0, 20.0])
def test_kernel_width_sweep_reads_the_recipe(modality, alpha):
    explainer, exp = explained(modality, alpha)
    w = explainer.kernel_width
    if modality.kind == "kernel_shap":
        with pytest.raises(ValueError, match="Shapley kernel has no width"):
            stability.kernel_width_sweep(exp, [w])
        return
    fit = stability.kernel_width_sweep(exp, [w / 3, w, 3 * w])
    assert_relative(fit.coef[1], exp.coef)
    assert (fit.coef[0] - exp.coef).abs().max() > 1e-4 * exp.coef.abs().max()
    if modality.kind == "tensor_captum":  # GLIME folds a kernel on the samples, not inputs
        with pytest.raises(ValueError, match="binomial"):
            modality.explainer(sampler="binomial")
        return
    folded = modality.explainer(n_samples=50, sampler="binomial")
    with pytest.raises(ValueError, match="folded"):
        stability.kernel_width_sweep(modality.explain(folded, keep_samples=True), [w])


@pytest.mark.parametrize("distance", ["input_cosine", "input_euclidean"])
def test_a_sweep_over_an_input_space_distance_equals_separate_fits(distance):
    """captum's distances are on the inputs, which an explanation does not keep: the sweep
    rescales the kernel's own weights, exp(-d²/2w²) = weights ** (w0/w)²."""
    model = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    x = torch.rand(3, 6, generator=torch.Generator().manual_seed(0))
    kwargs = {"distance": distance, "n_samples": 80, "progress": False}
    exp = Lime(model, kernel_width=0.7, **kwargs)(x, 1, keep_samples=True, generator=3)
    widths = [0.3, 2.0]
    sweep = stability.kernel_width_sweep(exp, widths)
    for i, width in enumerate(widths):
        alone = Lime(model, kernel_width=width, **kwargs)(x, 1, masks=exp.masks)
        assert_close(sweep.coef[i], alone.coef, rtol=1e-5, atol=1e-7)


def test_a_users_kernel_has_no_width_to_sweep():
    model = torch.nn.Linear(6, 2)
    kernel = lambda X, n_features: X.double().mean(-1)  # noqa: E731
    exp = Lime(model, kernel=kernel, n_samples=30, progress=False)(
        torch.rand(2, 6), keep_samples=True, generator=0
    )
    with pytest.raises(ValueError, match="has no width"):
        stability.kernel_width_sweep(exp, [1.0])
