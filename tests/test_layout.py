"""The package's layout rules, read from the source: imports go down, modules stay small.

Layers, bottom to top: ``functional`` and ``segmentation`` (with the utility modules
``_checks``, ``_random``, ``_version``, ``types``); the engine (``_engine``,
``_explainer``, ``_adaptive``) and ``explanation``; the front-ends (``image``, ``tabular``,
``text``, ``tensor``); the analysis (``stability``, ``metrics``, ``dataset``); ``plot`` and
the faces (the package, and ``captum``, captum's call on the front-ends). A module imports
only from its own layer or below; nothing but a face imports a front-end; no private name
(``_x``) is imported from another module.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).parents[1] / "torchlime"
UTILITY = {"_checks", "_random", "_repr", "_tables", "_version", "types"}
FRONT_ENDS = {"image", "tabular", "text", "tensor"}
FACES = {"torchlime", "torchlime.captum"}
LAYERS = {
    "utility": 0,
    "functional": 0,
    "segmentation": 0,
    "engine": 1,
    "front-end": 2,
    "analysis": 3,
    "top": 4,
}


def _modules() -> list[Path]:
    return sorted(ROOT.rglob("*.py"))


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> str:
    parts = module.split(".")[1:]
    head = parts[0] if parts else ""
    if head in UTILITY:
        return "utility"
    if head in ("functional", "segmentation"):
        return head
    if head in ("_engine", "_explainer", "_features", "_adaptive", "explanation"):
        return "engine"
    if head in FRONT_ENDS:
        return "front-end"
    if head in ("stability", "metrics", "dataset", "data"):
        return "analysis"
    return "top"  # the package face, plot


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every ``torchlime`` import in the file, absolute."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("torchlime"):
            names = [a.name for a in node.names]
            if node.module == "torchlime":  # from torchlime import _checks, stability
                found += [(f"torchlime.{n}", []) for n in names]
            else:
                found.append((node.module, names))
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names if a.name.startswith("torchlime")]
    return found


def test_imports_go_down_the_layers():
    wrong = []
    for path in _modules():
        module = _name(path)
        mine = _layer(module)
        for imported, _ in _imports(path):
            theirs = _layer(imported)
            if module in FACES or imported.startswith(module + "."):
                continue  # a face; a package's own submodules
            if LAYERS[theirs] > LAYERS[mine]:
                wrong.append(f"{module} ({mine}) imports {imported} ({theirs})")
            if theirs == "front-end" and imported.split(".")[1] != module.split(".")[1]:
                wrong.append(f"{module} imports the front-end {imported}")
            if mine == "functional" and theirs not in ("functional", "utility"):
                wrong.append(f"{module} (functional) imports {imported}")
    assert not wrong, wrong


def test_no_private_name_crosses_modules():
    wrong = [
        f"{_name(path)} imports {name} from {imported}"
        for path in _modules()
        for imported, names in _imports(path)
        for name in names
        if name.startswith("_") and not name.endswith("__")
    ]
    assert not wrong, wrong


def test_no_module_over_600_lines():
    sizes = {_name(p): len(p.read_text().splitlines()) for p in _modules()}
    assert not {m: n for m, n in sizes.items() if n > 600}
