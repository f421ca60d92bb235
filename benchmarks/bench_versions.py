"""torchlime before and after a change, side by side in one process: no regression?

Loads two copies of the package at once: the current ``torchlime`` from this repository
(``after``) and an older one renamed ``torchlime_before`` (``before``). Make the old copy
from a commit (here 822ceaa, the commit before the explainer-template redesign) with::

    rm -rf /tmp/before && mkdir -p /tmp/before
    git archive 822ceaa torchlime | tar -x -C /tmp/before
    mv /tmp/before/torchlime /tmp/before/torchlime_before
    grep -rl torchlime /tmp/before/torchlime_before \\
        | xargs sed -i 's/\\btorchlime\\b/torchlime_before/g'

(the sed rewrites ``import torchlime``, ``from torchlime[.x] import ...`` and
``torchlime.`` attribute uses alike; ``\\b`` leaves ``torchlime_before`` untouched, so it
is safe to run twice). ``--before`` takes the renamed package folder
(``/tmp/before/torchlime_before``) or the folder holding it (``/tmp/before``). While
others edit ``torchlime/``, pin ``after`` to a commit the same way: ``git archive HEAD
torchlime`` into ``/tmp/after-<hash>``, renamed ``torchlime_after``, and ``--after
/tmp/after-<hash>`` (the path is recorded in the JSON).

Every workload builds its model and inputs once, then times ``before`` and ``after`` (and
the bare model, the *floor*, where the model's own cost matters) interleaved within each
repeat, in alternating order, each call with a fresh ``torch.Generator`` seeded 0:

- image, trivial model (bench_image's mean colour -> linear), B = 1 and 8, the same SLIC
  segments passed to both (``segments=``), 1000 samples, batch_size 64;
- image, torchvision mobilenet_v3_small (random weights), B = 1, 1000 samples,
  batch_size 64, with the floor (bench_image's: the model on B x N inputs, same chunks);
- tabular: bench_tabular's breast-cancer MLP on its 569 rows, lime's defaults (5000
  samples, quartile bins), the default path and ``share_samples=True``; ms per row;
- text: bench_text's bag-of-embeddings model and its one-layer transformer on its 8
  sentences, 5000 samples, batch_size 512; ms per sentence.

Reported: medians, after / before of the medians, and the median of the per-repeat
after / before ratios (paired within a repeat, so it shares the machine's noise) with
their range. Before timing, every workload's explanations from both versions are compared
(same segments, same seed, samples kept): max |after - before| of the coefficients,
intercepts, R², model scores and kernel weights, and the fraction of samples that differ.
The trivial model's coefficients are ~1e-8 under lime's mean fill (hiding a superpixel
behind its own mean colour barely moves the image's mean), so it is also compared with a
black fill (``baseline=0``).

    OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_versions.py --before /tmp/before \\
        [--repeats 5] [--workloads image-trivial image-mobilenet tabular text] [--json out.json]
"""

from __future__ import annotations

import os

# libgomp reads these when torch loads: set them before any import of torch
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TQDM_DISABLE", "1")

import argparse
import importlib
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the repository's torchlime, whatever is installed

import torch
import torchvision
from common import MeanColour, dump, metadata, photos, timed
from sklearn.datasets import load_breast_cancer

WORKLOADS = ["image-trivial", "image-mobilenet", "tabular", "text"]


def import_after(retries: int = 5, wait: float = 60.0) -> ModuleType:
    """The repository's torchlime; retried, as others may be editing it right now."""
    for attempt in range(retries):
        module = _try_import("torchlime")
        if isinstance(module, ModuleType):
            return module
        if attempt == retries - 1:
            raise module
        print(f"# import torchlime failed ({module!r}); retrying in {wait:.0f} s", flush=True)
        for name in [m for m in sys.modules if m == "torchlime" or m.startswith("torchlime.")]:
            del sys.modules[name]
        time.sleep(wait)
    raise AssertionError("unreachable")


