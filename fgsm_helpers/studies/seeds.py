"""The seed study: chapter 04's Tables 1 and 2 for several training seeds, so that a verdict
is stated only as far as it holds for every seed.

For each seed the three models of the paper (``baseline``, ``fgsm_at``, ``fgsm_at_normalized``,
their recipes in :mod:`fgsm_helpers.zoo` with that seed) are trained, and FGSM accuracy (true
labels, images clamped to [0, 1]) is measured at eps 0 and at the paper's eps 0.1-0.8: the
baseline in both units, each defended model in its own units (``fgsm_at`` in pixel units,
``fgsm_at_normalized`` in normalized units), as chapter 04 does. Every seed records the machine
it ran on: training rounds differently on another CPU, so a study made on another kind of CPU
ships as its own file (``studies/data/seed_study_<cpu>.json``) and the regression's bands use
them all.

    fgsm-series seeds --n 5 --out seed_study.json       # about 5 minutes a seed on 2 cores

>>> study = run_seed_study([0, 1], "study.json", quick=True)   # about a minute on 2 cores
>>> summarize(study)[0]      # {"model": "baseline", "units": "pixel", "eps": 0.0, "mean": ...}
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence

from .. import paper
from ..data import load_mnist
from ..evaluation import robustness_curve
from ..runtime import describe_machine, get_device
from ..stats import (
    count_words,
    describe_count,
    describe_rates,
    distinguishable,
    wilson_interval,
    with_interval,
)
from ..zoo import get
from .state import DATA_DIR, Study, check_seeds, load, run_command, study_parser

#: Which units each model is attacked in: the baseline in both, each defence in its own.
MODEL_UNITS = {
    "baseline": ("pixel", "normalized"),
    "fgsm_at": ("pixel",),
    "fgsm_at_normalized": ("normalized",),
}
#: Each protocol's defended model (chapter 04's ``PROTOCOLS``).
PROTOCOLS = {"pixel": "fgsm_at", "normalized": "fgsm_at_normalized"}
#: eps 0 (clean) and the paper's Table 2 eps; Table 1's eps (0.1-0.3) are among them.
EPS_LIST = (0.0, *paper.TABLE2_EPS)
#: Settings of the quick configuration (tests, smoke runs).
QUICK_TRAIN_SUBSET = 2000
QUICK_TEST_SUBSET = 500
DESCRIPTION = (
    "Chapter 04's Tables 1 and 2 for several training seeds: FGSM accuracy (%) of the "
    "shared models, the baseline in both eps units, each defence in its own units."
)


def _configuration(quick: bool) -> dict:
    return {
        "quick": quick,
        "train_images": QUICK_TRAIN_SUBSET if quick else 60000,
        "test_images": QUICK_TEST_SUBSET if quick else 10000,
        "eps": list(EPS_LIST),
        "attack": "FGSM, true labels, images clamped to [0, 1]",
        "models": {name: list(units) for name, units in MODEL_UNITS.items()},
    }


def _study_seed(seed: int, *, data_dir, device, quick: bool, progress: bool) -> dict:
    """Train the three models of the paper with ``seed`` and measure their FGSM curves."""
    x_test, y_test = load_mnist(
        "test", data_dir, device=device, subset=QUICK_TEST_SUBSET if quick else None, seed=seed
    )
    entry = {"seed": seed, "machine": describe_machine(device), "models": {}, "rows": []}
    for name, units_list in MODEL_UNITS.items():
        start = time.perf_counter()
        # A throwaway checkpoint folder: the study never touches the chapters' checkpoints,
        # and retrain=True so that every model is trained with exactly its seed's recipe.
        with tempfile.TemporaryDirectory() as checkpoint_dir:
            model, meta, _, _ = get(
                name,
                checkpoint_dir,
                data_dir=data_dir,
                device=device,
                retrain=True,
                progress=False,
                seed=seed,
                train_subset=QUICK_TRAIN_SUBSET if quick else None,
            )
        for units in units_list:
            curve = robustness_curve(model, x_test, y_test, EPS_LIST, eps_units=units)
            entry["rows"] += [
                {"model": name, "units": units, "eps": eps, "accuracy": curve[eps]}
                for eps in EPS_LIST
            ]
        seconds = time.perf_counter() - start
        entry["models"][name] = {
            "clean_accuracy_full_test_set": meta["clean_accuracy"],
            "train_seconds": meta["train_seconds"],
            "seconds_with_evaluation": round(seconds, 1),
        }
        if progress:
            clean = next(
                r["accuracy"] for r in entry["rows"] if r["model"] == name and r["eps"] == 0.0
            )
            print(
                f"seed {seed} | {name:18s} | clean {clean:.2f}% | trained in "
                f"{meta['train_seconds']:.0f} s, {seconds:.0f} s with evaluation",
                flush=True,
            )
    return entry


def run_seed_study(
    seeds: Sequence[int],
    out_path: str | os.PathLike,
    *,
    data_dir: str | os.PathLike | None = None,
    device="cpu",
    quick: bool = False,
    progress: bool = True,
    command: str | None = None,
) -> dict:
    """Train the three models of the paper for every seed in ``seeds``, measure Tables 1 and 2
    for each, and write the study to ``out_path`` (JSON); returns the study.

    The file is rewritten (atomically) after every seed, and seeds already in it are skipped,
    so an interrupted study resumes where it stopped. The full configuration trains on the
    60,000 MNIST training images and tests on all 10,000 test images (about 4-5 minutes per
    seed on a 2-core CPU); ``quick`` trains on 2,000 and tests on 500 (drawn with the seed).
    Accuracies are in percent, eps in the units of each row, times in seconds.

    >>> study = run_seed_study([0, 1], "study.json", quick=True, data_dir="../shared/data")
    >>> [s["seed"] for s in study["seeds"]]      # [0, 1]
    """
    seeds = check_seeds(seeds)
    study = Study(
        out_path,
        description=DESCRIPTION,
        command=command or f"run_seed_study({seeds}, {str(out_path)!r}, quick={quick})",
        configuration=_configuration(quick),
        device=device,
        runs_key="seeds",
        extra={"summary": []},
    )
    for seed in seeds:
        if study.has(seed=seed):
            if progress:
                print(f"seed {seed}: already in {study.path}, skipped")
            continue
        start = time.perf_counter()
        entry = _study_seed(seed, data_dir=data_dir, device=device, quick=quick, progress=progress)
        entry["seconds"] = round(time.perf_counter() - start, 1)
        study.add(entry, sort_by="seed")
        study.data["summary"] = summarize(study.data)
        study.save()
        if progress:
            print(f"seed {seed}: done in {entry['seconds']:.0f} s, saved to {study.path}")
    return study.data


def load_study(path: str | os.PathLike | None = None) -> dict:
    """The seed study saved at ``path`` (default: the committed one)."""
    study = load("seeds", path)
    for key in ("configuration", "seeds"):
        if key not in study:
            raise ValueError(f"{path or 'the committed study'} is not a seed study: no {key!r}")
    return study


def _paper_value(model: str, units: str, eps: float) -> float | None:
    if eps == 0.0:
        return paper.TABLE1_CLEAN_ACCURACY if model == "baseline" else None
    table = paper.TABLE2_BASELINE if model == "baseline" else paper.TABLE2_ADVERSARIAL
    return table.get(eps)


def summarize(study: dict) -> list[dict]:
    """One row per (model, units, eps) across the study's seeds: ``mean``, sample ``std``
    (n - 1; None for a single seed), ``min``, ``max``, ``n`` (accuracies in percent) and the
    paper's number for that row (None where the paper has none).

    >>> summarize(load_study())[1]   # {"model": "baseline", "units": "pixel", "eps": 0.1, ...}
    """
    values: dict[tuple, list[float]] = {}
    for entry in study["seeds"]:
        for row in entry["rows"]:
            values.setdefault((row["model"], row["units"], row["eps"]), []).append(row["accuracy"])
    summary = []
    for (model, units, eps), accuracies in values.items():
        summary.append(
            {
                "model": model,
                "units": units,
                "eps": eps,
                "mean": statistics.fmean(accuracies),
                "std": statistics.stdev(accuracies) if len(accuracies) > 1 else None,
                "min": min(accuracies),
                "max": max(accuracies),
                "n": len(accuracies),
                "paper": _paper_value(model, units, eps),
            }
        )
    return summary


def seed_curves(study: dict) -> dict[int, dict[tuple[str, str], dict[float, float]]]:
    """``{seed: {(model, units): {eps: accuracy}}}``: each seed's curves, for verdicts."""
    curves: dict[int, dict] = {}
    for entry in study["seeds"]:
        per_seed = curves.setdefault(entry["seed"], {})
        for row in entry["rows"]:
            per_seed.setdefault((row["model"], row["units"]), {})[row["eps"]] = row["accuracy"]
    return curves


