"""Regression of the results: a full run of chapters 01-04 against the committed reference run.

``fgsm-series regress DIR`` compares a finished run (``fgsm-series run --only 01 02 03 04 --out
DIR``: its ``results.json``, ``run.json`` and, when present, the executed notebooks) with
``fgsm_helpers/study/reference_run.json``, the records of the run the committed notebooks come
from plus what in it does not depend on training. It fails on a change, never on a machine:

* **Every mode** fails when the run's structure changed (a reference record missing, a record
  malformed, run.json not the default full configuration), when a number that does not depend
  on training changed (the test images' fingerprints, each model's architecture, parameter
  count and recipe, the protocol card, the notebooks' exactly-checked cells: data facts, the
  paper's tables, parameter counts, the worked example), or when a claim the chapters check no
  longer holds for the run's numbers (:func:`fgsm_helpers.claims.run_claims`).
* **exact** mode, on the reference's own kind of CPU (model, vector extensions, threads and torch
  as recorded): training repeats to the bit there, so every accuracy must also match within
  ``tolerance`` points.
* **invariants** mode, on any other CPU: training rounds differently and one run of the paper's
  defence can even land on the other side (``fgsm_at`` defeating FGSM, its accuracy rising with
  eps), so every other accuracy that moved is reported as *drift*, with the band the committed
  seed studies give for it (every seed, every CPU they ran on), and never fails the comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..attacks import accuracy_ceiling
from ..claims import run_claims
from ..data import load_mnist
from ..results import KEY_FIELDS, identity, load_results
from ..runner import find_notebooks
from ..runtime import machine_key
from .seeds import cpu_name, seed_bands
from .state import committed_path

REFERENCE_PATH = committed_path("reference")
DEFAULT_TOLERANCE = 0.05
CHAPTERS = ("01", "02", "03", "04")
MODES = ("exact", "invariants")
#: Fields of a model card that do not depend on training.
_MODEL_INVARIANTS = ("architecture", "parameters", "recipe")


def describe_record(record: dict) -> str:
    """A record's identity in words, e.g. ``baseline fgsm eps=0.2 pixel, 10000 images``."""
    extras = [
        f"{field}={record[field]}"
        for field in KEY_FIELDS
        if field not in ("model", "attack", "eps", "eps_units", "n_images")
        and record.get(field) is not None
    ]
    text = (
        f"{record['model']} {record['attack']} eps={record['eps']:g} {record['eps_units']}, "
        f"{record.get('n_images', 10000)} images"
    )
    return text + (f" ({', '.join(extras)})" if extras else "")


def _ceilings(n_images: list[int], data_dir=None) -> dict[str, float]:
    """The share (%) of the most common class in the first n test images, for each n."""
    _, y = load_mnist("test", data_dir, download=False)
    return {str(n): accuracy_ceiling(y[:n]) for n in sorted(set(n_images))}


def make_reference(
    run_dir: str | os.PathLike,
    command: str,
    chapters: tuple[str, ...] = CHAPTERS,
    *,
    data_dir=None,
) -> dict:
    """The reference from a finished full run's folder (its ``results.json`` and ``run.json``):
    the records written by the notebooks whose names start with ``chapters`` (the batch run
    stamps each record with its notebook), and what does not depend on training (the model
    cards' architecture, parameters and recipe, the protocol card, and the accuracy ceiling
    of each test subset, read from MNIST in ``data_dir``)."""
    run_dir = Path(run_dir)
    _check_full_run(run_dir)
    results = load_results(run_dir / "results.json")
    records = [
        r for r in results["records"] if str(r.get("notebook", "")).startswith(tuple(chapters))
    ]
    if not records:
        raise ValueError(
            f"{run_dir / 'results.json'} holds no records stamped by notebooks {list(chapters)} "
            "(records are stamped when the batch run, fgsm-series run, writes them)"
        )
    names = {r["model"] for r in records}
    return {
        "description": (
            "Accuracies of a full run of chapters 01-04 (on the machine in `machine`) that "
            "`fgsm-series regress` compares a new run with."
        ),
        "command": command,
        "chapters": list(chapters),
        "machine": machine_key(),
        "invariants": {
            "models": {
                name: {key: card.get(key) for key in _MODEL_INVARIANTS}
                for name, card in sorted(results["models"].items())
                if name in names
            },
            "protocol": results["protocol"],
            "ceilings": _ceilings([r["n_images"] for r in records], data_dir),
        },
        "records": sorted(records, key=lambda r: [str(v) for v in identity(r)]),
    }