def _try_import(name: str) -> ModuleType | Exception:
    try:
        return importlib.import_module(name)
    except Exception as error:  # a half-written file
        return error


after = import_after()  # before the benchmark modules, which import it too

from bench_image import NAMES, floor, segments_for
from bench_tabular import trained_mlp
from bench_text import CLS, SENTENCES, Bag, Classifier, tokenize


def import_renamed(path: str, default: str = "torchlime_before") -> ModuleType:
    """A renamed copy of the package from ``path`` (its folder, or the folder holding it)."""
    folder = Path(path).resolve()
    if (folder / "__init__.py").exists():
        parent, name = folder.parent, folder.name
    else:
        parent, name = folder, default
    if not (parent / name / "__init__.py").exists():
        raise SystemExit(f"no package {name!r} under {parent}: see this script's docstring")
    if name == "torchlime":
        raise SystemExit(f"rename the copy ({default}): see this script's docstring")
    sys.path.insert(0, str(parent))
    module = importlib.import_module(name)
    # the rename must be complete: no module of the copy may hold the current package's
    for mod_name, mod in list(sys.modules.items()):
        if mod_name != name and not mod_name.startswith(f"{name}."):
            continue
        for attr, value in vars(mod).items():
            home = (
                value.__name__
                if isinstance(value, ModuleType)
                else getattr(value, "__module__", "")
            )
            if isinstance(home, str) and home.split(".")[0] == "torchlime":
                raise SystemExit(f"{mod_name}.{attr} comes from the current torchlime ({home})")
    return module


def time_interleaved(
    methods: dict[str, Callable[[], Any]], device: torch.device, repeats: int, per: float = 1.0
) -> dict[str, list[float]]:
    """Every method's times (seconds / ``per``) over ``repeats``, after one warm-up call each.

    As common.interleaved, but keeping every time (for paired ratios) and reversing the
    order every other repeat, so neither version always runs first.
    """
    for fn in methods.values():
        fn()
    names = list(methods)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            times[name].append(timed(methods[name], device) / per)
    return times


def summarise(workload: str, unit: str, scale: float, times: dict[str, list[float]]) -> dict:
    med = {name: statistics.median(ts) for name, ts in times.items()}
    paired = [a / b for a, b in zip(times["after"], times["before"], strict=True)]
    row: dict[str, Any] = {
        "workload": workload,
        "unit": unit,
        **{name: scale * m for name, m in med.items()},
        "after/before": med["after"] / med["before"],
        "paired after/before": statistics.median(paired),
        "paired min..max": [min(paired), max(paired)],
        "all": {name: [scale * t for t in ts] for name, ts in times.items()},
    }
    if "floor" in med:
        row["before/floor"] = med["before"] / med["floor"]
        row["after/floor"] = med["after"] / med["floor"]
    return row


def print_row(row: dict) -> None:
    fl = row.get("floor")
    print(
        f"{row['workload']:<34}{row['unit']:>7}{row['before']:>10.3f}{row['after']:>10.3f}"
        f"{row['after/before']:>9.3f}{row['paired after/before']:>9.3f}"
        f"  [{row['paired min..max'][0]:.3f}..{row['paired min..max'][1]:.3f}]"
        + (
            f"{fl:>10.3f}{row['before/floor']:>9.3f}{row['after/floor']:>9.3f}"
            if fl is not None
            else ""
        ),
        flush=True,
    )


def max_delta(calls: dict[str, Callable[..., Any]]) -> dict[str, float]:
    """One call of each version with its samples kept: max |after - before| of each field.

    ``samples``: the fraction of interpretable samples (masks, binary rows) that differ.
    """
    a, b = calls["after"](keep_samples=True), calls["before"](keep_samples=True)
    out = {}
    for field in ("coef", "intercept", "score", "scores", "weights", "masks"):
        x, y = getattr(a, field), getattr(b, field)
        key = "samples" if field == "masks" else field
        if x is None or y is None or x.shape != y.shape:
            out[key] = float("nan")
        elif field == "masks":
            out[key] = float((x != y).any(-1).double().mean())
        else:
            out[key] = float((x.double() - y.double()).abs().max())
    out["coef_scale"] = float(b.coef.double().abs().max())
    return out