def verdict_holds(
    study: dict, predicate: Callable[[dict[tuple[str, str], dict[float, float]]], bool]
) -> dict:
    """Whether a claim holds for every seed: ``predicate`` gets one seed's curves
    (``{(model, units): {eps: accuracy}}``) and says whether the claim holds for it. A
    :class:`ClearlyLower` predicate also gets the number of test images, and may leave a seed
    undecided (the two accuracies are not distinguishable): that seed counts for neither side.

    Returns ``{"holds": k, "n": n, "every_seed": k == n, "failing_seeds": [...],
    "undecided_seeds": [...]}`` (the undecided seeds are among the failing ones).

    >>> raised = lambda c: c["fgsm_at", "pixel"][0.3] > c["baseline", "pixel"][0.3]
    >>> verdict_holds(load_study(), raised)["every_seed"]     # True
    """
    curves = seed_curves(study)
    if not curves:
        raise ValueError("the study holds no seeds")
    n_images = study.get("configuration", {}).get("test_images")
    outcomes = {seed: _outcome(predicate, per_seed, n_images) for seed, per_seed in curves.items()}
    failing = [seed for seed, outcome in outcomes.items() if outcome is not True]
    result = {
        "holds": len(curves) - len(failing),
        "n": len(curves),
        "every_seed": not failing,
        "failing_seeds": failing,
        "undecided_seeds": [seed for seed, outcome in outcomes.items() if outcome is None],
    }
    if isinstance(predicate, ClearlyLower):
        result["holds_as"] = "lower"
    return result


