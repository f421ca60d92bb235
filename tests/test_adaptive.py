"""n_samples="auto" (adaptive sampling): stops when the top-k is resolved, ties at the budget."""

import torch
from _helpers import assert_close
from _helpers import generator as _g
from torch import nn

from torchlime import LimeImage, stability
from torchlime.segmentation import grid


class _SegmentLinear(nn.Module):
    """Score = Σ_j c_j * (fraction of superpixel j showing x), on a 4 x 4 grid of 6 x 6 cells.

    With a constant-0 fill and x = 1 the score is linear in the masks: coefficient j is
    about c_j. Counts the images it sees.
    """

    def __init__(self, c):
        super().__init__()
        self.register_buffer("weight", torch.as_tensor(c, dtype=torch.float32).view(4, 4))
        self.calls = 0

    def forward(self, x):
        self.calls += x.shape[0]
        cells = nn.functional.avg_pool2d(x[:, :1], 6)[:, 0]  # (n, 4, 4)
        return (cells * self.weight).sum((-2, -1))[:, None]


def test_auto_stops_when_resolved_and_reports_a_tie_at_the_budget(device):
    x = torch.ones(2, 3, 24, 24, device=device)
    segments = grid(x, 4, 4)
    clear = torch.linspace(1.0, 0.0, 16)
    model = _SegmentLinear(clear).to(device)
    explainer = LimeImage(
        model, baseline=0.0, output="identity", n_samples="auto", max_samples=900, top_k=5,
        progress=False,
    )  # fmt: skip
    first_round = 225  # documented: a quarter of max_samples (at most 1000), odd
    exp = explainer(x[:1], 0, segments=segments[:1], generator=_g(21, device), keep_samples=True)
    assert exp.resolved.tolist() == [[True]]
    assert exp.n_samples.tolist() == [first_round]
    assert model.calls == exp.n_samples.sum().item()
    # Superpixels 4 and 5 tie exactly at the top-5 boundary of image 1, plus a small
    # interaction so that the fit is noisy: no budget resolves it.
    tie = torch.tensor([5.0, 4.0, 3.0, 2.0, 1.0, 1.0] + [0.0] * 10, device=device)

    class Mixed(_SegmentLinear):
        def forward(self, x):
            cells = nn.functional.avg_pool2d(x[:, :1], 6)[:, 0].flatten(1)
            out = super().forward(x)
            # Image 1 is darker in green than in red wherever it shows (the fill is 0).
            second = x[:, 1].sum((-2, -1)) < 0.5 * x[:, 0].sum((-2, -1))
            inter = 0.8 * cells[:, 6] * cells[:, 7] - 0.8 * cells[:, 8] * cells[:, 9]
            tied = (cells * tie).sum(-1) + inter
            return torch.where(second[:, None], tied[:, None], out)

    x2 = x.clone()
    x2[1, 1] = 0.2
    model = Mixed(clear).to(device)
    explainer.model = model
    exp = explainer(x2, 0, segments=segments, generator=_g(22, device), keep_samples=True)
    assert exp.resolved.tolist() == [[True], [False]]
    assert exp.n_samples.tolist() == [first_round, 900]
    assert model.calls == exp.n_samples.sum().item()  # no model call is wasted
    n0 = first_round
    assert (exp.weights[0, n0:] == 0).all() and (exp.weights[1] > 0).all()
    # The fit of image 0 is the ordinary fit of its own samples.
    alone = LimeImage(model, baseline=0.0, output="identity", n_samples=n0, progress=False)
    ref = alone(x2[:1], 0, segments=segments[:1], masks=exp.masks[:1, :n0])
    assert_close(exp.coef[0], ref.coef[0], rtol=1e-5, atol=1e-6)
    report = stability.stability_report(exp, 5, generator=_g(23, device))
    assert report.tie.tolist() == [[False], [True]]