def seeded(device: torch.device) -> torch.Generator:
    return torch.Generator(device).manual_seed(0)


# ---------------------------------------------------------------------------- workloads


def image(versions, model_name, b, args, checks) -> dict:
    model = MeanColour() if model_name == "trivial" else getattr(torchvision.models, model_name)()
    device = torch.device(args.device)
    model = model.eval().to(device)
    x = photos([NAMES[i % len(NAMES)] for i in range(b)])
    segments = segments_for(x).to(device)
    x = x.to(device)

    def calls(**settings: Any) -> dict[str, Callable[..., Any]]:
        explainers = {
            name: tl.LimeImage(
                model,
                n_samples=args.n_samples,
                batch_size=args.image_batch_size,
                progress=False,
                **settings,
            )
            for name, tl in versions.items()
        }
        return {
            name: lambda e=e, **kw: e(
                x, segments=segments, top_labels=1, generator=seeded(device), **kw
            )
            for name, e in explainers.items()
        }

    methods: dict[str, Callable[..., Any]] = calls()
    workload = f"image {model_name} B={b}"
    checks[workload] = max_delta(methods)
    if model_name == "trivial":
        # with lime's mean fill the mean colour hardly moves (coefficients ~1e-8): a black
        # fill makes the trivial model's surrogate non-degenerate
        checks[f"{workload} (baseline=0)"] = max_delta(calls(baseline=0.0))
    else:
        methods["floor"] = floor(model, x, args.n_samples, args.image_batch_size, device)
    times = time_interleaved(methods, device, args.repeats)
    return summarise(workload, "s", 1.0, times)


def tabular(versions, share, args, checks) -> dict:
    data = load_breast_cancer()
    X = torch.tensor(data.data, dtype=torch.float32)
    device = torch.device(args.device)
    model = trained_mlp(X, torch.tensor(data.target)).to(device)
    rows = X[: args.n_rows].to(device)
    explainers = {
        name: tl.LimeTabular(
            model, X, n_samples=args.tabular_samples, progress=False, share_samples=share
        ).to(device)
        for name, tl in versions.items()
    }

    methods: dict[str, Callable[..., Any]] = {
        name: lambda e=e, **kw: e(rows, target=1, generator=seeded(device), **kw)
        for name, e in explainers.items()
    }
    workload = "tabular " + ("share_samples=True" if share else "default")
    checks[workload] = max_delta(methods)
    if not share:  # the model alone on every perturbed row, lime's chunks (bench_tabular's)
        perturbed = rows.repeat_interleave(args.tabular_samples - 1, 0)
        step = explainers["after"].batch_size

        def bare() -> None:
            with torch.no_grad():
                for i in range(0, perturbed.shape[0], step):
                    model(perturbed[i : i + step]).softmax(-1)

        methods["floor"] = bare
    times = time_interleaved(methods, device, args.repeats, per=len(rows))
    return summarise(workload, "ms/row", 1e3, times)


