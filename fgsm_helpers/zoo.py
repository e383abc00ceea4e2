"""The series' model zoo: one recipe table for every model the chapters train, and one ``get``.

``get(name, checkpoint_dir, ...)`` returns the model ``name`` loaded from
``checkpoint_dir/name.pt`` when that checkpoint was saved with the very recipe this call would
train (whichever chapter or study trained it), else trains it now and saves it:

>>> trained = get("fgsm_at", "checkpoints", seed=0)
>>> trained.model, trained.meta, trained.history, trained.how    # how: "loaded" or "trained"

Two families of recipes share the table. The paper's models (``baseline``, ``fgsm_at``,
``fgsm_at_normalized``, chapters 01-04) train on the MNIST training set (or a ``train_subset``
of it) and keep their last epoch. The robust models (chapters 05-06) train on the training
images minus a held-out slice, score every epoch by PGD accuracy on that slice, and keep the
best epoch (``keep_best``) or the last. :func:`saved_recipe` is the one place that decides what
"the same recipe" is: what a checkpoint is saved with, and what ``get`` asks of a checkpoint.
"""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

from .checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from .data import load_mnist
from .evaluation import accuracy, held_out_scores
from .models import build_model, count_parameters
from .results import add_records, make_record, set_section
from .runtime import set_seed
from .training import train

MNIST_TRAIN_IMAGES = 60_000
#: The threat model of the robust models (chapters 05 and 06): L-infinity, pixel units.
EPS = 0.3
#: Held-out training images (the last ones) that score every epoch of a robust model.
VAL_IMAGES = 1000
VAL_PGD_STEPS = 20

_PAPER = {"epochs": 1, "batch_size": 64, "lr": 2e-3, "schedule": "cyclic", "optimizer": "Adam"}
_ROBUST = {"batch_size": 100, "lr": 5e-3, "schedule": "cyclic", "train_eps": EPS}

#: Every model of the series. The paper's models: ``fh.train`` arguments plus the architecture
#: and the optimizer. The robust models: the same plus ``keep_best`` (early stopping on the
#: held-out PGD accuracy) and, for chapter 05's experiment, ``train_images``.
RECIPES: dict[str, dict] = {
    # Chapter 01: the paper's CNN, one epoch of Adam on clean images.
    "baseline": {"architecture": "PaperCNN", "attack": None, **_PAPER},
    # Chapter 03: the paper's defence, half clean and half FGSM images at eps 0.3 (pixel units).
    "fgsm_at": {
        "architecture": "PaperCNN",
        "attack": "fgsm",
        "train_eps": 0.3,
        "eps_units": "pixel",
        "adv_weight": 0.5,
        **_PAPER,
    },
    # Chapter 03-04: the same with eps 0.3 after normalization (0.092 in pixels).
    "fgsm_at_normalized": {
        "architecture": "PaperCNN",
        "attack": "fgsm",
        "train_eps": 0.3,
        "eps_units": "normalized",
        "adv_weight": 0.5,
        **_PAPER,
    },
    # Chapter 05: Wong, Rice & Kolter's FGSM with random start (step 1.25 eps).
    "fgsm_rs_smallcnn": {
        "architecture": "SmallCNN",
        "epochs": 10,
        "keep_best": True,
        **_ROBUST,
        "attack": "fgsm_rs",
        "adv_weight": 1.0,
        "attack_kwargs": {"alpha_ratio": 1.25},
    },
    # Chapter 05: the same recipe on the paper's CNN, on the first 10,000 training images.
    "fgsm_rs_papercnn": {
        "architecture": "PaperCNN",
        "epochs": 10,
        "keep_best": True,
        "train_images": 10_000,
        **_ROBUST,
        "attack": "fgsm_rs",
        "adv_weight": 1.0,
        "attack_kwargs": {"alpha_ratio": 1.25},
    },
    # Chapter 05: PGD training, 3 steps of half the eps, eps ramped up over 2 epochs.
    "pgd_at_smallcnn": {
        "architecture": "SmallCNN",
        "epochs": 15,
        "keep_best": False,
        **_ROBUST,
        "attack": "pgd",
        "adv_weight": 1.0,
        "eps_ramp_epochs": 2.0,
        "attack_kwargs": {"steps": 3, "alpha_ratio": 0.5},
    },
    # Chapter 05: the same PGD training with about FGSM-RS's time budget (5 epochs).
    "pgd_at_smallcnn_budget": {
        "architecture": "SmallCNN",
        "epochs": 5,
        "keep_best": True,
        **_ROBUST,
        "attack": "pgd",
        "adv_weight": 1.0,
        "eps_ramp_epochs": 2.0,
        "attack_kwargs": {"steps": 3, "alpha_ratio": 0.5},
    },
    # Chapter 06's defence: TRADES (beta 6, 3 steps of half the eps) on the wider CNN.
    "trades_widecnn": {
        "architecture": "WideCNN",
        "epochs": 7,
        "keep_best": False,
        **_ROBUST,
        "attack": "trades",
        "eps_ramp_epochs": 2.0,
        "attack_kwargs": {"steps": 3, "alpha_ratio": 0.5, "beta": 6.0},
    },
}
#: Settings any recipe may override, besides its own keys.
_OVERRIDABLE = {"seed", "train_subset", "weight_average", "eps_ramp_epochs", "adv_weight"}
#: Keys of a recipe that are not ``fh.train`` arguments.
_NOT_TRAIN_ARGUMENTS = {
    "architecture",
    "optimizer",
    "seed",
    "train_subset",
    "train_images",
    "keep_best",
}


