"""A training table and lime's tabular explainer, shared by the LimeTabular and the
functional tabular tests."""

import torch
from lime.lime_tabular import LimeTabularExplainer

D = 6


CATEGORICAL = [1, 4]


def _table(m=300, seed=0):
    """Skewed continuous columns and two categorical ones (codes 0..2 and {2, 5, 7})."""
    g = torch.Generator().manual_seed(seed)
    data = torch.randn(m, D, generator=g, dtype=torch.float64).exp() * torch.arange(1, D + 1)
    data[:, 1] = torch.randint(0, 3, (m,), generator=g).double()
    data[:, 4] = torch.tensor([2.0, 5.0, 7.0], dtype=torch.float64)[
        torch.randint(0, 3, (m,), generator=g)
    ]
    labels = (data[:, 0] + data[:, 2] > data[:, 0].median() + data[:, 2].median()).long()
    return data, labels


def _lime(data, labels, discretizer, *, seed, categorical=CATEGORICAL, **kw):
    return LimeTabularExplainer(
        data.numpy(),
        training_labels=labels.numpy(),
        categorical_features=categorical,
        discretize_continuous=discretizer is not None,
        discretizer=discretizer or "quartile",
        random_state=seed,
        **kw,
    )
