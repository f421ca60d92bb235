"""Tables as users hold them: DataFrames, numpy, scipy.sparse, lime's summary statistics.

The references are independent: the same rows given as a tensor (identical results, bit
for bit), and lime 0.2.0.1 itself fed the same samples (names and weights).
"""

import collections

import numpy as np
import pytest
import torch
from _helpers import assert_close
from lime.discretize import QuartileDiscretizer
from lime.lime_tabular import LimeTabularExplainer
from torch import nn

from torchlime import LimeTabular

pd = pytest.importorskip("pandas")
sparse = pytest.importorskip("scipy.sparse")
datasets = pytest.importorskip("sklearn.datasets")


def _frame(name):
    loader = {
        "wine": datasets.load_wine,
        "breast_cancer": datasets.load_breast_cancer,
        "diabetes": datasets.load_diabetes,
    }[name]
    bunch = loader(as_frame=True)
    return bunch.data, bunch.target


def _standardised_mlp(frame, n_out, seed=0):
    """A fixed float32 MLP over standardised columns (its answer needs no training)."""
    values = torch.tensor(frame.to_numpy(dtype=np.float64), dtype=torch.float32)
    mean, std = values.mean(0), values.std(0).clamp(min=1e-6)
    g = torch.Generator().manual_seed(seed)
    d = values.shape[1]
    net = nn.Sequential(nn.Linear(d, 16), nn.Tanh(), nn.Linear(16, n_out))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) / p.shape[-1] ** 0.5)

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net
            self.register_buffer("mean", mean)
            self.register_buffer("std", std)

        def forward(self, x):
            return self.net((x - self.mean) / self.std)

    return Model()


def _fields(exp):
    return (exp.coef, exp.intercept, exp.score, exp.local_pred, exp.model_pred, exp.target)


@pytest.mark.parametrize(
    ("name", "mode", "n_out"),
    [
        ("wine", "classification", 3),
        ("breast_cancer", "classification", 2),
        ("diabetes", "regression", 1),
    ],
)
def test_dataframe_numpy_and_tensor_rows_give_identical_explanations(name, mode, n_out):
    frame, _ = _frame(name)
    model = _standardised_mlp(frame, n_out)
    if mode == "regression":  # one score per row, shape (n,)
        model.forward = lambda x, f=model.forward: f(x)[:, 0]
    array = frame.to_numpy()  # float64
    tensor = torch.tensor(array)
    kw = {"mode": mode, "n_samples": 300, "progress": False}
    by_frame = LimeTabular(model, frame, **kw)
    by_array = LimeTabular(model, array, feature_names=list(frame.columns), **kw)
    by_tensor = LimeTabular(model, tensor, feature_names=list(frame.columns), **kw)
    rows = slice(0, 4)
    e_frame = by_frame(frame.iloc[rows], generator=3)
    e_array = by_array(array[rows], generator=3)
    e_tensor = by_tensor(tensor[rows], generator=3)
    e_sparse = by_array(sparse.csr_matrix(array[rows]), generator=3)
    for other in (e_array, e_tensor, e_sparse):
        for a, b in zip(_fields(e_frame), _fields(other), strict=True):
            assert torch.equal(a, b)
    # names come from the columns, with lime's bins; one row as a Series is a batch of one
    assert e_frame.as_list() == e_tensor.as_list()
    labels = e_frame.feature_labels()
    assert all(str(c) in label for c, label in zip(frame.columns, labels, strict=True))
    one = by_frame(frame.iloc[0], generator=3)
    assert torch.equal(one.coef, e_frame[0].coef)


