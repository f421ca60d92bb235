import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage as ndi

from torchlime.segmentation import SLIC, SoftSLIC, relabel, slic, soft_slic

skimage = pytest.importorskip("skimage")
from skimage import color, data  # noqa: E402
from skimage import segmentation as sk_seg  # noqa: E402

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


def _photo(name: str, size: int = 224) -> torch.Tensor:
    """(1, 3, size, size) float64 RGB in [0, 1]."""
    image = torch.from_numpy(getattr(data, name)()).permute(2, 0, 1)[None].double() / 255
    image = F.interpolate(image, size=(size, size), mode="bilinear", antialias=True)
    return image.clamp(0, 1)


@pytest.fixture(scope="module")
def photos() -> torch.Tensor:
    return torch.cat([_photo(name) for name in PHOTOS])


def _lab_variance(lab: np.ndarray, seg: np.ndarray) -> float:
    """Mean over pixels of the Lab variance (summed over channels) of their superpixel."""
    ids = seg.ravel()
    flat = lab.reshape(-1, 3)
    count = np.bincount(ids)
    mean = np.stack([np.bincount(ids, flat[:, c]) / count for c in range(3)], 1)
    return float(((flat - mean[ids]) ** 2).sum(1).mean())


def _boundary_agreement(reference: np.ndarray, ours: np.ndarray) -> float:
    """Fraction of the reference's boundary pixels within 2 px of one of ours."""
    ref_b = sk_seg.find_boundaries(reference, mode="inner")
    our_b = sk_seg.find_boundaries(ours, mode="inner")
    return float((ndi.distance_transform_edt(~our_b)[ref_b] <= 2).mean())


def _assert_connected(seg: np.ndarray) -> None:
    for i in np.unique(seg):
        assert ndi.label(seg == i)[1] == 1, f"segment {i} is not 4-connected"


def _assert_contiguous(seg: torch.Tensor) -> None:
    assert seg.dtype == torch.int64
    for s in seg:
        assert torch.equal(s.unique(), torch.arange(int(s.max()) + 1, device=s.device))


@pytest.mark.parametrize(("n_segments", "sigma"), [(100, 0.0), (50, 0.0), (100, 2.0)])
def test_parity_with_scikit_image(photos, device, n_segments, sigma):
    x = photos.float().to(device)
    ours = slic(x, n_segments=n_segments, compactness=10, sigma=sigma).cpu().numpy()
    for i, name in enumerate(PHOTOS):
        image = photos[i].permute(1, 2, 0).numpy()
        ref = sk_seg.slic(image, n_segments=n_segments, compactness=10, sigma=sigma, start_label=0)
        n_ours, n_ref = ours[i].max() + 1, ref.max() + 1
        assert abs(n_ours - n_ref) <= 0.15 * n_ref, (name, n_ours, n_ref)
        _assert_connected(ours[i])
        lab = color.rgb2lab(image)
        assert _lab_variance(lab, ours[i]) <= 1.15 * _lab_variance(lab, ref), name
        assert _boundary_agreement(ref, ours[i]) >= 0.6, name


def test_batch_equals_single_and_deterministic(photos, device):
    x = F.interpolate(photos, size=(72, 88), mode="bilinear").float().to(device)
    g = torch.Generator().manual_seed(0)
    x = torch.cat([x, torch.rand(2, 3, 72, 88, generator=g).to(device)])
    together = slic(x, n_segments=40)
    _assert_contiguous(together)
    for b in range(len(x)):
        assert torch.equal(slic(x[b : b + 1], n_segments=40), together[b : b + 1])
    assert torch.equal(slic(x, n_segments=40), together)


def test_same_on_any_thread_count(photos):
    x = photos[:2].float()
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        single = slic(x, n_segments=100)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(slic(x, n_segments=100), single)


def test_half_precision_input(device):
    x = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(7)).to(device)
    assert torch.equal(slic(x.half(), n_segments=9), slic(x.half().float(), n_segments=9))


def test_output_contract(device):
    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 37, 53, generator=g, dtype=torch.float64).to(device)
    seg = slic(x, n_segments=30)
    assert seg.shape == (2, 37, 53) and seg.device.type == device.type
    assert seg.is_contiguous()
    _assert_contiguous(seg)
    for s in seg.cpu().numpy():
        _assert_connected(s)


