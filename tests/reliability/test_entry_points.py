"""Every public entry point against the inputs users get wrong: a clear error or a right answer.

Table-driven: each row is one bad input or fault, the error type, and the words the message
must contain (the argument's name and what was expected). Then the defects that used to give
silent wrong answers or unhelpful crashes, each with the behaviour that is right.
"""

import io
import subprocess
import sys
import warnings

import pytest
import torch
from _helpers import PatchMLP
from _modalities import case
from torch import nn

from torchlime import Grid, LimeImage, LimeTabular
from torchlime.functional import exponential_kernel, weighted_ridge


def _image_explainer(**kw):
    return LimeImage(
        PatchMLP(n_classes=4), segmenter=Grid(3, 3), n_samples=20, progress=False, **kw
    )


X = torch.rand(2, 3, 12, 12, generator=torch.Generator().manual_seed(0))

BAD_CALLS = [
    # (name, call, error type, words in the message)
    ("C=0 images", lambda: _image_explainer()(torch.rand(1, 0, 8, 8)), ValueError, "channels"),
    ("list of images", lambda: _image_explainer()([X[0]]), TypeError, "tensor"),
    ("bool target", lambda: _image_explainer()(X, True), TypeError, "bool"),
    ("top_labels > O", lambda: _image_explainer()(X, top_labels=9), ValueError, "top_labels=9"),
    (
        "masks of 0.5",
        lambda: _image_explainer()(X, masks=torch.full((2, 5, 9), 0.5)),
        ValueError,
        "0 or 1",
    ),
    ("NaN alpha", lambda: _image_explainer(alpha=float("nan")), ValueError, "alpha"),
    ("negative alpha", lambda: _image_explainer(alpha=-1.0), ValueError, "alpha"),
    ("NaN kernel width", lambda: _image_explainer(kernel_width=float("nan")), ValueError, "width"),
    ("zero kernel width", lambda: _image_explainer(kernel_width=0.0), ValueError, "width"),
    (
        "NaN alpha, functional",
        lambda: weighted_ridge(torch.ones(3, 1), torch.ones(3, 1), torch.ones(3), float("nan")),
        ValueError,
        "alpha",
    ),
    (
        "NaN width, functional",
        lambda: exponential_kernel(torch.zeros(3), float("nan")),
        ValueError,
        "kernel_width",
    ),
    (
        "differentiable inside inference_mode",
        lambda: _in_inference_mode(lambda: _image_explainer()(X, differentiable=True)),
        ValueError,
        "inference_mode",
    ),
    (
        "training data of strings",
        lambda: LimeTabular(nn.Linear(2, 2), [["a", "b"], ["c", "d"]]),
        TypeError,
        "training_data",
    ),
    (
        "rows as a dict",
        lambda: LimeTabular(nn.Linear(2, 2), torch.rand(20, 2))({"a": [0.1, 0.2]}),
        TypeError,
        "(B, D) tensor",
    ),
]


def _in_inference_mode(fn):
    with torch.inference_mode():
        return fn()


@pytest.mark.parametrize(
    ("name", "call", "error", "words"), BAD_CALLS, ids=[r[0] for r in BAD_CALLS]
)
def test_bad_input_gets_a_clear_error(name, call, error, words):
    with pytest.raises(error) as caught:
        call()
    assert words in str(caught.value), f"{name}: {caught.value}"


# --------------------------------------------------------------------------- silent wrong answers


