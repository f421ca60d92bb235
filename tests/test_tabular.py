"""LimeTabular against lime 0.2.0.1's LimeTabularExplainer fed the same samples, and oracles.

Parity: lime draws its own samples (a seeded RandomState); the rows it hands the model are
recorded and given to torchlime as ``samples=``. torchlime derives the interpretable
representation, the weights and the surrogate from them on its own, so every step after
sampling is compared. The sampler itself is compared with lime's in distribution.
"""

import copy

import numpy as np
import pytest
import torch
from _helpers import assert_close
from _tabular_data import CATEGORICAL, D, _lime, _table
from lime.lime_tabular import LimeTabularExplainer
from torch import nn

from torchlime import LimeTabular, TabularExplanation
from torchlime.functional import sample_tabular, tabular_representation


def _mlp(n_out=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Linear(D, 16), nn.Tanh(), nn.Linear(16, n_out)).double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) / p.shape[-1] ** 0.5)
    return model


def _proba(model):
    def predict(rows):
        with torch.no_grad():
            return model(torch.from_numpy(rows)).softmax(-1).numpy()

    return predict


def _explain_recording(explainer, row, predict, **kw):
    """lime's explanation of ``row`` and the (N, D) rows it asked the model about."""
    seen = []

    def recording(rows):
        seen.append(rows.copy())
        return predict(rows)

    exp = explainer.explain_instance(row.numpy(), recording, **kw)
    return exp, torch.from_numpy(seen[0])


def _dense(local_exp, k):
    coef = np.zeros(k)
    for f, w in local_exp:
        coef[f] = w
    return torch.from_numpy(coef)


@pytest.mark.parametrize("discretizer", ["quartile", "decile", "entropy", None])
def test_equals_lime_for_every_top_label(discretizer, device):
    data, labels = _table()
    model = _mlp()
    cpu_model = copy.deepcopy(model)  # lime's side keeps its own copy on the CPU
    rows, n, top = data[:3], 400, 2
    explainer = LimeTabular(
        model,
        data,
        training_labels=labels,
        categorical_features=CATEGORICAL,
        discretizer=discretizer,
        n_samples=n,
        batch_size=97,
        progress=False,
    ).to(device)
    refs, samples = [], []
    for i in range(3):
        lime = _lime(data, labels, discretizer, seed=10 + i)
        ref, seen = _explain_recording(
            lime, rows[i], _proba(cpu_model), top_labels=top, num_samples=n
        )
        refs.append(ref)
        samples.append(seen)
    exp = explainer(rows.to(device), top_labels=top, samples=torch.stack(samples).to(device))
    assert isinstance(exp, TabularExplanation)
    for i, ref in enumerate(refs):
        assert exp.target[i].tolist() == [int(t) for t in ref.top_labels]
        for j, label in enumerate(ref.top_labels):
            assert_close(exp.coef[i, j], _dense(ref.local_exp[label], D), rtol=0, atol=1e-5)
            assert_close(exp.intercept[i, j], torch.tensor(ref.intercept[label]), rtol=0, atol=1e-5)
            ours, theirs = exp.as_list(index=i, target=j), ref.as_list(label=label)
            assert [name for name, _ in ours] == [name for name, _ in theirs]
            assert [w for _, w in ours] == pytest.approx([w for _, w in theirs], abs=1e-5)
            # lime keeps score/local_pred of the last label only: explain each label alone
            # (a fresh explainer with the same seed draws the same samples).
            alone = _lime(data, labels, discretizer, seed=10 + i).explain_instance(
                rows[i].numpy(), _proba(cpu_model), labels=(label,), num_samples=n
            )
            assert_close(exp.score[i, j], torch.tensor(alone.score), rtol=0, atol=1e-5)
            assert_close(exp.local_pred[i, j], torch.tensor(alone.local_pred[0]), rtol=0, atol=1e-5)


