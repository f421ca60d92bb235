"""Explain a small transformer sentiment classifier, several sentences in one call.

No text model ships offline in the packages this project depends on, so the example
trains one: a one-layer transformer encoder on a hand-written corpus of short reviews,
with a word-level tokenizer and a Hugging Face-style interface (``model(input_ids=...,
attention_mask=...)`` returning an object with ``.logits``). torchlime explains the
predicted class of each test sentence over its distinct words (lime's bag of words),
twice: on token ids, as a Hugging Face model takes them, and on the raw strings through a
``classifier_fn`` as lime users write it. It prints lime-style lists and writes bar charts
and the notebook view (``exp.save_html``) to out/.

Run: ``python examples/text.py [--n-samples N] [--out DIR]``.
"""

# %%
from __future__ import annotations

import argparse
import re
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

import torchlime
from torchlime.plot import save_bar_figure

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--n-samples", type=int, default=2000, help="samples per sentence")
parser.add_argument("--out", type=Path, default=Path("out"))
args = parser.parse_args()
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

# %% A hand-written corpus: 1 = positive, 0 = negative.
POSITIVE = """a wonderful film with a great cast
the story was moving and the acting superb
i loved every minute of this delightful movie
brilliant direction and a beautiful score
funny charming and full of heart
an excellent script and wonderful performances
the best film i have seen this year
a great story told with warmth and wit
superb acting and a clever plot
beautiful images and a touching ending
i enjoyed it from start to finish
a delightful surprise with great jokes
the cast is excellent and the music lovely
a moving and brilliant piece of cinema
warm funny and beautifully made""".splitlines()
NEGATIVE = """a boring film with a terrible cast
the story was dull and the acting awful
i hated every minute of this tedious movie
poor direction and an annoying score
silly clumsy and without any heart
a weak script and wooden performances
the worst film i have seen this year
a dull story told with no energy
awful acting and a stupid plot
ugly images and a pointless ending
i was bored from start to finish
a tedious mess with lame jokes
the cast is terrible and the music annoying
a boring and clumsy piece of cinema
cold dull and badly made""".splitlines()
TEST = [
    "a great cast but a dull and tedious story",
    "the acting was wonderful and the ending beautiful",
    "a boring plot with awful music",
    "i loved the jokes and the charming cast",
]
texts = POSITIVE + NEGATIVE
labels = torch.tensor([1] * len(POSITIVE) + [0] * len(NEGATIVE))

# %% A word-level tokenizer, returning what a Hugging Face tokenizer would.
PAD, UNK, CLS = 0, 1, 2
words = sorted({w for t in texts + TEST for w in re.findall(r"\w+", t)})
vocab = {"[PAD]": PAD, "[UNK]": UNK, "[CLS]": CLS} | {w: i + 3 for i, w in enumerate(words)}
id_to_word = {i: w for w, i in vocab.items()}


def tokenize(batch: list[str]) -> dict[str, torch.Tensor]:
    rows = [[CLS] + [vocab.get(w, UNK) for w in re.findall(r"\w+", t)] for t in batch]
    length = max(len(r) for r in rows)
    ids = torch.full((len(rows), length), PAD)
    attention = torch.zeros(len(rows), length, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        attention[i, : len(r)] = 1
    return {"input_ids": ids, "attention_mask": attention}


# %% The model: embeddings, one transformer layer, the mean state -> 2 logits.
@dataclass
class Output:
    logits: torch.Tensor


class SentimentTransformer(nn.Module):
    def __init__(self, n_tokens: int, width: int = 32, max_len: int = 64) -> None:
        super().__init__()
        self.embed = nn.Embedding(n_tokens, width, padding_idx=PAD)
        self.position = nn.Parameter(torch.zeros(max_len, width))
        layer = nn.TransformerEncoderLayer(
            width, nhead=2, dim_feedforward=64, dropout=0.1, batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers=1, enable_nested_tensor=False)
        self.head = nn.Linear(width, 2)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Output:
        h = self.embed(input_ids) + self.position[: input_ids.shape[1]]
        h = self.encoder(h, src_key_padding_mask=attention_mask == 0)
        keep = attention_mask[..., None].to(h.dtype)
        pooled = (h * keep).sum(1) / keep.sum(1).clamp(min=1)
        return Output(logits=self.head(pooled))


torch.manual_seed(0)
model = SentimentTransformer(len(vocab))
optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
batch = tokenize(texts)
noise = torch.Generator().manual_seed(0)
for _ in range(150):
    # word dropout: the model learns from words, not from one sentence's exact form
    dropped = torch.rand(batch["input_ids"].shape, generator=noise) < 0.25
    ids = torch.where(dropped & (batch["input_ids"] > CLS), UNK, batch["input_ids"])
    optimiser.zero_grad()
    loss = nn.functional.cross_entropy(model(ids, batch["attention_mask"]).logits, labels)
    loss.backward()
    optimiser.step()
model.eval()
with torch.no_grad():
    accuracy = (model(**batch).logits.argmax(1) == labels).float().mean().item()
print(f"training loss {loss.item():.3f}, training accuracy {accuracy:.2f}")

# %% Explain the test sentences in one call: every sentence, every sample, batched.
names = ["negative", "positive"]
explainer = torchlime.LimeText(
    model,
    special_ids=[CLS],  # never explained, never removed
    class_names=names,
    n_samples=args.n_samples,
    batch_size=512,
    progress=False,
).to(device)
inputs = {k: v.to(device) for k, v in tokenize(TEST).items()}
start = time.perf_counter()
exp = explainer(
    inputs["input_ids"],
    attention_mask=inputs["attention_mask"],
    generator=torch.Generator(device).manual_seed(0),
)
seconds = time.perf_counter() - start
print(f"explained {len(TEST)} sentences x {args.n_samples} samples in {seconds:.2f} s on {device}")

for i, sentence in enumerate(TEST):
    label = exp.target_names(i)[0]
    print(f'\n"{sentence}" -> {label} (p={float(exp.model_pred[i, 0]):.2f})')
    for word, weight in exp.as_list(id_to_word, index=i)[:4]:
        print(f"  {weight:+.3f}  {word}")


# %% The same model behind lime's habit: a function of strings returning probabilities.
# torchlime splits the strings as lime does (its \W+ split, bag of words), builds every
# perturbed string and calls the function on batches of them; words name the features.
def classifier_fn(batch: list[str]) -> torch.Tensor:
    encoded = {k: v.to(device) for k, v in tokenize(batch).items()}
    with torch.no_grad():
        return model(**encoded).logits.softmax(-1)


on_strings = torchlime.LimeText(
    classifier_fn, class_names=names, n_samples=args.n_samples, batch_size=512, progress=False
)
exp_strings = on_strings(TEST, target=exp.target.cpu(), generator=0)
for i, sentence in enumerate(TEST[:2]):
    top = ", ".join(f"{w} {v:+.2f}" for w, v in exp_strings.as_list(index=i)[:4])
    print(f'strings: "{sentence}" -> {exp_strings.target_names(i)[0]}: {top}')

# %% Bar charts, lime's as_pyplot_figure style, and the notebook view: in Jupyter
# `exp_strings` shows itself; here it is saved as a self-contained page.
args.out.mkdir(parents=True, exist_ok=True)
for i in range(2):
    path = args.out / f"text_{i}.png"
    title = f'"{TEST[i]}" -> {exp.target_names(i)[0]}'
    save_bar_figure(exp.cpu(), path, id_to_word, index=i, title=title)
    print(f"wrote {path}")
exp_strings.save_html(args.out / "text.html")
print(f"wrote {args.out / 'text.html'}")