class Trained(NamedTuple):
    """A model of the zoo: ``model`` (in eval mode), its checkpoint ``meta``data (recipe,
    clean accuracy, training time...), its per-epoch ``history``, and ``how`` it was obtained
    ("loaded" or "trained")."""

    model: nn.Module
    meta: dict
    history: list
    how: str


def is_robust(name: str) -> bool:
    """Whether ``name`` is one of the robust models (held-out early stopping, chapters 05-06)."""
    return "keep_best" in _entry(name)


def _entry(name: str) -> dict:
    if name not in RECIPES:
        raise ValueError(f"name must be one of {sorted(RECIPES)}; got {name!r}")
    return RECIPES[name]


def recipe(name: str, **overrides) -> dict:
    """The recipe of ``name`` with ``overrides`` applied (``epochs=2``, ``seed=1``, ...): what
    :func:`get` trains with. Every recipe takes its own keys plus ``seed``, ``train_subset``
    (the paper's models: train on a subset drawn with the seed), ``weight_average``,
    ``eps_ramp_epochs`` and ``adv_weight``; the eps ramp never outlasts the training.

    >>> recipe("fgsm_at", epochs=2)["epochs"]
    2
    """
    base = _entry(name)
    unknown = set(overrides) - set(base) - _OVERRIDABLE
    if unknown:
        raise ValueError(
            f"unknown recipe settings {sorted(unknown)} for {name}; it takes "
            f"{sorted(set(base) | _OVERRIDABLE)}"
        )
    defaults = {} if is_robust(name) else {"seed": 0, "train_subset": None}
    wanted = {**copy.deepcopy(base), **defaults, **copy.deepcopy(overrides)}
    if "eps_ramp_epochs" in wanted:
        wanted["eps_ramp_epochs"] = min(wanted["eps_ramp_epochs"], wanted["epochs"])
    return wanted


def train_arguments(wanted: dict) -> dict:
    """The ``fh.train`` arguments of a recipe dict (no architecture, optimizer, seed or data
    settings)."""
    return {k: v for k, v in wanted.items() if k not in _NOT_TRAIN_ARGUMENTS}


def training_arguments(name: str, **overrides) -> dict:
    """The ``fh.train`` arguments of ``name``'s recipe (``overrides`` applied): what a chapter
    passes to ``fh.train`` to train the recipe by hand."""
    return train_arguments(recipe(name, **overrides))


def saved_recipe(
    name: str,
    *,
    train_images: int | None = None,  # how many images it trained on (after any slicing)
    val_images: int = VAL_IMAGES,
    val_pgd_steps: int = VAL_PGD_STEPS,
    **overrides,
) -> dict:
    """The recipe a checkpoint of ``name`` is saved with, and the one :func:`get` looks for:
    the one place that decides whether a checkpoint is "the same recipe". The paper's models:
    :func:`recipe` itself (seed and training subset included). The robust models: the
    architecture, the seed, how many images they trained on, the early stopping rule and the
    ``fh.train`` arguments."""
    wanted = recipe(name, **overrides)
    if not is_robust(name):
        return wanted
    if train_images is None:
        raise ValueError(f"the recipe of {name} depends on train_images (the images it trains on)")
    return {
        "architecture": wanted["architecture"],
        "optimizer": "Adam",
        "seed": overrides.get("seed", 0),
        "train_images": train_images,
        "early_stopping": (
            f"best PGD-{val_pgd_steps} accuracy on {val_images} held-out images"
            if wanted["keep_best"]
            else "none: the last epoch is kept"
        ),
        "epochs": wanted["epochs"],
        **training_arguments(name, **overrides),
    }