@pytest.mark.parametrize(("mode", "k"), [("forward_selection", 3), ("highest_weights", 4)])
def test_feature_selection_equals_lime(mode, k):
    data, labels = _table(seed=1)
    model = _mlp(seed=1)
    lime = _lime(data, labels, "quartile", seed=3, feature_selection=mode)
    ref, seen = _explain_recording(
        lime, data[5], _proba(model), labels=(0, 2), num_samples=300, num_features=k
    )
    exp = LimeTabular(
        model,
        data,
        categorical_features=CATEGORICAL,
        feature_selection=mode,
        max_features=k,
        n_samples=300,
        progress=False,
    )(data[5:6], target=torch.tensor([[0, 2]]), samples=seen[None])
    for j, label in enumerate((0, 2)):
        assert set(exp.selected[0, j].nonzero().flatten().tolist()) == {
            f for f, _ in ref.local_exp[label]
        }
        assert_close(exp.coef[0, j], _dense(ref.local_exp[label], D), rtol=0, atol=1e-5)


def test_regression_equals_lime_and_sample_around_instance():
    data, _ = _table(seed=2)
    model = _mlp(n_out=1, seed=2)

    def predict(rows):  # lime's regressors return (n,)
        with torch.no_grad():
            return model(torch.from_numpy(rows))[:, 0].numpy()

    for discretizer, around in [("quartile", False), (None, True)]:
        lime = LimeTabularExplainer(
            data.numpy(),
            mode="regression",
            categorical_features=CATEGORICAL,
            discretize_continuous=discretizer is not None,
            sample_around_instance=around,
            random_state=4,
        )
        ref, seen = _explain_recording(lime, data[9], predict, num_samples=300)
        explainer = LimeTabular(
            lambda rows: model(rows)[:, 0],  # (n,) outputs are accepted in regression mode
            data,
            mode="regression",
            categorical_features=CATEGORICAL,
            discretizer=discretizer,
            sample_around_instance=around,
            n_samples=300,
            progress=False,
        )
        exp = explainer(data[9:10], samples=seen[None])
        assert exp.target.tolist() == [[0]]
        # lime stores the fit under label 1 and its negation under label 0
        assert_close(exp.coef[0, 0], _dense(ref.local_exp[1], D), rtol=0, atol=1e-5)
        assert_close(exp.intercept[0, 0], torch.tensor(ref.intercept[1]), rtol=0, atol=1e-5)
        assert_close(exp.score[0, 0], torch.tensor(ref.score), rtol=0, atol=1e-5)
        assert_close(exp.local_pred[0, 0], torch.tensor(ref.local_pred[0]), rtol=0, atol=1e-5)
        assert_close(exp.model_pred[0, 0], torch.tensor(ref.predicted_value), rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("discretizer", "around"), [("quartile", False), (None, False), (None, True)]
)
def test_sampler_matches_lime_in_distribution(discretizer, around):
    """Means, spreads and P(same bin) of the samples agree with lime's own sampler."""
    data, labels = _table(m=400, seed=3)
    row = data[7]
    n = 20000
    lime = _lime(data, labels, discretizer, seed=0, sample_around_instance=around)
    ref_x, ref_rows = lime._LimeTabularExplainer__data_inverse(row.numpy(), n)
    explainer = LimeTabular(_mlp(), data, categorical_features=CATEGORICAL, discretizer=discretizer)
    ours = sample_tabular(
        row[None],
        explainer.stats,
        n,
        sample_around_instance=around,
        generator=torch.Generator().manual_seed(0),
    )
    rows = torch.from_numpy(ref_rows[1:])
    mine = ours.values[0, 1:]
    se = rows.std(0) / n**0.5
    assert ((mine.mean(0) - rows.mean(0)).abs() < 5 * se * 2**0.5 + 1e-9).all()
    assert_close(mine.std(0), rows.std(0), rtol=0.05, atol=1e-9)
    if discretizer is not None:  # truncated normals stay inside their bins
        assert (mine.min(0).values >= data.min(0).values - 1e-9).all()
        assert (mine.max(0).values <= data.max(0).values + 1e-9).all()
    binary = [c for c in range(D) if discretizer is not None or c in CATEGORICAL]
    p_ref = torch.from_numpy(ref_x[1:, binary]).mean(0)
    p_ours = ours.X[0, 1:, binary].double().mean(0)
    assert ((p_ours - p_ref).abs() < 5 * (0.25 / n) ** 0.5 * 2**0.5).all()
    # the sampler's representation is the one lime's rules give its values
    again = tabular_representation(ours.values, row[None], explainer.stats)
    assert torch.equal(again, ours.X)


