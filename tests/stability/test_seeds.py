"""seed_stability: R seeds explained as one batch, scored with the agreement statistics."""

import numpy as np
import pytest
import torch
from _helpers import PatchMLP, assert_close
from _helpers import generator as _g
from _helpers import smooth_images as _images

from torchlime import LimeImage, stability
from torchlime.segmentation import grid


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


def test_seed_stability_on_every_explainer(modality):
    explainer = modality.explainer(n_samples=100)
    s = stability.seed_stability(
        explainer, modality.inputs, n_seeds=4, k=2, generator=0, **modality.kwargs
    )
    b = modality.batch
    assert s.coef.shape[:3] == (4, b, 1) and s.jaccard.shape == (b, 1)
    for i in range(b):  # top-2 Jaccard by hand: mean over seed pairs of |A & B| / |A | B|
        k_b = int(s.explanation.n_features[i])
        coef = s.coef[:, i, 0, :k_b].numpy()
        sets = [set(np.argsort(-np.abs(c), kind="stable")[:2].tolist()) for c in coef]
        pairs = [(a, c) for j, a in enumerate(sets) for c in sets[j + 1 :]]
        manual = np.mean([len(a & c) / len(a | c) for a, c in pairs])
        assert s.jaccard[i, 0].item() == pytest.approx(manual)
