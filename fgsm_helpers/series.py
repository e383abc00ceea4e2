"""The models the chapters share, loaded from their checkpoint or trained when missing.

Each chapter runs on its own: it asks for the model it needs, and gets the checkpoint an
earlier chapter saved when its recipe matches, or trains it now (and saves it). The returned
``how`` says which, so the notebook can tell the reader.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import torch
from torch import nn

from .checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from .data import load_mnist
from .evaluation import accuracy, robustness_curve
from .models import build_model, count_parameters
from .results import add_records, curve_records, find, load_results, make_record, set_section
from .runtime import set_seed
from .training import train

#: The recipes of the series' shared models (chapter 01's baseline, chapter 03's defences).
RECIPES = {
    "baseline": {
        "architecture": "PaperCNN",
        "attack": None,
        "epochs": 1,
        "batch_size": 64,
        "lr": 2e-3,
        "schedule": "cyclic",
        "optimizer": "Adam",
    },
    "fgsm_at": {
        "architecture": "PaperCNN",
        "attack": "fgsm",
        "train_eps": 0.3,
        "eps_units": "pixel",
        "adv_weight": 0.5,
        "epochs": 1,
        "batch_size": 64,
        "lr": 2e-3,
        "schedule": "cyclic",
        "optimizer": "Adam",
    },
    "fgsm_at_normalized": {
        "architecture": "PaperCNN",
        "attack": "fgsm",
        "train_eps": 0.3,
        "eps_units": "normalized",
        "adv_weight": 0.5,
        "epochs": 1,
        "batch_size": 64,
        "lr": 2e-3,
        "schedule": "cyclic",
        "optimizer": "Adam",
    },
}
MNIST_TRAIN_IMAGES = 60_000
_TRAIN_ARGS = (
    "epochs",
    "batch_size",
    "lr",
    "schedule",
    "attack",
    "train_eps",
    "eps_units",
    "adv_weight",
)


def recipe(name: str, **overrides) -> dict:
    """The recipe of a shared model, with ``overrides`` (e.g. ``epochs=2``) applied."""
    if name not in RECIPES:
        raise ValueError(f"name must be one of {sorted(RECIPES)}; got {name!r}")
    unknown = set(overrides) - set(RECIPES[name]) - {"seed", "train_subset"}
    if unknown:
        raise ValueError(f"unknown recipe settings {sorted(unknown)} for {name}")
    return {**RECIPES[name], "seed": 0, "train_subset": None, **overrides}


def get_model(
    name: str,
    checkpoint_dir: str | os.PathLike,
    *,
    data_dir=None,
    device="cpu",
    download: bool = False,
    retrain: bool = False,
    progress: bool = True,
    results_path: str | os.PathLike | None = None,
    **overrides,
) -> tuple[nn.Module, dict, str]:
    """``(model, metadata, how)`` for the shared model ``name`` ("baseline", "fgsm_at",
    "fgsm_at_normalized"): loaded from ``checkpoint_dir/name.pt`` when it was trained with the
    same recipe, else trained now on MNIST by ``train_shared_model`` and saved there. ``how``
    is "loaded" or "trained". With ``results_path``, the model card is recorded there either
    way (and, when trained now, the clean accuracy on the full test set).

    >>> model, meta, how = get_model("baseline", "checkpoints", epochs=1, seed=0)
    >>> print(describe(meta, how))
    """
    wanted = recipe(name, **overrides)
    path = Path(checkpoint_dir) / f"{name}.pt"
    saved = None if retrain else load_if_same_recipe(path, wanted["architecture"], device, wanted)
    if saved is not None:
        model, meta = saved
        if results_path is not None:
            set_section(results_path, "models", name, model_card(meta))
        return model, meta, "loaded"
    x_train, y_train = load_mnist(
        "train",
        data_dir,
        device=device,
        subset=wanted["train_subset"],
        seed=wanted["seed"],
        download=download,
    )
    x_test, y_test = load_mnist("test", data_dir, device=device, download=download)
    model, meta = train_shared_model(
        name,
        x_train,
        y_train,
        x_test,
        y_test,
        checkpoint_dir,
        results_path,
        device=device,
        progress=progress,
        **overrides,
    )
    return model, meta, "trained"


def load_if_same_recipe(
    path: Path, architecture: str, device, wanted: dict
) -> tuple[nn.Module, dict] | None:
    """``(model, metadata)`` from the checkpoint at ``path`` when the recipe saved with it is
    ``wanted``; else None, after saying why (no file stays silent)."""
    if not path.is_file():
        return None
    try:
        model, meta = load_checkpoint(path, architecture, device)
    except CheckpointError as err:
        print(f"Ignoring {path}: {err}")
        return None
    if meta.get("recipe") == wanted:
        return model, meta
    print(f"{path.name} was trained with another recipe; training {path.stem} again.")
    return None


def early_stopping_recipe(
    architecture: str,
    *,
    seed: int,
    train_images: int,
    keep_best: bool,
    val_pgd_steps: int,
    val_images: int,
    **recipe,
) -> dict:
    """The recipe ``train_with_early_stopping`` saves with a model (``recipe``: its ``fh.train``
    arguments and epochs), so that a caller can tell whether a checkpoint is the model it wants."""
    return {
        "architecture": architecture,
        "optimizer": "Adam",
        "seed": seed,
        "train_images": train_images,
        "early_stopping": (
            f"best PGD-{val_pgd_steps} accuracy on {val_images} held-out images"
            if keep_best
            else "none: the last epoch is kept"
        ),
        **recipe,
    }


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
    """Train the shared model ``name`` with its recipe (``overrides`` applied), save it as
    ``checkpoint_dir/name.pt`` with the metadata ``get_model`` looks for, and, with
    ``results_path``, record its clean test accuracy (percent, on ``x_test``) and its model
    card in that results file. Returns ``(model, metadata)``.

    ``x_train`` must be the training set the recipe names: all 60,000 images, or the
    ``train_subset`` drawn by ``load_mnist(..., subset=train_subset, seed=seed)``.

    >>> model, meta = train_shared_model("baseline", x_train, y_train, x_test, y_test,
    ...                                  "checkpoints", "outputs/results.json", epochs=1)
    """
    wanted = recipe(name, **overrides)
    expected = wanted["train_subset"] or MNIST_TRAIN_IMAGES
    if len(x_train) != expected or len(y_train) != len(x_train):
        raise ValueError(
            f"the recipe of {name} trains on {expected} images (train_subset="
            f"{wanted['train_subset']}); got {len(x_train)} images and {len(y_train)} labels"
        )
    set_seed(wanted["seed"])
    model = build_model(wanted["architecture"]).to(device)
    start = time.perf_counter()
    history = train(
        model,
        x_train,
        y_train,
        seed=wanted["seed"],
        progress=progress,
        **{k: wanted[k] for k in _TRAIN_ARGS if k in wanted},
    )
    seconds = time.perf_counter() - start
    meta = save_shared_model(
        model, name, wanted, history, seconds, accuracy(model, x_test, y_test), checkpoint_dir
    )
    if results_path is not None:
        record_model(results_path, name, meta, n_test_images=len(x_test))
    return model, meta


def record_model(
    results_path: str | os.PathLike, name: str, meta: dict, *, n_test_images: int
) -> dict:
    """Record a trained model in ``results_path``: its model card (``model_card(meta)``) and a
    clean-accuracy record on ``n_test_images`` test images. For any model saved by
    ``save_shared_model``, e.g. chapter 05's from ``train_with_early_stopping``. Returns the
    updated results.

    >>> model, history, meta = train_with_early_stopping("pgd_at_smallcnn", "SmallCNN", ...)
    >>> record_model("outputs/results.json", "pgd_at_smallcnn", meta, n_test_images=10000)
    """
    if n_test_images < 1:
        raise ValueError(f"n_test_images must be at least 1; got {n_test_images}")
    add_records(
        results_path,
        [make_record(name, "none", 0.0, meta["clean_accuracy"], n_images=n_test_images)],
    )
    return set_section(results_path, "models", name, model_card(meta))


def describe(meta: dict, how: str) -> str:
    """One sentence on where a model came from, for the notebook to print.

    >>> describe(meta, "loaded")
    'Loaded from its checkpoint: baseline (PaperCNN, 1 epoch(s) of Adam, clean images only, ...'
    """
    if how not in ("loaded", "trained"):
        raise ValueError(f"how must be 'loaded' or 'trained'; got {how!r}")
    r = meta["recipe"]
    if r.get("attack") is None:
        attack = "clean images only"
    else:
        attack = f"{r['attack'].upper()} images"
        if "train_eps" in r:  # chapter 05's recipes may leave the eps to the attack's defaults
            attack += f" at eps {r['train_eps']} ({r.get('eps_units', 'pixel')} units)"
        attack = "clean + " + attack if r.get("adv_weight", 0.5) < 1 else attack + " only"
    epochs = f"{r['epochs']} epoch(s)"
    if meta.get("epochs_kept", r["epochs"]) != r["epochs"]:
        epochs += f", epoch {meta['epochs_kept']} kept,"
    verb = "Loaded from its checkpoint" if how == "loaded" else "Trained now and saved"
    return (
        f"{verb}: {meta['name']} ({r['architecture']}, {epochs} of {r['optimizer']}, "
        f"{attack}, seed {r['seed']}); clean test accuracy {meta['clean_accuracy']:.2f}%, "
        f"trained in {meta['train_seconds']:.0f} s."
    )


def save_shared_model(
    model: nn.Module,
    name: str,
    wanted: dict,
    history: list,
    train_seconds: float,
    clean_accuracy: float,
    checkpoint_dir: str | os.PathLike,
) -> dict:
    """Save a shared model with the metadata ``get_model`` looks for; returns that metadata."""
    meta = {
        "name": name,
        "recipe": wanted,
        "train_seconds": round(train_seconds, 1),
        "clean_accuracy": clean_accuracy,
        "history": history,
        "parameters": count_parameters(model),
    }
    save_checkpoint(model, Path(checkpoint_dir) / f"{name}.pt", meta)
    return meta


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


def protocol_card(
    recipes: dict[str, dict], *, test_images: int, labels: str = "true labels"
) -> dict:
    """Everything a reader needs to reproduce a table: eps units, clamping, labels, test set,
    and each model's training recipe."""
    return {
        "eps_units": {
            "pixel": "eps added to images in [0, 1] (the model normalizes afterwards)",
            "normalized": "eps added after normalization: eps_pixel = eps * 0.3081",
        },
        "clamping": "adversarial images clamped to [0, 1]",
        "attack_labels": labels,
        "loss": "cross-entropy",
        "test_set": f"MNIST test set, {test_images} images",
        "recipes": recipes,
    }