def test_bins_compare_float32_rows_with_float64_edges_as_lime():
    """A median of 4.4999999999 rounds to 4.5 in float32: a float32 row of 4.5 is still
    above it for lime (float64), so it is in the third bin, for the fit and for the names."""
    col = np.array([1.0, 2.0, 4.4999999999, 4.4999999999, 7.0, 8.0])
    data = torch.from_numpy(np.stack([col, col[::-1]], 1))
    lime = LimeTabularExplainer(data.numpy(), random_state=0)
    row = torch.tensor([[4.5, 4.5]], dtype=torch.float32)
    lime_bins = lime.discretizer.discretize(row.double().numpy())
    explainer = LimeTabular(nn.Linear(2, 2), data, n_samples=400, progress=False)
    exp = explainer(row, target=0, keep_samples=True, generator=torch.Generator().manual_seed(0))
    assert exp.bins.tolist() == lime_bins.astype(int).tolist()
    # lime's binary column compares the sampled bins with the row's: the row's bin (4.4999999999,
    # 6.375] holds no training value, so no sample is ever in it (with float32 edges the
    # row fell in the bin below, drawn a third of the time)
    samples = sample_tabular(row, explainer.stats, 400, generator=torch.Generator().manual_seed(0))
    assert not samples.X[0, 1:].any() and not exp.masks[0, 1:].any()
    # injected samples are discretized as lime discretizes values: with the float64 edges
    values = samples.values[0, 1:].double().numpy()
    same = lime.discretizer.discretize(values) == lime_bins
    injected = tabular_representation(samples.values, row, explainer.stats)
    assert torch.equal(injected[0, 1:], torch.from_numpy(same))


def test_constant_column_samples_its_value():
    """A bin whose ends coincide (here a constant column) samples exactly that value.

    (lime's undiscretize returns the bin's standardised lower end, 0, there instead: a
    bug torchlime does not copy.)
    """
    data, _ = _table(seed=9)
    data[:, 3] = 2.5
    explainer = LimeTabular(_mlp(), data, categorical_features=CATEGORICAL)
    s = sample_tabular(data[:3], explainer.stats, 500, generator=torch.Generator().manual_seed(0))
    assert (s.values[:, :, 3] == 2.5).all()
    assert s.X[:, :, 3].all()


def test_oracle_ranks_the_used_columns_first(device):
    """A score that uses only columns 2 and 5 ranks them first, whatever the discretizer."""
    data, _ = _table(seed=5)

    def oracle(rows):
        return (rows[:, 2:3] / 3.0 - rows[:, 5:6] / 6.0).tanh()

    for discretizer in ("quartile", None):
        explainer = LimeTabular(
            oracle,
            data.float(),
            categorical_features=CATEGORICAL,
            discretizer=discretizer,
            mode="regression",
            n_samples=5000,  # lime's default; a bin contrast can be small, noise must be smaller
            max_features=None,
            progress=False,
        ).to(device)
        exp = explainer(
            data[:4].float().to(device), generator=torch.Generator(device).manual_seed(0)
        )
        top2 = exp.ranking()[:, 0, :2].sort(-1).values
        assert top2.tolist() == [[2, 5]] * 4, discretizer