def text(versions, model_name, args, checks) -> dict:
    torch.manual_seed(0)
    device = torch.device(args.device)
    model = (Classifier if model_name == "transformer" else Bag)().eval().to(device)
    ids, attention = (t.to(device) for t in tokenize(SENTENCES))
    explainers = {
        name: tl.LimeText(
            model,
            special_ids=[CLS],
            n_samples=args.text_samples,
            batch_size=args.text_batch_size,
            progress=False,
        )
        for name, tl in versions.items()
    }

    methods: dict[str, Callable[..., Any]] = {
        name: lambda e=e, **kw: e(
            ids, target=1, attention_mask=attention, generator=seeded(device), **kw
        )
        for name, e in explainers.items()
    }
    workload = f"text {model_name}"
    checks[workload] = max_delta(methods)
    rep_ids = ids.repeat_interleave(args.text_samples - 1, 0)
    rep_attention = attention.repeat_interleave(args.text_samples - 1, 0)

    def bare() -> None:  # bench_text's floor: the model on as many rows, same chunks
        with torch.no_grad():
            for i in range(0, rep_ids.shape[0], args.text_batch_size):
                sl = slice(i, i + args.text_batch_size)
                model(rep_ids[sl], rep_attention[sl]).softmax(-1)

    methods["floor"] = bare
    times = time_interleaved(methods, device, args.repeats, per=len(SENTENCES))
    return summarise(workload, "ms/sent", 1e3, times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the renamed old package (see above)")
    parser.add_argument(
        "--after",
        default=None,
        help="a renamed copy (torchlime_after) instead of the repository's working tree, "
        "e.g. of HEAD while others edit torchlime/",
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workloads", nargs="+", choices=WORKLOADS, default=WORKLOADS)
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8], help="trivial B")
    parser.add_argument("--n-samples", type=int, default=1000, help="image samples")
    parser.add_argument("--image-batch-size", type=int, default=64)
    parser.add_argument("--n-rows", type=int, default=569)
    parser.add_argument("--tabular-samples", type=int, default=5000)
    parser.add_argument("--text-samples", type=int, default=5000)
    parser.add_argument("--text-batch-size", type=int, default=512)
    parser.add_argument("--text-models", nargs="+", default=["bag", "transformer"])
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    before = import_renamed(args.before)
    current = import_renamed(args.after, "torchlime_after") if args.after else after
    versions = {"before": before, "after": current}
    meta = metadata(torch.device(args.device))
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "torchlime"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    ).stdout.split("\n")
    meta.update(
        omp_wait_policy=os.environ.get("OMP_WAIT_POLICY"),
        before=before.__file__,
        after=current.__file__,
        # with the working tree as "after": what it has on top of the commit
        after_uncommitted=None if args.after else [ln[3:] for ln in dirty if ln.strip()],
    )
    print(f"# bench_versions: {meta}")
    print(f"# medians of {args.repeats} interleaved repeats (order alternating)\n")
    print(
        f"{'workload':<34}{'unit':>7}{'before':>10}{'after':>10}{'a/b':>9}{'paired':>9}"
        f"  {'[min..max]':<14}{'floor':>10}{'b/floor':>9}{'a/floor':>9}"
    )
    rows: list[dict] = []
    checks: dict[str, dict[str, float]] = {}
    if "image-trivial" in args.workloads:
        for b in args.batches:
            rows.append(image(versions, "trivial", b, args, checks))
            print_row(rows[-1])
    if "image-mobilenet" in args.workloads:
        rows.append(image(versions, "mobilenet_v3_small", 1, args, checks))
        print_row(rows[-1])
    if "tabular" in args.workloads:
        for share in (False, True):
            rows.append(tabular(versions, share, args, checks))
            print_row(rows[-1])
    if "text" in args.workloads:
        for name in args.text_models:
            rows.append(text(versions, name, args, checks))
            print_row(rows[-1])
    print("\n# same inputs, same seed: max |after - before| (samples: fraction that differ)")
    for workload, d in checks.items():
        print(
            f"{workload:<34} coef {d['coef']:.3g} (|coef| up to {d['coef_scale']:.3g}), "
            f"intercept {d['intercept']:.3g}, R² {d['score']:.3g}, "
            f"scores {d['scores']:.3g}, weights {d['weights']:.3g}, samples {d['samples']:.3g}"
        )
    dump({"meta": meta, "args": vars(args), "rows": rows, "checks": checks}, args.json)


if __name__ == "__main__":
    main()
