"""Explaining a whole dataset: shards on disk, resumable, checked, split across ranks.

Each shard of consecutive items is explained in one call with its own generator seed,
derived from the run's seed and the shard's index: the result does not depend on how many
processes run, nor in what order. Under ``torchrun`` (``torch.distributed`` initialised)
rank ``r`` of ``w`` takes shards ``r, r + w, ...``. Nothing is lost or mislabelled: the
run's recipe (explainer settings, seed, shard size, dataset length, explain keywords) is in
``index.json`` (``"running"`` from the start, ``"complete"`` with every shard's sha256 at
the end) and in every shard; a folder of other settings is refused, naming what differs; a
resumed run keeps the shards of its recipe that load and explains the others again; one run
at a time holds the folder's ``.lock``; files are written under unpredictable names created
exclusively, then renamed (a planted symlink is replaced, never written through).
"""

from torchlime.dataset.pick import submodular_pick
from torchlime.dataset.runner import explain_dataset, load_shards

__all__ = ["explain_dataset", "load_shards", "submodular_pick"]
