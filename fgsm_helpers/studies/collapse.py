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
from ..stats import compare_rates, wilson_interval
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


def rate_table(study: dict, reference: str = "published", alpha: float = 0.05) -> list[dict]:
    """Rows for :func:`fgsm_helpers.plots.format_table`, one per variant: runs collapsed out of
    runs, the rate with its Wilson interval at ``1 - alpha``, Fisher's exact two-sided p-value
    against the ``reference`` variant, each seed's PGD accuracy and the mean clean accuracy.
    A handful of seeds makes wide intervals: the p-value says whether two rates differ more
    than chance would make them."""
    summary = {row["variant"]: row for row in summarize(study)}
    if reference not in summary:
        raise ValueError(f"reference must be one of {sorted(summary)}; got {reference!r}")
    base = summary[reference]
    rows = []
    for variant, row in summary.items():
        low, high = wilson_interval(row["collapsed"], row["runs"], 1 - alpha)
        p_value = (
            compare_rates(row["collapsed"], row["runs"], base["collapsed"], base["runs"], alpha)[
                "p_value"
            ]
            if variant != reference
            else None
        )
        rows.append(
            {
                "variant": variant,
                "collapsed": f"{row['collapsed']} of {row['runs']}",
                f"rate % ({100 * (1 - alpha):g}% interval)": f"{row['rate']:.0f} ({low:.0f}-{high:.0f})",
                f"Fisher p vs {reference}": "-" if p_value is None else f"{p_value:.2g}",
                "PGD % of each seed": " ".join(
                    f"{run['pgd']:.1f}" for run in study["runs"] if run["variant"] == variant
                ),
                "clean % (mean)": row["clean_mean"],
            }
        )
    return rows


def _epochs_text(epochs: list[int]) -> str:
    """``[3]`` -> "epoch 3", ``[1, 2, 3, 4]`` -> "epochs 1 to 4", ``[1, 3, 4]`` -> "epochs 1, 3
    and 4"."""
    if len(epochs) == 1:
        return f"epoch {epochs[0]}"
    if len(epochs) > 2 and epochs == list(range(epochs[0], epochs[-1] + 1)):
        return f"epochs {epochs[0]} to {epochs[-1]}"
    return "epochs " + ", ".join(str(e) for e in epochs[:-1]) + f" and {epochs[-1]}"


def history_collapse(history: list[dict], below: float = COLLAPSE_BELOW) -> dict:
    """What one training run did, from its per-epoch held-out scores (``fh.zoo``'s history:
    ``"epoch"``, ``"val_score"`` the PGD accuracy, ``"val_fgsm"`` the FGSM accuracy, ``"kept"``
    the epoch early stopping kept): the epochs whose PGD accuracy was below ``below`` (the
    study's threshold, here applied to the held-out score), those of them whose FGSM accuracy
    was not (``"overfit_epochs"``: catastrophic overfitting's signature: FGSM accuracy at or
    above the threshold, PGD accuracy below it), whether the last epoch was above it
    again (``"recovered"``), the kept epoch (the last one when none is marked) and where it lies
    relative to the collapsed epochs (``"kept_when"``: "before", "after", "between", "during" or
    None when nothing collapsed), and the final epoch's PGD accuracy."""
    if not history:
        raise ValueError("history must hold at least one epoch")
    scores = {h["epoch"]: h["val_score"] for h in history}
    collapsed = [h["epoch"] for h in history if h["val_score"] < below]
    # catastrophic overfitting's signature: FGSM accuracy at or above the threshold, PGD below
    overfit = [h["epoch"] for h in history if h["val_score"] < below <= h["val_fgsm"]]
    marked = [h["epoch"] for h in history if h.get("kept")]
    kept = marked[0] if marked else history[-1]["epoch"]
    final = history[-1]["epoch"]
    if not collapsed:
        kept_when = None
    elif kept in collapsed:
        kept_when = "during"
    elif kept < collapsed[0]:
        kept_when = "before"
    elif kept > collapsed[-1]:
        kept_when = "after"
    else:
        kept_when = "between"
    return {
        "below": below,
        "epochs": len(history),
        "collapsed_epochs": collapsed,
        "overfit_epochs": overfit,
        "recovered": bool(collapsed) and final not in collapsed,
        "kept": kept,
        "kept_score": scores[kept],
        "kept_when": kept_when,
        "final": final,
        "final_score": scores[final],
        "final_collapsed": final in collapsed,
    }


