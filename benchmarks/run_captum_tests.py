"""Run captum's own LIME and KernelSHAP tests against torchlime.captum, imports swapped.

captum's ``tests/attr/test_lime.py`` and ``tests/attr/test_kernel_shap.py`` are not in its
wheel or sdist, so this takes them from a captum checkout (a git repository; ``--rev``
picks the revision, default ``HEAD``), changes only the imports of ``Lime``,
``KernelShap`` and ``get_exp_kernel_similarity_function`` to ``torchlime.captum`` (captum's
``LimeBase``, models and helpers stay captum's), and runs them with pytest in a
temporary directory. Nothing from captum is copied into this repository.

Run: ``python benchmarks/run_captum_tests.py /path/to/captum [--rev v0.9.0]``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

SWAPS = {
    "tests/attr/test_lime.py": [(
        "from captum.attr._core.lime import get_exp_kernel_similarity_function, Lime, LimeBase",
        "from captum.attr._core.lime import LimeBase\n"
        "from torchlime.captum import get_exp_kernel_similarity_function, Lime",
    )],
    "tests/attr/test_kernel_shap.py": [(
        "from captum.attr._core.kernel_shap import KernelShap",
        "from torchlime.captum import KernelShap",
    )],
}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("captum", type=Path, help="a captum git checkout (or bare repository)")
    parser.add_argument("--rev", default="HEAD")
    args, pytest_args = parser.parse_known_args()
    with tempfile.TemporaryDirectory() as tmp:
        for path, swaps in SWAPS.items():
            source = subprocess.run(
                ["git", "-C", str(args.captum), "show", f"{args.rev}:{path}"],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            for old, new in swaps:
                if source.count(old) != 1:
                    raise SystemExit(f"{path}: the import {old!r} is not there once")
                source = source.replace(old, new)
            (Path(tmp) / Path(path).name).write_text(source)
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", tmp, *pytest_args]
        return subprocess.run(cmd, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
