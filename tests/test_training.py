"""Explanations inside training loops: no state leaks, no host syncs, compile, autocast, grads."""

import pytest
import torch
from _helpers import PatchMLP, assert_close
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

import torchlime.functional as F
from torchlime import LimeImage
from torchlime.segmentation import grid, relabel

SYNC_OPS = {
    "aten._local_scalar_dense",
    "aten.item",
    "aten.nonzero",
    "aten.equal",
    "aten.is_nonzero",
    "aten.masked_select",
    "aten._unique2",
    "aten.unique_consecutive",
    "aten.unique_dim",
    "aten._assert_async",
}


class _RecordOps(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.add(str(func.overloadpacket))
        return func(*args, **(kwargs or {}))


def _inputs(device, b=2, n=40, k=9):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(b, 3, 24, 24, generator=g)
    segments = grid(x, 3, 3)
    masks = F.sample_masks(b, n, k, generator=g)
    return x.to(device), segments.to(device), masks.to(device)


def _bn_model():
    return nn.Sequential(
        nn.Conv2d(3, 4, 3),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(0.3),
        nn.Linear(4, 5),
    )


@pytest.mark.parametrize("grad_enabled", [True, False])
def test_leaves_every_piece_of_state_as_found(grad_enabled, device):
    model = _bn_model().to(device).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cpu_rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if device.type == "cuda" else None
    x, _, _ = _inputs(device)
    with torch.set_grad_enabled(grad_enabled):
        exp = LimeImage(model, n_samples=30, progress=False)(x, top_labels=2)
        assert torch.is_grad_enabled() == grad_enabled
    assert model.training
    assert all(m.training for m in model.modules())
    for name, value in model.state_dict().items():  # BatchNorm running stats included
        assert torch.equal(value, before[name]), name
    assert torch.equal(torch.get_rng_state(), cpu_rng)
    if cuda_rng is not None:
        assert all(
            torch.equal(a, b) for a, b in zip(torch.cuda.get_rng_state_all(), cuda_rng, strict=True)
        )
    assert not exp.coef.requires_grad
    assert not exp.coef.is_inference()


def test_no_host_sync_with_given_segments_and_masks(device):
    x, segments, masks = _inputs(device)
    model = PatchMLP(n_classes=5).to(device)
    explainer = LimeImage(model, n_samples=40, batch_size=16, progress=False, validate=False)
    target = torch.tensor([[1, 3], [0, 2]], device=device)
    recorder = _RecordOps()
    with recorder:
        exp = explainer(x, target, segments=segments, masks=masks)
    assert recorder.ops, "the dispatch mode saw no op"
    assert not (recorder.ops & SYNC_OPS), sorted(recorder.ops & SYNC_OPS)
    # and the same holds for the model's own top labels
    with recorder:
        explainer(x, top_labels=2, segments=segments, masks=masks)
    assert not (recorder.ops & SYNC_OPS), sorted(recorder.ops & SYNC_OPS)
    assert exp.coef.shape == (2, 2, 9)


@pytest.mark.cuda
def test_cuda_sync_debug_mode_passes():
    x, segments, masks = _inputs(torch.device("cuda"))
    model = PatchMLP(n_classes=5).cuda()
    explainer = LimeImage(model, n_samples=40, batch_size=16, progress=False, validate=False)
    target = torch.tensor([[1], [0]], device="cuda")
    explainer(x, target, segments=segments, masks=masks)  # warm up lazy CUDA init
    torch.cuda.set_sync_debug_mode("error")
    try:
        explainer(x, target, segments=segments, masks=masks)
    finally:
        torch.cuda.set_sync_debug_mode("default")


def test_functional_core_compiles_without_graph_breaks():
    x, segments, masks = _inputs("cpu")
    scores = torch.rand(2, masks.shape[1], 3, generator=torch.Generator().manual_seed(1))
    n_features = torch.tensor([9, 7])

    def pipeline(x, segments, masks, scores):
        labels, n = relabel(segments)
        fill = F.segment_mean(x, labels, 9)
        images = F.compose(x, fill, labels, masks[:, :4])
        weights = F.lime_kernel(masks, 0.25, n_features, dtype=torch.float64)
        valid = torch.arange(9) < n_features[:, None]
        chosen = F.forward_selection(masks, scores, weights, 3, feature_mask=valid)
        fit = F.weighted_ridge(masks, scores, weights, 1.0, feature_mask=chosen)
        top = F.highest_weights(masks, scores, weights, 4, feature_mask=valid)
        return images, fit.coef, fit.score, top, n

    compiled = torch.compile(pipeline, fullgraph=True, backend="aot_eager")
    got, want = compiled(x, segments, masks, scores), pipeline(x, segments, masks, scores)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b)


def test_autocast_model_solves_in_full_precision(device):
    if device.type == "cpu":
        autocast = torch.autocast("cpu", dtype=torch.bfloat16)
    else:
        autocast = torch.autocast("cuda", dtype=torch.float16)
    x, segments, masks = _inputs(device)
    model = PatchMLP(n_classes=5).to(device)
    explainer = LimeImage(model, n_samples=40, progress=False)
    reference = explainer(x, 1, segments=segments, masks=masks)
    with autocast:
        mixed = explainer(x, 1, segments=segments, masks=masks, keep_samples=True)
    assert mixed.coef.dtype == torch.float32
    assert mixed.scores.dtype == torch.float32  # half-precision outputs widened before the fit
    # bf16 / fp16 scores move the coefficients by ~4e-4; they are ~1e-2
    assert_close(mixed.coef, reference.coef, rtol=0, atol=1.5e-3)
    assert (mixed.coef - reference.coef).norm() < 0.1 * reference.coef.norm()


def test_differentiable_mode_passes_gradcheck():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(1, 1, 6, 6, generator=g, dtype=torch.float64)
    segments = grid(x, 2, 2)
    masks = F.sample_masks(1, 12, 4, generator=g)
    weight0 = torch.randn(3, 4, generator=g, dtype=torch.float64)

    def coef_of(weight):
        def model(images):
            pooled = nn.functional.adaptive_avg_pool2d(images, 2).flatten(1)  # (n, 4)
            return pooled @ weight.T

        explainer = LimeImage(model, n_samples=12, baseline=0.0, progress=False)
        exp = explainer(
            x, torch.tensor([[0, 2]]), segments=segments, masks=masks, differentiable=True
        )
        return exp.coef, exp.intercept

    coef, _ = coef_of(weight0.requires_grad_())
    assert coef.requires_grad
    assert coef.dtype == torch.float64
    assert torch.autograd.gradcheck(coef_of, (weight0,))