def describe_history(history: list[dict], pgd_steps: int, below: float = COLLAPSE_BELOW) -> str:
    """Sentences on what one run did (:func:`history_collapse`): whether and when its held-out
    PGD accuracy fell below ``below``, whether FGSM accuracy stayed high meanwhile (catastrophic
    overfitting) or was low too (a model that had not learned to resist even FGSM), which epoch
    early stopping kept, and how the collapse study (which judges only the final model's PGD
    accuracy) would count the run. Every case reads as written: no epoch below the threshold,
    some (recovered or not), every epoch, a single epoch."""
    c = history_collapse(history, below)
    pgd = f"PGD-{pgd_steps}"
    fgsm = {h["epoch"]: h["val_fgsm"] for h in history}
    pgd_scores = {h["epoch"]: h["val_score"] for h in history}
    every = (
        "the only epoch"
        if c["epochs"] == 1
        else "both epochs"
        if c["epochs"] == 2
        else f"all {c['epochs']} epochs"
    )
    kept = f"epoch {c['kept']} ({c['kept_score']:.1f}%)"
    collapsed, overfit = c["collapsed_epochs"], c["overfit_epochs"]
    threshold = f"{below:g}% (the collapse study's threshold)"
    if not collapsed:
        low = min(pgd_scores, key=pgd_scores.get)
        return (
            f"Held-out {pgd} accuracy stayed at or above {threshold} in {every} of this run, "
            f"lowest {pgd_scores[low]:.1f}% in epoch {low}: no collapse by that threshold. The "
            f"kept model is {kept}."
        )
    low, high = (f"{f(fgsm[e] for e in collapsed):.1f}%" for f in (min, max))
    fgsm_range = low if low == high else f"between {low} and {high}"
    if overfit == collapsed:
        fgsm_text = (
            f"while held-out FGSM accuracy was {fgsm_range} there, at or above the threshold "
            "that PGD accuracy fell below: the signature of catastrophic overfitting"
        )
    elif not overfit:
        fgsm_text = (
            f"and held-out FGSM accuracy was below it too (at most {high}): the model had not "
            "learned to resist even FGSM there, which is not catastrophic overfitting (FGSM "
            "accuracy high, PGD accuracy low)"
        )
    else:
        fgsm_text = (
            f"while held-out FGSM accuracy was {fgsm_range} there (at or above {below:g}%, with "
            f"PGD below, in {_epochs_text(overfit)}: the signature of catastrophic overfitting)"
        )
    if len(collapsed) == c["epochs"]:
        best = max(pgd_scores, key=pgd_scores.get)
        text = (
            f"Held-out {pgd} accuracy was below {threshold} in {every} of this run, highest "
            f"{pgd_scores[best]:.1f}% in epoch {best}, {fgsm_text}. The kept model, {kept}, is "
            "below the threshold too."
        )
    else:
        lowest = min(pgd_scores[e] for e in collapsed)
        text = (
            f"Held-out {pgd} accuracy fell below {threshold} in {_epochs_text(collapsed)} of "
            f"{c['epochs']} (lowest {lowest:.1f}%), {fgsm_text}"
        )
        back = collapsed[-1] + 1
        if c["recovered"] and back == c["final"]:
            text += (
                f"; in the last epoch it was above the threshold again ({c['final_score']:.1f}%)."
            )
        elif c["recovered"]:
            text += (
                f"; from epoch {back} on it was above the threshold again ({pgd_scores[back]:.1f}% "
                f"in epoch {back}, {c['final_score']:.1f}% in the last)."
            )
        else:
            text += f"; it was still below in the last epoch ({c['final_score']:.1f}%)."
        stretch = "the collapse" if overfit == collapsed else "the epochs below the threshold"
        came_back = "collapsed and recovered" if overfit == collapsed else "fell below it and rose"
        where = {
            "before": f"before {stretch}",
            "after": f"after {stretch}: the run {came_back}",
            "between": "between two stretches below the threshold",
            "during": "itself below the threshold",
        }[c["kept_when"]]
        text += f" The kept model is {kept}, {where}."
    verdict = "collapsed" if c["final_collapsed"] else "not collapsed"
    return (
        f"{text} The collapse study judges only the final model's PGD accuracy, so by the same "
        f"threshold a run like this one counts there as {verdict} (its last epoch: "
        f"{c['final_score']:.1f}% held out)."
    )


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