def _except_train_images(overrides: dict) -> dict:
    """``overrides`` without a recipe's ``train_images`` (how many images to take), since
    :func:`saved_recipe` takes the count of images trained on under that name."""
    return {k: v for k, v in overrides.items() if k != "train_images"}


def load_if_same_recipe(path: Path, wanted: dict, device="cpu") -> tuple[nn.Module, dict] | None:
    """``(model, metadata)`` from the checkpoint at ``path`` when it was saved with the recipe
    ``wanted`` (a :func:`saved_recipe`); else None, after saying why (no file stays silent)."""
    if not path.is_file():
        return None
    try:
        model, meta = load_checkpoint(path, wanted["architecture"], device)
    except CheckpointError as err:
        print(f"Ignoring {path}: {err}")
        return None
    if meta.get("recipe") == wanted:
        return model, meta
    print(f"{path.name} was trained with another recipe; training {path.stem} again.")
    return None


def get(
    name: str,
    checkpoint_dir: str | os.PathLike,
    *,
    data_dir=None,
    device="cpu",
    download: bool = False,
    retrain: bool = False,
    progress: bool = True,
    results_path: str | os.PathLike | None = None,
    x_train: torch.Tensor | None = None,
    y_train: torch.Tensor | None = None,
    x_val: torch.Tensor | None = None,
    y_val: torch.Tensor | None = None,
    x_test: torch.Tensor | None = None,
    y_test: torch.Tensor | None = None,
    val_pgd_steps: int = VAL_PGD_STEPS,
    **overrides,
) -> Trained:
    """The model ``name`` of :data:`RECIPES` (``overrides`` applied): loaded from
    ``checkpoint_dir/name.pt`` when it was saved with the same :func:`saved_recipe`, else
    trained now (and saved there). With ``results_path`` the model card is recorded there either
    way, with its clean test accuracy (on the test images it was measured on when trained).

    The paper's models read MNIST themselves (``data_dir``; the ``train_subset`` override draws
    a subset with the seed) unless ``x_train``/``y_train`` and ``x_test``/``y_test`` are given.
    The robust models train on ``x_train`` (default: the training images but the last
    :data:`VAL_IMAGES`; a recipe's ``train_images`` keeps only the first ones), score each epoch
    by PGD-``val_pgd_steps`` accuracy on ``x_val`` (default: those last images) and report clean
    accuracy on ``x_test`` (default: the test set).

    >>> trained = get("pgd_at_smallcnn", "checkpoints", epochs=2, seed=0)
    >>> print(describe(trained.meta, trained.how))
    """
    wanted = recipe(name, **overrides)
    robust = is_robust(name)
    if robust:
        if x_train is None or x_val is None:
            x_all, y_all = load_mnist("train", data_dir, device=device, download=download)
            if x_train is None:
                x_train, y_train = x_all[:-VAL_IMAGES], y_all[:-VAL_IMAGES]
            if x_val is None:
                x_val, y_val = x_all[-VAL_IMAGES:], y_all[-VAL_IMAGES:]
        if "train_images" in wanted:
            x_train, y_train = x_train[: wanted["train_images"]], y_train[: wanted["train_images"]]
        expected = saved_recipe(
            name,
            train_images=len(x_train),
            val_images=len(x_val),
            val_pgd_steps=val_pgd_steps,
            **_except_train_images(overrides),
        )
    else:
        expected = wanted
    path = Path(checkpoint_dir) / f"{name}.pt"
    saved = None if retrain else load_if_same_recipe(path, expected, device)
    if saved is not None:
        model, meta = saved
        if results_path is not None and "test_images" in meta:
            record_model(results_path, name, meta, n_test_images=meta["test_images"])
        elif results_path is not None:  # a checkpoint that does not say its test set
            set_section(results_path, "models", name, model_card(meta))
        return Trained(model.eval(), meta, meta.get("history", []), "loaded")
    if x_test is None:
        x_test, y_test = load_mnist("test", data_dir, device=device, download=download)
    if robust:
        model, history, meta = train_with_early_stopping(
            name,
            x_train,
            y_train,
            x_val=x_val,
            y_val=y_val,
            x_test=x_test,
            y_test=y_test,
            checkpoint_dir=checkpoint_dir,
            val_pgd_steps=val_pgd_steps,
            device=device,
            progress=progress,
            **overrides,
        )
    else:
        if x_train is None:
            x_train, y_train = load_mnist(
                "train",
                data_dir,
                device=device,
                subset=wanted["train_subset"],
                seed=wanted["seed"],
                download=download,
            )
        model, meta = train_shared_model(
            name,
            x_train,
            y_train,
            x_test,
            y_test,
            checkpoint_dir,
            device=device,
            progress=progress,
            **overrides,
        )
        history = meta["history"]
    if results_path is not None:
        record_model(results_path, name, meta, n_test_images=len(x_test))
    return Trained(model.eval(), meta, history, "trained")