def test_probabilities_under_softmax_are_flagged():
    probs = nn.Sequential(PatchMLP(n_classes=4), nn.Softmax(-1))
    with pytest.warns(UserWarning, match='output="identity"'):
        LimeImage(probs, segmenter=Grid(3, 3), n_samples=20, progress=False)(X)
    identity = LimeImage(probs, segmenter=Grid(3, 3), n_samples=20, output="identity")
    logits = LimeImage(PatchMLP(n_classes=4), segmenter=Grid(3, 3), n_samples=20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # neither probabilities explained as such nor logits
        identity(X, generator=0)
        logits(X, generator=0)


def test_explanations_iterate_over_the_batch_and_refuse_indices_past_it():
    exp = _image_explainer()(X)
    assert [len(e) for e in exp] == [1, 1]
    assert torch.equal(exp[-1].coef, exp.coef[1:])
    with pytest.raises(IndexError, match="out of range"):
        exp[2]


def test_a_slice_saves_its_own_examples_only():
    exp = LimeImage(PatchMLP(n_classes=4), segmenter=Grid(3, 3), n_samples=200, progress=False)(
        torch.rand(8, 3, 12, 12), keep_samples=True
    )
    whole, one = io.BytesIO(), io.BytesIO()
    exp.save(whole)
    exp[0].save(one)
    assert one.tell() < 0.3 * whole.tell()


def test_ambiguous_shapes_are_explained_as_channels_first_with_a_warning():
    model = nn.Sequential(nn.Conv2d(8, 4, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    explainer = LimeImage(model, segmenter=Grid(2, 1), n_samples=10, progress=False)
    with pytest.warns(UserWarning, match="channels-last"):
        exp = explainer(torch.rand(1, 8, 16, 3))  # 8 channels of 16 x 3: legitimate
    assert exp.segments.shape == (1, 16, 3)
    flat = LimeImage(nn.Flatten(), segmenter=Grid(2, 1), n_samples=10, output="identity")
    with pytest.warns(UserWarning, match=r"\(1, 4, 8, 3\)"):  # an RGB 4 x 8 image, likely
        flat(torch.rand(1, 4, 8, 3))


# --------------------------------------------------------------------------- crashes, now answers


def test_the_default_segmenter_runs_under_autocast():
    explainer = LimeImage(PatchMLP(n_classes=4), n_samples=20, progress=False)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        exp = explainer(X)
    assert torch.isfinite(exp.coef).all() and exp.n_features.min() > 1


@pytest.mark.parametrize("kind", ["image", "tabular_continuous", "text"])
def test_inputs_that_require_grad_explain_with_and_without_gradients(kind):
    problem = case(kind)
    inputs = problem.inputs.clone().double() if kind != "text" else problem.inputs
    if kind == "image":
        inputs = inputs.float()
    if inputs.is_floating_point():
        inputs.requires_grad_(True)
    explainer = problem.explainer(n_samples=30)
    plain = explainer(inputs, **problem.kwargs)
    graph = explainer(inputs, differentiable=True, **problem.kwargs)
    assert not plain.coef.requires_grad and graph.coef.requires_grad


def test_an_output_transform_may_reduce_a_segmentation_model():
    segmenter_net = nn.Conv2d(3, 2, 1)  # (n, 3, H, W) -> (n, 2, H, W) class maps

    def class_area(out):  # (n, 2, H, W) -> (n, 2): the mean probability of each class
        return out.softmax(1).mean((-2, -1))

    explainer = LimeImage(
        segmenter_net, segmenter=Grid(3, 3), output=class_area, n_samples=30, progress=False
    )
    exp = explainer(X, target=1)
    assert exp.coef.shape == (2, 1, 9) and torch.isfinite(exp.coef).all()


# --------------------------------------------------------------------------- memory and time


def test_auto_batches_follow_the_input_size_and_give_the_same_explanation():
    from torchlime._engine import CPU_CHUNK_BYTES

    explainer = LimeImage(PatchMLP(n_classes=4), segmenter=Grid(3, 3), n_samples=300)
    assert explainer.batch_size == "auto"
    calls = []
    explainer.model.register_forward_hook(lambda m, args, out: calls.append(len(args[0])))
    for size, rows in [(64, 256), (256, CPU_CHUNK_BYTES // (3 * 256 * 256 * 4))]:
        calls.clear()  # 24 MB of 64 x 64 images is 512, capped at 256; of 256 x 256 ones, 32
        explainer(torch.rand(2, 3, size, size), generator=0)
        assert max(calls) == rows
    x = torch.rand(2, 3, 64, 64)
    explicit = LimeImage(explainer.model, segmenter=Grid(3, 3), n_samples=300, batch_size=7)
    assert torch.allclose(explicit(x, generator=0).coef, explainer(x, generator=0).coef,
                          rtol=1e-5, atol=1e-6)  # fmt: skip


def test_a_large_image_with_default_settings_stays_within_4_gb(tmp_path):
    script = tmp_path / "big.py"
    script.write_text(
        "import resource, torch\n"
        "from torch import nn\n"
        "import torchlime\n"
        "model = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 10))\n"
        "small = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))\n"
        "x = nn.functional.interpolate(small, size=(2048, 2048), mode='bilinear')\n"
        "exp = torchlime.LimeImage(model, n_samples=100, progress=False)(x, generator=0)\n"
        "assert exp.n_features.item() > 10\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout.split()[-1]) * 1024 < 4 * 2**30  # ru_maxrss is in KiB on Linux


def test_calls_that_cannot_fit_are_refused_up_front():
    explainer = LimeImage(PatchMLP(n_classes=4), segmenter=Grid(3, 3), batch_size=10**7)
    with pytest.raises(ValueError, match="GiB"):  # 10**7 images of 12x12 per chunk: ~17 GiB
        explainer(torch.rand(1, 3, 1200, 1200))
    rows = LimeTabular(nn.Linear(4, 2), torch.rand(50, 4), n_samples=10**6)
    with pytest.raises(ValueError, match="fewer examples per call"):
        rows(torch.rand(10**5, 4))  # 10**11 samples


def test_progress_in_a_log_writes_lines_per_stage(capsys):
    explainer = LimeImage(PatchMLP(n_classes=4), segmenter=Grid(3, 3), n_samples=50, progress=True)
    explainer(X)
    lines = capsys.readouterr().err.strip().splitlines()  # stderr is not a terminal here
    assert lines[0].startswith("LimeImage features: 1/1")
    assert any(line.startswith("LimeImage model calls:") for line in lines)
    assert lines[-1].endswith("(100%)") and "\r" not in "".join(lines)
