"""kernel_width_sweep against separate fits, one per kernel width."""

import pytest
from _helpers import PatchMLP, assert_close, assert_relative
from _helpers import generator as _g
from _helpers import smooth_images as _images
from _modalities import explained

from torchlime import LimeImage, stability
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
    fit = stability.kernel_width_sweep(exp, [w / 3, w, 3 * w])
    assert_relative(fit.coef[1], exp.coef)
    assert (fit.coef[0] - exp.coef).abs().max() > 1e-4 * exp.coef.abs().max()
    folded = modality.explainer(n_samples=50, sampler="binomial")
    with pytest.raises(ValueError, match="folded"):
        stability.kernel_width_sweep(modality.explain(folded, keep_samples=True), [w])
