"""Measurements the chapters share: FGSM curves recorded once and reused by later chapters,
the fingerprints that say two chapters measured the same weights on the same images, the
protocol card that says how a table was made, and chapter 04's FGSM-and-PGD curves and
flat-gray accuracies. Each function that measures also records what it measured.

The models themselves come from :mod:`fgsm_helpers.zoo`.
"""

from __future__ import annotations

import hashlib
import os

import torch
from torch import nn

from .attacks import flat_gray_attack
from .evaluation import accuracy, robustness_curve
from .results import add_records, curve_records, find, load_results, make_record, set_section


def protocol_card(
    recipes: dict[str, dict],
    *,
    test_images: int,
    labels: str = "true labels",
    results_path: str | os.PathLike | None = None,
) -> dict:
    """Everything a reader needs to reproduce a table: eps units, clamping, labels, test set,
    and each model's training recipe. With ``results_path`` the card is also recorded there
    (its ``protocol`` section), so the run's results say how they were made."""
    card = {
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
    if results_path is not None:
        set_section(results_path, "protocol", "card", card)
    return card


def format_protocol_card(card: dict) -> str:
    """The protocol card as lines of text: one per setting, one per model's recipe.

    >>> print(format_protocol_card(protocol_card(recipes, test_images=10000)))
    eps_units (pixel): eps added to images in [0, 1] (the model normalizes afterwards)
    ...
    """
    lines = []
    for key, value in card.items():
        if key == "recipes":
            for name, r in value.items():
                attack = (
                    "none"
                    if r["attack"] is None
                    else f"{r['attack']} eps={r['train_eps']} ({r['eps_units']}), "
                    f"mix {r['adv_weight']}"
                )
                epochs = f"{r['epochs']} epoch" + ("" if r["epochs"] == 1 else "s")
                lines.append(
                    f"recipe {name}: {r['architecture']}, {r['optimizer']} lr {r['lr']} "
                    f"({r['schedule']}), {epochs}, batch {r['batch_size']}, seed {r['seed']}, "
                    f"adversarial: {attack}"
                )
        elif isinstance(value, dict):
            lines += [f"{key} ({sub}): {text}" for sub, text in value.items()]
        else:
            lines.append(f"{key}: {value}")
    return "\n".join(lines)


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


def fgsm_and_pgd_curves(
    name: str,
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps_list,
    results_path: str | os.PathLike,
    *,
    eps_units: str = "pixel",
    steps: int = 20,
    restarts: int = 1,
    progress: bool = True,
) -> tuple[dict[float, float], dict[float, float]]:
    """``(fgsm, pgd)``: the accuracy (percent) of ``model`` under FGSM and under PGD-``steps``
    (step 2.5 * eps / steps, random start, ``restarts``; true labels) at every eps, on the same
    images, so the two compare digit for digit; both curves are recorded in ``results_path``
    with ``n_images`` (and PGD's settings)."""
    fgsm = robustness_curve(model, x, y, eps_list, eps_units=eps_units)
    pgd = robustness_curve(
        model,
        x,
        y,
        eps_list,
        attack="pgd",
        eps_units=eps_units,
        steps=steps,
        restarts=restarts,
        progress=progress,
    )
    common = {"eps_units": eps_units, "n_images": len(x), "labels": "true"}
    add_records(
        results_path,
        curve_records(name, "fgsm", fgsm, **common)
        + curve_records(
            name, "pgd", pgd, **common, steps=steps, restarts=restarts, alpha="2.5*eps/steps"
        ),
    )
    return fgsm, pgd


def flat_gray_accuracy(
    name: str,
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    results_path: str | os.PathLike,
    eps: float = 0.5,
) -> float:
    """The accuracy (percent) of ``model`` on ``x`` moved as close to flat 0.5 gray as eps
    (pixel units) allows (``fh.flat_gray_attack``), recorded in ``results_path``; from eps 0.5
    every image is the same gray square, so no model can beat the accuracy ceiling of ``y``."""
    value = accuracy(model, flat_gray_attack(x, eps), y)
    add_records(results_path, [make_record(name, "flat_gray", eps, value, n_images=len(x))])
    return value
