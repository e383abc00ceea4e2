"""Where the code runs: device choice, Colab detection, seeds and determinism."""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import random
import sys

import numpy as np
import torch

_KNOWN_DEVICE_TYPES = ("cpu", "cuda", "mps")
# Deterministic cuBLAS needs this before CUDA starts; importing the package comes first.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

ALLOCATOR_ENV = "FGSM_TUNE_ALLOCATOR"
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers
_allocator_tuned = False


def tune_cpu_allocator(mmap_threshold_mb: int = 256, trim_threshold_mb: int = 512) -> bool:
    """Let glibc's malloc keep large freed CPU buffers for reuse instead of returning them.

    By default glibc gives every allocation above a few MB (a batch of conv activations) its
    own fresh ``mmap`` and unmaps it on free, so each forward pass page-faults its buffers in
    again: on a 2-core CPU that made the paper's CNN's forward pass 1.6x slower (benchmarks/
    bench_training.py records both). Raising the mmap and trim thresholds keeps such buffers in
    the heap; the process may hold up to ``trim_threshold_mb`` of freed memory for reuse.
    PyTorch's CPU tuning guide suggests jemalloc/tcmalloc for the same reason.

    Called once when ``fgsm_helpers`` is imported; ``FGSM_TUNE_ALLOCATOR=0`` turns it off.
    Returns True when the setting took effect (glibc on Linux), else False (other platforms
    and C libraries are left alone).
    """
    global _allocator_tuned
    if os.environ.get(ALLOCATOR_ENV, "1").strip() == "0" or not sys.platform.startswith("linux"):
        return False
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = (mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold_mb) << 20) == 1
          and mallopt(_M_TRIM_THRESHOLD, int(trim_threshold_mb) << 20) == 1)
    _allocator_tuned = _allocator_tuned or ok
    return ok


def allocator_tuned() -> bool:
    """True when :func:`tune_cpu_allocator` took effect in this process."""
    return _allocator_tuned


tune_cpu_allocator()


def in_colab() -> bool:
    """True when running inside Google Colab."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def get_device(device: str | torch.device | None = None) -> torch.device:
    """Return the device to compute on: CUDA, then Apple MPS, then the CPU.

    An explicit ``device`` ("cpu", "cuda", "cuda:1", "mps" or a ``torch.device``) wins;
    ``None`` or ``"auto"`` picks the best available one.

    >>> get_device("cpu")
    device(type='cpu')
    """
    if device is None or (isinstance(device, str) and device.strip().lower() == "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if isinstance(device, torch.device):
        chosen = device
    elif isinstance(device, str):
        try:
            chosen = torch.device(device.strip().lower())
        except RuntimeError as err:
            raise ValueError(
                f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'; got {device!r}"
            ) from err
    else:
        raise TypeError(f"device must be a string or torch.device; got {type(device).__name__}")
    if chosen.type not in _KNOWN_DEVICE_TYPES:
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'; got {device!r}"
        )
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for, but CUDA is not available here")
    if chosen.type == "mps" and not _mps_available():
        raise ValueError(f"device={device!r} was asked for, but Apple MPS is not available here")
    return chosen


def describe_runtime(device: str | torch.device | None = None) -> str:
    """One line saying where the notebook runs, on which device, with how many threads."""
    chosen = get_device(device)
    where = "Google Colab" if in_colab() else f"local ({platform.system()})"
    if chosen.type == "cuda":
        name = torch.cuda.get_device_name(chosen)
    elif chosen.type == "mps":
        name = "Apple MPS"
    else:
        name = platform.processor() or platform.machine() or "CPU"
    return (
        f"Running on {where} | device: {chosen} ({name}) | torch {torch.__version__} | "
        f"CPU threads: {torch.get_num_threads()}"
    )


def runtime_advice(device: str | torch.device | None = None) -> str | None:
    """Advice to print when Colab gave a CPU-only runtime; None when there is nothing to say."""
    if in_colab() and get_device(device).type == "cpu":
        return (
            "This Colab runtime has no GPU. Everything still runs, only slower: for a GPU use "
            "Runtime > Change runtime type > T4 GPU, then run the notebook again."
        )
    return None


def set_seed(seed: int, deterministic: bool = True) -> None:
    """Seed python, numpy and torch; with ``deterministic``, ask torch for deterministic kernels."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        # warn_only: a few CUDA kernels have no deterministic version; warn, don't crash.
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


QUICK_ENV = "FGSM_QUICK"


def quick_mode() -> bool:
    """True when ``FGSM_QUICK=1``: the notebooks' smoke configuration (small subsets, few
    steps), used by pytest/nbval, CI and ``python -m fgsm_helpers run --quick``."""
    value = os.environ.get(QUICK_ENV, "0").strip().lower()
    if value not in ("0", "1", "", "false", "true"):
        raise ValueError(f"{QUICK_ENV} must be 0 or 1; got {value!r}")
    return value in ("1", "true")
