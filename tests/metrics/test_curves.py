"""Deletion/insertion curves and faithfulness on oracle models whose answers are known, and
against naive loops."""

import numpy as np
import pytest
import torch
from _helpers import PatchMLP, RegionOracle, assert_close
from _helpers import generator as _g
from torch import nn

from torchlime import LimeImage, metrics
from torchlime.segmentation import grid


def _oracle_setup(device="cpu"):
    x = torch.ones(2, 3, 16, 16, device=device)
    segments = grid(x, 4, 4)  # 16 superpixels of 4 x 4 pixels
    region = segments[0] == 5
    return x, segments, RegionOracle(region).to(device), region


def test_oracle_deletion_near_zero_insertion_near_one_random_between(device):
    x, segments, model, _ = _oracle_setup(device)
    attr = 0.1 * torch.rand(2, 16, generator=_g(0))
    attr[:, 5] = 1.0  # the oracle's region first
    attr = attr.to(device)
    kw = {"segments": segments, "output": "identity", "target": 0, "baseline": 0.0}
    deletion = metrics.deletion_auc(model, x, attr, **kw)
    insertion = metrics.insertion_auc(model, x, attr, **kw)
    # Curves [1, 0, ..., 0] and [0, 1, ..., 1] over 16 steps.
    assert_close(deletion, torch.full((2,), 0.5 / 16), rtol=0, atol=1e-6)
    assert_close(insertion, torch.full((2,), 1 - 0.5 / 16), rtol=0, atol=1e-6)
    rand = metrics.random_order_auc(
        model, x, n_orders=40, generator=_g(1, device), kind="deletion", **kw
    )
    rand_ins = metrics.random_order_auc(
        model, x, n_orders=40, generator=_g(2, device), kind="insertion", **kw
    )
    assert rand.shape == (40, 2)
    # The region goes at a uniform step j: AUC (j - 1/2) / 16, 1/2 on average.
    assert 0.35 < rand.mean() < 0.65 and 0.35 < rand_ins.mean() < 0.65
    assert (rand >= deletion - 1e-6).all() and (rand_ins <= insertion + 1e-6).all()
    # The worst order (region last) is the mirror image.
    worst = metrics.deletion_auc(model, x, -attr, **kw)
    assert_close(worst, torch.full((2,), 1 - 0.5 / 16), rtol=0, atol=1e-6)


def test_oracle_at_pixel_level():
    x, _, model, region = _oracle_setup()
    attr = torch.where(region, 1.0, 0.0).expand(2, 16, 16) + 0.01 * torch.rand(2, 16, 16)
    kw = {"output": "identity", "target": 0, "baseline": 0.0, "step": 16}
    assert_close(metrics.deletion_auc(model, x, attr, **kw), torch.full((2,), 0.5 / 16))
    assert_close(metrics.insertion_auc(model, x, attr, **kw), torch.full((2,), 1 - 0.5 / 16))
    rand = metrics.random_order_auc(model, x, n_orders=8, generator=_g(3), **kw)
    assert (rand > 0.2).all()


def _naive_curve(model, x, order_masks, fill, insert):
    """Reference: one image at a time, one step at a time, with NumPy's trapezoid."""
    scores = []
    for hidden in order_masks:
        shown = ~hidden if not insert else hidden
        img = torch.where(shown, x, fill)
        with torch.no_grad():
            scores.append(model(img[None]).softmax(-1)[0])
    return torch.stack(scores)


@pytest.mark.parametrize("insert", [False, True])
def test_superpixel_curves_equal_a_naive_loop(insert, device):
    g = _g(4)
    x = torch.rand(2, 3, 12, 12, generator=g)
    segments = grid(x, 3, 4)
    segments[1] = grid(x[1:], 2, 3)[0]  # 6 superpixels in image 1, 12 in image 0
    model = PatchMLP(n_classes=3, seed=1)
    attr = torch.randn(2, 2, 12, generator=g)
    target = torch.tensor([[0, 2], [1, 0]])
    metric = metrics.insertion_auc if insert else metrics.deletion_auc
    got = metric(
        model.to(device),
        x.to(device),
        attr.to(device),
        target.to(device),
        segments=segments.to(device),
        baseline=0.3,
    ).cpu()
    model = model.cpu()
    assert got.shape == (2, 2)
    for b in range(2):
        k = int(segments[b].max()) + 1
        for t in range(2):
            order = np.argsort(-attr[b, t, :k].numpy(), kind="stable")
            steps = [torch.isin(segments[b], torch.as_tensor(order[:s])) for s in range(k + 1)]
            fill = torch.full_like(x[b], 0.3)
            curve = _naive_curve(model, x[b], steps, fill, insert)[:, target[b, t]]
            ref = np.trapezoid(curve.numpy(), dx=1 / k)
            assert got[b, t].item() == pytest.approx(ref, abs=1e-6)


