"""lime's weights against scikit-learn's cosine distance and the formula lime writes."""

import numpy as np
import pytest
import torch
from sklearn.metrics import pairwise_distances

from torchlime.functional import exponential_kernel, lime_kernel, sample_masks


@pytest.mark.parametrize("width", [0.1, 0.25, 0.6, 2.0])
def test_lime_kernel_equals_lime_s_formula_on_sklearn_distances(width, device):
    n_features = torch.tensor([9, 5, 1])
    masks = sample_masks(3, 50, 9, generator=torch.Generator().manual_seed(int(width * 10)))
    masks &= torch.arange(9) < n_features[:, None, None]  # padding columns off
    masks[:, 0] = True
    got = lime_kernel(masks.to(device), width, n_features.to(device), dtype=torch.float64)
    for b, k in enumerate(n_features.tolist()):
        m = masks[b, :, :k].double().numpy()
        d = pairwise_distances(m, m[:1], metric="cosine").ravel()  # lime's distance
        want = np.sqrt(np.exp(-(d**2) / width**2))  # lime's kernel_fn
        np.testing.assert_allclose(got[b].cpu().numpy(), want, rtol=1e-12, atol=1e-12)


def test_exponential_kernel_is_lime_s_kernel_fn():
    d = np.array([0.0, 0.3, 1.0, 2.5])
    for width in (0.5, 3.0):
        want = np.sqrt(np.exp(-(d**2) / width**2))
        got = exponential_kernel(torch.from_numpy(d), width).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-14)
    with pytest.raises(ValueError, match="kernel_width must be > 0"):
        exponential_kernel(torch.from_numpy(d), 0.0)