def _check_full_run(run_dir: Path) -> dict:
    """The run's ``run.json``, refused unless it is a default full run."""
    path = run_dir / "run.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: not the folder of a finished run")
    run = json.loads(path.read_text())
    if run.get("quick") or run.get("parameters"):
        raise ValueError(
            f"{run_dir} is not a default full run (quick={run.get('quick')}, parameters="
            f"{run.get('parameters')}); the regression compares the committed configuration"
        )
    return run


# --- the comparison ---------------------------------------------------------------------------


def choose_mode(reference: dict, run_machine: dict | None, mode: str = "auto") -> tuple[str, str]:
    """``(mode, why)``: "exact" when the run was made on the reference's kind of machine (as
    ``run.json`` records it), else "invariants"; or the mode asked for. ``why`` says it in
    words for the report."""
    there = reference.get("machine", {})
    theirs = (
        f"the reference's: {cpu_name(there)}, {there.get('torch_threads')} threads, "
        f"torch {there.get('torch')}"
    )
    if run_machine is None:
        described = theirs
    else:
        described = (
            f"the run's: {cpu_name(run_machine)}, {run_machine.get('torch_threads')} threads, "
            f"torch {run_machine.get('torch')}; {theirs}"
        )
    if mode in MODES:
        return mode, f"asked for with --mode {mode}; {described}"
    if mode != "auto":
        raise ValueError(f"mode must be 'auto', 'exact' or 'invariants'; got {mode!r}")
    if run_machine is not None and run_machine == there:
        return "exact", f"the run was made on the reference's kind of machine ({described})"
    where = (
        "the run does not record its machine"
        if run_machine is None
        else "the run was made on another kind of machine than the reference"
    )
    return "invariants", (
        f"{where} ({described}): trained accuracies round differently from one kind to "
        "another, so a moved one is drift, not a failure"
    )


def _malformed(record: dict) -> str | None:
    """Why a record is not a well-formed measurement (None when it is)."""
    for field in ("model", "attack", "eps", "eps_units", "accuracy", "n_images"):
        if field not in record:
            return f"no {field!r}"
    accuracy, eps, n = record["accuracy"], record["eps"], record["n_images"]
    if not isinstance(accuracy, (int, float)) or not 0.0 <= accuracy <= 100.0:
        return f"accuracy {accuracy!r} is not a percentage"
    if not isinstance(eps, (int, float)) or eps < 0:
        return f"eps {eps!r} is not >= 0"
    if record["eps_units"] not in ("pixel", "normalized"):
        return f"eps_units {record['eps_units']!r}"
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        return f"n_images {n!r} is not a positive integer"
    return None


def _drift_line(name: str, ref: dict, new: dict, bands: dict) -> str:
    text = (
        f"drift: {name}: {ref['accuracy']:.2f}% -> {new['accuracy']:.2f}% "
        f"({new['accuracy'] - ref['accuracy']:+.2f} points)"
    )
    band = None
    if ref["attack"] in ("fgsm", "none") and ref.get("n_images") == 10000:
        band = bands.get((ref["model"], ref["eps_units"], round(ref["eps"], 6)))
    if band is None:
        return text + "; no seed study covers it"
    where = "inside" if band["low"] <= new["accuracy"] <= band["high"] else "OUTSIDE"
    return (
        f"{text}; {where} the seed studies' band [{band['low']:.2f}, {band['high']:.2f}] "
        f"({band['n']} seeds on {_kinds(len(band['cpus']))})"
    )


def _kinds(n: int) -> str:
    return "1 kind of CPU" if n == 1 else f"{n} kinds of CPU"


