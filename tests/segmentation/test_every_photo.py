"""SLIC against scikit-image on every RGB sample photo that ships with scikit-image.

The photos are found by calling every loader in ``skimage.data.__all__`` that takes no
argument and keeping the (H, W, 3) and (H, W, 4) uint8 arrays (RGBA composited on white,
duplicates such as ``cat``/``chelsea`` dropped). Loaders whose file is not bundled in the
wheel (they need pooch and a download) are skipped. Each photo is resized with antialiasing
and segmented with ``torchlime.SLIC(n_segments=50)``'s defaults and with
``skimage.segmentation.slic`` under the same settings.
"""

import hashlib
import inspect
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage as ndi

from torchlime.segmentation import SLIC

skimage = pytest.importorskip("skimage")
from skimage import color, data  # noqa: E402
from skimage import segmentation as sk_seg  # noqa: E402

# Loaders that are not photos or that would download.
_NOT_PHOTOS = {"download_all", "data_dir", "lbp_frontal_face_cascade_filename", "file_hash"}

MAX_VARIANCE_RATIO = 1.15
MAX_COUNT_DEVIATION = 0.15
MIN_BOUNDARY_RECALL = 0.6


def bundled_rgb_photos() -> list[tuple[str, np.ndarray]]:
    """(name, (H, W, 3) uint8) for every RGB photo bundled with scikit-image."""
    seen, photos = set(), []
    for name in sorted(data.__all__):
        loader = getattr(data, name, None)
        if name in _NOT_PHOTOS or not inspect.isfunction(loader):
            continue
        if any(p.default is p.empty for p in inspect.signature(loader).parameters.values()):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                loaded = loader()
        except (Exception, pytest.skip.Exception):  # not in the wheel: needs pooch
            continue
        arrays = loaded if isinstance(loaded, tuple) else (loaded,)
        for i, image in enumerate(arrays):
            if not (
                isinstance(image, np.ndarray)
                and image.dtype == np.uint8
                and image.ndim == 3
                and image.shape[2] in (3, 4)
            ):
                continue
            if image.shape[2] == 4:
                image = np.round(color.rgba2rgb(image) * 255).astype(np.uint8)
            digest = hashlib.sha1(image.tobytes()).hexdigest()
            if digest not in seen:
                seen.add(digest)
                photos.append((name if len(arrays) == 1 else f"{name}[{i}]", image))
    return photos


def resized(image: np.ndarray, size: int) -> torch.Tensor:
    """(1, 3, size, size) float64 in [0, 1], bilinear with antialiasing."""
    x = torch.from_numpy(image).permute(2, 0, 1)[None].double() / 255
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True).clamp(0, 1)


def lab_variance(lab: np.ndarray, seg: np.ndarray) -> float:
    """Mean over pixels of the squared Lab distance to their superpixel's mean colour."""
    ids = seg.ravel()
    flat = lab.reshape(-1, 3)
    count = np.maximum(np.bincount(ids), 1)
    mean = np.stack([np.bincount(ids, flat[:, c]) / count for c in range(3)], 1)
    return float(((flat - mean[ids]) ** 2).sum(1).mean())


def boundary_recall(reference: np.ndarray, ours: np.ndarray, tolerance: float = 2.0) -> float:
    """Boundary recall of ``ours`` with respect to ``reference``.

    The fraction of the reference's boundary pixels (``find_boundaries(mode="inner")``:
    pixels with a 4-neighbour of another segment) that lie within ``tolerance`` pixels
    (Euclidean) of one of our boundary pixels.
    """
    ref_b = sk_seg.find_boundaries(reference, mode="inner")
    our_b = sk_seg.find_boundaries(ours, mode="inner")
    return float((ndi.distance_transform_edt(~our_b)[ref_b] <= tolerance).mean())


def all_connected(seg: np.ndarray) -> bool:
    """Every segment id is one 4-connected region."""
    objects = ndi.find_objects(seg + 1)
    for i, box in enumerate(objects):
        if box is not None and ndi.label(seg[box] == i)[1] != 1:
            return False
    return True


def compare(name: str, image: torch.Tensor, ours: np.ndarray) -> dict:
    """The criteria for one photo: image (1, 3, S, S) float64, ours (S, S) int64."""
    rgb = image[0].permute(1, 2, 0).numpy()
    ref = sk_seg.slic(rgb, n_segments=50, compactness=10, start_label=0)
    lab = color.rgb2lab(rgb)
    return {
        "image": name,
        "size": rgb.shape[0],
        "variance_ratio": lab_variance(lab, ours) / lab_variance(lab, ref),
        "ours": int(ours.max()) + 1,
        "skimage": int(ref.max()) + 1,
        "recall": boundary_recall(ref, ours),
        "connected": all_connected(ours),
    }


def passes(row: dict) -> bool:
    return (
        row["variance_ratio"] <= MAX_VARIANCE_RATIO
        and abs(row["ours"] - row["skimage"]) <= MAX_COUNT_DEVIATION * row["skimage"]
        and row["recall"] >= MIN_BOUNDARY_RECALL
        and row["connected"]
    )


@pytest.fixture(scope="module")
def photos() -> list[tuple[str, np.ndarray]]:
    found = bundled_rgb_photos()
    if len(found) < 4:
        pytest.skip("scikit-image's bundled photos are missing")
    return found


def test_the_photos_are_found(photos):
    names = [name for name, _ in photos]
    assert {"astronaut", "coffee", "rocket", "retina", "logo"} <= set(names)
    assert all(image.ndim == 3 and image.shape[2] == 3 for _, image in photos)


@pytest.mark.parametrize("size", [224, 512])
def test_slic_holds_on_every_photo(photos, size):
    images = torch.cat([resized(image, size) for _, image in photos])
    segments = SLIC(n_segments=50)(images.float()).numpy()
    rows = [compare(name, images[i : i + 1], segments[i]) for i, (name, _) in enumerate(photos)]
    failed = [row for row in rows if not passes(row)]
    assert not failed, failed
