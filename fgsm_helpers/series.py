"""Measurements the chapters share: FGSM curves recorded once and reused by later chapters,
the fingerprints that say two chapters measured the same weights on the same images, and the
protocol card that says how a table was made.

The models themselves come from :mod:`fgsm_helpers.zoo`.
"""

from __future__ import annotations

import hashlib
import os

import torch
from torch import nn

from .evaluation import robustness_curve
from .results import add_records, curve_records, find, load_results


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
