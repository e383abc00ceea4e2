"""``results.json``: every accuracy the series measures, one flat record per measurement.

Layout: ``{"records": [...], "protocol": {...}, "models": {...}}``. A record holds at least
``model``, ``attack``, ``eps``, ``eps_units`` and ``accuracy`` (percent, on the full test set
unless ``n_images`` says otherwise); PGD records add ``steps`` and ``restarts``, AutoAttack
records ``version``, ``steps`` and ``broken_by`` (images per attack of the ensemble). Writing the
same measurement again from the same notebook replaces it, so re-running a notebook never
duplicates records; a chapter writes through its :class:`ResultsFile`, which stamps each record
with the chapter's notebook, so two chapters that measure the same thing (PGD from other random
starts, say) keep a record each.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .files import write_text_atomic

#: The fields that make a record's identity: the same values, the same measurement.
KEY_FIELDS = (
    "model",
    "attack",
    "eps",
    "eps_units",
    "labels",
    "steps",
    "restarts",
    "alpha",
    "n_images",
    "source_model",
    "implementation",
    "version",
    "notebook",  # two chapters measuring the same thing (other random starts) keep both records
)


def load_results(path: str | os.PathLike) -> dict:
    """The results file as a dict (an empty layout when it does not exist yet)."""
    path = Path(path)
    if not path.is_file():
        return {"records": [], "protocol": {}, "models": {}}
    data = json.loads(path.read_text())
    data.setdefault("records", [])
    data.setdefault("protocol", {})
    data.setdefault("models", {})
    return data


def make_record(
    model: str,
    attack: str,
    eps: float,
    accuracy: float,
    *,
    eps_units: str = "pixel",
    n_images: int = 10000,
    **extra,
) -> dict:
    """One measurement, checked: ``accuracy`` in percent, ``eps`` >= 0, known units."""
    if eps_units not in ("pixel", "normalized"):
        raise ValueError(f"eps_units must be 'pixel' or 'normalized'; got {eps_units!r}")
    if not 0.0 <= float(accuracy) <= 100.0:
        raise ValueError(f"accuracy must be a percentage in [0, 100]; got {accuracy}")
    if float(eps) < 0:
        raise ValueError(f"eps must be >= 0; got {eps}")
    record = {
        "model": model,
        "attack": attack,
        "eps": round(float(eps), 6),
        "eps_units": eps_units,
        "accuracy": round(float(accuracy), 4),
        "n_images": int(n_images),
    }
    record.update(extra)
    return record


class ResultsFile(os.PathLike):
    """A chapter's ``results.json`` and the chapter's notebook: every record written through it
    (:func:`add_records`) carries ``"notebook"``, so two chapters that measure the same thing
    (PGD from other random starts, say) keep a record each, and a regression can cut a run to
    the chapters it re-runs. Anything that takes a path takes it.

    >>> results_path = results_file("outputs", "02_fgsm_attack.ipynb")
    >>> add_records(results_path, [make_record("baseline", "fgsm", 0.1, 87.8)])
    """

    def __init__(self, path: str | os.PathLike, notebook: str) -> None:
        if not isinstance(notebook, str) or not notebook.endswith(".ipynb"):
            raise ValueError(f"notebook must be a notebook's file name; got {notebook!r}")
        self.path, self.notebook = Path(path), notebook

    def __fspath__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"ResultsFile({str(self.path)!r}, notebook={self.notebook!r})"


def results_file(output_dir: str | os.PathLike, notebook: str) -> ResultsFile:
    """The results file of the chapter ``notebook`` (its file name) in ``output_dir``."""
    return ResultsFile(Path(output_dir) / "results.json", notebook)


def add_records(path: str | os.PathLike, records: list[dict]) -> dict:
    """Merge ``records`` into the file at ``path`` (same measurement: replaced) and save it.

    Written through a :class:`ResultsFile`, each record is stamped with its notebook."""
    data = load_results(path)
    notebook = getattr(path, "notebook", None)
    if notebook:
        records = [{**r, "notebook": notebook} for r in records]
    index = {identity(r): i for i, r in enumerate(data["records"])}
    for record in records:
        key = identity(record)
        if key in index:
            data["records"][index[key]] = record
        else:
            index[key] = len(data["records"])
            data["records"].append(record)
    write_text_atomic(path, json.dumps(data, indent=1))
    return data


def set_section(path: str | os.PathLike, section: str, name: str, value) -> dict:
    """Set ``data[section][name] = value`` (e.g. the protocol card, or a model's description)."""
    data = load_results(path)
    data.setdefault(section, {})[name] = value
    write_text_atomic(path, json.dumps(data, indent=1))
    return data


def curve_records(
    model: str,
    attack: str,
    curve: dict[float, float],
    *,
    eps_units: str = "pixel",
    n_images: int = 10000,
    **extra,
) -> list[dict]:
    """Records for a ``{eps: accuracy}`` curve from ``robustness_curve``."""
    return [
        make_record(model, attack, eps, accuracy, eps_units=eps_units, n_images=n_images, **extra)
        for eps, accuracy in curve.items()
    ]


def find(data: dict, **fields) -> list[dict]:
    """Records whose fields equal all of ``fields``."""
    return [r for r in data["records"] if all(r.get(k) == v for k, v in fields.items())]


def identity(record: dict) -> tuple:
    """What makes ``record`` one measurement: its values of :data:`KEY_FIELDS`. Writing a record
    with the same identity replaces the old one."""
    return tuple(record.get(field) for field in KEY_FIELDS)
