"""explain_dataset (shards, resume, torch.distributed) and SP-LIME against lime."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from _helpers import PatchMLP, assert_close
from lime.submodular_pick import SubmodularPick

import torchlime.data
from torchlime import LimeImage
from torchlime.dataset import explain_dataset, load_shards, submodular_pick


def _dataset(n=7):
    g = torch.Generator().manual_seed(0)
    return [(torch.rand(3, 16, 16, generator=g), i % 3) for i in range(n)]


def _explainer():
    return LimeImage(PatchMLP(), n_samples=24, progress=False)


def test_shards_equal_direct_calls_with_derived_seeds(tmp_path):
    data = _dataset(7)
    index = explain_dataset(_explainer(), data, tmp_path, shard_size=3, seed=5, top_labels=2)
    result = load_shards(index)
    assert result.coef.shape[:2] == (7, 2)
    assert sorted(p.name for p in tmp_path.glob("shard-*.pt")) == [
        "shard-00000.pt",
        "shard-00001.pt",
        "shard-00002.pt",
    ]
    for shard, (start, stop) in enumerate([(0, 3), (3, 6), (6, 7)]):
        x = torch.stack([data[i][0] for i in range(start, stop)])
        g = torch.Generator().manual_seed(5 * 1_000_003 + shard)
        direct = _explainer()(x, top_labels=2, generator=g)
        # bitwise equality is not promised across allocations (SIMD reductions may round
        # differently with alignment); seeds and targets must agree exactly
        k = direct.coef.shape[-1]  # load_shards pads K to the largest shard's
        torch.testing.assert_close(
            result.coef[start:stop, :, :k], direct.coef, rtol=1e-5, atol=1e-7
        )
        assert (result.coef[start:stop, :, k:] == 0).all()
        assert torch.equal(result.target[start:stop], direct.target)


class _Interrupted(Exception):
    pass


class _Flaky:
    """A dataset that fails at one item, like a run killed half-way."""

    def __init__(self, data, fail_at):
        self.data, self.fail_at = data, fail_at

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        if i == self.fail_at:
            raise _Interrupted
        return self.data[i]


def test_resume_skips_finished_shards(tmp_path):
    data = _dataset(7)
    with pytest.raises(_Interrupted):
        explain_dataset(_explainer(), _Flaky(data, fail_at=4), tmp_path, shard_size=3)
    first = tmp_path / "shard-00000.pt"
    assert first.exists()
    assert not (tmp_path / "shard-00001.pt").exists()
    stamp = first.stat().st_mtime_ns
    calls = []

    def counting(x, **kw):
        calls.append(x.shape[0])
        return _explainer()(x, **kw)

    index = explain_dataset(counting, data, tmp_path, shard_size=3)
    assert first.stat().st_mtime_ns == stamp  # not redone
    assert calls == [3, 1]
    fresh = load_shards(explain_dataset(_explainer(), data, tmp_path / "fresh", shard_size=3))
    torch.testing.assert_close(load_shards(index).coef, fresh.coef, rtol=1e-5, atol=1e-7)


_WORKER = textwrap.dedent(
    """
    import sys
    import torch
    import torch.distributed as dist
    sys.path.insert(0, {tests!r})
    from test_dataset import _dataset, _explainer
    from torchlime.dataset import explain_dataset

    dist.init_process_group("gloo")
    explain_dataset(_explainer(), _dataset(7), sys.argv[1], shard_size=2, seed=3)
    dist.destroy_process_group()
    """
)


def test_torchrun_two_ranks_equal_one_process(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(_WORKER.format(tests=str(Path(__file__).parent)))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node=2",
            str(script),
            str(tmp_path / "ranks"),
        ],
        check=True,
        env=env,
        capture_output=True,
        timeout=300,
    )
    together = load_shards(tmp_path / "ranks" / "index.json")
    alone = load_shards(
        explain_dataset(_explainer(), _dataset(7), tmp_path / "one", shard_size=2, seed=3)
    )
    torch.testing.assert_close(together.coef, alone.coef, rtol=1e-5, atol=1e-7)
    assert torch.equal(together.segments, alone.segments)


class _FakeExp:
    mode = "classification"

    def __init__(self, row):
        self.row = row

    def available_labels(self):
        return [0, 1]

    def as_list(self, label):
        return [(f"f{j}", float(v)) for j, v in enumerate(self.row[label]) if v != 0]


def test_submodular_pick_equals_lime():
    rng = np.random.default_rng(0)
    for trial in range(20):
        w = rng.normal(size=(12, 2, 9)) * (rng.random((12, 2, 9)) < 0.3)

        class Explainer:
            def __init__(self, rows):
                self.rows = iter(rows)

            def explain_instance(self, *args, **kwargs):
                return _FakeExp(next(self.rows))

        ref = SubmodularPick(
            Explainer(w), np.zeros((12, 1)), None, method="full", num_exps_desired=4
        )
        ref_idx = [ref.explanations.index(e) for e in ref.sp_explanations]
        ours = submodular_pick(torch.from_numpy(w.sum(1)), 4).tolist()
        assert ours == ref_idx, trial


def test_torchlime_data_is_a_shim_for_torchlime_dataset():
    """The old module name still gives the same three functions."""
    assert sorted(torchlime.data.__all__) == ["explain_dataset", "load_shards", "submodular_pick"]
    assert torchlime.data.explain_dataset is explain_dataset
    assert torchlime.data.load_shards is load_shards
    assert torchlime.data.submodular_pick is submodular_pick


def test_explain_dataset_and_load_shards_on_every_explainer(modality, tmp_path):
    explainer = modality.explainer(n_samples=60)
    n = modality.batch
    if modality.kind == "text":  # variable lengths: dict items, padded per shard
        lengths = modality.kwargs["attention_mask"].sum(1).tolist()
        items = [
            {"input_ids": modality.inputs[i, :m], "attention_mask": torch.ones(m, dtype=torch.long)}
            for i, m in enumerate(lengths)
        ]
    elif isinstance(modality.inputs, tuple):  # several inputs per item, the call's keywords
        items = [tuple(x[i] for x in modality.inputs) for i in range(n)]
    else:
        items = [modality.inputs[i] for i in range(n)]
    tensor = isinstance(modality.inputs, tuple)
    kw = {"transform": lambda item: item, **modality.kwargs} if tensor else {}
    index = explain_dataset(explainer, items, tmp_path, shard_size=1, seed=3, **kw)
    loaded = load_shards(index)
    assert len(loaded) == n
    assert loaded.config["explainer"] == type(explainer).__name__
    for i in range(n):  # each shard equals a direct call with its derived seed
        g = torch.Generator().manual_seed(3 * 1_000_003 + i)
        if modality.kind == "text":
            item = items[i]
            direct = explainer(item["input_ids"][None], attention_mask=item["attention_mask"][None],
                               generator=g)  # fmt: skip
        elif tensor:
            inputs = tuple(x[None] for x in items[i])
            direct = explainer(inputs, generator=g, **modality.kwargs)
        else:
            direct = explainer(items[i][None], generator=g)
        k = direct.coef.shape[-1]
        assert_close(loaded.coef[i : i + 1, :, :k], direct.coef)
        assert (loaded.coef[i, :, k:] == 0).all() and not loaded.selected[i, :, k:].any()
