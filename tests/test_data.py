import shutil
from pathlib import Path

import pytest
import torch

import fgsm_helpers as fh
from fgsm_helpers.data import MNIST_MD5, default_data_dir, resolve_data_dir, verify_mnist_files

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_test_split_shapes_range_and_labels(mnist_test):
    x, y = mnist_test
    assert x.shape == (10000, 1, 28, 28) and x.dtype == torch.float32
    assert y.shape == (10000,) and y.dtype == torch.int64
    assert x.min() == 0.0 and x.max() == 1.0
    assert y[:3].tolist() == [7, 2, 1]
    assert torch.bincount(y).max().item() == 1135


@pytest.mark.slow
def test_train_split_matches_published_facts(mnist_train):
    x, y = mnist_train
    assert len(x) == 60000
    assert y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert abs(x.mean().item() - 0.1307) < 1e-4
    assert abs(x.std().item() - 0.3081) < 1e-4


@pytest.mark.slow
def test_data_dir_from_environment(monkeypatch, data_dir):
    monkeypatch.setenv("FGSM_DATA_DIR", str(data_dir))
    x, _ = fh.load_mnist("test", subset=10)
    assert x.shape == (10, 1, 28, 28)


def test_default_data_dir_is_the_xdg_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("FGSM_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_data_dir() == tmp_path / "cache" / "fgsm_helpers"
    assert resolve_data_dir() == (tmp_path / "cache" / "fgsm_helpers").resolve()


@pytest.mark.parametrize("xdg_cache_home", [None, "", "relative/cache"])
def test_default_data_dir_falls_back_to_home_cache(monkeypatch, tmp_path, xdg_cache_home):
    """Unset, empty or relative XDG_CACHE_HOME (the XDG rule: ignore a relative one)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    if xdg_cache_home is None:
        monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_CACHE_HOME", xdg_cache_home)
    assert default_data_dir() == tmp_path / ".cache" / "fgsm_helpers"


def test_default_data_dir_ignores_the_working_folder_and_the_source_tree(monkeypatch, tmp_path):
    monkeypatch.delenv("FGSM_DATA_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    seen = set()
    for folder in (REPO, REPO / "notebooks", tmp_path):
        monkeypatch.chdir(folder)
        seen.add(resolve_data_dir())
    (where,) = seen
    assert where == (tmp_path / "home" / ".cache" / "fgsm_helpers").resolve()
    assert not where.is_relative_to(REPO)


def test_missing_default_data_names_the_cache_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("FGSM_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(fh.MNISTDataError, match="FGSM_DATA_DIR") as info:
        fh.load_mnist("test")
    assert str(tmp_path / "fgsm_helpers" / "MNIST" / "raw") in str(info.value)
    assert not (tmp_path / "fgsm_helpers").exists(), "a failed load must not create folders"


def test_relative_data_dir_is_taken_from_the_working_folder(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FGSM_DATA_DIR", "mnist")
    assert resolve_data_dir() == (tmp_path / "mnist").resolve()
    assert resolve_data_dir("other") == (tmp_path / "other").resolve()


@pytest.mark.slow
def test_seeded_subset_repeats_and_differs_by_seed(data_dir):
    x1, y1 = fh.load_mnist("test", data_dir, subset=100, seed=1)
    x2, y2 = fh.load_mnist("test", data_dir, subset=100, seed=1)
    x3, _ = fh.load_mnist("test", data_dir, subset=100, seed=2)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert not torch.equal(x1, x3)


def test_missing_data_names_the_setting_and_files(tmp_path):
    with pytest.raises(fh.MNISTDataError) as info:
        fh.load_mnist("test", tmp_path)
    message = str(info.value)
    assert "FGSM_DATA_DIR" in message
    assert "t10k-images-idx3-ubyte" in message and "t10k-labels-idx1-ubyte" in message


@pytest.mark.slow
def test_corrupt_file_is_refused(tmp_path, data_dir):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in MNIST_MD5:
        shutil.copy(data_dir / "MNIST" / "raw" / name, raw / name)
    damaged = bytearray((raw / "t10k-labels-idx1-ubyte").read_bytes())
    damaged[100] ^= 0xFF
    (raw / "t10k-labels-idx1-ubyte").write_bytes(bytes(damaged))
    with pytest.raises(fh.MNISTDataError, match="corrupt.*t10k-labels-idx1-ubyte"):
        fh.load_mnist("test", tmp_path)
    verify_mnist_files(tmp_path, "train")  # the untouched split still verifies


@pytest.mark.slow
def test_truncated_file_is_refused(tmp_path, data_dir):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in MNIST_MD5:
        shutil.copy(data_dir / "MNIST" / "raw" / name, raw / name)
    content = (raw / "t10k-images-idx3-ubyte").read_bytes()
    (raw / "t10k-images-idx3-ubyte").write_bytes(content[: len(content) // 2])
    with pytest.raises(fh.MNISTDataError, match="t10k-images-idx3-ubyte"):
        fh.load_mnist("test", tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize(
    "kwargs, match",
    [({"split": "validation"}, "split"), ({"subset": 0}, "subset"), ({"subset": 20000}, "subset")],
)
def test_bad_arguments(data_dir, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fh.load_mnist(data_dir=data_dir, **kwargs)


def test_iterate_batches_covers_everything_once():
    x = torch.arange(10.0).view(10, 1, 1, 1)
    y = torch.arange(10)
    seen = torch.cat(
        [
            yb
            for _, yb in fh.iterate_batches(
                x, y, 3, shuffle=True, generator=torch.Generator().manual_seed(0)
            )
        ]
    )
    assert sorted(seen.tolist()) == list(range(10))
    with pytest.raises(ValueError, match="batch_size"):
        next(fh.iterate_batches(x, y, 0))
