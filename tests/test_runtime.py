import sys
import types

import pytest
import torch

import fgsm_helpers as fh


def test_explicit_cpu_wins():
    assert fh.get_device("cpu") == torch.device("cpu")
    assert fh.get_device(torch.device("cpu")) == torch.device("cpu")


def test_auto_picks_an_available_device():
    device = fh.get_device()
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available() and torch.backends.mps.is_available():
        expected = "mps"
    assert device.type == expected
    assert fh.get_device("auto") == device


@pytest.mark.parametrize("bad", ["gpu", "tpu0", "", "cuda:x"])
def test_unknown_device_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="device"):
        fh.get_device(bad)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_cuda_without_cuda_says_so():
    with pytest.raises(ValueError, match="CUDA is not available"):
        fh.get_device("cuda")


def test_describe_runtime_is_one_line():
    line = fh.describe_runtime("cpu")
    assert "\n" not in line and "device: cpu" in line and "threads" in line


def test_colab_detection_and_advice(monkeypatch):
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert not fh.in_colab()
    assert fh.runtime_advice("cpu") is None
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    assert fh.in_colab()
    assert "GPU" in fh.runtime_advice("cpu")


def test_set_seed_repeats_random_draws():
    fh.set_seed(3)
    first = torch.rand(5)
    fh.set_seed(3)
    assert torch.equal(first, torch.rand(5))


@pytest.mark.parametrize("bad", [-1, 1.5, "1", True])
def test_set_seed_rejects_bad_seeds(bad):
    with pytest.raises(ValueError, match="seed"):
        fh.set_seed(bad)


def _allocator_state(env_value):
    import os
    import subprocess

    env = {**os.environ, fh.runtime.ALLOCATOR_ENV: env_value}
    out = subprocess.run(
        [sys.executable, "-c", "import fgsm_helpers as fh; print(fh.runtime.allocator_tuned())"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def test_allocator_tuning_can_be_turned_off():
    assert _allocator_state("0") == "False"


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or __import__("platform").libc_ver()[0] != "glibc",
    reason="the malloc setting exists only with glibc",
)
def test_allocator_tuned_on_import_with_glibc():
    assert _allocator_state("1") == "True"
