"""Shared fixtures: ``--device`` and ``--dtype`` select where and in what precision tests run."""

from __future__ import annotations

import pytest
import torch
from _modalities import KINDS, LIME_KINDS, Case, case


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--device", default="cpu", help="cpu, cuda, or all")
    parser.addoption("--dtype", default="float32", help="float32, float64, or all")


def _devices(config: pytest.Config) -> list[str]:
    choice = config.getoption("--device")
    if choice == "all":
        return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    return [choice]


def _dtypes(config: pytest.Config) -> list[str]:
    choice = config.getoption("--dtype")
    return ["float32", "float64"] if choice == "all" else [choice]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "device" in metafunc.fixturenames:
        metafunc.parametrize("device", _devices(metafunc.config), indirect=True)
    if "dtype" in metafunc.fixturenames:
        metafunc.parametrize("dtype", _dtypes(metafunc.config), indirect=True)


@pytest.fixture
def device(request: pytest.FixtureRequest) -> torch.device:
    name = request.param
    if name.startswith("cuda") and not torch.cuda.is_available():
        pytest.skip("CUDA is not available")
    return torch.device(name)


@pytest.fixture
def dtype(request: pytest.FixtureRequest) -> torch.dtype:
    return getattr(torch, request.param)


@pytest.fixture(params=KINDS)
def modality(request: pytest.FixtureRequest) -> Case:
    """Each kind of explanation: image, tabular (discretized, continuous), text, tensors (with
    lime's recipe, captum's, and KernelSHAP's)."""
    return case(request.param)


@pytest.fixture(params=LIME_KINDS)
def lime_modality(request: pytest.FixtureRequest) -> Case:
    """Each modality with lime's recipe (its kernel, ridge, every setting free): for tests of
    the settings themselves, which captum's recipe and KernelSHAP fix."""
    return case(request.param)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _full_precision_cuda():
    """Parity tests compare against float64 CPU references: no TF32 in matmuls or convs."""
    if not torch.cuda.is_available():
        yield
        return
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
