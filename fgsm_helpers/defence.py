"""The series' robust models: their recipes, and the ablation study behind chapter 06's defence.

``RECIPES`` holds the training recipes of chapter 05's models (FGSM with random start, PGD
training) and of chapter 06's defence (TRADES on ``WideCNN``); both chapters train from them,
and ``get_trained`` loads a model from its checkpoint when the recipe matches, so chapter 06 can
run on its own. ``ABLATION`` names the study's variants of the defence, one ingredient changed
each; ``fgsm-series ablation`` trains and measures them (AutoAttack on the first 1,000 test
images) and writes the study chapter 06 shows:

    fgsm-series ablation --variants defence no_trades --out ablation.json [--device auto]
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

#: The committed ablation study, shipped as package data (chapter 06 reads it).
STUDY_PATH = Path(__file__).resolve().parent / "study" / "ablation_study.json"
EPS = 0.3  # the threat model of chapters 05 and 06: L-infinity, pixel units

_COMMON = {"batch_size": 100, "lr": 5e-3, "schedule": "cyclic", "train_eps": EPS}
#: Training recipes (``fh.train`` arguments, with the architecture, the epochs and whether
#: early stopping keeps the best epoch on held-out PGD accuracy).
RECIPES = {
    # Wong, Rice & Kolter's FGSM with random start (chapter 05).
    "fgsm_rs_smallcnn": {
        "architecture": "SmallCNN",
        "epochs": 10,
        "keep_best": True,
        **_COMMON,
        "attack": "fgsm_rs",
        "adv_weight": 1.0,
        "attack_kwargs": {"alpha_ratio": 1.25},
    },
    # PGD training: 3 steps of half the eps per batch, eps ramped up over 2 epochs (chapter 05).
    "pgd_at_smallcnn": {
        "architecture": "SmallCNN",
        "epochs": 15,
        "keep_best": False,
        **_COMMON,
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
        **_COMMON,
        "attack": "trades",
        "eps_ramp_epochs": 2.0,
        "attack_kwargs": {"steps": 3, "alpha_ratio": 0.5, "beta": 6.0},
    },
}

#: The ablation study: chapter 06's defence, and one ingredient changed at a time. Epochs are
#: set so that every variant costs about the same on the 2-core CPU (SmallCNN's epochs are
#: cheaper, so it gets more of them).
ABLATION = {
    "defence": ("the defence: TRADES, WideCNN, eps ramp", {}),
    "no_trades": (
        "PGD-3 training instead of TRADES",
        {
            "attack": "pgd",
            "adv_weight": 1.0,
            "epochs": 9,
            "attack_kwargs": {"steps": 3, "alpha_ratio": 0.5},
        },
    ),
    "no_width": (
        "SmallCNN instead of WideCNN (17 epochs)",
        {"architecture": "SmallCNN", "epochs": 17},
    ),
    "weight_average": ("plus an average of the weights (decay 0.999)", {"weight_average": 0.999}),
    "chapter05": ("chapter 05's defence: PGD-3 on SmallCNN, 15 epochs", None),
}
AUTOATTACK_IMAGES = 1000
QUICK = {"epochs": 1, "train_images": 2000, "test_images": 50, "steps": 10, "queries": 100}


def recipe(name: str, **overrides) -> dict:
    """A copy of ``RECIPES[name]`` with ``overrides`` applied (e.g. ``epochs=2`` for a quick run)."""
    if name not in RECIPES:
        raise ValueError(f"name must be one of {sorted(RECIPES)}; got {name!r}")
    unknown = (
        set(overrides) - set(RECIPES[name]) - {"weight_average", "eps_ramp_epochs", "adv_weight"}
    )
    if unknown:
        raise ValueError(f"unknown recipe settings {sorted(unknown)} for {name}")
    wanted = {**copy.deepcopy(RECIPES[name]), **copy.deepcopy(overrides)}
    if "eps_ramp_epochs" in wanted:
        wanted["eps_ramp_epochs"] = min(wanted["eps_ramp_epochs"], wanted["epochs"])
    return wanted


def ablation_recipe(variant: str, **overrides) -> dict:
    """The recipe of one variant of the ablation study."""
    if variant not in ABLATION:
        raise ValueError(f"variant must be one of {list(ABLATION)}; got {variant!r}")
    changes = ABLATION[variant][1]
    if changes is None:
        return recipe("pgd_at_smallcnn", **overrides)
    return recipe("trades_widecnn", **{**changes, **overrides})


def _train_arguments(wanted: dict) -> dict:
    return {k: v for k, v in wanted.items() if k not in ("architecture", "epochs", "keep_best")}


def training_arguments(name: str, **overrides) -> dict:
    """The ``fh.train`` arguments of ``RECIPES[name]`` (without architecture, epochs and early
    stopping), e.g. for ``fh.series.train_with_early_stopping``."""
    return _train_arguments(recipe(name, **overrides))


def get_trained(
    name: str,
    checkpoint_dir,
    *,
    x_train,
    y_train,
    x_val,
    y_val,
    x_test,
    y_test,
    val_pgd_steps: int = 20,
    seed: int = 0,
    device="cpu",
    retrain: bool = False,
    progress: bool = True,
    **overrides,
):
    """``(model, history, metadata, how)`` for the robust model ``name`` of ``RECIPES``:
    loaded from ``checkpoint_dir/name.pt`` when it was saved with the very recipe (seed,
    number of training images and held-out check included) this call would save, else trained now with
    ``fh.series.train_with_early_stopping`` (a held-out PGD check after every epoch) and saved.
    ``how`` is "loaded" (``history`` is then the saved one) or "trained".

    >>> model, history, meta, how = get_trained("trades_widecnn", "checkpoints", x_train=...)
    """
    from .series import early_stopping_recipe, load_if_same_recipe, train_with_early_stopping

    wanted = recipe(name, **overrides)
    expected = early_stopping_recipe(
        wanted["architecture"],
        seed=seed,
        train_images=len(x_train),
        keep_best=wanted["keep_best"],
        val_pgd_steps=val_pgd_steps,
        val_images=len(x_val),
        epochs=wanted["epochs"],
        **_train_arguments(wanted),
    )
    path = Path(checkpoint_dir) / f"{name}.pt"
    saved = None if retrain else load_if_same_recipe(path, wanted["architecture"], device, expected)
    if saved is not None:
        model, meta = saved
        return model, meta.get("history", []), meta, "loaded"
    model, history, meta = train_with_early_stopping(
        name,
        wanted["architecture"],
        x_train,
        y_train,
        x_val=x_val,
        y_val=y_val,
        x_test=x_test,
        y_test=y_test,
        checkpoint_dir=checkpoint_dir,
        eps=EPS,
        val_pgd_steps=val_pgd_steps,
        keep_best=wanted["keep_best"],
        seed=seed,
        device=device,
        progress=progress,
        epochs=wanted["epochs"],
        **_train_arguments(wanted),
    )
    return model, history, meta, "trained"


# ------------------------------------------------------------------------- the ablation study
def run_variant(
    variant: str,
    x_train,
    y_train,
    x_test,
    y_test,
    *,
    seed: int,
    epochs=None,
    test_images: int = AUTOATTACK_IMAGES,
    attack_settings: dict | None = None,
    progress: bool = False,
) -> dict:
    """Train one variant of the ablation (the last epoch is kept) and measure it: clean
    accuracy on all of ``x_test``, AutoAttack (standard, eps 0.3) on its first
    ``test_images`` (``attack_settings``: ``steps``/``queries`` for ``fh.autoattack``, only to
    make a quick check cheap). Returns the study's row."""
    from .evaluation import accuracy, autoattack
    from .models import build_model
    from .runtime import set_seed
    from .training import train

    wanted = ablation_recipe(variant, **({"epochs": epochs} if epochs else {}))
    device = x_train.device
    set_seed(seed)
    model = build_model(wanted["architecture"]).to(device)
    start = time.perf_counter()
    train(
        model,
        x_train,
        y_train,
        epochs=wanted["epochs"],
        seed=seed,
        progress=progress,
        **_train_arguments(wanted),
    )
    seconds = time.perf_counter() - start
    result = autoattack(
        model,
        x_test[:test_images],
        y_test[:test_images],
        EPS,
        batch_size=500,
        progress=progress,
        **(attack_settings or {}),
    )
    return {
        "variant": variant,
        "change": ABLATION[variant][0],
        "seed": seed,
        "recipe": wanted,
        "clean": accuracy(model, x_test, y_test),
        "autoattack": result.accuracy,
        "autoattack_images": result.n_images,
        "broken_by": result.counts,
        "train_seconds": round(seconds, 1),
        "train_device": str(device),
    }


