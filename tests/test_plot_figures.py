"""The matplotlib figures name their classes and features, and say what the colours mean."""

from __future__ import annotations

import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import torch  # noqa: E402
from _modalities import case, explained  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402

from torchlime.plot import (  # noqa: E402
    bar_figure,
    image_figure,
    image_grid,
    save_bar_figure,
    save_image_figure,
    save_image_grid,
)

CLASSES = ["cat", "dog", "fox", "owl", "eel"]


@pytest.fixture(scope="module")
def image():
    c = case("image")
    return c.inputs, explained(c, feature_selection="none", class_names=CLASSES)[1]


def _image_axes(fig):
    return [ax for ax in fig.axes if ax.images]


def _texts(fig):
    found = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        found += [ax.get_title(), ax.get_ylabel(), ax.get_xlabel()]
        legend = ax.get_legend()
        if legend is not None:
            found += [t.get_text() for t in legend.get_texts()]
    for legend in fig.legends:
        found += [t.get_text() for t in legend.get_texts()]
    if fig._suptitle is not None:
        found.append(fig._suptitle.get_text())
    return found


@pytest.mark.parametrize("negative", [False, True])
def test_image_figure_names_the_class_and_its_colours(image, negative):
    x, exp = image
    fig = image_figure(exp, x, index=1, target=1, k=3, negative=negative)
    name = exp.target_names(1)[1]
    assert name in CLASSES
    axes = _image_axes(fig)
    assert len(axes) == 3
    assert axes[0].get_title() == "original"
    assert all(name in ax.get_title() for ax in axes[1:])
    texts = " | ".join(_texts(fig))
    assert f"red: pushes {name} up" in texts  # the colorbar's label
    assert f"pushes {name} up" in texts
    assert (f"pushes {name} down" in texts) == negative
    assert "output" not in texts
    assert name in fig._suptitle.get_text()


def test_image_figure_keeps_its_signature(image, tmp_path):
    x, exp = image
    fig = image_figure(exp, x, index=0, target=0, k=5, title="my title")
    assert fig._suptitle.get_text() == "my title"
    save_image_figure(exp, x.cpu(), tmp_path / "a" / "fig.png", index=1, title="t")
    assert (tmp_path / "a" / "fig.png").stat().st_size > 0


def test_image_grid_is_images_by_classes_with_originals(image, tmp_path):
    x, exp = image
    b, t = exp.coef.shape[:2]
    fig = image_grid(exp, x)
    axes = _image_axes(fig)
    assert len(axes) == b * (1 + t)
    for i in range(b):
        row = axes[i * (1 + t) : (i + 1) * (1 + t)]
        assert row[0].get_title() == f"image {i}"
        for j, name in enumerate(exp.target_names(i)):
            assert row[1 + j].get_title().startswith(name)
    texts = " | ".join(_texts(fig))
    assert "pushes the panel's class up" in texts
    assert "pushes the panel's class down" in texts
    save_image_grid(exp, x, tmp_path / "grid.png", targets=[0])
    assert (tmp_path / "grid.png").stat().st_size > 0


def test_image_grid_selects_and_can_hide_negative_weights(image):
    x, exp = image
    fig = image_grid(exp, x, indices=[1], targets=[1], negative=False)
    axes = _image_axes(fig)
    assert len(axes) == 2
    painted = torch.as_tensor(axes[1].images[0].get_array()).int()
    assert not (painted[..., 2] > painted[..., 0]).any()  # no blue
    assert (painted[..., 0] > painted[..., 2]).any()  # some red
    texts = " | ".join(_texts(fig))
    assert "down" not in texts


def test_image_grid_refuses_mismatched_images(image):
    x, exp = image
    with pytest.raises(ValueError, match="segments"):
        image_grid(exp, x[:, :, :10])


@pytest.mark.parametrize("kind", ["tabular_discretized", "text"])
def test_bar_figure_names_class_and_features(kind, tmp_path):
    exp = explained(case(kind), class_names=CLASSES[:4])[1]
    fig = bar_figure(exp, index=1, target=0)
    name = exp.target_names(1)[0]
    (ax,) = fig.axes
    assert ax.get_title().startswith(f"{name}:")
    pairs = exp.as_list(index=1, target=0)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [label for label, _ in pairs][::-1]
    texts = _texts(fig)
    assert f"pushes {name} up" in texts
    assert f"pushes {name} down" in texts
    colours = [p.get_facecolor()[:3] for p in ax.patches]
    weights = [w for _, w in pairs][::-1]
    red, blue = to_rgb((0.84, 0.15, 0.16)), to_rgb((0.13, 0.40, 0.80))
    assert colours == [pytest.approx(red if w > 0 else blue) for w in weights]
    save_bar_figure(exp, tmp_path / "bars.png", None, index=0, title="x")
    assert (tmp_path / "bars.png").stat().st_size > 0


def test_bar_figure_without_class_names_says_output(tmp_path):
    exp = explained(case("tabular_continuous"))[1]
    fig = bar_figure(exp, ["a", "b", "c", "d", "e"])
    out = int(exp.target[0, 0])
    assert fig.axes[0].get_title().startswith(f"output {out}:")
