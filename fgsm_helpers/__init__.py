"""Helpers for the FGSM notebook series: data, models, attacks, training, evaluation,
checkpoints, plots and widgets. ``import fgsm_helpers as fh``.

Submodules and the names below load on first use, so ``python -m fgsm_helpers run`` (which
only starts notebooks) never imports torch; ``fh.fgsm`` or ``fh.plots`` import what they need.

Importing the package changes nothing process-wide. The two process-wide settings are explicit
calls: ``fh.tune_cpu_allocator()`` (glibc malloc; about 1.2x faster training on a CPU, made by
the notebooks' setup cell) and ``fh.set_seed(seed, deterministic=True)`` (deterministic
kernels, including cuBLAS's workspace setting).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBMODULES = (
    "attacks",
    "badges",
    "checkpoints",
    "claims",
    "cli",
    "data",
    "evaluation",
    "exercises",
    "files",
    "findings",
    "models",
    "paper",
    "plots",
    "prose",
    "results",
    "robustness",
    "runner",
    "runtime",
    "series",
    "stats",
    "studies",
    "training",
    "widgets",
    "zoo",
)
_NAMES = {
    "attacks": (
        "accuracy_ceiling",
        "fgsm",
        "fgsm_direction",
        "fgsm_random_start",
        "flat_gray_attack",
        "pgd",
        "trades_adversary",
    ),
    "checkpoints": ("CheckpointError", "load_checkpoint", "save_checkpoint"),
    "data": ("MNIST_MEAN", "MNIST_STD", "MNISTDataError", "iterate_batches", "load_mnist"),
    "evaluation": ("accuracy", "autoattack", "predict", "predict_proba", "robustness_curve"),
    "models": ("PaperCNN", "SmallCNN", "WideCNN", "build_model", "count_parameters"),
    "runtime": (
        "describe_runtime",
        "get_device",
        "in_colab",
        "in_kaggle",
        "quick_mode",
        "runtime_advice",
        "set_seed",
        "tune_cpu_allocator",
    ),
    "training": ("cyclic_lr", "run_epoch", "train"),
}
_MODULE_OF = {name: module for module, names in _NAMES.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _MODULE_OF:
        value = getattr(importlib.import_module(f".{_MODULE_OF[name]}", __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_SUBMODULES) | set(_MODULE_OF))
