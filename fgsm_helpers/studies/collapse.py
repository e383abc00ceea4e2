"""How often FGSM training with a random start collapses: Wong, Rice & Kolter's recipe over seeds.

"Fast is better than free" (Wong, Rice & Kolter 2020) trains MNIST models with one FGSM step
from a random start (FGSM-RS) and reports robustness close to PGD training; chapter 05 shows the
same recipe collapsing (catastrophic overfitting: FGSM accuracy high, PGD accuracy near zero).
This study trains the recipe with several seeds, in four variants, and measures every final
model (the last epoch: no early stopping) with PGD-50:

* ``package``: the package's FGSM-RS, as chapter 05 trains it (``fh.train(SmallCNN(),
  attack="fgsm_rs", ...)``): ``SmallCNN`` starts with a ``Normalize`` layer, and the random
  start is clamped into [0, 1] before the gradient is taken;
* ``published``: a plain loop of the published MNIST recipe (``train_published_fgsm_rs``):
  the same network without input normalization, the gradient taken at ``x + delta`` before any
  clamping, eps 0.3, alpha 0.375, Adam with the rate rising linearly from 0 to 5e-3 over the
  first 40% of 10 epochs and back to 0, batch 100, all 60,000 training images;
* ``published_clamped_start`` and ``published_normalized``: the published loop with one of the
  package's two differences each, to tell which of them matters.

A run counts as collapsed when its PGD-50 accuracy (eps 0.3, step 0.01, random start) is below
``COLLAPSE_BELOW`` percent; the runs' accuracies are all recorded, so the threshold is no secret.

    fgsm-series collapse --seeds 0 1 2 3 4 --out collapse.json [--device auto] [--quick]

The committed study ships as ``studies/data/collapse_study.json`` (chapter 05 reads it).
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data import load_mnist
from ..evaluation import accuracy, pgd_accuracy
from ..models import SmallCNN
from ..progress import progress_bar
from ..runtime import get_device, set_seed
from ..training import train
from .state import Study, check_seeds, load, run_command, study_parser

VARIANTS = ("package", "published", "published_clamped_start", "published_normalized")
COLLAPSE_BELOW = 50.0  # PGD-50 accuracy (%) under which a run counts as collapsed
#: The published recipe (locuslab/fast_adversarial, MNIST/train_mnist.py defaults).
PUBLISHED = {"epochs": 10, "eps": 0.3, "alpha": 0.375, "lr_max": 5e-3, "batch_size": 100}
EVAL = {"pgd_steps": 50, "pgd_alpha": 0.01, "test_images": 1000}
QUICK = {"epochs": 2, "train_images": 2000, "test_images": 200, "pgd_steps": 10}


def published_mnist_net(normalize: bool = False) -> nn.Sequential:
    """The published MNIST network: SmallCNN's layers, without (by default) its ``Normalize``."""

    layers = list(SmallCNN().children())
    return nn.Sequential(*(layers if normalize else layers[1:]))