def train_shared_model(
    name: str,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    checkpoint_dir: str | os.PathLike,
    results_path: str | os.PathLike | None = None,
    *,
    device="cpu",
    progress: bool = True,
    **overrides,
) -> tuple[nn.Module, dict]:
    """Train one of the paper's models (``baseline``, ``fgsm_at``, ``fgsm_at_normalized``) with
    its recipe, save it as ``checkpoint_dir/name.pt`` with the metadata :func:`get` looks for,
    and, with ``results_path``, record its clean test accuracy (percent, on ``x_test``) and its
    model card there. Returns ``(model, metadata)``.

    ``x_train`` must be the training set the recipe names: all 60,000 images, or the
    ``train_subset`` drawn by ``load_mnist(..., subset=train_subset, seed=seed)``.

    >>> model, meta = train_shared_model("baseline", x_train, y_train, x_test, y_test,
    ...                                  "checkpoints", "outputs/results.json", epochs=1)
    """
    if is_robust(name):
        raise ValueError(
            f"{name} is a robust model: train it with get() or train_with_early_stopping"
        )
    wanted = recipe(name, **overrides)
    expected = wanted["train_subset"] or MNIST_TRAIN_IMAGES
    if len(x_train) != expected or len(y_train) != len(x_train):
        raise ValueError(
            f"the recipe of {name} trains on {expected} images (train_subset="
            f"{wanted['train_subset']}); got {len(x_train)} images and {len(y_train)} labels"
        )
    model, history, seconds = _train_new(wanted, x_train, y_train, device=device, progress=progress)
    meta = save_model(model, name, wanted, history, seconds, (x_test, y_test), checkpoint_dir)
    if results_path is not None:
        record_model(results_path, name, meta, n_test_images=len(x_test))
    return model, meta


def train_with_early_stopping(
    name: str,
    x_train,
    y_train,
    *,
    x_val,
    y_val,
    x_test,
    y_test,
    checkpoint_dir: str | os.PathLike,
    val_pgd_steps: int = VAL_PGD_STEPS,
    device="cpu",
    progress: bool = True,
    **overrides,
) -> tuple[nn.Module, list, dict]:
    """Train the robust model ``name`` with ``fh.train`` and its recipe, scoring every epoch by
    PGD accuracy on the held-out ``(x_val, y_val)``; the recipe's ``keep_best`` keeps the best
    epoch (early stopping), else the last. Save it with its :func:`saved_recipe`, kept epoch and
    training time. Returns ``(model, history, metadata)``."""
    wanted = recipe(name, **overrides)
    seed = wanted.get("seed", 0)
    model, history, wall_seconds = _train_new(
        wanted,
        x_train,
        y_train,
        device=device,
        progress=progress,
        keep_best=wanted["keep_best"],
        validate=lambda m: held_out_scores(
            m, x_val, y_val, EPS, pgd_steps=val_pgd_steps, seed=seed
        ),
    )
    seconds = sum(h["seconds"] for h in history)  # training only; the held-out checks come on top
    full_recipe = saved_recipe(
        name,
        train_images=len(x_train),
        val_images=len(x_val),
        val_pgd_steps=val_pgd_steps,
        **_except_train_images(overrides),
    )
    kept = next(h["epoch"] for h in history if h["kept"]) if wanted["keep_best"] else len(history)
    meta = save_model(
        model,
        name,
        full_recipe,
        history,
        seconds,
        (x_test, y_test),
        checkpoint_dir,
        # saved with the checkpoint, so that a chapter that loads the model can say which epoch
        epochs_kept=kept,
        wall_seconds_with_validation=round(wall_seconds, 1),
    )
    return model, history, meta