def train_with_early_stopping(
    name: str,
    architecture: str,
    x_train,
    y_train,
    *,
    x_val,
    y_val,
    x_test,
    y_test,
    checkpoint_dir: str | os.PathLike,
    eps: float = 0.3,
    val_pgd_steps: int = 20,
    keep_best: bool = True,
    seed: int = 0,
    device="cpu",
    progress: bool = True,
    **recipe,
) -> tuple[nn.Module, list, dict]:
    """Train ``architecture`` with ``fh.train(**recipe)``, scoring every epoch by PGD accuracy on
    the held-out ``(x_val, y_val)``; with ``keep_best`` the best epoch is kept (early stopping),
    else the last. Save the model as ``name`` with its recipe, kept epoch and training time.
    Returns ``(model, history, metadata)``."""
    from .evaluation import held_out_scores

    set_seed(seed)
    model = build_model(architecture).to(device)
    start = time.perf_counter()
    history = train(
        model,
        x_train,
        y_train,
        seed=seed,
        progress=progress,
        keep_best=keep_best,
        validate=lambda m: held_out_scores(
            m, x_val, y_val, eps, pgd_steps=val_pgd_steps, seed=seed
        ),
        **recipe,
    )
    wall_seconds = time.perf_counter() - start
    seconds = sum(h["seconds"] for h in history)  # training only; the held-out checks come on top
    full_recipe = early_stopping_recipe(
        architecture,
        seed=seed,
        train_images=len(x_train),
        keep_best=keep_best,
        val_pgd_steps=val_pgd_steps,
        val_images=len(x_val),
        **recipe,
    )
    meta = save_shared_model(
        model, name, full_recipe, history, seconds, accuracy(model, x_test, y_test), checkpoint_dir
    )
    meta["epochs_kept"] = (
        next(h["epoch"] for h in history if h["kept"]) if keep_best else len(history)
    )
    meta["wall_seconds_with_validation"] = round(wall_seconds, 1)
    return model, history, meta