def _outcome(predicate: Callable, curves: dict, n_images: int | None) -> bool | None:
    """True, False, or None (not distinguishable, for a :class:`ClearlyLower` predicate)."""
    if isinstance(predicate, ClearlyLower):
        if not n_images:
            raise ValueError("the study does not say on how many test images it measured")
        return predicate(curves, n_images)
    return bool(predicate(curves))


def protocol_gaps(study: dict) -> list[dict]:
    """Per seed and units, the mean absolute difference (points) from the paper: Table 1
    (baseline, eps 0.1-0.3), Table 2's CNN column and its adversarially trained column (each
    protocol's own defence), eps 0.1-0.8. Rows ``{"seed", "units", "table1", "table2_cnn",
    "table2_at"}``; the protocol with the smaller numbers fits the paper better for that seed.

    >>> protocol_gaps(load_study())[0]   # {"seed": 0, "units": "pixel", "table1": 38.2, ...}
    """
    rows = []
    for seed, curves in seed_curves(study).items():
        for units, defended in PROTOCOLS.items():
            rows.append(
                {
                    "seed": seed,
                    "units": units,
                    "table1": _gap(curves["baseline", units], paper.TABLE1_FGSM_ACCURACY),
                    "table2_cnn": _gap(curves["baseline", units], paper.TABLE2_BASELINE),
                    "table2_at": _gap(curves[defended, units], paper.TABLE2_ADVERSARIAL),
                }
            )
    return rows


def _gap(curve: dict[float, float], reference: dict[float, float]) -> float:
    return paper.mean_abs_difference(curve, reference)


class _CloserNormalized:
    """Whether ``model_normalized``'s curve (normalized units) is closer to ``reference`` than
    ``model_pixel``'s (pixel units), by the mean absolute difference over its eps."""

    def __init__(self, model_pixel: str, model_normalized: str, reference: dict):
        self.pixel, self.normalized, self.reference = model_pixel, model_normalized, reference

    def gaps(self, c) -> tuple[float, float]:
        return (
            _gap(c[self.normalized, "normalized"], self.reference),
            _gap(c[self.pixel, "pixel"], self.reference),
        )

    def __call__(self, c) -> bool:
        normalized, pixel = self.gaps(c)
        return normalized < pixel

    def detail(self, c, n_images: int) -> str:
        normalized, pixel = self.gaps(c)
        return (
            f"mean |diff| {normalized:.1f} points in normalized units against {pixel:.1f} in "
            "pixel units"
        )


class _RaisesEverywhere:
    """Whether each protocol's defence is above the baseline at every eps of Table 2."""

    def __init__(self, units: str):
        self.units, self.defended = units, PROTOCOLS[units]

    def _not_above(self, c) -> list[float]:
        ours, base = c[self.defended, self.units], c["baseline", self.units]
        return [eps for eps in paper.TABLE2_EPS if not ours[eps] > base[eps]]

    def __call__(self, c) -> bool:
        return not self._not_above(c)

    def detail(self, c, n_images: int) -> str:
        ours, base = c[self.defended, self.units], c["baseline", self.units]
        missing = self._not_above(c)
        if not missing:
            return f"`{self.defended}` is above the baseline at every eps"
        return f"`{self.defended}` keeps " + _join(
            f"{with_interval(ours[eps], n_images)} at eps {eps:g} against the baseline's "
            f"{with_interval(base[eps], n_images)}"
            for eps in missing
        )


class _EachEps:
    """Whether ``model``'s FGSM accuracy (``units``) is ``how`` ("above", "below", or a number
    of points: within that many) ``reference`` (an ``{eps: accuracy}`` table or one number,
    called ``name`` in words) at every eps of ``eps``."""

    def __init__(self, model: str, units: str, eps, reference, how, name: str):
        self.model, self.units, self.eps = model, units, tuple(eps)
        self.reference, self.how, self.name = reference, how, name

    def _ref(self, eps: float) -> float:
        return self.reference[eps] if isinstance(self.reference, dict) else self.reference

    def _holds(self, c, eps: float) -> bool:
        value, ref = c[self.model, self.units][eps], self._ref(eps)
        if self.how == "above":
            return value > ref
        if self.how == "below":
            return value < ref
        return abs(value - ref) <= self.how

    def __call__(self, c) -> bool:
        return all(self._holds(c, eps) for eps in self.eps)

    def detail(self, c, n_images: int) -> str:
        """The accuracies where the claim fails (all of them when it holds everywhere)."""
        shown = [eps for eps in self.eps if not self._holds(c, eps)] or list(self.eps)
        curve = c[self.model, self.units]
        return f"`{self.model}` keeps " + _join(
            f"{with_interval(curve[eps], n_images)} at eps {eps:g} against {self.name}"
            + (f" {self._ref(eps):g}%" if isinstance(self.reference, dict) else "")
            for eps in shown
        )


