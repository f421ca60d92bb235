import pytest
import torch

from torchlime.segmentation import Grid, grid, relabel


def test_relabel_contiguous_and_order_preserving(device):
    g = torch.Generator().manual_seed(0)
    raw = torch.randint(-5, 40, (3, 9, 7), generator=g).to(device)
    raw[1] = raw[1] * 1000 + 7  # gaps and large ids
    labels, n = relabel(raw)
    for b in range(3):
        ids = raw[b].unique()
        assert n[b].item() == len(ids)
        expected = torch.searchsorted(ids, raw[b].flatten()).view(9, 7)
        assert torch.equal(labels[b], expected)


def test_relabel_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\(B, H, W\)"):
        relabel(torch.zeros(4, 4, dtype=torch.long))
    with pytest.raises(TypeError, match="integer"):
        relabel(torch.zeros(1, 4, 4))


def test_grid_cells(device):
    seg = grid(torch.zeros(2, 3, 10, 7, device=device), 3, 2)
    assert seg.shape == (2, 10, 7) and seg.dtype == torch.int64
    assert seg.unique().tolist() == list(range(6))
    assert torch.equal(seg[0], seg[1])
    # 10 rows in 3 bands, 7 columns in 2 (y * rows // H, x * cols // W), by hand
    band_y = torch.tensor([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    band_x = torch.tensor([0, 0, 0, 0, 1, 1, 1])
    assert torch.equal(seg[0].cpu(), band_y[:, None] * 2 + band_x[None, :])


def test_grid_patch_size_matches_vit_patches():
    seg = Grid(patch_size=16)(torch.zeros(1, 3, 224, 224))
    assert seg.amax().item() == 14 * 14 - 1
    assert (seg[0, :16, :16] == 0).all() and (seg[0, 16:32, :16] == 14).all()
    # a remainder: 20 pixels in patches of 16 are a cell of 16 and a last one of 4
    seg = Grid(patch_size=16)(torch.zeros(1, 3, 20, 20))[0]
    cell = (torch.arange(20) >= 16).long()
    assert torch.equal(seg, cell[:, None] * 2 + cell[None, :])


def test_grid_errors():
    with pytest.raises(ValueError, match="rows"):
        grid(torch.zeros(1, 3, 4, 4), 5, 1)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        grid(torch.zeros(3, 4, 4), 2)