def fingerprint(*tensors: torch.Tensor) -> str:
    """A short SHA-256 of the tensors' dtypes, shapes and values: equal data, equal string."""
    digest = hashlib.sha256()
    for tensor in tensors:
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{tensor.dtype} {tuple(tensor.shape)}".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()[:16]


def fgsm_curve(
    name: str,
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps_list,
    results_path: str | os.PathLike,
    *,
    eps_units: str = "pixel",
    progress: bool = True,
) -> tuple[dict[float, float], str]:
    """``(curve, how)``: the FGSM accuracy of the shared model ``name`` at every eps, in percent.

    Reused from ``results_path`` when an earlier chapter recorded every eps for the same weights
    and the same test images (both fingerprinted), else measured now with
    ``robustness_curve`` (true labels) and recorded with those fingerprints. ``how`` is
    "reused" or "measured", for the notebook to say.
    """
    keys = {"weights": fingerprint(*model.state_dict().values()), "images": fingerprint(x, y)}
    wanted = [round(float(eps), 6) for eps in eps_list]
    recorded = {
        r["eps"]: r["accuracy"]
        for r in find(
            load_results(results_path),
            model=name,
            attack="fgsm",
            eps_units=eps_units,
            n_images=len(x),
            labels="true",
            **keys,
        )
    }
    if all(eps in recorded for eps in wanted):
        return {float(eps): recorded[key] for eps, key in zip(eps_list, wanted)}, "reused"
    curve = robustness_curve(model, x, y, eps_list, eps_units=eps_units, progress=progress)
    add_records(
        results_path,
        curve_records(
            name, "fgsm", curve, eps_units=eps_units, n_images=len(x), labels="true", **keys
        ),
    )
    return curve, "measured"
