import importlib
import json
import subprocess
import sys
from pathlib import Path


def test_import_pulls_in_no_optional_dependency():
    code = (
        "import sys, torchlime, torchlime.functional, torchlime.captum;"
        "print([m for m in ('matplotlib', 'skimage', 'sklearn', 'scipy', 'lime', 'captum', "
        "'pandas', 'transformers', 'tokenizers') "
        "if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_public_api_surface_is_the_checked_in_one():
    expected = json.loads((Path(__file__).parent / "api_surface.json").read_text())
    assert set(expected) == {
        "torchlime",
        "torchlime.captum",
        "torchlime.functional",
        "torchlime.stability",
        "torchlime.metrics",
        "torchlime.types",
    }
    for name, listed in expected.items():
        module = importlib.import_module(name)
        assert sorted(module.__all__) == listed, name
        assert all(isinstance(n, str) for n in module.__all__), name
        for attr in listed:
            assert hasattr(module, attr), f"{name}.{attr} is listed but missing"
