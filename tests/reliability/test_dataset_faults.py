"""explain_dataset under faults: nothing lost, nothing mislabelled.

Every scenario (kill -9 then resume, concurrent writers, stale and foreign locks, planted
symlinks, damaged shards, changed settings, a full disk) ends by comparing the folder's
explanations with those of an uninterrupted run, field by field and exactly.
"""

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from _helpers import PatchMLP
from _modalities import BagModel

import torchlime
from torchlime import LimeImage, LimeText
from torchlime.dataset import explain_dataset, load_shards

TESTS = Path(__file__).resolve().parents[1]
SETTINGS = {"shard_size": 2, "seed": 0}  # 5 items: shards of 2, 2 and 1


def _explainer(n_samples=16):
    return LimeImage(
        PatchMLP(), segmenter=torchlime.Grid(2, 2), n_samples=n_samples, progress=False
    )


def _data(n=5):
    g = torch.Generator().manual_seed(0)
    return [torch.rand(3, 8, 8, generator=g) for _ in range(n)]


class _Slow:
    """The dataset of ``_data``, but items from ``after`` on take forever (a long run)."""

    def __init__(self, after):
        self.data, self.after = _data(), after

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        if i >= self.after:
            time.sleep(600)
        return self.data[i]


def _run(out, explainer=None, data=None, **settings):
    kw = {**SETTINGS, **settings}
    return explain_dataset(explainer or _explainer(), _data() if data is None else data, out, **kw)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run's explanations."""
    return load_shards(_run(tmp_path_factory.mktemp("reference")))


def assert_same(got, want):
    """Nothing lost, nothing mislabelled: every field of every item, exactly."""
    assert type(got) is type(want) and len(got) == len(want)
    for name in type(want).tensor_fields():
        a, b = getattr(got, name), getattr(want, name)
        assert (a is None) == (b is None), name
        assert a is None or torch.equal(a, b), name


def _files(folder):
    """Every file's bytes (symlinks as their target's name), to show nothing changed."""
    return {
        p.name: os.readlink(p) if p.is_symlink() else p.read_bytes()
        for p in sorted(Path(folder).iterdir())
        if not p.is_dir()
    }


# ---------------------------------------------------------------- kill -9, concurrent runs

_CHILD = textwrap.dedent(
    """
    import sys
    sys.path[:0] = [{tests!r}, {repo!r}]
    from reliability.test_dataset_faults import _explainer, _Slow, SETTINGS
    from torchlime.dataset import explain_dataset
    explain_dataset(_explainer(), _Slow(after=2), sys.argv[1], **SETTINGS)
    """
)


def test_kill_9_then_resume_loses_nothing(tmp_path, reference):
    """A run killed after its first shard; a second run meanwhile is refused; resume."""
    out = tmp_path / "run"
    code = _CHILD.format(tests=str(TESTS), repo=str(TESTS.parent))
    child = subprocess.Popen([sys.executable, "-c", code, str(out)], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (out / "shard-00000.pt").exists():
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "the child wrote no shard"
            time.sleep(0.05)
        with pytest.raises(RuntimeError, match=rf"holds .*\.lock \(pid {child.pid} on host"):
            _run(out)  # two writers: the second is refused while the first runs
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert json.loads((out / ".lock").read_text())["pid"] == child.pid  # left behind
    with pytest.raises(ValueError, match="incomplete"):
        load_shards(out / "index.json")
    with pytest.warns(UserWarning, match="shard-00001.pt is missing"):
        assert_same(load_shards(out / "index.json", allow_incomplete=True), reference[0:2])
    with pytest.warns(UserWarning, match=rf"took over .*pid {child.pid} .*no longer running"):
        index = _run(out)
    assert_same(load_shards(index), reference)
    assert not (out / ".lock").exists()
    assert sorted(p.name for p in out.iterdir()) == [
        "index.json",
        "shard-00000.pt",
        "shard-00001.pt",
        "shard-00002.pt",
    ]


def _dead_pid():
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    return done.pid


def _proc_start(pid):
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]


LOCKS = {  # who holds the lock -> taken over (True) or refused (False)
    "a dead process": (lambda live: {"pid": _dead_pid()}, True),
    "a live process": (lambda live: {"pid": live.pid}, False),
    "this process": (lambda live: {"pid": os.getpid()}, False),
    "a live process of the same pid but another start (pid reused)": (
        lambda live: {"pid": live.pid, "process_start": "1"},
        True,
    ),
    "a live process of the same start": (
        lambda live: {"pid": live.pid, "process_start": _proc_start(live.pid)},
        False,
    ),
    "another host": (lambda live: {"pid": live.pid, "host": "elsewhere"}, False),
    "nobody readable, just now": (lambda live: None, False),
    "nobody readable, 2 hours ago": (lambda live: "old", True),
}