def _join(parts) -> str:
    parts = list(parts)
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


class ClearlyLower:
    """The verdict "FGSM training costs clean accuracy" for one seed, in ``units``: True when
    the defended model's clean accuracy is lower than the baseline's beyond the 95% intervals
    (:func:`fgsm_helpers.stats.distinguishable`, on the study's test images), False when it is
    higher beyond them, None when the two are not distinguishable (neither side holds)."""

    def __init__(self, units: str):
        self.units, self.defended = units, PROTOCOLS[units]

    def __call__(self, curves: dict, n_images: int) -> bool | None:
        ours = curves[self.defended, self.units][0.0]
        base = curves["baseline", self.units][0.0]
        if not distinguishable((ours, n_images), (base, n_images)):
            return None
        return ours < base

    def detail(self, curves: dict, n_images: int) -> str:
        ours = curves[self.defended, self.units][0.0]
        base = curves["baseline", self.units][0.0]
        return (
            f"`{self.defended}` keeps {with_interval(ours, n_images)} clean against the "
            f"baseline's {with_interval(base, n_images)}"
        )


#: Chapter 04's verdicts, each as a claim and a test of one seed's curves.
VERDICTS: dict[str, Callable] = {
    "Table 1: the baseline is closer to the paper in normalized units (mean |diff|, eps 0.1-0.3)": (
        _CloserNormalized("baseline", "baseline", paper.TABLE1_FGSM_ACCURACY)
    ),
    "Table 2, CNN: closer to the paper in normalized units (mean |diff|, eps 0.1-0.8)": (
        _CloserNormalized("baseline", "baseline", paper.TABLE2_BASELINE)
    ),
    "Table 2, AT: closer to the paper in normalized units (mean |diff|, eps 0.1-0.8)": (
        _CloserNormalized("fgsm_at", "fgsm_at_normalized", paper.TABLE2_ADVERSARIAL)
    ),
    "FGSM training raises FGSM accuracy at every eps 0.1-0.8, pixel units": (
        _RaisesEverywhere("pixel")
    ),
    "FGSM training raises FGSM accuracy at every eps 0.1-0.8, normalized units": (
        _RaisesEverywhere("normalized")
    ),
    "FGSM training costs clean accuracy, pixel units": ClearlyLower("pixel"),
    "FGSM training costs clean accuracy, normalized units": ClearlyLower("normalized"),
    "pixel units: the baseline keeps under 10% at eps 0.3 (the paper: 67.9%)": (
        _EachEps("baseline", "pixel", (0.3,), 10.0, "below", "the 10% bound")
    ),
    "normalized units: the baseline is above the paper at eps 0.1 and 0.2": (
        _EachEps(
            "baseline", "normalized", (0.1, 0.2), paper.TABLE2_BASELINE, "above", "the paper's"
        )
    ),
    "normalized units: the baseline is below the paper at eps 0.8 (the curves cross)": (
        _EachEps("baseline", "normalized", (0.8,), paper.TABLE2_BASELINE, "below", "the paper's")
    ),
    "pixel units: fgsm_at within 4 points of the paper up to eps 0.3": (
        _EachEps("fgsm_at", "pixel", (0.1, 0.2, 0.3), paper.TABLE2_ADVERSARIAL, 4, "the paper's")
    ),
    "pixel units: fgsm_at below the paper at every eps 0.4-0.8": (
        _EachEps(
            "fgsm_at",
            "pixel",
            (0.4, 0.5, 0.6, 0.7, 0.8),
            paper.TABLE2_ADVERSARIAL,
            "below",
            "the paper's",
        )
    ),
    "normalized units: fgsm_at_normalized within 5 points of the paper up to eps 0.4": (
        _EachEps(
            "fgsm_at_normalized",
            "normalized",
            (0.1, 0.2, 0.3, 0.4),
            paper.TABLE2_ADVERSARIAL,
            5,
            "the paper's",
        )
    ),
    "normalized units: fgsm_at_normalized above the paper at every eps 0.5-0.8": (
        _EachEps(
            "fgsm_at_normalized",
            "normalized",
            (0.5, 0.6, 0.7, 0.8),
            paper.TABLE2_ADVERSARIAL,
            "above",
            "the paper's",
        )
    ),
    "pixel units: fgsm_at's FGSM accuracy above the 11.35% ceiling at every eps 0.5-0.8": (
        _EachEps("fgsm_at", "pixel", (0.5, 0.6, 0.7, 0.8), 11.35, "above", "the 11.35% ceiling")
    ),
}


