import importlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from torchlime.segmentation import Quickshift, quickshift

skimage = pytest.importorskip("skimage")
from skimage import data  # noqa: E402
from skimage import segmentation as sk_seg  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402


@pytest.fixture
def one_thread():
    """Run a heavy test single-threaded (its result is the same on any thread count).

    quickshift is ~6000 small ops per call; on a shared CPU, libgomp's spin-waiting workers
    stall each op while another process holds a core, which made this test 10-20x slower.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _photo(name: str, size: int = 224) -> torch.Tensor:
    """(1, 3, size, size) float64 RGB in [0, 1]."""
    image = torch.from_numpy(getattr(data, name)()).permute(2, 0, 1)[None].double() / 255
    image = F.interpolate(image, size=(size, size), mode="bilinear", antialias=True)
    return image.clamp(0, 1)


@pytest.mark.parametrize(
    "name",
    ["astronaut", "coffee", pytest.param("chelsea", marks=pytest.mark.slow),
     pytest.param("rocket", marks=pytest.mark.slow)],
)  # fmt: skip
@pytest.mark.usefixtures("one_thread")
def test_parity_with_lime_default(device, name):
    image = _photo(name)
    ours = quickshift(image.float().to(device)).cpu().numpy()[0]
    ref = sk_seg.quickshift(
        image[0].permute(1, 2, 0).numpy(), kernel_size=4, max_dist=200, ratio=0.2
    )
    assert adjusted_rand_score(ref.ravel(), ours.ravel()) >= 0.95
    assert abs(int(ours.max()) - int(ref.max())) <= 2


def test_batch_equals_single_and_deterministic(device):
    photos = torch.cat([_photo(n, 48) for n in ("astronaut", "chelsea", "rocket")]).float()
    flat = torch.zeros(2, 3, 48, 48)
    flat[0, :, :, 20:] = 1.0  # two plateaus: ties everywhere
    x = torch.cat([photos, flat]).to(device)
    # A 13 x 13 window (kernel_size=2): the same code paths with 4x fewer ops than lime's.
    together = quickshift(x, kernel_size=2)
    assert together.dtype == torch.int64 and together.shape == (5, 48, 48)
    for b in range(len(x)):
        assert torch.equal(quickshift(x[b : b + 1], kernel_size=2), together[b : b + 1])
        ids = together[b].unique()
        assert torch.equal(ids, torch.arange(len(ids), device=device))
    assert torch.equal(quickshift(x, kernel_size=2), together)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert torch.equal(quickshift(x, kernel_size=2), together)
    finally:
        torch.set_num_threads(threads)
    # Flat regions are broken deterministically into one tree each.
    assert together[3].amax().item() == 1 and together[4].amax().item() == 0
    assert (together[3, :, :20] == 0).all() and (together[3, :, 20:] == 1).all()


def test_chunked_batches_equal_one_pass(device, monkeypatch):
    # The package re-exports the function under the module's name: fetch the module itself.
    qs = importlib.import_module("torchlime.segmentation.quickshift")
    x = torch.cat([_photo(n, 24) for n in ("astronaut", "coffee", "rocket")]).float().to(device)
    whole = quickshift(x, kernel_size=2)
    monkeypatch.setattr(qs, "_CHUNK_PIXELS", 24 * 24 * 2)  # two images per chunk
    assert torch.equal(quickshift(x, kernel_size=2), whole)


def test_max_dist_cuts_links(device):
    x = _photo("coffee", 32).float().to(device)
    assert quickshift(x, max_dist=0.0).amax().item() == 32 * 32 - 1
    fine, coarse = quickshift(x, max_dist=2.0), quickshift(x, max_dist=200.0)
    assert fine.amax() >= coarse.amax()


def test_grey_is_rgb_with_equal_channels(device):
    grey = torch.from_numpy(data.camera()[::8, ::8].copy()).float()[None, None].to(device) / 255
    assert torch.equal(quickshift(grey), quickshift(grey.expand(-1, 3, -1, -1)))
    four = torch.rand(2, 4, 16, 16, generator=torch.Generator().manual_seed(0)).to(device)
    seg = quickshift(four, ratio=50.0)
    assert seg.shape == (2, 16, 16)


def test_module_equals_functional_and_empty_batch(device):
    x = _photo("rocket", 32).float().to(device)
    module = Quickshift(kernel_size=3, max_dist=50.0, ratio=0.5, sigma=1.0)
    assert torch.equal(module(x), quickshift(x, 3, 50.0, 0.5, sigma=1.0))
    assert "kernel_size=3" in repr(module) and "sigma=1.0" in repr(module)
    assert quickshift(torch.zeros(0, 3, 8, 8)).shape == (0, 8, 8)


def test_bad_input():
    good = torch.rand(1, 3, 8, 8)
    with pytest.raises(ValueError, match=r"image must be \(B, C, H, W\)"):
        quickshift(torch.rand(8, 8))
    with pytest.raises(ValueError, match="H and W >= 1"):
        quickshift(torch.rand(1, 3, 8, 0))
    with pytest.raises(TypeError, match="floating-point"):
        quickshift(torch.zeros(1, 3, 8, 8, dtype=torch.int64))
    bad = good.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        quickshift(bad)
    with pytest.raises(ValueError, match="kernel_size"):
        quickshift(good, kernel_size=0.5)
    with pytest.raises(ValueError, match="ratio"):
        quickshift(good, ratio=float("inf"))
    with pytest.raises(ValueError, match="sigma"):
        quickshift(good, sigma=-1.0)
    with pytest.raises(ValueError, match="max_dist"):
        Quickshift(max_dist=float("nan"))


@pytest.mark.parametrize(("max_dist", "sigma"), [(20.0, 0.0), (2.0, 0.0), (20.0, 1.0)])
def test_output_matches_skimage_on_a_tiny_image(max_dist, sigma):
    # No ties on a smooth gradient: the trees are exactly scikit-image's, with links cut
    # (max_dist) and with smoothing (sigma) too.
    yy, xx = np.mgrid[0:20, 0:24] / 24.0
    image = np.stack([np.sin(3 * yy) ** 2, np.cos(2 * xx) ** 2, (yy * xx) % 1.0], -1)
    ref = sk_seg.quickshift(image, kernel_size=2, max_dist=max_dist, ratio=0.5, sigma=sigma)
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float()
    ours = quickshift(x, 2, max_dist, 0.5, sigma=sigma)
    assert adjusted_rand_score(ref.ravel(), ours[0].numpy().ravel()) == pytest.approx(1.0)