@pytest.mark.parametrize("holder", list(LOCKS))
def test_a_lock_is_taken_over_only_when_its_holder_is_gone(tmp_path, reference, holder):
    make, taken_over = LOCKS[holder]
    if "start" in holder and not Path("/proc/self/stat").exists():
        pytest.skip("process start times come from /proc")
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        info = make(live)
        lock = tmp_path / ".lock"
        if isinstance(info, dict):
            lock.write_text(json.dumps({"host": socket.gethostname(), **info}))
        else:
            lock.write_text('{"pid": 12')  # torn
            if info == "old":
                os.utime(lock, (time.time() - 7200, time.time() - 7200))
        if taken_over:
            with pytest.warns(UserWarning, match=r"took over .*\.lock"):
                assert_same(load_shards(_run(tmp_path)), reference)
            assert not lock.exists()
        else:
            before = _files(tmp_path)
            with pytest.raises(RuntimeError, match=r"\.lock"):
                _run(tmp_path)
            assert _files(tmp_path) == before  # nothing written
    finally:
        live.kill()
        live.wait()


# ---------------------------------------------------------------- planted symlinks


@pytest.mark.parametrize(
    ("name", "refused"),
    [("shard-00001.pt", None), ("index.json", ValueError), (".lock", RuntimeError)],
)
def test_a_planted_symlink_is_never_written_through(tmp_path, reference, name, refused):
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    out = tmp_path / "run"
    out.mkdir()
    (out / name).symlink_to(victim)
    if refused is None:
        with pytest.warns(UserWarning, match=rf"{name} is a symlink.*explaining its items"):
            assert_same(load_shards(_run(out)), reference)
        assert not (out / name).is_symlink() and (out / name).is_file()
    else:
        with pytest.raises(refused, match=rf"{name}.*(symlink|regular)"):
            _run(out)
        (out / name).unlink()
        assert_same(load_shards(_run(out)), reference)
    assert victim.read_bytes() == b"precious"


# ---------------------------------------------------------------- damaged shards


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _swap(path):
    path.write_bytes((path.parent / "shard-00000.pt").read_bytes())


def _symlink(path):
    copy = path.parent.parent / "elsewhere.pt"
    copy.write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(copy)