def verdicts(
    study: dict,
    *,
    run: dict | None = None,
    run_images: int | None = None,
    run_machine: dict | None = None,
    others: list[dict] | None = None,
) -> list[dict]:
    """Every claim of :data:`VERDICTS` with how many seeds it holds for:
    ``[{"claim", "holds", "n", "every_seed", "failing_seeds", "undecided_seeds"}]``.

    With ``others``, seed studies of the same configuration on other processors (e.g.
    :func:`other_committed_studies`), each verdict also gets ``"elsewhere"``: ``[{"cpu", and
    :func:`verdict_holds`' keys}]``, one per other study.

    With ``run``, the chapter's own FGSM curves (keyed ``(units, model)`` as chapter 04's
    ``fgsm``, on ``run_images`` test images), each verdict also gets ``"run"`` (whether the
    claim holds for this run: True, False, or None when not distinguishable), ``"run_detail"``
    (the run's numbers behind it) and ``"run_label"`` ("this run", and with ``run_machine``,
    :func:`fgsm_helpers.runtime.describe_machine`, whether it ran on the study's CPU)."""
    found = [{"claim": claim, **verdict_holds(study, test)} for claim, test in VERDICTS.items()]
    for other in others or []:
        cpu = _study_cpu(other)
        for verdict in found:
            elsewhere = {"cpu": cpu, **verdict_holds(other, VERDICTS[verdict["claim"]])}
            verdict.setdefault("elsewhere", []).append(elsewhere)
    if run is None:
        return found
    if not run_images:
        raise ValueError("run_images: on how many test images the run's curves were measured")
    curves = {(model, units): curve for (units, model), curve in run.items()}
    label = _run_label(study, run_machine)
    for verdict in found:
        test = VERDICTS[verdict["claim"]]
        verdict["run"] = _outcome(test, curves, run_images)
        verdict["run_detail"] = test.detail(curves, run_images)
        verdict["run_label"] = label
    return found


def _study_cpu(study: dict) -> str:
    """The processor(s) a seed study ran on, in words."""
    cpus = sorted(
        {cpu_name(e.get("machine") or study.get("machine") or {}) for e in study["seeds"]}
    )
    return " and ".join(cpus)


def other_committed_studies(study: dict, paths=None) -> list[dict]:
    """The committed full-configuration seed studies (``studies/data/seed_study*.json``, or
    ``paths``) that ran on other processors than ``study``: where its verdicts can be checked."""
    paths = sorted(DATA_DIR.glob("seed_study*.json")) if paths is None else paths
    mine = _study_cpu(study)
    others = []
    for path in paths:
        other = load_study(path)
        if not other["configuration"].get("quick") and _study_cpu(other) != mine:
            others.append(other)
    return others


def _elsewhere_clause(verdict: dict) -> str:
    """ "; on AMD EPYC (...), the committed study's 2 seeds: true for none of them", for a
    verdict that held (or failed) in every seed of its study and not in another study's."""
    holds, n = verdict["holds"], verdict["n"]
    clauses = []
    for other in verdict.get("elsewhere", []):
        k, m = other["holds"], other["n"]
        if (holds == n and k < m) or (holds == 0 and k > 0):
            clauses.append(
                f"on {other['cpu']}, the committed seed study: true for {describe_count(k, m)}"
            )
    return "".join(f"; {clause}" for clause in clauses)


def _run_label(study: dict, machine: dict | None) -> str:
    """ "this run", with where it ran beside the study's CPUs when ``machine`` says."""
    if not machine:
        return "this run"
    if machine.get("gpu"):
        return f"this run (on a GPU, {machine['gpu']})"
    cpus = {
        cpu_name(entry.get("machine") or study.get("machine") or {}) for entry in study["seeds"]
    }
    cpu = cpu_name(machine)
    return "this run (the study's CPU)" if cpu in cpus else f"this run (another CPU, {cpu})"


def describe_verdict(verdict: dict) -> str:
    """One line on a verdict of :func:`verdicts`: whether it holds for every seed, for none, or
    flips with the seed (then with the 95% Wilson interval of the rate it holds at). A verdict
    decided by the 95% intervals (``"holds_as"``, e.g. clean accuracy lower) says in how many
    seeds the difference lies beyond them, and in how many it is not distinguishable.

    >>> describe_verdict({"claim": "AT helps", "holds": 3, "n": 5, "every_seed": False})
    'AT helps: flips with the seed, true for 3 of the 5 seeds (95% interval of the rate: 23-88%)'
    """
    holds, n = verdict["holds"], verdict["n"]
    if "holds_as" in verdict:
        return f"{verdict['claim']}: {_beyond_intervals(verdict)}{_run_clause(verdict)}"
    if holds == n:
        return (
            f"{verdict['claim']}: true for {count_words(n, n, 'seed')}{_run_clause(verdict)}"
            f"{_elsewhere_clause(verdict)}"
        )
    if holds == 0:
        return (
            f"{verdict['claim']}: false for {count_words(n, n, 'seed')}{_run_clause(verdict)}"
            f"{_elsewhere_clause(verdict)}"
        )
    return f"{verdict['claim']}: flips with the seed, true for {describe_count(holds, n)}"


