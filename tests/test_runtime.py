import json
import os
import subprocess
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


_GLIBC = sys.platform.startswith("linux") and __import__("platform").libc_ver()[0] == "glibc"


def _in_fresh_interpreter(code, **env_changes):
    """Run ``code`` in a new interpreter; return its stdout (the test fails on its error)."""
    env = {k: v for k, v in os.environ.items() if k not in env_changes}
    env.update({k: v for k, v in env_changes.items() if v is not None})
    completed = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return completed.stdout.strip()


def test_import_changes_nothing_process_wide():
    """``import fgsm_helpers`` (and its runtime module) leaves malloc and os.environ alone."""
    code = (
        "import os, json\n"
        "before = dict(os.environ)\n"
        "import fgsm_helpers as fh\n"
        "from fgsm_helpers import runtime\n"
        "print(json.dumps({'tuned': runtime.allocator_tuned(), "
        "'changed': sorted(set(os.environ.items()) ^ set(before.items()))}))"
    )
    result = json.loads(_in_fresh_interpreter(code, FGSM_TUNE_ALLOCATOR=None))
    assert result == {"tuned": False, "changed": []}


@pytest.mark.skipif(not _GLIBC, reason="the malloc setting exists only with glibc")
def test_explicit_allocator_tuning_takes_effect():
    code = "import fgsm_helpers as fh\nprint(fh.tune_cpu_allocator(), fh.runtime.allocator_tuned())"
    assert _in_fresh_interpreter(code, FGSM_TUNE_ALLOCATOR=None) == "True True"


def test_allocator_tuning_can_be_turned_off():
    code = "import fgsm_helpers as fh\nprint(fh.tune_cpu_allocator(), fh.runtime.allocator_tuned())"
    assert _in_fresh_interpreter(code, FGSM_TUNE_ALLOCATOR="0") == "False False"


def test_deterministic_seed_sets_the_cublas_workspace(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    fh.set_seed(0, deterministic=False)
    assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ
    fh.set_seed(0)
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    fh.set_seed(0)
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"  # a user's own choice is kept


def test_kaggle_detection_and_advice(monkeypatch):
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.delenv("KAGGLE_KERNEL_RUN_TYPE", raising=False)
    assert not fh.in_kaggle()
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Interactive")
    assert fh.in_kaggle()
    assert "Accelerator" in fh.runtime_advice("cpu")
    assert "Kaggle" in fh.describe_runtime("cpu")
