"""Helpers for the FGSM notebook series: data, models, attacks, training, evaluation,
checkpoints, plots and widgets. ``import fgsm_helpers as fh``."""
from __future__ import annotations

__version__ = "0.1.0"

from .attacks import (accuracy_ceiling, fgsm, fgsm_direction, fgsm_random_start,
                      flat_gray_attack, pgd)
from .checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from .data import MNIST_MEAN, MNIST_STD, MNISTDataError, iterate_batches, load_mnist
from .evaluation import accuracy, predict, predict_proba, robustness_curve
from .models import PaperCNN, SmallCNN, WideCNN, build_model, count_parameters
from .runtime import describe_runtime, get_device, in_colab, quick_mode, runtime_advice, set_seed
from .training import cyclic_lr, run_epoch, train
from . import paper, plots, results, series, widgets  # noqa: E402  (modules used as fh.plots...)

__all__ = [
    "CheckpointError", "MNISTDataError", "MNIST_MEAN", "MNIST_STD", "PaperCNN", "SmallCNN",
    "WideCNN", "accuracy", "accuracy_ceiling", "build_model", "count_parameters", "cyclic_lr",
    "describe_runtime", "fgsm", "fgsm_direction", "fgsm_random_start", "flat_gray_attack",
    "get_device", "in_colab", "iterate_batches", "load_checkpoint", "load_mnist", "pgd",
    "predict", "predict_proba", "quick_mode", "robustness_curve", "run_epoch", "runtime_advice",
    "save_checkpoint", "set_seed", "train",
]
