"""Shared fixtures: real MNIST through FGSM_DATA_DIR (never a download), small trained models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

import fgsm_helpers as fh

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The offline MNIST folder; tests fail loudly rather than download."""
    path = Path(os.environ.get("FGSM_DATA_DIR") or REPO.parent / "shared" / "data")
    if not (path / "MNIST" / "raw" / "t10k-images-idx3-ubyte").is_file():
        pytest.fail(f"real MNIST not found under {path}: set FGSM_DATA_DIR to ../shared/data")
    return path


@pytest.fixture(scope="session")
def mnist_test(data_dir):
    return fh.load_mnist("test", data_dir)


@pytest.fixture(scope="session")
def mnist_train(data_dir):
    return fh.load_mnist("train", data_dir)


@pytest.fixture(scope="session")
def trained_cnn(mnist_train):
    """The paper's CNN after one epoch on 10,000 training images (about 10 s on 2 cores)."""
    fh.set_seed(0)
    x, y = mnist_train
    model = fh.PaperCNN()
    fh.train(model, x[:10000], y[:10000], epochs=1, progress=False, seed=0)
    return model.eval()


@pytest.fixture()
def tiny_batch():
    """Synthetic images and labels for tests that only need shapes."""
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(8, 1, 28, 28, generator=generator)
    y = torch.randint(0, 10, (8,), generator=generator)
    return x, y


@pytest.fixture()
def random_cnn():
    torch.manual_seed(0)
    return fh.PaperCNN().eval()


#: Fixtures that read real MNIST from FGSM_DATA_DIR: a test that uses one (directly or through
#: another fixture) belongs to the learning tier and must carry the ``slow`` mark, so that
#: ``-m "not slow"`` really leaves out every test that reads MNIST.
MNIST_FIXTURES = {"data_dir", "mnist_test", "mnist_train", "trained_cnn"}


def pytest_collection_modifyitems(config, items):
    unmarked = [
        item.nodeid
        for item in items
        if MNIST_FIXTURES & set(getattr(item, "fixturenames", ()))
        and item.get_closest_marker("slow") is None
        and item.get_closest_marker("browser") is None  # the browser tier has its own mark
    ]
    if unmarked:
        raise pytest.UsageError(
            "these tests read real MNIST but are not marked slow (add @pytest.mark.slow):\n  "
            + "\n  ".join(unmarked)
        )
