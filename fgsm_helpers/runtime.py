"""Where the code runs: device choice, Colab and Kaggle detection, seeds and determinism.

Importing this module changes nothing process-wide; the process-wide settings are explicit
calls: :func:`tune_cpu_allocator` (glibc malloc) and :func:`set_seed` (deterministic kernels).
"""

from __future__ import annotations

import os
import platform
import random
import sys

import numpy as np
import torch

# Re-exported: fh.runtime is where a notebook looks for these.
from ._env import (  # noqa: F401
    ALLOCATOR_ENV,
    QUICK_ENV,
    allocator_tuned,
    quick_mode,
    tune_cpu_allocator,
)

_KNOWN_DEVICE_TYPES = ("cpu", "cuda", "mps")
CUBLAS_WORKSPACE_ENV = "CUBLAS_WORKSPACE_CONFIG"
# cuBLAS is deterministic only with a fixed workspace; it reads this once, when CUDA starts.
_CUBLAS_DETERMINISTIC_WORKSPACE = ":4096:8"


def in_colab() -> bool:
    """True when running inside Google Colab."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def in_kaggle() -> bool:
    """True when running in a Kaggle notebook (Kaggle sets ``KAGGLE_KERNEL_RUN_TYPE``)."""
    return "KAGGLE_KERNEL_RUN_TYPE" in os.environ


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
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'; got {device!r}")
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for, but CUDA is not available here")
    if chosen.type == "mps" and not _mps_available():
        raise ValueError(f"device={device!r} was asked for, but Apple MPS is not available here")
    return chosen


def describe_runtime(device: str | torch.device | None = None) -> str:
    """One line saying where the notebook runs, on which device, with how many threads."""
    chosen = get_device(device)
    if in_colab():
        where = "Google Colab"
    elif in_kaggle():
        where = "Kaggle"
    else:
        where = f"local ({platform.system()})"
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
    """How to get a GPU, when Colab or Kaggle gave a CPU-only runtime; else None.

    Locally there is nothing to advise: the CPU is what the machine has.

    >>> runtime_advice("cpu") is None  # on a local machine
    True
    """
    if get_device(device).type != "cpu":
        return None
    if in_colab():
        return (
            "This Colab runtime has no GPU. Everything still runs, only slower: for a GPU use "
            "Runtime > Change runtime type > T4 GPU, then run the notebook again."
        )
    if in_kaggle():
        return (
            "This Kaggle notebook has no GPU. Everything still runs, only slower: for a GPU open "
            "Settings > Accelerator > GPU T4 x2 (phone-verified accounts), then run it again."
        )
    return None


def set_seed(seed: int, deterministic: bool = True) -> None:
    """Seed python, numpy and torch; with ``deterministic``, ask torch for deterministic kernels.

    ``deterministic`` also sets ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` in ``os.environ`` (unless
    already set), which deterministic cuBLAS needs. cuBLAS reads it once, when CUDA starts in
    the process: call ``set_seed`` before the first CUDA tensor (the notebooks do, in their
    first cells); on a CPU it changes nothing else.

    >>> set_seed(0)
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault(CUBLAS_WORKSPACE_ENV, _CUBLAS_DETERMINISTIC_WORKSPACE)
        # warn_only: a few CUDA kernels have no deterministic version; warn, don't crash.
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


#: The vector extensions that decide how a CPU rounds training (matmul kernels differ).
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile")


def describe_cpu() -> dict:
    """The processor's name and which of :data:`CPU_FLAGS` it has (Linux: ``/proc/cpuinfo``;
    elsewhere the name ``platform`` knows and no flags). Training repeats to the bit only on
    the same model with the same extensions (and the same threads and torch)."""
    model, flags = "", set()
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("model name") and not model:
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return {
        "cpu_model": model or platform.processor() or platform.machine(),
        "cpu_flags": [flag for flag in CPU_FLAGS if flag in flags],
    }


def machine_key() -> dict:
    """What decides whether training repeats to the bit: CPU model, its vector extensions, the
    number of threads and the torch version (the regression compares runs by it)."""
    return {
        **describe_cpu(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__.split("+")[0],
    }


def describe_machine(device=None) -> dict:
    """Where a measurement ran: :func:`describe_cpu`, the CPU count, torch's threads, the
    platform, and the GPU's name when ``device`` is one."""
    info = {
        **describe_cpu(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
    }
    if device is not None and torch.device(device).type == "cuda" and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info
