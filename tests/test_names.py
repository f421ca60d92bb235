"""Names and words by default, on every kind of explanation: as_list, as_map, class names.

The expectations are computed independently from the explanation's tensors: lime's
``as_map`` is the selected features by decreasing ``|coef|``, and ``as_list`` the same
with each feature's name.
"""

import pytest
import torch


def _by_weight(exp, index, t):
    coef, selected = exp.coef[index, t], exp.selected[index, t]
    kept = [k for k in range(coef.shape[0]) if selected[k]]
    return sorted(kept, key=lambda k: (-abs(float(coef[k])), k))


def test_as_map_and_as_list_on_every_explanation(modality):
    exp = modality.explain(modality.explainer(n_samples=40), generator=0)
    for index in range(len(exp)):
        mapped = exp.as_map(index=index)
        assert list(mapped) == exp.target[index].tolist()
        labels = exp.feature_labels(index)
        assert len(labels) == exp.coef.shape[-1] and all(isinstance(n, str) for n in labels)
        for t, label in enumerate(exp.target[index].tolist()):
            order = _by_weight(exp, index, t)
            assert [k for k, _ in mapped[label]] == order
            assert [w for _, w in mapped[label]] == pytest.approx(
                exp.coef[index, t, order].tolist()
            )
            assert exp.as_list(index=index, target=t) == [(labels[k], w) for k, w in mapped[label]]
    text = repr(exp)
    assert len(text) < 600 and type(exp).__name__ in text and f"B={len(exp)}" in text
    assert "tensor(" not in text  # shapes, not values


def test_class_names_name_the_targets_everywhere(modality):
    explainer = modality.explainer(n_samples=30, class_names=[f"class-{i}" for i in range(3)])
    assert "class_names=['class-0', 'class-1', 'class-2']" in repr(explainer)
    exp = modality.explain(explainer, generator=0)
    assert exp.config["class_names"] == ["class-0", "class-1", "class-2"]
    for index in range(len(exp)):
        ids = exp.target[index].tolist()
        assert exp.target_names(index) == [f"class-{i}" if i < 3 else f"output {i}" for i in ids]
    bare = modality.explain(modality.explainer(n_samples=30), generator=0)
    assert bare.target_names(0) == [f"output {i}" for i in bare.target[0].tolist()]


def test_image_features_are_superpixels_and_generators_take_seeds():
    from _modalities import case

    image = case("image")
    explainer = image.explainer(n_samples=30)
    exp = image.explain(explainer, generator=7)
    assert exp.feature_labels(0)[:2] == ["superpixel 0", "superpixel 1"]
    same = image.explain(explainer, generator=torch.Generator().manual_seed(7))
    assert torch.equal(exp.coef, same.coef) and exp.seed.tolist() == [7] * len(exp)
    long_names = [f"name {i}" for i in range(20)]
    assert "... (20 items)" in repr(image.explainer(class_names=long_names))