def test_without_connectivity_gives_the_raw_clusters(photos):
    x = photos[:1].float()
    raw = slic(x, n_segments=100, enforce_connectivity=False)
    _assert_contiguous(raw)
    assert raw.max() + 1 <= 100
    # Raw SLIC clusters are fragmented; connectivity enforcement fixes that.
    n_components = sum(ndi.label(raw[0].numpy() == i)[1] for i in raw.unique().tolist())
    assert n_components > raw.max() + 1
    ref = sk_seg.slic(
        photos[0].permute(1, 2, 0).numpy(), n_segments=100, start_label=0,
        enforce_connectivity=False,
    )  # fmt: skip
    assert (raw[0].numpy() == relabel(torch.from_numpy(ref)[None])[0][0].numpy()).mean() > 0.8


def test_channels_other_than_rgb(device):
    grey = torch.from_numpy(data.camera()[::4, ::4].copy()).double()[None, None] / 255
    seg = slic(grey.to(device), n_segments=60, compactness=0.1).cpu()
    ref = sk_seg.slic(grey[0, 0].numpy(), n_segments=60, compactness=0.1, channel_axis=None)
    assert abs(int(seg.max()) + 1 - int(ref.max())) <= 0.15 * ref.max()
    g = torch.Generator().manual_seed(2)
    four = torch.rand(2, 4, 20, 20, generator=g).to(device)
    _assert_contiguous(slic(four, n_segments=9))


def test_rescaling_and_smoothing(device):
    g = torch.Generator().manual_seed(3)
    x = torch.rand(1, 3, 32, 32, generator=g).to(device)
    # Each image is min-max rescaled first, so its range does not matter.
    assert torch.equal(slic(x * 0.5, n_segments=16), slic(x * 0.5 + 0.25, n_segments=16))
    smooth = slic(x, n_segments=16, sigma=2.0)  # against scikit-image: the parity test
    _assert_contiguous(smooth)
    assert not torch.equal(smooth, slic(x, n_segments=16))


@pytest.mark.parametrize(("h", "w", "n"), [(1, 1, 5), (1, 30, 4), (30, 1, 4), (4, 4, 100)])
def test_degenerate_sizes(device, h, w, n):
    g = torch.Generator().manual_seed(h * w)
    seg = slic(torch.rand(2, 3, h, w, generator=g).to(device), n_segments=n)
    assert seg.shape == (2, h, w)
    _assert_contiguous(seg)


def test_empty_batch():
    assert slic(torch.zeros(0, 3, 8, 8)).shape == (0, 8, 8)
    assert soft_slic(torch.zeros(0, 3, 8, 8), n_segments=4).shape == (0, 4, 8, 8)


def test_module_equals_functional(device):
    x = torch.rand(2, 3, 40, 40, generator=torch.Generator().manual_seed(4)).to(device)
    module = SLIC(n_segments=20, compactness=5.0, max_iter=5, min_size_factor=0.25)
    assert torch.equal(
        module(x), slic(x, 20, 5.0, 5, enforce_connectivity=True, min_size_factor=0.25)
    )
    assert "n_segments=20" in repr(module) and "min_size_factor=0.25" in repr(module)
    soft = SoftSLIC(n_segments=9, temperature=0.3)
    torch.testing.assert_close(soft(x), soft_slic(x, 9, temperature=0.3))
    assert "temperature=0.3" in repr(soft)