def test_same_seed_same_result_batch_size_invariant_and_rng_untouched(device):
    data, _ = _table(seed=6)
    model = _mlp(seed=6).float().to(device)
    model.train()
    x = data[:5].float().to(device)
    rng = torch.get_rng_state()
    results = []
    for bs in (7, 1000, 4096):
        explainer = LimeTabular(
            model, data.float(), categorical_features=CATEGORICAL, n_samples=300, batch_size=bs
        ).to(device)
        results.append(explainer(x, top_labels=2, generator=torch.Generator(device).manual_seed(3)))
    assert torch.equal(torch.get_rng_state(), rng)
    assert model.training
    for other in results[1:]:
        assert_close(other.coef, results[0].coef, rtol=1e-6, atol=1e-7)
        assert torch.equal(other.target, results[0].target)
    again = explainer(x, top_labels=2, generator=torch.Generator(device).manual_seed(3))
    assert torch.equal(again.coef, results[-1].coef)
    different = explainer(x, top_labels=2, generator=torch.Generator(device).manual_seed(4))
    assert not torch.equal(different.coef, results[-1].coef)
    # a call without a generator records its seed, which replays it
    free = explainer(x, top_labels=2)
    replay = explainer(
        x, top_labels=2, generator=torch.Generator(device).manual_seed(int(free.seed[0]))
    )
    assert torch.equal(replay.coef, free.coef)


class _Counting(nn.Module):
    """Counts the rows the explainer sends to the model."""

    def __init__(self, model):
        super().__init__()
        self.model, self.rows = model, 0

    def forward(self, rows):
        self.rows += rows.shape[0]
        return self.model(rows)


@pytest.mark.parametrize("discretizer", ["quartile", None])
def test_shared_samples_are_row_0_s_samples_for_every_row(discretizer, device):
    """share_samples=True explains every row on the perturbations sample_tabular draws for
    x[:1]: the same explanation as those samples passed to the default path (whose parity
    with lime is tested above), from B + N - 1 model rows instead of B * N."""
    data, labels = _table(seed=11)
    n, b = 400, 5
    model = _Counting(_mlp(seed=11).to(device))
    kw = {
        "training_labels": labels,
        "categorical_features": CATEGORICAL,
        "discretizer": discretizer,
        "n_samples": n,
        "batch_size": 128,
    }
    shared = LimeTabular(model, data, share_samples=True, **kw).to(device)
    plain = LimeTabular(model, data, **kw).to(device)
    x = data[20 : 20 + b].to(device)
    exp = shared(x, top_labels=2, generator=torch.Generator(device).manual_seed(5))
    assert model.rows == b + n - 1
    pool = sample_tabular(
        x[:1], shared.stats, n, generator=torch.Generator(device).manual_seed(5)
    ).values[0, 1:]
    samples = torch.cat([x[:, None], pool.expand(b, -1, -1)], 1)
    ref = plain(x, target=exp.target, samples=samples)
    for field in ("coef", "intercept", "score", "local_pred", "model_pred"):
        assert_close(getattr(exp, field), getattr(ref, field), rtol=1e-9, atol=1e-10)
    # one seed: a row's explanation is the same alone or in any batch
    alone = shared(x[3:4], top_labels=2, generator=torch.Generator(device).manual_seed(5))
    assert_close(alone.coef, exp.coef[3:4], rtol=1e-9, atol=1e-10)


def test_shared_samples_around_the_instance_share_their_random_numbers():
    # Centred on each row, perturbations depend on the row: shared sampling then gives every
    # row the same draws (common random numbers) around its own value, B * N model rows.
    data, _ = _table(seed=12)
    x = data[:3]
    kwargs = {"discretizer": None, "sample_around_instance": True, "n_samples": 300}
    shared = LimeTabular(_mlp(), data, share_samples=True, progress=False, **kwargs)
    exp = shared(x, generator=0, keep_samples=True)
    offsets = exp.samples[:, 1:] - x[:, None]  # (B, N - 1, D)
    continuous = ~shared.categorical
    for b in (1, 2):
        assert_close(offsets[b][:, continuous], offsets[0][:, continuous], rtol=0, atol=1e-9)
        assert torch.equal(exp.samples[b, 1:, ~continuous], exp.samples[0, 1:, ~continuous])
    alone = LimeTabular(_mlp(), data, progress=False, **kwargs)(x, generator=0, keep_samples=True)
    independent = alone.samples[:, 1:] - x[:, None]
    assert (independent[1] - independent[0]).abs()[:, continuous].max() > 0.5