def _run_clause(verdict: dict) -> str:
    """ "; this run (another CPU, ...) breaks it: <its numbers>", when the chapter's own run
    (:func:`verdicts` with ``run``) contradicts a verdict that held, or failed, in every seed."""
    if "run" not in verdict or verdict.get("undecided_seeds"):
        return ""
    holds, n, outcome = verdict["holds"], verdict["n"], verdict["run"]
    label, detail = verdict["run_label"], verdict["run_detail"]
    if outcome is None and holds in (0, n):
        return f"; in {label} the two are not distinguishable: {detail}"
    if holds == n and outcome is False:
        return f"; {label} breaks it: {detail}"
    if holds == 0 and outcome is True:
        return f"; {label} holds it: {detail}"
    return ""


def _beyond_intervals(verdict: dict) -> str:
    """ "lower beyond the 95% intervals in 2 of the 5 seeds (95% interval of the rate: ...),
    not distinguishable in the other 3": a verdict decided seed by seed by the intervals."""
    holds, n = verdict["holds"], verdict["n"]
    undecided = len(verdict.get("undecided_seeds", ()))
    opposite = n - holds - undecided
    counted = count_words(holds, n, "seed") if holds in (0, n) else describe_count(holds, n)
    text = f"{verdict['holds_as']} beyond the 95% intervals in {counted}"
    if opposite:
        text += f", {_OPPOSITE[verdict['holds_as']]} beyond them in {opposite}"
    if undecided == n:
        text += ": the two accuracies are not distinguishable in any of them"
    elif undecided:
        text += f", not distinguishable in the other {'seed' if undecided == 1 else undecided}"
    return text


_OPPOSITE = {"lower": "higher", "higher": "lower"}


def describe_verdicts(found: list[dict]) -> str:
    """Chapter 04's account of the seed study's :func:`verdicts`, as Markdown: the claims that
    held in every seed, those that failed in every seed, those whose difference some seeds
    could not tell apart, and those that flip with the seed, each group said only when it has
    a claim, with what "every seed" of a few can show."""
    if not found:
        raise ValueError("no verdicts to describe")
    n = found[0]["n"]
    _, bound = wilson_interval(0, n)  # no failure in n runs: how rare is rare?

    def undecided(verdict):
        return len(verdict.get("undecided_seeds", ())) > 0

    groups = (
        (
            [v for v in found if v["holds"] == n],
            f"**Held in {count_words(n, n, 'seed')} of this study** (one processor; no failure "
            f"in {n} runs still allows a failure rate of up to {bound:.0f}%, the 95% Wilson bound, "
            "so these are findings about this recipe on this machine, not laws):",
        ),
        (
            [v for v in found if v["holds"] == 0 and not undecided(v)],
            f"**False in {count_words(n, n, 'seed')}** (its opposite held, within the same "
            "limits):",
        ),
        (
            [v for v in found if undecided(v) and v["holds"] < n],
            "**Inside the 95% intervals in at least one seed** (a seed whose two accuracies are "
            "not distinguishable counts for neither side, so these say how often a difference "
            "showed, not that it holds):",
        ),
        (
            [v for v in found if 0 < v["holds"] < n and not undecided(v)],
            "**Flips with the seed** (no conclusion either way):",
        ),
    )
    return "\n\n".join(
        heading + "\n\n" + "\n".join(f"- {describe_verdict(v)}" for v in group)
        for group, heading in groups
        if group
    )


def summary_table(study: dict) -> tuple[list[dict], list[str], str]:
    """Chapter 04's table of the study beside the paper: ``(rows, columns, caption)`` for
    ``fh.plots.comparison_table_html``. One row per eps (0 = clean), each of our columns
    "mean ± sample std (min–max)" over the seeds (accuracy %), beside the paper's columns."""
    stats = {(r["model"], r["units"], r["eps"]): r for r in summarize(study)}

    def spread(model: str, units: str, eps: float) -> str:
        s = stats[model, units, eps]
        std = "–" if s["std"] is None else f"{s['std']:.1f}"  # one seed has no spread
        return f"{s['mean']:.1f} ± {std} ({s['min']:.1f}–{s['max']:.1f})"

    rows = []
    for eps in EPS_LIST:
        row = {
            "eps": eps,
            "paper CNN": paper.TABLE2_BASELINE.get(eps, paper.TABLE1_CLEAN_ACCURACY),
        }
        row.update({f"CNN, {units}": spread("baseline", units, eps) for units in PROTOCOLS})
        row["paper AT"] = paper.TABLE2_ADVERSARIAL.get(eps, "")
        row.update({f"AT, {units}": spread(name, units, eps) for units, name in PROTOCOLS.items()})
        rows.append(row)
    columns = ["eps", "paper CNN", "CNN, pixel", "CNN, normalized", "paper AT", "AT, pixel"]
    columns.append("AT, normalized")
    config = study["configuration"]
    caption = (
        f"Tables 1-2 over {_seeds(len(study['seeds']))} (eps 0 = clean): accuracy %, mean ± "
        f"sample std (min–max); {config['train_images']:,} training and "
        f"{config['test_images']:,} test images"
    )
    return rows, columns, caption