def test_soft_assignments(device):
    from skimage.util import regular_grid

    x = torch.rand(2, 3, 60, 60, generator=torch.Generator().manual_seed(5)).to(device)
    soft = soft_slic(x, n_segments=100, temperature=0.5)
    rows_s, cols_s = regular_grid((60, 60), 100)  # scikit-image's seeds
    seed_y, seed_x = np.arange(60)[rows_s], np.arange(60)[cols_s]
    k = len(seed_y) * len(seed_x)
    assert soft.shape == (2, k, 60, 60) and soft.dtype == x.dtype
    assert (soft >= 0).all()
    torch.testing.assert_close(soft.sum(1), torch.ones(2, 60, 60, device=device))
    # Each pixel only uses the centres of the 3 x 3 grid cells around its nearest seed.
    near_y = np.abs(np.arange(60)[:, None] - seed_y[None]).argmin(1)  # ties: the lower seed
    near_x = np.abs(np.arange(60)[:, None] - seed_x[None]).argmin(1)
    centre_row, centre_col = np.divmod(np.arange(k), len(seed_x))
    allowed = (np.abs(centre_row[:, None, None] - near_y[None, :, None]) <= 1) & (
        np.abs(centre_col[:, None, None] - near_x[None, None, :]) <= 1
    )  # (K, H, W)
    used = (soft > 0).cpu().numpy()
    assert not (used & ~allowed[None]).any()
    assert (used.sum(1) > 1).mean() > 0.5  # soft: most pixels share their weight


def test_soft_slic_hardens_towards_slic(photos):
    # soft_slic keeps SSN's 3 x 3 candidate cells, while slic searches scikit-image's
    # +-2 S window (5 x 5 cells): compare with the hard iterations on the same candidates.
    from torchlime.segmentation.slic import _colour, _hard_slic, _layout

    x = photos[:1].float()
    lay = _layout(224, 224, 100, x.device, 1)
    hard = relabel(_hard_slic(_colour(x, 0.0), lay, 10.0, 10).view(1, 224, 224))[0]
    soft = soft_slic(x, n_segments=100, temperature=0.01)
    agree = relabel(soft.argmax(1))[0] == hard
    assert agree.float().mean() > 0.9
    full = slic(x, n_segments=100, enforce_connectivity=False)
    assert (relabel(soft.argmax(1))[0] == full).float().mean() > 0.7


@pytest.fixture
def one_thread():
    """Single-threaded: gradcheck is thousands of tiny ops, which libgomp's spin-waiting
    workers stall on a shared CPU; the gradients do not depend on the thread count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.usefixtures("one_thread")
def test_soft_slic_gradcheck():
    g = torch.Generator().manual_seed(6)
    x = torch.rand(1, 3, 8, 8, generator=g, dtype=torch.float64, requires_grad=True)
    # Every Jacobian entry through two iterations, then a random projection through ten.
    assert torch.autograd.gradcheck(lambda t: soft_slic(t, n_segments=4, max_iter=2), (x,))
    assert torch.autograd.gradcheck(lambda t: soft_slic(t, n_segments=4), (x,), fast_mode=True)


@pytest.mark.parametrize("fn", [slic, soft_slic])
def test_bad_input(fn):
    good = torch.rand(1, 3, 8, 8)
    with pytest.raises(ValueError, match=r"image must be \(B, C, H, W\)"):
        fn(torch.rand(3, 8, 8))
    with pytest.raises(ValueError, match="H and W >= 1"):
        fn(torch.rand(1, 3, 0, 8))
    with pytest.raises(TypeError, match="floating-point"):
        fn(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        fn(np.zeros((1, 3, 8, 8)))
    for value in (float("nan"), float("inf")):
        bad = good.clone()
        bad[0, 1, 2, 3] = value
        with pytest.raises(ValueError, match="finite"):
            fn(bad)
    with pytest.raises(ValueError, match="n_segments"):
        fn(good, n_segments=0)
    with pytest.raises(ValueError, match="compactness"):
        fn(good, compactness=0.0)
    with pytest.raises(ValueError, match="max_iter"):
        fn(good, max_iter=0)
    with pytest.raises(ValueError, match="sigma"):
        fn(good, sigma=-1.0)


def test_bad_options():
    with pytest.raises(ValueError, match="min_size_factor"):
        slic(torch.rand(1, 3, 8, 8), min_size_factor=-0.5)
    with pytest.raises(ValueError, match="temperature"):
        soft_slic(torch.rand(1, 3, 8, 8), temperature=0.0)
    with pytest.raises(ValueError, match="n_segments"):
        SLIC(n_segments=0)
    with pytest.raises(ValueError, match="temperature"):
        SoftSLIC(temperature=-1.0)