def _train_new(wanted: dict, x_train, y_train, *, device, progress, **extra):
    """A new model of ``wanted``'s architecture, seeded with its seed and trained with its
    ``fh.train`` arguments (and ``extra`` ones); returns ``(model, history, seconds)``."""
    seed = wanted.get("seed", 0)
    set_seed(seed)
    model = build_model(wanted["architecture"]).to(device)
    start = time.perf_counter()
    history = train(
        model, x_train, y_train, seed=seed, progress=progress, **train_arguments(wanted), **extra
    )
    return model, history, time.perf_counter() - start


def save_model(
    model: nn.Module,
    name: str,
    saved: dict,
    history: list,
    train_seconds: float,
    test_set: tuple[torch.Tensor, torch.Tensor],
    checkpoint_dir: str | os.PathLike,
    **extra,
) -> dict:
    """Save a model of the zoo with the metadata :func:`get` looks for (``saved``: its
    :func:`saved_recipe`), its clean accuracy on ``test_set``, that set's size and any
    ``extra`` metadata (the kept epoch...); returns that metadata."""
    x_test, y_test = test_set
    meta = {
        "name": name,
        "recipe": saved,
        "train_seconds": round(train_seconds, 1),
        "clean_accuracy": accuracy(model, x_test, y_test),
        "test_images": len(x_test),
        "history": history,
        "parameters": count_parameters(model),
        **extra,
    }
    save_checkpoint(model, Path(checkpoint_dir) / f"{name}.pt", meta)
    return meta


def record_model(
    results_path: str | os.PathLike, name: str, meta: dict, *, n_test_images: int
) -> dict:
    """Record a trained model in ``results_path``: its model card (:func:`model_card`) and a
    clean-accuracy record on ``n_test_images`` test images. Returns the updated results."""
    if n_test_images < 1:
        raise ValueError(f"n_test_images must be at least 1; got {n_test_images}")
    add_records(
        results_path,
        [make_record(name, "none", 0.0, meta["clean_accuracy"], n_images=n_test_images)],
    )
    return set_section(results_path, "models", name, model_card(meta))


def model_card(meta: dict) -> dict:
    """What ``results.json`` says about a trained model."""
    r = meta["recipe"]
    return {
        "architecture": r["architecture"],
        "parameters": meta.get("parameters"),
        "recipe": r,
        "epochs_kept": meta.get("epochs_kept", r["epochs"]),
        "train_seconds": meta["train_seconds"],
        "clean_accuracy": meta["clean_accuracy"],
    }


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def describe(meta: dict, how: str) -> str:
    """One sentence on where a model came from, for the notebook to print.

    >>> describe(meta, "loaded")
    'Loaded from its checkpoint: baseline (PaperCNN, 1 epoch of Adam, clean images only, ...'
    """
    if how not in ("loaded", "trained"):
        raise ValueError(f"how must be 'loaded' or 'trained'; got {how!r}")
    r = meta["recipe"]
    if r.get("attack") is None:
        attack = "clean images only"
    else:
        attack = f"{r['attack'].upper()} images"
        if "train_eps" in r:
            attack += f" at eps {r['train_eps']} ({r.get('eps_units', 'pixel')} units)"
        attack = "clean + " + attack if r.get("adv_weight", 0.5) < 1 else attack + " only"
    epochs = f"{_plural(r['epochs'], 'epoch')} of {r['optimizer']}"
    if meta.get("epochs_kept", r["epochs"]) != r["epochs"]:
        epochs += f" (epoch {meta['epochs_kept']} kept)"
    verb = "Loaded from its checkpoint" if how == "loaded" else "Trained now and saved"
    return (
        f"{verb}: {meta['name']} ({r['architecture']}, {epochs}, "
        f"{attack}, seed {r['seed']}); clean test accuracy {meta['clean_accuracy']:.2f}%, "
        f"trained in {meta['train_seconds']:.0f} s."
    )
