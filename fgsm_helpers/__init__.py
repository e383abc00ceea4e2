"""Helpers for the FGSM notebook series: data, models, attacks, training, evaluation,
checkpoints, plots and widgets. ``import fgsm_helpers as fh``.

Submodules and the names below load on first use, so ``python -m fgsm_helpers run`` (which
only starts notebooks) never imports torch; ``fh.fgsm`` or ``fh.plots`` import what they need.
"""

from __future__ import annotations

import importlib

from ._env import tune_cpu_allocator

__version__ = "0.1.0"

tune_cpu_allocator()  # before any tensor exists; FGSM_TUNE_ALLOCATOR=0 turns it off

_SUBMODULES = (
    "attacks",
    "badges",
    "checkpoints",
    "data",
    "evaluation",
    "models",
    "paper",
    "plots",
    "results",
    "runner",
    "runtime",
    "series",
    "training",
    "widgets",
)
_NAMES = {
    "attacks": (
        "accuracy_ceiling",
        "fgsm",
        "fgsm_direction",
        "fgsm_random_start",
        "flat_gray_attack",
        "pgd",
    ),
    "checkpoints": ("CheckpointError", "load_checkpoint", "save_checkpoint"),
    "data": ("MNIST_MEAN", "MNIST_STD", "MNISTDataError", "iterate_batches", "load_mnist"),
    "evaluation": ("accuracy", "predict", "predict_proba", "robustness_curve"),
    "models": ("PaperCNN", "SmallCNN", "WideCNN", "build_model", "count_parameters"),
    "runtime": (
        "describe_runtime",
        "get_device",
        "in_colab",
        "quick_mode",
        "runtime_advice",
        "set_seed",
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
