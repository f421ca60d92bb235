"""LimeText against lime 0.2.0.1 on the same model and sentences.

A small transformer classifier (embeddings, one encoder layer, mean pooling; random
weights: the cost, not the answer, is measured) on word-level token ids. lime gets a
classifier_fn that tokenizes its strings and runs the model in chunks of --batch-size
(lime itself would pass all 5000 strings at once); torchlime explains every sentence in
one call with the same chunk size. Interleaved repeats, medians, ratio.

Run: ``python benchmarks/bench_text.py [--device cpu] [--n-samples 5000]``.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import statistics
from typing import Any

import numpy as np
import torch
from common import metadata, timed
from torch import nn

import torchlime

SENTENCES = [
    "the film was a great joy and the cast was great from the first scene to the last",
    "a dull plot with a dull ending and actors who look as bored as the audience",
    "not bad at all but not good either and far too long for such a thin story",
    "beautiful images a moving score and a script that never talks down to you",
    "i wanted to love it but the jokes fall flat and the pacing drags badly",
    "an honest warm and funny film about a family that feels completely real",
    "the sequel repeats every mistake of the original and adds a few new ones",
    "clever surprising and tender it is the best thing the director has made",
]
PAD, UNK, CLS = 0, 1, 2
WORDS = sorted({w for s in SENTENCES for w in re.findall(r"\w+", s)})
VOCAB = {w: i + 3 for i, w in enumerate(WORDS)}


def tokenize(texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Word ids after a [CLS] token (which keeps a sample with every word removed valid)."""
    rows = [[CLS] + [VOCAB.get(w, UNK) for w in re.findall(r"\w+", t)] for t in texts]
    length = max(1, max(len(r) for r in rows))
    ids = torch.full((len(rows), length), PAD)
    attention = torch.zeros(len(rows), length, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        attention[i, : len(r)] = 1
    return ids, attention


class Bag(nn.Module):
    """Mean of word embeddings -> linear: a model whose own cost is small."""

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        self.embed = nn.Embedding(len(VOCAB) + 3, width)
        self.head = nn.Linear(width, 2)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        keep = attention_mask[..., None].to(self.embed.weight.dtype)
        pooled = (self.embed(input_ids) * keep).sum(1) / keep.sum(1).clamp(min=1)
        return self.head(torch.tanh(pooled))


class Classifier(nn.Module):
    """Embeddings, one transformer encoder layer, mean pooling -> linear."""

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        self.embed = nn.Embedding(len(VOCAB) + 3, width)
        self.position = nn.Parameter(torch.randn(64, width) * 0.1)
        layer = nn.TransformerEncoderLayer(width, 4, 128, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        self.head = nn.Linear(width, 2)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        h = self.embed(input_ids) + self.position[: input_ids.shape[1]]
        h = self.encoder(h, src_key_padding_mask=attention_mask == 0)
        keep = attention_mask[..., None].to(h.dtype)
        return self.head((h * keep).sum(1) / keep.sum(1).clamp(min=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n-samples", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--model", choices=["transformer", "bag"], default="transformer")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    make = Classifier if args.model == "transformer" else Bag
    model = make().eval()
    ids, attention = tokenize(SENTENCES)

    explainer = torchlime.LimeText(
        model,
        special_ids=[CLS],
        n_samples=args.n_samples,
        batch_size=args.batch_size,
        progress=False,
    ).to(device)
    ids_d, attention_d = ids.to(device), attention.to(device)

    def ours() -> None:
        explainer(
            ids_d,
            target=1,
            attention_mask=attention_d,
            generator=torch.Generator(device).manual_seed(0),
        )

    from lime.lime_text import LimeTextExplainer

    cpu_model = make().eval()
    cpu_model.load_state_dict({k: v.cpu() for k, v in model.state_dict().items()})

    def classifier_fn(texts: list[str]) -> np.ndarray:
        out = []
        with torch.no_grad():
            for i in range(0, len(texts), args.batch_size):
                chunk_ids, chunk_attention = tokenize(texts[i : i + args.batch_size])
                out.append(cpu_model(chunk_ids, chunk_attention).softmax(-1))
        return torch.cat(out).double().numpy()

    lime = LimeTextExplainer(random_state=0)

    def theirs() -> None:
        for s in SENTENCES:
            lime.explain_instance(s, classifier_fn, num_samples=args.n_samples)

    # the floor: the model alone on as many rows (the unperturbed sequences, repeated)
    n_rows = len(SENTENCES) * (args.n_samples - 1)
    rep_ids = ids_d.repeat_interleave(args.n_samples - 1, 0)
    rep_attention = attention_d.repeat_interleave(args.n_samples - 1, 0)
    model_d = model.to(device)

    def floor() -> None:
        with torch.no_grad():
            for i in range(0, n_rows, args.batch_size):
                sl = slice(i, i + args.batch_size)
                model_d(rep_ids[sl], rep_attention[sl]).softmax(-1)

    ours()
    times: dict[str, list[float]] = {"torchlime": [], "lime": [], "floor": []}
    for _ in range(args.repeats):
        times["torchlime"].append(timed(ours, device) / len(SENTENCES))
        times["lime"].append(timed(theirs, torch.device("cpu")) / len(SENTENCES))
        times["floor"].append(timed(floor, device) / len(SENTENCES))
    med = {k: statistics.median(v) for k, v in times.items()}
    result: dict[str, Any] = {
        "benchmark": "text",
        "model": args.model,
        "n_sentences": len(SENTENCES),
        "n_samples": args.n_samples,
        "batch_size": args.batch_size,
        "ms_per_sentence": {k: 1e3 * v for k, v in med.items()},
        "all_ms_per_sentence": {k: [1e3 * t for t in v] for k, v in times.items()},
        "speedup_vs_lime": med["lime"] / med["torchlime"],
        "torchlime_over_floor": med["torchlime"] / med["floor"],
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "meta": metadata(device),
    }
    print(f"text ({args.model}), {len(SENTENCES)} sentences x {args.n_samples} samples")
    for k in ("torchlime", "lime", "floor"):
        print(f"{k:12s}{1e3 * med[k]:10.1f} ms/sentence")
    print(f"speedup vs lime: {result['speedup_vs_lime']:.1f}x")
    print(f"torchlime / model floor: {result['torchlime_over_floor']:.2f}x")
    print(f"peak RSS: {result['max_rss_mb']:.0f} MB")
    print(json.dumps(result["meta"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
