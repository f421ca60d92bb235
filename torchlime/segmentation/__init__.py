"""Segmenters: ``(B, C, H, W) float -> (B, H, W) int64`` superpixel ids, on the input's device."""

from torchlime.segmentation.connectivity import connected_components, enforce_connectivity
from torchlime.segmentation.grid import Grid, grid
from torchlime.segmentation.relabel import relabel

__all__ = ["Grid", "connected_components", "enforce_connectivity", "grid", "relabel"]
