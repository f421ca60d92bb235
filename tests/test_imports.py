import json
import subprocess
import sys
from pathlib import Path

import torchlime
import torchlime.functional


def test_import_pulls_in_no_optional_dependency():
    code = (
        "import sys, torchlime, torchlime.functional;"
        "print([m for m in ('matplotlib', 'skimage', 'sklearn', 'scipy', 'lime', 'captum') "
        "if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_public_api_surface_is_the_checked_in_one():
    expected = json.loads((Path(__file__).parent / "api_surface.json").read_text())
    assert sorted(torchlime.__all__) == expected["torchlime"]
    assert sorted(torchlime.functional.__all__) == expected["torchlime.functional"]
    for module, names in (("torchlime", torchlime), ("torchlime.functional", torchlime.functional)):
        for name in expected[module]:
            assert hasattr(names, name), f"{module}.{name} is listed but missing"
    assert all(isinstance(n, str) for n in torchlime.__all__)