def _with_categories(frame, seed=0):
    """wine plus three categorical columns: a pandas Categorical, strings, and bools."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    out["region"] = pd.Categorical(
        rng.choice(["south", "north", "east"], len(out)), categories=["south", "north", "east"]
    )
    out["grape"] = rng.choice(["merlot", "syrah", "gamay", "pinot"], len(out)).astype(object)
    out["organic"] = rng.random(len(out)) > 0.5
    return out


def _codes(frame):
    """The same table as numbers: categories coded by position, as the explainer does."""
    out = frame.copy()
    out["region"] = out["region"].cat.codes.astype(float)
    grapes = sorted(frame["grape"].unique())
    out["grape"] = out["grape"].map(grapes.index).astype(float)
    out["organic"] = out["organic"].astype(float)
    names = {13: ["south", "north", "east"], 14: grapes, 15: ["False", "True"]}
    return out.to_numpy(dtype=np.float64), names


def test_categorical_columns_are_detected_named_and_equal_lime():
    frame = _with_categories(_frame("wine")[0])
    array, names = _codes(frame)
    model = _standardised_mlp(pd.DataFrame(array), 3).double()
    explainer = LimeTabular(
        model, frame, n_samples=400, class_names=["a", "b", "c"], progress=False
    )
    assert explainer.feature_names == [str(c) for c in frame.columns]
    assert explainer.categorical_names == names
    assert explainer.categorical.nonzero().flatten().tolist() == [13, 14, 15]

    # lime, told the same codes and names, fed the same samples: the same names and weights
    lime = LimeTabularExplainer(
        array,
        feature_names=list(frame.columns),
        categorical_features=[13, 14, 15],
        categorical_names=names,
        class_names=["a", "b", "c"],
        random_state=0,
    )
    seen = []

    def predict(rows):
        seen.append(rows.copy())
        with torch.no_grad():
            return model(torch.from_numpy(rows)).softmax(-1).numpy()

    ref = lime.explain_instance(array[5], predict, labels=(2,), num_samples=400)
    exp = explainer(frame.iloc[[5]], target=2, samples=torch.from_numpy(seen[0])[None])
    ours, theirs = exp.as_list(), ref.as_list(label=2)
    assert [n for n, _ in ours] == [n for n, _ in theirs]
    assert [w for _, w in ours] == pytest.approx([w for _, w in theirs], abs=1e-5)
    assert exp.feature_labels()[13] == f"region={frame['region'].iloc[5]}"
    assert exp.feature_labels()[15] == f"organic={frame['organic'].iloc[5]}"
    assert exp.target_names() == ["c"] and list(exp.as_map()) == [2]
    assert [(exp.feature_labels()[k], w) for k, w in exp.as_map()[2]] == ours
    assert sorted(ref.as_map()) == [2]
    assert [k for k, _ in exp.as_map()[2]] == [k for k, _ in ref.as_map()[2]]

    # the same rows as numbers with the codes, or as a tensor: identical explanations
    by_codes = LimeTabular(
        model,
        array,
        categorical_features=[13, 14, 15],
        categorical_names=names,
        feature_names=list(frame.columns),
        n_samples=400,
        progress=False,
    )
    a = explainer(frame.iloc[:3], target=[0, 1, 2], generator=1)
    b = by_codes(torch.as_tensor(array[:3]), target=np.array([0, 1, 2]), generator=1)
    for x, y in zip(_fields(a), _fields(b), strict=True):
        assert torch.equal(x, y)
    assert a.as_list(index=2) == b.as_list(index=2)


def test_rows_of_any_float_dtype_reach_the_model_in_its_own():
    frame, _ = _frame("wine")
    model = _standardised_mlp(frame, 3)  # float32
    dtypes = []

    def spy(x):
        dtypes.append(x.dtype)
        return model(x.float())

    explainer = LimeTabular(spy, frame, n_samples=50, progress=False)
    explainer(frame.iloc[:2].astype(np.float64), generator=0)  # float64 rows, a callable
    explainer(frame.iloc[:2].to_numpy(dtype=np.float16), generator=0)
    assert set(dtypes) == {torch.float64}  # a callable gets the training data's dtype
    module = LimeTabular(model, frame, n_samples=50, progress=False)
    exp = module(frame.to_numpy(dtype=np.float64)[:2], generator=0)  # float64 into float32
    assert exp.coef.dtype == torch.float32 and torch.isfinite(exp.coef).all()


def _lime_summary(data, categorical):
    """lime's training_data_stats for ``data``, from lime's own QuartileDiscretizer."""
    names = [str(i) for i in range(data.shape[1])]
    disc = QuartileDiscretizer(data, categorical, names)
    binned = disc.discretize(data)
    values, frequencies = {}, {}
    for f in range(data.shape[1]):
        counted = sorted(collections.Counter(binned[:, f]).items())
        values[f] = [v for v, _ in counted]
        frequencies[f] = [c for _, c in counted]
    bins = dict(zip(disc.to_discretize, disc.bins(data, None), strict=True))
    return {
        "means": disc.means,
        "stds": disc.stds,
        "mins": disc.mins,
        "maxs": disc.maxs,
        "bins": bins,
        "feature_values": values,
        "feature_frequencies": frequencies,
    }


def test_training_data_stats_alone_equals_the_data_and_lime():
    frame = _with_categories(_frame("wine")[0])
    array, _names = _codes(frame)
    categorical = [13, 14, 15]
    summary = _lime_summary(array, categorical)
    model = _standardised_mlp(pd.DataFrame(array), 3).double()
    kw = {"categorical_features": categorical, "n_samples": 300, "progress": False}
    from_stats = LimeTabular(model, training_data_stats=summary, **kw)
    from_data = LimeTabular(model, array, **kw)
    for name in from_data.stats._fields:
        if name in ("bin_lo", "bin_hi", "bin_mean", "bin_std", "values"):
            continue  # categorical columns keep no per-bin moments in a summary
        assert_close(
            getattr(from_stats.stats, name), getattr(from_data.stats, name), rtol=0, atol=1e-12
        )
    rows = torch.as_tensor(array[:3])
    a, b = from_stats(rows, generator=4), from_data(rows, generator=4)
    assert_close(a.coef, b.coef, rtol=0, atol=1e-6)

    lime = LimeTabularExplainer(
        array, categorical_features=categorical, training_data_stats=summary, random_state=0
    )
    seen = []

    def predict(r):
        seen.append(r.copy())
        with torch.no_grad():
            return model(torch.from_numpy(r)).softmax(-1).numpy()

    ref = lime.explain_instance(array[7], predict, labels=(1,), num_samples=300)
    exp = from_stats(
        rows[:0].new_tensor(array[7:8]), target=1, samples=torch.from_numpy(seen[0])[None]
    )
    assert [n for n, _ in exp.as_list()] == [n for n, _ in ref.as_list(label=1)]
    assert [w for _, w in exp.as_list()] == pytest.approx(
        [w for _, w in ref.as_list(label=1)], abs=1e-5
    )


def test_targets_and_generators_as_users_write_them():
    frame, _ = _frame("wine")
    model = _standardised_mlp(frame, 3)
    explainer = LimeTabular(model, frame, n_samples=60, progress=False)
    rows = frame.iloc[:2]
    base = explainer(
        rows, target=torch.tensor([[2], [1]]), generator=torch.Generator().manual_seed(5)
    )
    for target in ([2, 1], np.array([2, 1]), np.array([[2], [1]])):
        exp = explainer(rows, target=target, generator=5)
        assert torch.equal(exp.coef, base.coef) and exp.target.tolist() == [[2], [1]]
    assert explainer(rows, target=np.int64(2), generator=5).target.tolist() == [[2], [2]]
    with pytest.raises(TypeError, match="not a bool"):
        explainer(rows, target=np.bool_(True), generator=5)


def test_users_tables_get_clear_errors():
    frame = _with_categories(_frame("wine")[0])
    model = lambda x: x[:, :3]  # noqa: E731
    with pytest.raises(ValueError, match=r"columns \['grape'\] are not numbers"):
        LimeTabular(model, frame, categorical_features=[13, 15])
    explainer = LimeTabular(model, frame, n_samples=20, progress=False)
    with pytest.raises(ValueError, match=r"x lacks the training data's columns \['organic'\]"):
        explainer(frame.drop(columns="organic").iloc[:2])
    unseen = frame.iloc[:2].copy()
    unseen["grape"] = ["riesling", "merlot"]
    with pytest.raises(ValueError, match=r"column 'grape' has categories never seen.*riesling"):
        explainer(unseen)
    with pytest.raises(TypeError, match="must hold numbers"):
        LimeTabular(model, frame.to_numpy())  # an object array: pass the DataFrame
    with pytest.raises(ValueError, match="needs training_data or training_data_stats"):
        LimeTabular(model)
    summary = _lime_summary(*(_codes(frame)[0], [13, 14, 15]))
    with pytest.raises(ValueError, match=r"lacks the keys \['bins'\]"):
        LimeTabular(
            model,
            training_data_stats={k: v for k, v in summary.items() if k != "bins"},
            categorical_features=[13, 14, 15],
        )
    with pytest.raises(ValueError, match="needs a discretizer"):
        LimeTabular(model, training_data_stats=summary, discretizer=None)
    with pytest.raises(TypeError, match="class_names must be a sequence"):
        LimeTabular(model, frame, class_names="abc")
