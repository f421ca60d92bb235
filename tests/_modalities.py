"""One small, real explanation problem per kind of explanation, for tests that run on all.

A :class:`Case` builds its explainer with any settings, holds the inputs (and the call's
other inputs), and explains them. The kinds: images over superpixels, tables with every
column discretized (binary features), tables with continuous columns (float features),
token sequences with padding (ragged feature counts), and tuples of tensors with a
feature mask, explained with lime's settings, captum's (Lasso, an input-space kernel,
the original out of the fit) and as KernelSHAP.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from _helpers import PatchMLP
from torch import nn

from torchlime import Grid, KernelShap, Lime, LimeImage, LimeTabular, LimeText

KINDS = (
    "image",
    "tabular_discretized",
    "tabular_continuous",
    "text",
    "tensor",
    "tensor_captum",
    "kernel_shap",
)
LIME_KINDS = KINDS[:5]
"""The kinds with lime's recipe (kernel, ridge, any sampler and selection)."""


@dataclass
class Case:
    """An explanation problem: explainer factory, inputs, and the call's other inputs."""

    kind: str
    build: Callable[..., Any]
    inputs: Any
    kwargs: dict[str, Any] = field(default_factory=dict)

    def explainer(self, **settings: Any) -> Any:
        settings.setdefault("progress", False)
        return self.build(**settings)

    def explain(self, explainer: Any, **kw: Any) -> Any:
        return explainer(self.inputs, **self.kwargs, **kw)

    @property
    def batch(self) -> int:
        first = self.inputs[0] if isinstance(self.inputs, tuple) else self.inputs
        return len(first)

    def to(self, device: torch.device) -> Case:
        def move(v: Any) -> Any:
            if isinstance(v, tuple):
                return tuple(move(x) for x in v)
            return v.to(device) if isinstance(v, torch.Tensor) else v

        return Case(
            self.kind,
            lambda **s: self.build(**s).to(device),
            move(self.inputs),
            {k: move(v) for k, v in self.kwargs.items()},
        )


def image_case() -> Case:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 24, 24, generator=g)
    model = PatchMLP(n_classes=5)
    return Case(
        "image",
        lambda **s: LimeImage(model, **{"segmenter": Grid(6, 6), "n_samples": 300, **s}),
        x,
    )


def _table(m: int = 300, seed: int = 0) -> torch.Tensor:
    """Skewed continuous columns and one categorical column (codes 0, 1, 2)."""
    g = torch.Generator().manual_seed(seed)
    data = torch.randn(m, 5, generator=g, dtype=torch.float64).exp() * torch.arange(1, 6)
    data[:, 1] = torch.randint(0, 3, (m,), generator=g).double()
    return data


class TableMLP(nn.Module):
    """A small nonlinear float64 classifier on 5 columns."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.net = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3)).double()
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) / p.shape[-1] ** 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x / torch.arange(1, 6, dtype=x.dtype, device=x.device))


def tabular_case(discretizer: str | None) -> Case:
    data = _table()
    model = TableMLP()
    kind = "tabular_discretized" if discretizer else "tabular_continuous"

    def build(**s: Any) -> LimeTabular:
        settings = {"n_samples": 400, "discretizer": discretizer, "categorical_features": [1]}
        return LimeTabular(model, data, **{**settings, **s})

    return Case(kind, build, data[:3].clone())


VOCAB = 20


class BagModel(nn.Module):
    """Embeddings, masked mean, nonlinearity, linear: a text classifier with padding."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.emb = nn.Embedding(VOCAB, 6)
        self.out = nn.Linear(6, 4)
        with torch.no_grad():
            self.emb.weight.copy_(torch.randn(VOCAB, 6, generator=g))
            self.out.weight.copy_(torch.randn(4, 6, generator=g))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        w = attention_mask.to(self.emb.weight.dtype)[..., None]
        pooled = (self.emb(input_ids) * w).sum(1) / w.sum(1).clamp(min=1)
        return self.out(torch.tanh(3 * pooled))


def text_case() -> Case:
    ids = torch.tensor([[3, 4, 5, 3, 6, 7, 8, 9], [10, 11, 12, 13, 0, 0, 0, 0]])
    attention = (torch.arange(8) < torch.tensor([[8], [4]])).long()
    model = BagModel()
    return Case(
        "text",
        lambda **s: LimeText(model, **{"n_samples": 300, "max_features": None, **s}),
        ids,
        {"attention_mask": attention},
    )


class PairMLP(nn.Module):
    """Two tensors and a scale, captum-style: ``model(a (n, 2, 6), b (n, 3), scale)``."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.net = nn.Sequential(nn.Linear(15, 8), nn.Tanh(), nn.Linear(8, 3))
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) / p.shape[-1] ** 0.5)

    def forward(self, a: torch.Tensor, b: torch.Tensor, scale: float) -> torch.Tensor:
        return scale * self.net(torch.cat([a.flatten(1), b], 1))


CAPTUM = {"surrogate": "lasso", "alpha": 0.01, "distance": "input_cosine", "kernel_width": 1.0,
          "fit_original": False}  # fmt: skip
"""captum's Lime: Lasso, its cosine kernel on the inputs, the original out of the fit."""

SHAPLEY_FIXED = ("alpha", "feature_selection", "max_features", "surrogate")
"""Settings KernelSHAP fixes itself: a case passes them to the others, not to it."""


def tensor_case(kind: str = "tensor") -> Case:
    g = torch.Generator().manual_seed(2)
    a, b = torch.rand(3, 2, 6, generator=g), torch.rand(3, 3, generator=g)
    # features: a's columns (both rows of one column together), ids 0..5, broadcast over
    # the batch; b's entries share ids 0 and 3 with a, and 6 is b's own
    mask_a = torch.arange(6).expand(2, 6)[None]
    mask_b = torch.tensor([[0, 3, 6]])
    model = PairMLP()
    kwargs = {"feature_mask": (mask_a, mask_b), "additional_forward_args": (2.0,)}

    def build(**settings: Any) -> Any:
        settings = {"n_samples": 300, "output": "softmax", **settings}
        if kind == "tensor_captum":  # a case's alpha on lasso's scale (its coefficients live)
            alpha = 0.002 * settings.pop("alpha", 1.0)
            settings["output"] = "identity"  # captum explains the outputs as they are
            return Lime(model, **{**CAPTUM, **settings, "alpha": alpha})
        if kind == "kernel_shap":
            return KernelShap(
                model, **{k: v for k, v in settings.items() if k not in SHAPLEY_FIXED}
            )
        return Lime(model, **settings)

    return Case(kind, build, (a, b), kwargs)


def explained(case: Case, alpha: float = 1.0, **settings: Any) -> tuple[Any, Any]:
    """An explainer with alpha, forward selection of 3 features and 200 samples, and its
    explanation of the case's inputs (top 2 labels, samples kept, seed 0)."""
    defaults = {"n_samples": 200, "feature_selection": "forward_selection", "max_features": 3}
    explainer = case.explainer(alpha=alpha, **{**defaults, **settings})
    return explainer, case.explain(explainer, top_labels=2, keep_samples=True, generator=0)


def case(kind: str) -> Case:
    if kind == "image":
        return image_case()
    if kind == "text":
        return text_case()
    if kind.startswith("tensor") or kind == "kernel_shap":
        return tensor_case(kind)
    return tabular_case("quartile" if kind == "tabular_discretized" else None)
