"""Segmenters: ``(B, C, H, W) float -> (B, H, W) int64`` superpixel ids, on the input's device."""

from torchlime.segmentation.connectivity import connected_components, enforce_connectivity
from torchlime.segmentation.grid import Grid, grid
from torchlime.segmentation.quickshift import Quickshift, quickshift
from torchlime.segmentation.relabel import relabel
from torchlime.segmentation.slic import SLIC, SoftSLIC, slic, soft_slic

__all__ = [
    "SLIC",
    "Grid",
    "Quickshift",
    "SoftSLIC",
    "connected_components",
    "enforce_connectivity",
    "grid",
    "quickshift",
    "relabel",
    "slic",
    "soft_slic",
]