def compare(
    reference: dict,
    results: dict,
    *,
    mode: str = "auto",
    machine: dict | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    notebooks: dict[str, tuple[dict, dict]] | None = None,
) -> dict:
    """Compare a run's ``results`` (the dict of its ``results.json``) with ``reference``; see the
    module's docstring for what fails in each mode.

    ``machine`` is the one the run was made on (its ``run.json``'s); ``mode`` "auto" compares
    exactly only when it is the reference's. ``notebooks`` maps a chapter's file name to
    ``(executed, committed)`` notebook dicts (from :func:`notebook_pairs`); their
    exactly-checked cells must print the same.

    Returns ``{"mode", "why", "failures", "drift", "claims", "counts", "passed"}``: one line per
    failure and per drifted accuracy, the evaluated claims, and how many numbers each kind of
    check compared.
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0; got {tolerance}")
    mode, why = choose_mode(reference, machine, mode)
    failures, drift = [], []
    counts = {"records": 0, "accuracies": 0, "invariants": 0, "claims": 0, "cells": 0}

    measured = {}
    for record in results.get("records", []):
        problem = _malformed(record)
        if problem:
            failures.append(f"malformed: {record!r}: {problem}")
        else:
            measured[identity(record)] = record
    bands = seed_bands() if mode == "invariants" else {}
    for ref in reference["records"]:
        name = describe_record(ref)
        new = measured.get(identity(ref))
        if new is None:
            failures.append(f"missing: {name} (reference {ref['accuracy']:.2f}%)")
            continue
        counts["records"] += 1
        if ref.get("images") and new.get("images") != ref["images"]:
            failures.append(
                f"changed: {name}: measured on other test images (fingerprint "
                f"{new.get('images')} instead of {ref['images']})"
            )
        counts["invariants"] += bool(ref.get("images"))
        difference = new["accuracy"] - ref["accuracy"]
        if mode == "exact":
            counts["accuracies"] += 1
            if abs(difference) > tolerance:
                failures.append(
                    f"moved: {name}: {ref['accuracy']:.2f}% -> {new['accuracy']:.2f}% "
                    f"({difference:+.2f} points, tolerance {tolerance:g})"
                )
        elif abs(difference) > tolerance:
            drift.append(_drift_line(name, ref, new, bands))

    invariants = reference.get("invariants")
    if invariants is None:
        failures.append(
            "the reference holds no invariants: record it again with `regress --record`"
        )
        invariants = {"models": {}, "protocol": None, "ceilings": {}}
    for name, card in invariants["models"].items():
        got = results.get("models", {}).get(name)
        if got is None:
            failures.append(f"missing: the model card of {name}")
            continue
        for key in _MODEL_INVARIANTS:
            counts["invariants"] += 1
            if got.get(key) != card[key]:
                failures.append(f"changed: {name}'s {key}: {card[key]!r} -> {got.get(key)!r}")
    if invariants["protocol"] is not None:
        counts["invariants"] += 1
        if results.get("protocol") != invariants["protocol"]:
            failures.append("changed: the protocol card (eps units, clamping, labels, recipes)")

    ceilings = {int(n): value for n, value in invariants["ceilings"].items()}
    claims = run_claims(results, ceilings, tuple(reference.get("chapters", CHAPTERS)))
    counts["claims"] = len(claims)
    failures += [
        f"claim fails: chapter {c['chapter']}: {c['claim']} ({c['evidence']})"
        for c in claims
        if not c["holds"]
    ]

    for file_name, (executed, committed) in sorted((notebooks or {}).items()):
        compared, problems = _compare_notebook(executed, committed)
        counts["cells"] += compared
        failures += [f"{file_name}: {problem}" for problem in problems]

    return {
        "mode": mode,
        "why": why,
        "failures": failures,
        "drift": drift,
        "claims": claims,
        "counts": counts,
        "passed": not failures and counts["records"] > 0,
    }


# --- the notebooks' exactly-checked cells -----------------------------------------------------

CHECK_TAG = "nbval-check-output"


def _text_outputs(cell: dict) -> list[str]:
    texts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            texts.append(f"{output.get('name')}: {''.join(output.get('text', ''))}")
        elif "data" in output and "text/plain" in output["data"]:
            texts.append("".join(output["data"]["text/plain"]))
        elif output.get("output_type") == "error":
            texts.append(f"error: {output.get('ename')}: {output.get('evalue')}")
    return texts


def _compare_notebook(executed: dict, committed: dict) -> tuple[int, list[str]]:
    """How many exactly-checked cells were compared, and what differs."""
    problems = [
        f"cell {i} raised {o.get('ename')}: {o.get('evalue')}"
        for i, cell in enumerate(executed.get("cells", []))
        for o in cell.get("outputs", [])
        if o.get("output_type") == "error"
    ]

    def checked(notebook):
        return [c for c in notebook["cells"] if CHECK_TAG in c.get("metadata", {}).get("tags", [])]

    ours, theirs = checked(executed), checked(committed)
    if len(ours) != len(theirs):
        problems.append(
            f"{len(ours)} cells tagged {CHECK_TAG}, the committed one has {len(theirs)}"
        )
        return 0, problems
    for position, (new, old) in enumerate(zip(ours, theirs)):
        if _text_outputs(new) != _text_outputs(old):
            first = "".join(old["source"]).splitlines()[0] if old["source"] else ""
            problems.append(
                f"the output of exactly-checked cell {position + 1} ({first[:60]!r}) changed"
            )
    return len(ours), problems


def notebook_pairs(run_dir, chapters=CHAPTERS, notebook_dir=None) -> dict:
    """``{file name: (executed, committed)}`` for each chapter's executed notebook in
    ``run_dir`` that has a committed counterpart (the repository's ``notebooks/``)."""
    try:
        committed = {p.name: p for p in find_notebooks(notebook_dir)}
    except FileNotFoundError:
        return {}
    pairs = {}
    for path in sorted(Path(run_dir).glob("[0-9][0-9]_*.ipynb")):
        if path.name[:2] in chapters and path.name in committed:
            pairs[path.name] = (
                json.loads(path.read_text()),
                json.loads(committed[path.name].read_text()),
            )
    return pairs


def report(result: dict) -> str:
    """The comparison in lines a CI log can show: the mode and why first, then every failure,
    every drifted accuracy, and a verdict line."""
    lines = [f"comparison mode: {result['mode']} ({result['why']})"]
    lines += result["failures"]
    if result["drift"]:
        lines.append(
            f"{len(result['drift'])} trained accuracies moved on this machine (drift, reported "
            "with the band the committed seed studies give; not a failure):"
        )
        lines += ["  " + line for line in result["drift"]]
    counts = result["counts"]
    verdict = "PASSED" if result["passed"] else "FAILED"
    lines.append(
        f"{verdict}: {counts['records']} records present, {counts['accuracies']} accuracies "
        f"compared exactly, {counts['invariants']} training-independent numbers, "
        f"{counts['claims']} claims, {counts['cells']} exactly-checked notebook cells; "
        f"{len(result['failures'])} failures, {len(result['drift'])} drifted."
    )
    return "\n".join(lines)


def load_reference(path: str | os.PathLike | None = None) -> dict:
    """The committed reference run (or the one at ``path``)."""
    path = Path(path) if path is not None else REFERENCE_PATH
    if not path.is_file():
        raise FileNotFoundError(f"no reference run at {path}")
    return json.loads(path.read_text())


def main(argv: list[str] | None = None, prog: str = "fgsm-series regress") -> int:
    """``regress RUN_DIR [--mode auto|exact|invariants] [--reference FILE] [--tolerance T]``,
    or ``regress --record RUN_DIR`` to write the reference from the run the committed notebooks
    come from. Exit 0 passed, 1 failed (or could not run), 2 bad usage."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help="folder of a finished full run (fgsm-series run --out)")
    parser.add_argument("--reference", help=f"reference file (default: {REFERENCE_PATH.name})")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE)
    parser.add_argument(
        "--record",
        action="store_true",
        help="write RUN_DIR's records as the new reference instead of comparing",
    )
    parser.add_argument(
        "--mode",
        choices=("auto", *MODES),
        default="auto",
        help="exact: every accuracy must match; invariants: only what does not depend on "
        "training (and the claims) must; auto (default): exact on the reference's kind of CPU",
    )
    parser.add_argument("--data-dir", default=None, help="MNIST folder, for --record")
    parser.add_argument("--notebooks", default=None, help="the committed notebooks' folder")
    args = parser.parse_args(argv)
    if args.tolerance < 0:
        parser.error(f"--tolerance must be >= 0; got {args.tolerance}")
    run_dir = Path(args.run_dir)
    try:
        if args.record:
            target = Path(args.reference) if args.reference else REFERENCE_PATH
            reference = make_reference(
                run_dir, f"{prog} --record {args.run_dir}", data_dir=args.data_dir
            )
            target.write_text(json.dumps(reference, indent=1) + "\n")
            print(f"wrote {target}: {len(reference['records'])} records")
            return 0
        if not (run_dir / "results.json").is_file():
            raise FileNotFoundError(f"{run_dir / 'results.json'} does not exist: run first")
        run = _check_full_run(run_dir)
        reference = load_reference(args.reference)
        chapters = tuple(reference.get("chapters", CHAPTERS))
        result = compare(
            reference,
            load_results(run_dir / "results.json"),
            mode=args.mode,
            machine=run.get("machine"),  # None for an older run: never compared exactly
            tolerance=args.tolerance,
            notebooks=notebook_pairs(run_dir, chapters, args.notebooks),
        )
    except (ValueError, OSError, json.JSONDecodeError, KeyError) as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 1
    print(report(result))
    return 0 if result["passed"] else 1