def format_summary(study: dict) -> str:
    """The summary as a fixed-width table: mean ± std and min-max per model, units and eps."""
    lines = [
        f"{'model':18s} {'units':10s} {'eps':>4s} {'mean':>6s} {'± std':>6s} "
        f"{'min':>6s} {'max':>6s} {'n':>2s} {'paper':>6s}"
    ]
    for row in summarize(study):
        std = "" if row["std"] is None else f"{row['std']:.2f}"
        paper_value = "" if row["paper"] is None else f"{row['paper']:.2f}"
        lines.append(
            f"{row['model']:18s} {row['units']:10s} {row['eps']:4.1f} {row['mean']:6.2f} "
            f"{std:>6s} {row['min']:6.2f} {row['max']:6.2f} {row['n']:2d} {paper_value:>6s}"
        )
    return "\n".join(lines)


# --- every committed study together: several CPUs, several seeds each --------------------------


def seed_bands(paths=None) -> dict:
    """``(model, units, eps) -> {"low", "high", "n", "cpus"}``: the lowest and highest FGSM
    accuracy over every seed of the committed seed studies (``studies/data/seed_study*.json``,
    one per kind of CPU), with how many seeds and which CPUs they come from."""
    values: dict[tuple, list[float]] = {}
    cpus: dict[tuple, set[str]] = {}
    for cpu, entry in _seed_entries(paths):
        for row in entry["rows"]:
            key = (row["model"], row["units"], round(row["eps"], 6))
            values.setdefault(key, []).append(row["accuracy"])
            cpus.setdefault(key, set()).add(cpu)
    return {
        key: {"low": min(v), "high": max(v), "n": len(v), "cpus": sorted(cpus[key])}
        for key, v in values.items()
    }


def _seed_entries(paths=None):
    """``(cpu, entry)`` for every seed of the full-configuration seed studies at ``paths``
    (default: the committed ones, ``studies/data/seed_study*.json``)."""
    paths = sorted(DATA_DIR.glob("seed_study*.json")) if paths is None else paths
    for path in paths:
        study = load_study(path)
        if study["configuration"].get("quick"):
            continue
        for entry in study["seeds"]:
            yield cpu_name(entry.get("machine") or study.get("machine") or {}), entry


def cpu_name(machine: dict) -> str:
    """A machine stamp's CPU in words: its model and vector extensions."""
    flags = machine.get("cpu_flags")
    name = machine.get("cpu_model", "unknown CPU")
    return f"{name} ({', '.join(flags)})" if flags else name


#: ``fgsm_at`` "defeats FGSM" when FGSM at eps 0.3 (pixel units) leaves it within this many
#: points of its clean accuracy: the attack that trained it barely moves it any more.
DEFEATS_WITHIN = 2.0


def defence_outcomes(paths=None) -> dict:
    """How often one run of the paper's defence (``fgsm_at``, pixel units) defeats FGSM (FGSM at
    eps 0.3 leaves it within :data:`DEFEATS_WITHIN` points of its clean accuracy, where the
    other runs lose 6 points or more: the failure chapter 05 teaches), over the seeds of the
    committed seed studies: ``{"defeats": k, "n": n, "by_cpu": {cpu: (k, n)}}``."""
    by_cpu: dict[str, list[int]] = {}
    for cpu, entry in _seed_entries(paths):
        curve = {
            row["eps"]: row["accuracy"]
            for row in entry["rows"]
            if row["model"] == "fgsm_at" and row["units"] == "pixel"
        }
        counts = by_cpu.setdefault(cpu, [0, 0])
        counts[0] += int(curve[0.0] - curve[0.3] < DEFEATS_WITHIN)
        counts[1] += 1
    return {
        "defeats": sum(k for k, _ in by_cpu.values()),
        "n": sum(n for _, n in by_cpu.values()),
        "by_cpu": {cpu: tuple(counts) for cpu, counts in by_cpu.items()},
    }