def test_shapes_names_save_load_and_slicing(tmp_path):
    data, _ = _table(seed=7)
    names = [f"col{i}" for i in range(D)]
    explainer = LimeTabular(
        _mlp(seed=7).float(),
        data.float(),
        categorical_features=CATEGORICAL,
        categorical_names={1: ["a", "b", "c"]},
        feature_names=names,
        n_samples=100,
        max_features=3,
        progress=False,
    )
    exp = explainer(data[:4].float(), top_labels=2, keep_samples=True)
    assert exp.coef.shape == (4, 2, D) and exp.coef.dtype == torch.float32
    assert exp.masks.shape == (4, 100, D) and exp.masks.dtype == torch.bool
    assert exp.weights.shape == (4, 100) and exp.scores.shape == (4, 100, 2)
    assert (exp.selected.sum(-1) == 3).all()
    listed = exp.as_list(explainer.feature_names, categorical_names=explainer.categorical_names)
    assert len(listed) == 3
    every = exp.feature_names(names, index=2, categorical_names={1: ["a", "b", "c"]})
    assert every[1] == f"col1={'abc'[int(data[2, 1])]}"
    assert every[4] == f"col4={int(data[2, 4])}"
    assert "col0" in every[0] and ("<" in every[0] or ">" in every[0])
    path = tmp_path / "tab.pt"
    exp.save(path)
    back = TabularExplanation.load(path)
    assert type(back) is TabularExplanation
    assert back.as_list(names, index=1) == exp.as_list(names, index=1)
    sliced = exp[2]
    assert sliced.as_list(names) == exp.as_list(names, index=2)
    assert "discretizer='quartile'" in repr(explainer)
    pytest.importorskip("matplotlib")
    from torchlime.plot import bar_figure

    fig = bar_figure(exp, names, index=1, k=2)
    shown = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert shown == [name for name, _ in exp.as_list(names, index=1)[:2]][::-1]
    assert set(explainer.state_dict()) >= {"edges", "freq", "mean", "model.0.weight"}


def test_rejects_bad_input():
    data, _ = _table(seed=8)
    explainer = LimeTabular(
        _mlp(seed=8).float(), data.float(), categorical_features=CATEGORICAL, n_samples=20
    )
    x = data[:2].float()
    with pytest.raises(ValueError, match=r"x must be \(B, D\) with D=6; got shape \(2, 5\)"):
        explainer(x[:, :5])
    with pytest.raises(ValueError, match=r"use x\[None\]"):
        explainer(x[0])
    with pytest.raises(TypeError, match="floating-point"):
        explainer(torch.complex(x, x))
    bad = x.clone()
    bad[1, 3] = float("nan")
    with pytest.raises(ValueError, match=r"NaN or inf values in rows \[1\]"):
        explainer(bad)
    unknown = x.clone()
    unknown[0, 4] = 3.0  # column 4 takes 2, 5 or 7
    with pytest.raises(ValueError, match=r"never seen in training in columns \[4\]"):
        explainer(unknown)
    with pytest.raises(ValueError, match=r"samples must be \(B, N, D\)"):
        explainer(x, samples=torch.zeros(2, 10, 5))
    with pytest.raises(ValueError, match="discretizer must be one of"):
        LimeTabular(_mlp(), data, discretizer="tertile")
    with pytest.raises(ValueError, match="training_labels"):
        LimeTabular(_mlp(), data, discretizer="entropy")
    with pytest.raises(ValueError, match="training_data has NaN"):
        LimeTabular(_mlp(), torch.full((3, D), float("nan")))
    with pytest.raises(ValueError, match=r"feature_names must name the D=6 columns"):
        LimeTabular(_mlp(), data, feature_names=["a"])
    with pytest.raises(ValueError, match="categorical_features must be column indices"):
        LimeTabular(_mlp(), data, categorical_features=[9])
    with pytest.raises(ValueError, match="mode must be one of"):
        LimeTabular(_mlp(), data, mode="ranking")
    with pytest.raises(ValueError, match="n_samples"):
        LimeTabular(_mlp(), data, n_samples=1)
    with pytest.raises(ValueError, match=r"target must lie in \[0, 3\)"):
        explainer(x, target=3)