DAMAGE = {  # what happens to shard 1 after a complete run -> what load_shards says
    "truncated": (_truncate, "truncated"),
    "changed": (_flip, "sha256"),
    "swapped with shard 0": (_swap, "truncated|sha256"),
    "deleted": (lambda path: path.unlink(), "missing"),
    "a symlink to a copy": (_symlink, "symlink"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_shard_is_named_then_explained_again(tmp_path, reference, damage):
    harm, says = DAMAGE[damage]
    out = tmp_path / "run"
    index = _run(out)
    harm(out / "shard-00001.pt")
    with pytest.raises(ValueError, match=rf"shard-00001\.pt.*({says})"):
        load_shards(index)
    if damage == "deleted":
        _run(out)  # a missing shard is simply explained
    else:
        with pytest.warns(UserWarning, match=r"shard-00001\.pt .*explaining its items again"):
            _run(out)
    assert_same(load_shards(index), reference)
    assert not (out / "shard-00001.pt").is_symlink()


def test_a_shard_of_another_run_is_named(tmp_path):
    """The checksum aside: a shard copied in from a run of another seed is refused."""
    ours, theirs = _run(tmp_path / "ours"), _run(tmp_path / "theirs", seed=7)
    (ours.parent / "shard-00001.pt").write_bytes((theirs.parent / "shard-00001.pt").read_bytes())
    meta = json.loads(ours.read_text())
    for shard in meta["shards"]:
        shard.pop("sha256"), shard.pop("bytes")
    ours.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"shard-00001\.pt is not this run's .*seed: 7 -> 0"):
        load_shards(ours)


# ---------------------------------------------------------------- changed settings

CHANGES = {  # a resume with other settings -> the key the refusal names
    "shard_size": ({"shard_size": 3}, r"shard_size: 2 -> 3"),
    "seed": ({"seed": 1}, r"seed: 0 -> 1"),
    "n_samples": ({"explainer": _explainer(n_samples=32)}, r"explainer\.n_samples: 16 -> 32"),
    "grown dataset": ({"data": _data(6)}, r"n_items: 5 -> 6"),
    "explain keywords": ({"top_labels": 2}, r"explain_kwargs\.top_labels: \(none\) -> 2"),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_other_settings_are_refused_naming_the_key(tmp_path, reference, change):
    settings, names = CHANGES[change]
    index = _run(tmp_path)
    before = _files(tmp_path)
    with pytest.raises(ValueError, match=rf"{names}.*new folder"):
        _run(tmp_path, **settings)
    assert _files(tmp_path) == before  # nothing lost: the folder is as it was
    assert_same(load_shards(index), reference)


_RANKS = textwrap.dedent(
    """
    import sys
    sys.path[:0] = [{tests!r}, {repo!r}]
    import torch.distributed as dist
    from reliability.test_dataset_faults import _run
    dist.init_process_group("gloo")
    try:
        _run(sys.argv[1], seed=int(sys.argv[2]))
    except ValueError as error:
        print(f"rank {{dist.get_rank()}} refused: {{error}}", flush=True)
        sys.exit(3)
    except RuntimeError as error:
        print(f"rank {{dist.get_rank()}} told: {{error}}", flush=True)
        sys.exit(3)
    dist.destroy_process_group()
    """
)


def test_under_torchrun_every_rank_refuses_other_settings(tmp_path, reference):
    """Rank 0 checks the folder; the others hear why it refused instead of waiting forever."""
    index = _run(tmp_path / "run")
    script = tmp_path / "ranks.py"
    script.write_text(_RANKS.format(tests=str(TESTS), repo=str(TESTS.parent)))
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for seed in (1, 0):
        done = subprocess.run(
            [*launch, str(script), str(tmp_path / "run"), str(seed)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if seed == 1:
            assert done.returncode != 0
            assert "rank 0 refused: " in done.stdout and "seed: 0 -> 1" in done.stdout
            assert "rank 1 told: rank 0 could not start the run" in done.stdout
        else:  # the same settings: each rank checks its shards, rank 0 all of them
            assert done.returncode == 0, done.stdout + done.stderr
    assert_same(load_shards(index), reference)


def test_a_plain_callable_is_checked_by_its_explanations(tmp_path, reference):
    """A function wrapping another explainer, resuming an incomplete run, is refused."""
    index = _run(tmp_path)
    (tmp_path / "shard-00001.pt").unlink()
    other = _explainer(n_samples=32)
    with pytest.raises(ValueError, match=r"explainer\.n_samples: 16 -> 32"):
        _run(tmp_path, explainer=lambda x, **kw: other(x, **kw))
    same = _explainer()
    _run(tmp_path, explainer=lambda x, **kw: same(x, **kw))
    assert_same(load_shards(index), reference)


# ---------------------------------------------------------------- a full disk


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc/self/fd")
@pytest.mark.parametrize(
    ("prefix", "code", "file"),
    [
        (".shard-", errno.ENOSPC, "shard-00000.pt"),
        (".shard-", errno.EDQUOT, "shard-00000.pt"),
        (".index-", errno.ENOSPC, "index.json"),
    ],
)
def test_a_full_disk_says_so(tmp_path, reference, monkeypatch, prefix, code, file):
    write = os.write

    def full(fd, data):
        if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")).startswith(prefix):
            raise OSError(code, os.strerror(code))
        return write(fd, data)

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(OSError, match=rf"disk is full while writing .*{file}") as caught:
        _run(tmp_path)
    assert caught.value.errno == code
    assert not list(tmp_path.glob(".*.tmp")) and not (tmp_path / ".lock").exists()
    monkeypatch.undo()
    assert_same(load_shards(_run(tmp_path)), reference)


# ---------------------------------------------------------------- items, ranks, text


def test_tensor_items_of_different_shapes_say_which_and_how(tmp_path):
    data = [*_data(2), torch.rand(3, 10, 10)]
    with pytest.raises(ValueError, match=r"items 0 and 2 have shapes .*shard_size=1"):
        _run(tmp_path / "stacked", data=data, shard_size=3)
    loaded = load_shards(_run(tmp_path / "one", data=data, shard_size=1))  # padded H x W
    assert len(loaded) == 3 and loaded.segments.shape[-2:] == (10, 10)


def test_torchrun_without_init_process_group_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(RuntimeError, match=r"WORLD_SIZE=2 .*init_process_group"):
        _run(tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_padding_is_never_a_text_feature(tmp_path):
    g = torch.Generator().manual_seed(0)
    items = []
    for n in (7, 7, 2, 5, 4, 6):  # shards of 2: the last two of different lengths
        ids = torch.randint(1, 20, (n,), generator=g)
        items.append({"input_ids": ids, "attention_mask": torch.ones(n, dtype=torch.long)})
    items[0] = {"input_ids": items[0]["input_ids"]}  # no mask: no padding in it
    items[1]["input_ids"][5:] = 0  # padded by the tokenizer already (same length as item 0)
    items[1]["attention_mask"][5:] = 0
    explainer = LimeText(BagModel(), n_samples=40, max_features=None, progress=False)
    exp = load_shards(explain_dataset(explainer, items, tmp_path, shard_size=2))
    assert len(exp) == len(items)
    for i, item in enumerate(items):
        given = item.get("attention_mask", torch.ones_like(item["input_ids"])).bool()
        mask = torch.zeros(exp.input_ids.shape[1], dtype=torch.bool)
        mask[: len(given)] = given  # the item's real tokens, where the batch has them
        real = item["input_ids"][given]
        assert (exp.token_features[i][~mask] == -1).all(), i
        assert exp.n_features[i] == len(real.unique()), i
        assert torch.equal(exp.input_ids[i][mask], real), i
        assert torch.equal(exp.attention_mask[i].bool(), mask), i
