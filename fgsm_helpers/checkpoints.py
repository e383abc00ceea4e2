"""Checkpoints: atomic saves, safe loads (``weights_only=True``), metadata beside the weights."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import torch
from torch import nn

from .files import write_atomic
from .models import ARCHITECTURES, build_model, count_parameters

FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint is unreadable, truncated, or holds another architecture."""


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        package = version("fgsm_helpers")
    except PackageNotFoundError:  # run from a source tree that was never installed
        package = "not installed"
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "fgsm_helpers": package,
    }


def save_checkpoint(
    model: nn.Module, path: str | os.PathLike, metadata: dict | None = None
) -> Path:
    """Save ``model``'s weights and ``metadata`` (recipe, seed, epochs, eps, accuracies...) to
    ``path`` atomically, plus the metadata as readable JSON in ``path`` + ``.json``.

    >>> save_checkpoint(model, "checkpoints/baseline.pt", {"recipe": "clean", "seed": 0})
    """
    architecture = type(model).__name__
    if architecture not in ARCHITECTURES:
        raise ValueError(f"model must be one of {sorted(ARCHITECTURES)}; got {architecture}")
    path = Path(path)
    meta = {
        **(metadata or {}),
        "architecture": architecture,
        "parameters": count_parameters(model),
        "versions": _versions(),
    }
    try:
        meta = json.loads(json.dumps(meta))  # plain JSON types only: weights_only loads them
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"metadata must hold only JSON types (dict, list, str, number, bool, None): {err}"
        ) from err
    payload = {
        "format_version": FORMAT_VERSION,
        "architecture": architecture,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "metadata": meta,
    }
    write_atomic(path, lambda tmp: torch.save(payload, tmp))
    meta_path = path.with_name(path.name + ".json")
    write_atomic(meta_path, lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=2)))
    return path


def load_checkpoint(
    path: str | os.PathLike,
    architecture: str | None = None,
    device: str | torch.device = "cpu",
) -> tuple[nn.Module, dict]:
    """Load a checkpoint saved by ``save_checkpoint``: returns ``(model in eval mode, metadata)``.

    ``architecture`` (e.g. ``"PaperCNN"``), when given, must match the checkpoint's.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for damaged files
        raise CheckpointError(
            f"{path} is not a readable checkpoint (truncated or damaged?): {type(err).__name__}: {err}"
        ) from err
    if (
        not isinstance(payload, dict)
        or "state_dict" not in payload
        or "architecture" not in payload
    ):
        raise CheckpointError(f"{path} was not written by fgsm_helpers.save_checkpoint")
    found = payload["architecture"]
    if architecture is not None and found != architecture:
        raise CheckpointError(f"{path} holds a {found}, not the {architecture} that was asked for")
    if found not in ARCHITECTURES:
        raise CheckpointError(f"{path} holds an unknown architecture {found!r}")
    model = build_model(found)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(f"{path}: weights do not fit a {found}: {err}") from err
    return model.to(device).eval(), payload.get("metadata", {})
