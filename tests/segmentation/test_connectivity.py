import numpy as np
import pytest
import torch
from scipy import ndimage as ndi

from torchlime.segmentation import connected_components, enforce_connectivity


def _reference_components(seg: np.ndarray) -> np.ndarray:
    """scipy.ndimage.label per segment id, renumbered in raster order of first pixel."""
    comp = np.zeros(seg.shape, dtype=np.int64)
    offset = 0
    for value in np.unique(seg):
        labels, n = ndi.label(seg == value)  # 4-connectivity
        comp[labels > 0] = labels[labels > 0] + offset
        offset += n
    _, first = np.unique(comp, return_index=True)
    rank = np.empty(offset + 1, dtype=np.int64)
    rank[np.unique(comp)[np.argsort(first)]] = np.arange(len(first))
    return rank[comp]


def _random_segments(seed: int, shape: tuple[int, int, int], n_ids: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, n_ids, shape, generator=g)


@pytest.mark.parametrize(
    ("shape", "n_ids"),
    [((3, 17, 23), 2), ((2, 31, 9), 4), ((1, 1, 40), 3), ((2, 40, 1), 3), ((1, 1, 1), 1)],
)
def test_components_equal_scipy_per_label(device, shape, n_ids):
    seg = _random_segments(sum(shape) + n_ids, shape, n_ids)
    out = connected_components(seg.to(device)).cpu()
    assert out.dtype == torch.int64 and out.shape == seg.shape
    for b in range(shape[0]):
        np.testing.assert_array_equal(out[b].numpy(), _reference_components(seg[b].numpy()))


def test_components_of_a_serpentine_with_gapped_ids(device):
    # One long snake-like path needs many union-find rounds; ids are negative and gapped.
    n = 41
    seg = np.full((n, n), -7, dtype=np.int64)
    seg[1::4, :-1] = 10**9  # walls open on the right
    seg[3::4, 1:] = 10**9  # walls open on the left
    seg = torch.from_numpy(seg)[None]
    out = connected_components(seg.to(device)).cpu()
    np.testing.assert_array_equal(out[0].numpy(), _reference_components(seg[0].numpy()))
    assert out[0][seg[0] == -7].unique().tolist() == [0]


def test_batch_equals_single_and_is_deterministic(device):
    seg = _random_segments(1, (4, 20, 20), 3).to(device)
    together = enforce_connectivity(seg, min_size=5)
    for b in range(4):
        assert torch.equal(enforce_connectivity(seg[b : b + 1], min_size=5), together[b : b + 1])
    assert torch.equal(enforce_connectivity(seg, min_size=5), together)


def test_small_specks_merge_into_their_region(device):
    seg = torch.zeros(2, 30, 30, dtype=torch.long)
    seg[:, :, 15:] = 1  # two large halves
    seg[0, 5, 5] = 7  # a 1-pixel speck inside the left half
    seg[0, 10:12, 20:22] = 8  # a 4-pixel speck inside the right half
    seg[1, 0, 20] = 0  # a pixel of the left label inside the right half
    out = enforce_connectivity(seg.to(device), min_size=10).cpu()
    expected = torch.zeros_like(seg)
    expected[:, :, 15:] = 1
    assert torch.equal(out, expected)
    # Without merging, each speck is its own component.
    assert connected_components(seg.to(device)).amax(dim=(1, 2)).tolist() == [3, 2]


def test_clusters_of_small_components_join_a_large_one(device):
    # A 6 x 6 checkerboard is 36 one-pixel components: together above min_size, but each is
    # small, so (as in scikit-image) they all end up in the large region around them.
    seg = torch.zeros(1, 30, 30, dtype=torch.long)
    seg[0, 2:8, 2:8] = 1 + (torch.arange(6)[:, None] + torch.arange(6)[None, :]) % 2
    out = enforce_connectivity(seg.to(device), min_size=10).cpu()
    assert torch.equal(out, torch.zeros_like(seg))
    # An image made only of small components still ends up in few connected segments.
    checker = ((torch.arange(8)[:, None] + torch.arange(8)[None, :]) % 2)[None]
    out = enforce_connectivity(checker.to(device), min_size=4).cpu()
    assert out.amax().item() == 0


def test_enforced_segments_are_connected_coarsenings(device):
    seg = _random_segments(3, (3, 24, 24), 3)
    min_size = 6
    out = enforce_connectivity(seg.to(device), min_size=min_size).cpu().numpy()
    comps = connected_components(seg).numpy()
    for b in range(3):
        ids = np.unique(out[b])
        np.testing.assert_array_equal(ids, np.arange(len(ids)))
        for i in ids:
            assert ndi.label(out[b] == i)[1] == 1
        # Every connected component lands in exactly one output segment.
        pairs = np.unique(np.stack([comps[b].ravel(), out[b].ravel()]), axis=1)
        assert pairs.shape[1] == len(np.unique(comps[b]))
        # Components of min_size or more pixels are never merged into each other.
        sizes = np.bincount(comps[b].ravel())
        large = np.flatnonzero(sizes >= min_size)
        owner = dict(zip(pairs[0], pairs[1], strict=True))
        assert len({owner[c] for c in large}) == len(large)


def test_min_size_zero_only_splits():
    seg = _random_segments(4, (2, 12, 12), 2)
    assert torch.equal(enforce_connectivity(seg), connected_components(seg))


def test_empty_batch():
    seg = torch.zeros(0, 5, 5, dtype=torch.long)
    assert enforce_connectivity(seg, 3).shape == (0, 5, 5)
    assert connected_components(seg).shape == (0, 5, 5)


def test_errors():
    with pytest.raises(ValueError, match=r"segments must be \(B, H, W\)"):
        connected_components(torch.zeros(4, 4, dtype=torch.long))
    with pytest.raises(TypeError, match="integer"):
        enforce_connectivity(torch.zeros(1, 4, 4))
    with pytest.raises(ValueError, match="min_size"):
        enforce_connectivity(torch.zeros(1, 4, 4, dtype=torch.long), min_size=-1)
