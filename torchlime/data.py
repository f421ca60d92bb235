"""The old name of :mod:`torchlime.dataset`, kept so that existing imports work."""

from torchlime.dataset import explain_dataset, load_shards, submodular_pick

__all__ = ["explain_dataset", "load_shards", "submodular_pick"]