def describe_defence_outcomes(
    outcomes: dict | None = None,
    *,
    run_fgsm: dict | None = None,
    run_images: int | None = None,
    run_pgd: float | None = None,
    pgd_images: int | None = None,
    pgd_label: str = "PGD",
) -> str:
    """Chapter 04's paragraph on where one run of the paper's defence lands, rendered from the
    committed seed studies (:func:`defence_outcomes`): on each kind of CPU, in how many seeds
    FGSM at eps 0.3 left ``fgsm_at`` within :data:`DEFEATS_WITHIN` points of its clean
    accuracy, with the 95% interval of the rate, and, with two kinds, whether the rates differ
    (Fisher's exact test, :func:`fgsm_helpers.stats.describe_rates`).

    The seed studies attack their models with FGSM only. ``run_fgsm``, this run's ``fgsm_at``
    FGSM curve in pixel units (eps 0 and 0.3 at least, on ``run_images`` test images), says
    whether this run's model is one that defeats FGSM; ``run_pgd``, its accuracy under
    ``pgd_label`` at eps 0.3 on ``pgd_images`` test images, what a stronger attack leaves it.
    Without them the paragraph says only that the seeds' models were not attacked with PGD."""
    outcomes = outcomes or defence_outcomes()
    by_cpu = sorted(outcomes["by_cpu"].items())
    defeats, n = outcomes["defeats"], outcomes["n"]
    counts = "; ".join(f"{count_words(k, m, 'seed')} on {cpu}" for cpu, (k, m) in by_cpu)
    kinds = "1 kind of CPU" if len(by_cpu) == 1 else f"{len(by_cpu)} kinds of CPU"
    defeated = (
        f"FGSM at eps 0.3 (pixel units) left `fgsm_at` within {DEFEATS_WITHIN:g} points of its "
        "clean accuracy"
    )
    meaning = _defence_meaning(run_fgsm, run_images, run_pgd, pgd_images, pgd_label)
    if 0 < defeats < n:
        lead = "**One run of the paper's defence can land on either side.**"
    elif defeats == 0:
        lead = "**Where one run of the paper's defence lands.**"
    else:
        lead = "**Every run of the paper's defence here defeated FGSM.**"
    text = (
        f"{lead} Over the committed seed studies ({_seeds(n)} on {kinds}), {defeated} in "
        f"{describe_count(defeats, n)}: {counts}. {meaning}"
    )
    text += (
        " The seed study above ran on one processor, so its verdicts about `fgsm_at`'s FGSM "
        "curve describe that processor's seeds, not the recipe."
    )
    if len(by_cpu) == 2:
        (_, (k1, n1)), (_, (k2, n2)) = by_cpu
        text += " Between the two kinds of CPU: " + describe_rates(k1, n1, k2, n2) + "."
    return text


def _defence_meaning(run_fgsm, run_images, run_pgd, pgd_images, pgd_label) -> str:
    """What the seeds' count means, as far as this run's PGD figure (if any) shows it."""
    not_attacked = "The seed studies' models were not attacked with PGD."
    if run_fgsm is None:
        return not_attacked
    if not run_images:
        raise ValueError("run_images: on how many test images run_fgsm was measured")
    clean, fgsm_03 = run_fgsm[0.0], run_fgsm[0.3]
    measured = (
        f"FGSM at eps 0.3 leaves it {with_interval(fgsm_03, run_images)} of {run_images:,} test "
        f"digits, against {with_interval(clean, run_images)} clean"
    )
    if clean - fgsm_03 >= DEFEATS_WITHIN:
        text = f"This run's `fgsm_at` is not such a model: {measured}."
        if run_pgd is not None:
            text += f" {pgd_label} at eps 0.3 leaves it {with_interval(run_pgd, pgd_images)}."
        return f"{text} {not_attacked}"
    if run_pgd is None:
        return (
            f"This run's `fgsm_at` is such a model too: {measured}; section 5 attacks it with PGD. "
            f"{not_attacked}"
        )
    if not pgd_images:
        raise ValueError("pgd_images: on how many test images run_pgd was measured")
    pgd = with_interval(run_pgd, pgd_images)
    if run_pgd < fgsm_03 and distinguishable((run_pgd, pgd_images), (fgsm_03, run_images)):
        verdict = (
            "it defeats FGSM's single step without resisting PGD, chapter 05's catastrophic "
            "overfitting"
        )
    else:
        verdict = "not distinguishable from what FGSM leaves it, so this PGD found no more errors"
    return (
        f"On the one such model attacked with PGD (this run's: {measured}), {pgd_label} leaves "
        f"{pgd} at eps 0.3 on the first {pgd_images:,} test digits (section 5): {verdict}. The "
        "seed studies' models were not attacked with PGD."
    )


def _seeds(n: int) -> str:
    return "1 seed" if n == 1 else f"{n} seeds"


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer; got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer; got {text!r}")
    return value


def _positive_int(text: str) -> int:
    value = _non_negative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError("expected at least one seed; got 0")
    return value


def main(argv: Sequence[str] | None = None, prog: str = "fgsm-series seeds") -> int:
    """``fgsm-series seeds``: run (or resume) the seed study from the command line.

    >>> main(["--n", "5", "--out", "seed_study.json"])   # about 25 min on 2 cores
    """
    parser = study_parser(
        prog,
        "Train the baseline, fgsm_at and fgsm_at_normalized with several seeds and record "
        "chapter 04's Tables 1 and 2 for each (resumes: seeds in --out are skipped).",
        out_help="the study's JSON file (resumed when it exists)",
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--seeds", type=_non_negative_int, nargs="+", help="the seeds, e.g. 0 1 2")
    which.add_argument("--n", type=_positive_int, help="seeds 0 .. n-1")

    def body(args, command):
        seeds = args.seeds if args.seeds is not None else list(range(args.n))
        if len(set(seeds)) != len(seeds):
            parser.error(f"--seeds must be distinct; got {seeds}")  # a usage error: exit 2
        study = run_seed_study(
            seeds,
            args.out,
            data_dir=args.data_dir,
            device=get_device(args.device),
            quick=args.quick,
            command=command,
        )
        print(format_summary(study))

    return run_command(parser, argv, body)
