"""LimeImage against lime 0.2.0.1 fed the same segments and masks, and against known answers."""

import numpy as np
import pytest
import torch
from _helpers import PatchMLP, RegionMean, assert_close
from lime.lime_image import LimeImageExplainer
from torch import nn

from torchlime import Grid, ImageExplanation, LimeImage
from torchlime.functional import sample_masks
from torchlime.segmentation import grid


class _FixedMasks:
    """Stands in for lime's RandomState: ``randint`` returns the masks we chose."""

    def __init__(self, masks):
        self.masks = masks

    def randint(self, low, high=None, size=None):
        return self.masks.reshape(-1).astype(np.int64).copy()


def _photo_like(b=2, h=24, w=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(b, 3, 4, 4, generator=g)
    x = nn.functional.interpolate(base, size=(h, w), mode="bilinear", align_corners=False)
    return (x + 0.05 * torch.rand(b, 3, h, w, generator=g)).clamp(0, 1)


def _segments(b, h, w, seed=0):
    """Irregular superpixels: a grid with shuffled ids, a different count per image."""
    g = torch.Generator().manual_seed(seed)
    segs = []
    for i in range(b):
        s = grid(torch.zeros(1, 1, h, w), 4 + i, 3 + i)[0]
        perm = torch.randperm(int(s.max()) + 1, generator=g)
        segs.append(perm[s])
    return torch.stack(segs)


def _lime_classifier(model):
    def classify(images):
        x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
        with torch.no_grad():
            return model(x).softmax(-1).double().numpy()

    return classify


def _lime_explain(model, image, segments, masks, hide_color, **kw):
    explainer = LimeImageExplainer(kernel_width=0.25, feature_selection=kw.pop("mode", "auto"))
    explainer.random_state = _FixedMasks(masks)
    return explainer.explain_instance(
        image.permute(1, 2, 0).numpy(),
        _lime_classifier(model),
        hide_color=hide_color,
        segmentation_fn=lambda img: segments.numpy(),
        random_seed=0,
        batch_size=17,
        **kw,
    )


def _dense(local_exp, k):
    coef = np.zeros(k)
    for f, wgt in local_exp:
        coef[f] = wgt
    return coef


@pytest.mark.parametrize("hide_color", [None, 0.0])
def test_equals_lime_for_every_top_label(hide_color, device):
    b, n, top = 2, 300, 3
    x = _photo_like(b)
    segments = _segments(b, 24, 24)
    n_seg = [int(s.max()) + 1 for s in segments]
    masks = sample_masks(b, n, max(n_seg), generator=torch.Generator().manual_seed(1))
    model = PatchMLP(n_classes=6)
    explainer = LimeImage(
        model.to(device),
        baseline="mean" if hide_color is None else hide_color,
        n_samples=n,
        batch_size=64,
        progress=False,
    )
    exp = explainer(
        x.to(device), top_labels=top, segments=segments.to(device), masks=masks.to(device)
    )
    model = model.cpu()
    for i in range(b):
        k = n_seg[i]
        m = masks[i, :, :k].numpy()
        ref = _lime_explain(model, x[i], segments[i], m, hide_color, top_labels=top, num_samples=n)
        assert exp.target[i].tolist() == [int(t) for t in ref.top_labels]
        for j, label in enumerate(ref.top_labels):
            assert_close(
                exp.coef[i, j, :k],
                torch.from_numpy(_dense(ref.local_exp[label], k)),
                rtol=0,
                atol=1e-5,
            )
            assert_close(exp.intercept[i, j], torch.tensor(ref.intercept[label]), rtol=0, atol=1e-5)
            # lime keeps score/local_pred of the last label only: explain each label alone.
            alone = _lime_explain(
                model,
                x[i],
                segments[i],
                m,
                hide_color,
                labels=(label,),
                top_labels=None,
                num_samples=n,
            )
            assert_close(exp.score[i, j], torch.tensor(alone.score), rtol=0, atol=1e-5)
            assert_close(exp.local_pred[i, j], torch.tensor(alone.local_pred[0]), rtol=0, atol=1e-5)
        assert (exp.coef[i, :, k:] == 0).all()


@pytest.mark.parametrize(
    ("mode", "k"),
    [
        ("forward_selection", 3),
        ("highest_weights", 4),
        ("auto", 2),
        ("auto", 8),
        ("none", 3),
        ("lasso_path", 3),
    ],
)
def test_feature_selection_equals_lime(mode, k, device):
    if mode == "lasso_path":
        pytest.importorskip("torchlime.functional._lars")
    n = 300
    x = _photo_like(1, seed=3)
    segments = _segments(1, 24, 24, seed=3)
    kk = int(segments.max()) + 1
    masks = sample_masks(1, n, kk, generator=torch.Generator().manual_seed(4))
    model = PatchMLP(n_classes=5, seed=2)
    explainer = LimeImage(
        model.to(device), n_samples=n, feature_selection=mode, max_features=k, progress=False
    )
    exp = explainer(
        x.to(device), top_labels=2, segments=segments.to(device), masks=masks.to(device)
    )
    ref = _lime_explain(
        model.cpu(),
        x[0],
        segments[0],
        masks[0].numpy(),
        None,
        mode=mode,
        top_labels=2,
        num_samples=n,
        num_features=k,
    )
    for j, label in enumerate(ref.top_labels):
        ours = set(exp.selected[0, j].nonzero().flatten().tolist())
        assert ours == {f for f, _ in ref.local_exp[label]}
        assert_close(
            exp.coef[0, j], torch.from_numpy(_dense(ref.local_exp[label], kk)), rtol=0, atol=1e-5
        )


def test_top_mask_equals_lime_get_image_and_mask():
    n = 200
    x = _photo_like(1, seed=5)
    segments = _segments(1, 24, 24, seed=5)
    kk = int(segments.max()) + 1
    masks = sample_masks(1, n, kk, generator=torch.Generator().manual_seed(6))
    model = PatchMLP(n_classes=4, seed=5)
    exp = LimeImage(model, n_samples=n, progress=False)(
        x, top_labels=2, segments=segments, masks=masks
    )
    ref = _lime_explain(
        model, x[0], segments[0], masks[0].numpy(), None, top_labels=2, num_samples=n
    )
    for j, label in enumerate(ref.top_labels):
        for kw in (
            {"positive_only": True},
            {"positive_only": False, "negative_only": True},
            {"positive_only": False, "min_weight": 0.001},
        ):
            _, ref_mask = ref.get_image_and_mask(label, num_features=3, **kw)
            ours = exp.top_mask(3, **kw)[0, j]
            assert torch.equal(ours, torch.from_numpy(ref_mask != 0)), kw


def test_region_oracle_ranks_the_region_first(device):
    """A score that is the mean of one region: that region's superpixels rank first."""
    h = w = 32
    segments = grid(torch.zeros(1, 1, h, w), 4, 4)  # 16 cells of 8x8
    region = torch.zeros(h, w)
    region[8:24, 8:16] = 1  # exactly cells 5 and 9
    x = _photo_like(1, h, w, seed=7) + 0.5
    model = RegionMean(region)
    exp = LimeImage(model, output="identity", baseline=0.0, n_samples=400, progress=False).to(
        device
    )(
        x.to(device),
        target=0,
        segments=segments.to(device),
        generator=torch.Generator(device).manual_seed(0),
    )
    top2 = set(exp.ranking()[0, 0, :2].tolist())
    assert top2 == {5, 9}
    # With a constant fill the model is linear in the masks: alpha=0 recovers it exactly.
    exact = LimeImage(
        model, output="identity", baseline=0.0, alpha=0.0, n_samples=400, progress=False
    )(x.to(device), target=0, segments=segments.to(device))
    expected = torch.zeros(16, dtype=torch.float64)
    for cell in (5, 9):
        expected[cell] = x[0, 0][segments[0] == cell].mean().double() / 2
    assert_close(exact.coef[0, 0], expected, rtol=0, atol=1e-5)
    assert_close(exact.score[0, 0], torch.tensor(1.0), rtol=0, atol=1e-5)


def test_same_seed_same_result_and_batch_size_invariance(device):
    x = _photo_like(3, seed=8).to(device)
    model = PatchMLP().to(device)
    results = []
    for bs in (1, 7, 99, 100, 1000):
        explainer = LimeImage(model, n_samples=100, batch_size=bs, progress=False)
        results.append(explainer(x, top_labels=2, generator=torch.Generator(device).manual_seed(3)))
    for other in results[1:]:
        assert_close(other.coef, results[0].coef, rtol=1e-6, atol=1e-7)
        assert_close(other.score, results[0].score, rtol=1e-6, atol=1e-7)
    different = LimeImage(model, n_samples=100, progress=False)(
        x, top_labels=2, generator=torch.Generator(device).manual_seed(4)
    )
    assert not torch.allclose(different.coef, results[0].coef)


def test_shapes_dtypes_and_recorded_seed(device):
    x = _photo_like(2).to(device)
    exp = LimeImage(PatchMLP().to(device), segmenter=Grid(8, 8), n_samples=50, progress=False)(
        x, top_labels=3, keep_samples=True
    )
    assert isinstance(exp, ImageExplanation)
    assert exp.coef.shape == (2, 3, 64)
    assert exp.coef.dtype == torch.float32
    assert exp.target.dtype == torch.int64
    assert exp.attributions.shape == (2, 3, 24, 24)
    assert exp.top_mask().shape == (2, 3, 24, 24)
    assert exp.masks.shape == (2, 50, 64)
    assert exp.scores.shape == (2, 50, 3)
    assert exp.coef.device.type == device.type
    # the recorded seed replays the call
    replay = LimeImage(PatchMLP().to(device), segmenter=Grid(8, 8), n_samples=50, progress=False)(
        x, top_labels=3, generator=torch.Generator(device).manual_seed(int(exp.seed[0]))
    )
    assert_close(replay.coef, exp.coef.cpu(), rtol=1e-5, atol=1e-7)
    # attributions are constant within a superpixel and equal to the coefficient
    seg = exp.segments[0]
    assert torch.equal(exp.attributions[0, 0], exp.coef[0, 0][seg])


def test_global_rng_and_model_state_untouched():
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3),
        nn.BatchNorm2d(4),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(0.5),
        nn.Linear(4, 3),
    )
    model.train()
    model[1].eval()  # a frozen BatchNorm stays frozen
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    exp = LimeImage(model, n_samples=20, progress=False)(_photo_like(1))
    assert torch.equal(torch.get_rng_state(), rng)
    assert model.training
    assert not model[1].training
    assert model[4].training
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert not exp.coef.requires_grad