def test_pixel_curve_equals_a_naive_loop_with_a_partial_last_step():
    g = _g(5)
    x = torch.rand(1, 3, 6, 6, generator=g)
    model = PatchMLP(n_classes=3, seed=2)
    attr = torch.randn(1, 6, 6, generator=g)
    # a constant fill: the reference needs no library code (a blur of a 6 x 6 image is
    # the image itself, which would leave the curve flat)
    got = metrics.deletion_auc(model, x, attr, 1, step=8, baseline=0.3)
    order = np.argsort(-attr.flatten().numpy(), kind="stable")
    steps = [
        torch.isin(torch.arange(36), torch.as_tensor(order[: s * 8])).view(6, 6)
        for s in range(6)  # ceil(36 / 8) = 5 steps, 6 points
    ]
    fill = torch.full_like(x[0], 0.3)
    curve = _naive_curve(model, x[0], steps, fill, False)[:, 1]
    assert curve.std() > 1e-3  # the order and the partial last step matter
    assert got.item() == pytest.approx(np.trapezoid(curve.numpy(), dx=1 / 5), abs=1e-6)
    # a different order gives a different area: the test can tell them apart
    other = metrics.deletion_auc(model, x, -attr, 1, step=8, baseline=0.3)
    assert abs(other.item() - got.item()) > 1e-4


class SegmentLinear(nn.Module):
    """Score = Σ_j c_j (fraction of cell j of a 4 x 4 grid showing x), linear in the masks."""

    def __init__(self, c):
        super().__init__()
        self.register_buffer("c", torch.as_tensor(c, dtype=torch.float32).view(4, 4))

    def forward(self, x):
        cells = nn.functional.adaptive_avg_pool2d(x[:, 0], 4)
        return (cells * self.c).sum((-2, -1))[:, None]


def test_faithfulness_correlation_is_one_for_the_true_contributions(device):
    x = torch.ones(2, 3, 16, 16, device=device)
    segments = grid(x, 4, 4)
    c = torch.randn(16, generator=_g(6))
    model = SegmentLinear(c).to(device)
    kw = {"segments": segments, "output": "identity", "baseline": 0.0, "n_runs": 30}
    truth = c.expand(2, 16).to(device)
    assert_close(
        metrics.faithfulness_correlation(model, x, truth, 0, generator=_g(7, device), **kw),
        torch.ones(2),
        rtol=0,
        atol=1e-5,
    )
    assert_close(
        metrics.faithfulness_correlation(model, x, -truth, 0, generator=_g(7, device), **kw),
        -torch.ones(2),
        rtol=0,
        atol=1e-5,
    )
    noise = metrics.faithfulness_correlation(
        model, x, torch.randn(2, 16, generator=_g(8)).to(device), 0, generator=_g(9, device), **kw
    )
    assert (noise.abs() < 0.9).all()
    # a nonlinear model: the correlation is Pearson's, between the attributions of the
    # hidden cells and the drop of the score, as numpy computes it from what the model saw
    seen = []

    class Recording(SegmentLinear):
        def forward(self, x):
            seen.append(x[:, 0].detach().cpu())
            return super().forward(x).exp()

    attr = torch.randn(2, 16, generator=_g(19))
    got = metrics.faithfulness_correlation(
        Recording(c).to(device), x, attr.to(device), 0, generator=_g(20, device), **kw
    ).cpu()
    images = torch.cat(seen)[-2 * 30 :].view(2, 30, 16, 16)  # the perturbed rows, per image
    hidden = nn.functional.adaptive_avg_pool2d(images, 4).flatten(2) == 0  # (2, 30, 16)
    scores = (nn.functional.adaptive_avg_pool2d(images, 4).flatten(2) * c).sum(-1).exp()
    full = c.sum().exp()
    for i in range(2):
        drops = (full - scores[i]).double().numpy()
        sums = (hidden[i] * attr[i]).sum(-1).double().numpy()
        assert got[i].item() == pytest.approx(np.corrcoef(sums, drops)[0, 1], abs=1e-5)
    both = metrics.faithfulness_correlation(
        model,
        x,
        truth[:, None].expand(2, 2, 16),
        torch.zeros(2, 2, dtype=torch.long),
        **kw,
        generator=_g(10, device),
    )
    assert both.shape == (2, 2)
    assert_close(both, torch.ones(2, 2, device=device), rtol=0, atol=1e-5)


def test_limes_explanation_of_the_oracle_beats_random_order():
    x, segments, model, _ = _oracle_setup()
    exp = LimeImage(model, output="identity", baseline=0.0, n_samples=200, progress=False)(
        x, 0, segments=segments, generator=_g(10)
    )
    kw = {"segments": segments, "output": "identity", "baseline": 0.0}
    deletion = metrics.deletion_auc(model, x, exp.coef, exp.target, **kw)
    rand = metrics.random_order_auc(model, x, exp.target, n_orders=10, generator=_g(11), **kw)
    assert (deletion < 0.05).all() and (deletion < rand.mean(0)).all()


def test_metrics_reject_mismatched_inputs():
    x, segments, model, _ = _oracle_setup()
    with pytest.raises(ValueError, match=r"attributions must be \(B, K\)"):
        metrics.deletion_auc(model, x, torch.rand(2, 3, 4, 16), segments=segments)
    with pytest.raises(ValueError, match="K >= 16"):
        metrics.deletion_auc(model, x, torch.rand(2, 8), segments=segments)
    with pytest.raises(ValueError, match="segments must be"):
        metrics.deletion_auc(model, x, torch.rand(2, 16), segments=segments[:, :4])
    with pytest.raises(ValueError, match="pass segments="):
        metrics.deletion_auc(model, x, torch.rand(2, 16, 16), baseline="mean")
    with pytest.raises(ValueError, match="kind must be"):
        metrics.random_order_auc(model, x, kind="both")