def train_published_fgsm_rs(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    seed: int,
    epochs: int = PUBLISHED["epochs"],
    eps: float = PUBLISHED["eps"],
    alpha: float = PUBLISHED["alpha"],
    lr_max: float = PUBLISHED["lr_max"],
    batch_size: int = PUBLISHED["batch_size"],
    clamp_start: bool = False,
    normalize: bool = False,
    progress: bool = True,
) -> nn.Sequential:
    """FGSM-RS training as the published MNIST script does it, in a plain loop.

    Per batch: ``delta ~ U(-eps, eps)`` (clamped so that ``x + delta`` stays in [0, 1] only
    with ``clamp_start``), the loss gradient at ``x + delta``, ``delta <- clip(delta + alpha *
    sign(grad), -eps, eps)``, then clipped so ``x + delta`` is an image, and one Adam step on
    the loss at ``x + delta``. The rate follows ``np.interp(t, [0, epochs * 2 // 5, epochs],
    [0, lr_max, 0])`` with t in epochs, updated before every batch.
    """

    set_seed(seed)
    device = x.device
    model = published_mnist_net(normalize).to(device)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr_max)
    batches = (len(x) + batch_size - 1) // batch_size
    generator = torch.Generator(device="cpu").manual_seed(seed)
    steps = range(epochs * batches)
    if progress:
        steps = progress_bar(steps, total=epochs * batches, desc="published FGSM-RS", unit="batch")
    order = None
    for step in steps:
        epoch, i = divmod(step, batches)
        if i == 0:
            order = torch.randperm(len(x), generator=generator).to(device)
        index = order[i * batch_size : (i + 1) * batch_size]
        xb, yb = x[index], y[index]
        lr = float(
            np.interp(epoch + (i + 1) / batches, [0, epochs * 2 // 5, epochs], [0, lr_max, 0])
        )
        for group in optimizer.param_groups:
            group["lr"] = lr
        delta = torch.empty_like(xb).uniform_(-eps, eps)
        if clamp_start:
            delta = torch.max(torch.min(1 - xb, delta), -xb)
        delta.requires_grad_(True)
        loss = F.cross_entropy(model(xb + delta), yb)
        (grad,) = torch.autograd.grad(loss, delta)
        delta = (delta.detach() + alpha * grad.sign()).clamp(-eps, eps)
        delta = torch.max(torch.min(1 - xb, delta), -xb)
        loss = F.cross_entropy(model((xb + delta).clamp(0, 1)), yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    model.eval()
    return model


def train_package_fgsm_rs(
    x: torch.Tensor, y: torch.Tensor, *, seed: int, epochs: int = PUBLISHED["epochs"], progress=True
) -> nn.Module:
    """The package's FGSM-RS, with chapter 05's recipe (its ``WONG`` settings), on ``SmallCNN``."""

    set_seed(seed)
    model = SmallCNN().to(x.device)
    train(
        model,
        x,
        y,
        epochs=epochs,
        batch_size=PUBLISHED["batch_size"],
        lr=PUBLISHED["lr_max"],
        schedule="cyclic",
        attack="fgsm_rs",
        train_eps=PUBLISHED["eps"],
        adv_weight=1.0,
        attack_kwargs={"alpha_ratio": PUBLISHED["alpha"] / PUBLISHED["eps"]},
        seed=seed,
        progress=progress,
    )
    return model


def train_variant(variant: str, x, y, *, seed: int, epochs: int, progress: bool) -> nn.Module:
    if variant == "package":
        return train_package_fgsm_rs(x, y, seed=seed, epochs=epochs, progress=progress)
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}; got {variant!r}")
    return train_published_fgsm_rs(
        x,
        y,
        seed=seed,
        epochs=epochs,
        clamp_start=variant == "published_clamped_start",
        normalize=variant == "published_normalized",
        progress=progress,
    )


def summarize(study: dict) -> list[dict]:
    """Per variant: runs, collapsed runs, the collapse rate (%), and PGD-50 accuracy of the runs
    (min, median, max) and of the runs that did not collapse (mean)."""
    rows = []
    for variant in VARIANTS:
        runs = [r for r in study["runs"] if r["variant"] == variant]
        if not runs:
            continue
        pgd = [r["pgd"] for r in runs]
        kept = [r["pgd"] for r in runs if not r["collapsed"]]
        collapsed = sum(r["collapsed"] for r in runs)
        rows.append(
            {
                "variant": variant,
                "runs": len(runs),
                "collapsed": collapsed,
                "rate": 100.0 * collapsed / len(runs),
                "pgd_min": min(pgd),
                "pgd_median": statistics.median(pgd),
                "pgd_max": max(pgd),
                "pgd_mean_not_collapsed": statistics.fmean(kept) if kept else None,
                "clean_mean": statistics.fmean(r["clean"] for r in runs),
                "seeds_collapsed": [r["seed"] for r in runs if r["collapsed"]],
            }
        )
    return rows


def run_study(
    seeds,
    out_path,
    *,
    variants=VARIANTS,
    data_dir=None,
    device="cpu",
    quick: bool = False,
    progress: bool = True,
    command: str = "",
) -> dict:
    """Train every variant with every seed, measure each final model, and save the study to
    ``out_path`` after every run (a rerun skips the runs already there)."""

    seeds = check_seeds(seeds)
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise ValueError(f"unknown variants {sorted(unknown)}; known: {VARIANTS}")
    configuration = {
        "quick": quick,
        "published_recipe": PUBLISHED,
        "epochs": QUICK["epochs"] if quick else PUBLISHED["epochs"],
        "train_images": QUICK["train_images"] if quick else 60000,
        "evaluation": {
            "attack": "PGD, eps 0.3 (pixel units), step 0.01, random start, 1 restart",
            "steps": QUICK["pgd_steps"] if quick else EVAL["pgd_steps"],
            "test_images": QUICK["test_images"] if quick else EVAL["test_images"],
        },
        "collapse_below": COLLAPSE_BELOW,
    }
    study = Study(
        out_path,
        description=__doc__.split("\n\n")[0],
        command=command,
        configuration=configuration,
        device=device,
    )
    x_train, y_train = load_mnist(
        "train",
        data_dir,
        device=device,
        subset=configuration["train_images"] if quick else None,
        seed=0,
    )
    x_test, y_test = load_mnist("test", data_dir, device=device)
    n_test = configuration["evaluation"]["test_images"]
    for seed in seeds:
        for variant in variants:
            if study.has(variant=variant, seed=seed):
                continue
            start = time.perf_counter()
            model = train_variant(
                variant, x_train, y_train, seed=seed, epochs=configuration["epochs"], progress=False
            )
            seconds = time.perf_counter() - start
            robust = pgd_accuracy(
                model,
                x_test[:n_test],
                y_test[:n_test],
                PUBLISHED["eps"],
                steps=configuration["evaluation"]["steps"],
                alpha=EVAL["pgd_alpha"],
                seed=seed,
            )
            run = {
                "variant": variant,
                "seed": seed,
                "clean": accuracy(model, x_test, y_test),
                "pgd": robust,
                "collapsed": robust < COLLAPSE_BELOW,
                "train_seconds": round(seconds, 1),
            }
            study.runs.append(run)
            study.data["summary"] = summarize(study.data)
            study.save()
            if progress:
                print(
                    f"seed {seed} | {variant:24s} | clean {run['clean']:.2f}% | PGD "
                    f"{robust:.1f}%{' COLLAPSED' if run['collapsed'] else ''} | {seconds:.0f} s",
                    flush=True,
                )
    return study.data


def load_study(path=None) -> dict:
    """The committed collapse study (or the one at ``path``)."""
    return load("collapse", path)


def main(argv=None, prog: str = "fgsm-series collapse") -> int:
    """``fgsm-series collapse``: run (or resume) the collapse study."""
    parser = study_parser(
        prog, __doc__.split("\n\n")[0], out_help="JSON file (resumed when it exists)"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)

    def body(args, command):
        study = run_study(
            args.seeds,
            args.out,
            variants=args.variants,
            data_dir=args.data_dir,
            device=get_device(args.device),
            quick=args.quick,
            command=command,
        )
        for row in study["summary"]:
            print(
                f"{row['variant']:24s} collapsed {row['collapsed']}/{row['runs']} | PGD median "
                f"{row['pgd_median']:.1f}% (min {row['pgd_min']:.1f}, max {row['pgd_max']:.1f})"
            )

    return run_command(parser, argv, body)
