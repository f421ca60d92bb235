"""Image LIME, side by side in one process: model-only floor, torchlime, lime 0.2.0.1, captum.

For each model (torchvision's mobilenet_v3_small at 224², and a trivial mean-colour model
that measures pure LIME overhead) and each batch (1 image, 8 images), every method
explains the same images with the same superpixels (scikit-image SLIC, 50 segments) and
the same number of samples. The floor is the bare model run on B x N inputs in chunks of
the same size. Times are medians of interleaved repeats; ratios are what to quote.

    python benchmarks/bench_image.py [--device cuda] [--n-samples 1000] [--json out.json]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TQDM_DISABLE", "1")  # lime's progress bar cannot be switched off

import numpy as np
import torch
import torchvision
from common import MeanColour, dump, interleaved, metadata, photos, sync
from skimage.segmentation import slic

import torchlime

NAMES = ["astronaut", "chelsea", "coffee", "rocket"]
# lime hands the model (n, H, W, C) arrays; permuted to NCHW they are channels-last in
# memory, which oneDNN convolutions run faster on a CPU. --channels-last gives the floor
# and torchlime the same layout (torchlime's chunks follow x's memory format).


def channels_last(x: torch.Tensor) -> bool:
    return x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


def segments_for(x: torch.Tensor) -> torch.Tensor:
    segs = [
        slic(img.permute(1, 2, 0).numpy(), n_segments=50, compactness=10, start_label=0)
        for img in x.cpu()
    ]
    return torch.from_numpy(np.stack(segs)).long()


def floor(model, x, n_samples, batch_size, device):
    total = x.shape[0] * n_samples
    # the same memory layout as x, like torchlime's chunks
    layout = torch.channels_last if channels_last(x) else torch.contiguous_format
    chunk = x[:1].expand(batch_size, -1, -1, -1).contiguous(memory_format=layout)

    def run():
        with torch.no_grad():
            for start in range(0, total, batch_size):
                model(chunk[: min(batch_size, total - start)])

    return run


def with_torchlime(model, x, segments, n_samples, batch_size, device):
    explainer = torchlime.LimeImage(
        model, n_samples=n_samples, batch_size=batch_size, progress=False
    )
    x, segments = x.to(device), segments.to(device)
    return lambda: explainer(x, segments=segments, top_labels=1)


def with_lime(model, x, segments, n_samples, batch_size, device):
    from lime.lime_image import LimeImageExplainer

    def classifier(images):
        batch = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).to(device)
        with torch.no_grad():
            return model(batch).softmax(-1).cpu().numpy()

    images = [img.permute(1, 2, 0).numpy() for img in x.cpu()]
    segs = [s.numpy() for s in segments]

    def run():
        for img, seg in zip(images, segs, strict=True):
            LimeImageExplainer(random_state=0).explain_instance(
                img,
                classifier,
                top_labels=1,
                num_samples=n_samples,
                batch_size=batch_size,
                segmentation_fn=lambda _, seg=seg: seg,
                random_seed=0,
            )

    return run


def with_captum(model, x, segments, n_samples, batch_size, device):
    from captum.attr import Lime

    probs = torch.nn.Sequential(model, torch.nn.Softmax(-1))
    lime = Lime(probs)
    x, mask = x.to(device), segments[:, None].to(device)
    with torch.no_grad():
        target = probs(x).argmax(-1)

    def run():
        lime.attribute(
            x,
            target=target,
            feature_mask=mask,
            n_samples=n_samples,
            perturbations_per_eval=batch_size,
            show_progress=False,
        )

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n-samples", type=int, default=1000)
    parser.add_argument(
        "--batch-size",
        type=int,
        default=64,
        help="model batch for every method (lime's batch_size, captum's perturbations_per_eval)",
    )
    parser.add_argument("--models", nargs="+", default=["trivial", "mobilenet_v3_small"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip", nargs="*", default=[], help="methods to leave out")
    parser.add_argument(
        "--channels-last",
        action="store_true",
        help="floor and torchlime inputs channels-last, as lime's are",
    )
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    meta = metadata(device)
    print(f"# bench_image: {meta}")
    print(
        f"# n_samples={args.n_samples}, batch_size={args.batch_size}, "
        f"medians of {args.repeats} interleaved repeats\n"
    )
    rows = []
    header = (
        f"{'model':<20}{'B':>3}{'floor s':>10}{'torchlime':>11}{'lime':>9}{'captum':>9}"
        f"{'tl/floor':>10}{'lime/tl':>9}{'captum/tl':>10}{'lime/floor':>11}"
        f"{'captum/floor':>13}"
    )
    print(header)
    for model_name in args.models:
        if model_name == "trivial":
            model = MeanColour()
        else:
            model = getattr(torchvision.models, model_name)()
        model = model.eval().to(device)
        for b in args.batches:
            x = photos([NAMES[i % len(NAMES)] for i in range(b)])
            if args.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            segments = segments_for(x)
            makers = {
                "floor": floor,
                "torchlime": with_torchlime,
                "lime": with_lime,
                "captum": with_captum,
            }
            methods = {}
            for name, make in makers.items():
                if name in args.skip:
                    continue
                if name == "floor":
                    methods[name] = make(
                        model, x.to(device), args.n_samples, args.batch_size, device
                    )
                else:
                    methods[name] = make(
                        model, x, segments, args.n_samples, args.batch_size, device
                    )
            sync(device)
            t = interleaved(methods, device, args.repeats)
            nan = float("nan")
            fl, tl = t.get("floor", nan), t.get("torchlime", nan)
            li, ca = t.get("lime", nan), t.get("captum", nan)
            row = {
                "model": model_name,
                "batch": b,
                **t,
                "torchlime/floor": tl / fl,
                "lime/torchlime": li / tl,
                "captum/torchlime": ca / tl,
                "lime/floor": li / fl,
                "captum/floor": ca / fl,
            }
            rows.append(row)
            print(
                f"{model_name:<20}{b:>3}{fl:>10.3f}{tl:>11.3f}{li:>9.3f}{ca:>9.3f}"
                f"{tl / fl:>10.3f}{li / tl:>9.1f}{ca / tl:>10.1f}{li / fl:>11.2f}"
                f"{ca / fl:>13.2f}",
                flush=True,
            )
    dump({"meta": meta, "args": vars(args), "rows": rows}, args.json)


if __name__ == "__main__":
    main()