def test_save_load_roundtrip(tmp_path):
    exp = LimeImage(PatchMLP(), n_samples=20, progress=False)(_photo_like(2), keep_samples=True)
    path = tmp_path / "exp.pt"
    exp.save(path)
    back = ImageExplanation.load(path)
    assert type(back) is ImageExplanation
    for name in ("coef", "segments", "target", "masks", "seed"):
        assert torch.equal(getattr(back, name), getattr(exp, name))
    sliced = exp[1]
    assert sliced.coef.shape[0] == 1
    assert torch.equal(sliced.coef[0], exp.coef[1])
    assert exp.to(torch.float64).target.dtype == torch.int64


def test_rejects_bad_input():
    model = PatchMLP()
    explainer = LimeImage(model, n_samples=10, progress=False)
    x = _photo_like(1)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        explainer(x[0])
    # a shape cannot prove its layout: a warning, then the model's own error, with a note
    with pytest.warns(UserWarning, match="channels-last"), pytest.raises(RuntimeError) as error:
        explainer(x.permute(0, 2, 3, 1))
    assert "24, 24, 3) float32 tensor" in "".join(getattr(error.value, "__notes__", [""]))
    with pytest.raises(TypeError, match="floating"):
        explainer((x * 255).to(torch.uint8))
    with pytest.raises(ValueError, match="segments must be"):
        explainer(x, segments=torch.zeros(1, 5, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="n_samples"):
        LimeImage(model, n_samples=1)
    with pytest.raises(ValueError, match=r"target must lie in \[0, 10\)"):
        explainer(x, target=10)
    with pytest.raises(ValueError, match="masks must be"):
        explainer(x, masks=torch.ones(1, 10, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"\(n, O\)"):
        LimeImage(lambda t: t.mean(1), n_samples=10, progress=False)(x)
    # one score per image, shape (n,), is one output; a softmax of it would be constant
    with pytest.raises(ValueError, match=r"one score per input, shape \(n,\)"):
        LimeImage(lambda t: t.mean((1, 2, 3)), n_samples=10, progress=False)(x)

    def nan_model(t):
        out = model(t)
        out[t[:, 0, 0, 0] < 0.9] = float("nan")
        return out

    with pytest.raises(ValueError, match=r"NaN or inf scores for \d+ of 10 samples"):
        LimeImage(nan_model, n_samples=10, baseline=0.0, progress=False)(x)


def test_relabels_segments_with_a_warning():
    x = _photo_like(1)
    segments = grid(torch.zeros(1, 1, 24, 24), 3, 3) + 1  # skimage's start_label=1
    with pytest.warns(UserWarning, match="relabelled"):
        exp = LimeImage(PatchMLP(), n_samples=20, progress=False)(x, segments=segments)
    assert exp.n_features.tolist() == [9]
    assert exp.segments.min().item() == 0


def test_progress_bar_only_when_asked(capsys):
    x = _photo_like(1)
    LimeImage(PatchMLP(), n_samples=40, batch_size=8, progress=True)(x)
    assert "40/40" in capsys.readouterr().err
    LimeImage(PatchMLP(), n_samples=40, batch_size=8, progress=False)(x)
    LimeImage(PatchMLP(), n_samples=40, batch_size=8)(x)  # not a terminal: silent
    assert capsys.readouterr().err == ""


def test_channels_last_input_gives_the_same_explanation():
    x = _photo_like(2, seed=9)
    model = PatchMLP(n_classes=4)
    seen = []

    def spy(images):
        seen.append(images.is_contiguous(memory_format=torch.channels_last))
        return model(images)

    explainer = LimeImage(spy, segmenter=Grid(4, 4), n_samples=64, batch_size=16, progress=False)
    g = torch.Generator()
    plain = explainer(x, top_labels=2, generator=g.manual_seed(0))
    seen.clear()
    last = explainer(
        x.contiguous(memory_format=torch.channels_last), top_labels=2, generator=g.manual_seed(0)
    )
    assert all(seen[1:])  # every perturbed chunk follows the input's layout
    assert_close(last.coef, plain.coef, rtol=1e-5, atol=1e-7)


def test_warns_when_the_segmentation_leaves_little_to_explain(recwarn):
    """A grayscale photo under SLIC's default compactness is a grid (as scikit-image's own
    SLIC makes it); noise merges into one superpixel; a real photo warns of neither."""
    skimage = pytest.importorskip("skimage")
    from skimage.segmentation import slic

    camera = torch.tensor(skimage.data.camera() / 255.0, dtype=torch.float32)[None, None]
    camera = nn.functional.interpolate(camera, size=(64, 64), mode="area")
    reference = slic(
        camera[0, 0].double().numpy(),
        n_segments=50,
        compactness=10,
        channel_axis=None,
        start_label=0,
    )
    areas = np.bincount(reference.ravel())
    assert len(areas) >= 4  # scikit-image agrees it is a grid: every segment a rectangle
    for s in range(len(areas)):
        rows, cols = np.nonzero(reference == s)
        assert areas[s] == (np.ptp(rows) + 1) * (np.ptp(cols) + 1)

    model = lambda t: t.flatten(1)[:, :3]  # noqa: E731
    explain = lambda x, **kw: LimeImage(model, n_samples=8, progress=False, **kw)(x, generator=0)  # noqa: E731
    with pytest.warns(UserWarning, match=r"regular grid of rectangles for images \[0\]"):
        explain(camera)
    with pytest.warns(UserWarning, match=r"fewer than 4 superpixels \(\[1, 1\]\)"):
        explain(torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)))
    recwarn.clear()
    from torchlime.segmentation import SLIC

    explain(camera, segmenter=SLIC(n_segments=50, compactness=0.1))  # follows the content
    explain(camera, segmenter=Grid(4))  # a grid by request
    astronaut = torch.tensor(skimage.data.astronaut() / 255.0, dtype=torch.float32)
    explain(nn.functional.interpolate(astronaut.permute(2, 0, 1)[None], size=(96, 96)))
    assert not [w for w in recwarn if "superpixels" in str(w.message) or "grid" in str(w.message)]