def run_study(
    variants,
    out_path,
    *,
    seeds=(0,),
    data_dir=None,
    device="cpu",
    quick: bool = False,
    command: str = "",
) -> dict:
    """Run the ablation variants with each seed, saving ``out_path`` after every run (a rerun
    skips the runs already there)."""
    from .collapse import _machine
    from .data import load_mnist
    from .seeds import _write_atomic

    unknown = set(variants) - set(ABLATION)
    if unknown:
        raise ValueError(f"unknown variants {sorted(unknown)}; known: {list(ABLATION)}")
    path = Path(out_path)
    study = (
        json.loads(path.read_text())
        if path.is_file()
        else {
            "description": "Chapter 06's defence with one ingredient changed at a time.",
            "command": command,
            "quick": quick,
            "evaluation": f"AutoAttack (standard, torchattacks), eps {EPS}, first test images",
            "versions": {"torch": torch.__version__, "python": platform.python_version()},
            "machine": _machine(device),
            "runs": [],
        }
    )
    x_train, y_train = load_mnist("train", data_dir, device=device)
    x_train, y_train = x_train[:-1000], y_train[:-1000]  # chapter 05's held-out slice stays out
    x_test, y_test = load_mnist("test", data_dir, device=device)
    test_images = AUTOATTACK_IMAGES
    if quick:
        x_train, y_train = x_train[: QUICK["train_images"]], y_train[: QUICK["train_images"]]
        test_images = QUICK["test_images"]
    done = {(r["variant"], r["seed"]) for r in study["runs"]}
    for seed in seeds:
        for variant in variants:
            if (variant, seed) in done:
                continue
            row = run_variant(
                variant,
                x_train,
                y_train,
                x_test,
                y_test,
                seed=seed,
                epochs=QUICK["epochs"] if quick else None,
                test_images=test_images,
                attack_settings={"steps": QUICK["steps"], "queries": QUICK["queries"]}
                if quick
                else None,
            )
            study["runs"].append(row)
            study["date"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
            _write_atomic(study, path)
            print(
                f"seed {seed} | {variant:15s} | clean {row['clean']:.2f}% | AutoAttack "
                f"{row['autoattack']:.1f}% | trained in {row['train_seconds']:.0f} s",
                flush=True,
            )
    return study


def load_study(path=None) -> dict:
    """The committed ablation study (or the one at ``path``)."""
    from .results import load_study as load_study_file

    return load_study_file(path, STUDY_PATH, "fgsm-series ablation")


def main(argv=None, prog: str = "fgsm-series ablation") -> int:
    from .runtime import get_device, tune_cpu_allocator

    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", default=list(ABLATION), choices=list(ABLATION))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", required=True, help="JSON file (resumed when it exists)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument(
        "--quick", action="store_true", help="1 epoch on 2,000 images, a cheap AutoAttack (tests)"
    )
    args = parser.parse_args(argv)
    tune_cpu_allocator()
    command = " ".join([prog, *map(shlex.quote, sys.argv[1:] if argv is None else argv)])
    try:
        run_study(
            args.variants,
            args.out,
            seeds=args.seeds,
            data_dir=args.data_dir,
            device=get_device(args.device),
            quick=args.quick,
            command=command,
        )
    except (ValueError, FileNotFoundError) as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 1
    return 0
