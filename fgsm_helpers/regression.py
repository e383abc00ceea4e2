"""Regression of the results: every accuracy a run records, against a committed reference run.

The committed notebooks come from one full run; its ``results.json`` records are kept in
``fgsm_helpers/study/reference_run.json`` with the machine they were measured on. A later full
run of chapters 01-04 (``fgsm-series run --only 01 02 03 04 --out DIR``) is compared with it
by ``fgsm-series regress DIR``:

* on the same kind of machine (same CPU model and vector extensions, same torch), training is
  repeatable to the last bit, so every accuracy must match within ``tolerance`` points
  (default 0.05: a few hundredths absorb printing and summation order);
* on another processor, training rounds differently and the FGSM curves amplify that (seed 0
  gave 38.79% on one CPU and 35.17% on another at eps 0.2), so a tight comparison would fail
  for no fault of the code. There the run's FGSM curves are held against the committed seed
  study instead (``fgsm_helpers/study/seed_study.json``, five seeds): each must lie within the
  seeds' min-max widened by two standard deviations. Accuracies the seed study does not cover
  are listed, not judged.

Either way a missing measurement is a failure, and the report names every number that moved.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .results import _KEY_FIELDS, load_results
from .results import _key as _identity

REFERENCE_PATH = Path(__file__).resolve().parent / "study" / "reference_run.json"
DEFAULT_TOLERANCE = 0.05
SEED_BAND_STDS = 2.0
_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile")


def machine_key() -> dict:
    """What decides whether training repeats to the bit: CPU model, its vector extensions, the
    number of threads and the torch version."""
    import torch

    from .seeds import _cpu_model

    flags = set()
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    return {
        "cpu_model": _cpu_model(),
        "cpu_flags": [flag for flag in _FLAGS if flag in flags],
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__.split("+")[0],
    }


def describe_record(record: dict) -> str:
    """A record's identity in words, e.g. ``baseline fgsm eps=0.2 pixel, 10000 images``."""
    extras = [
        f"{field}={record[field]}"
        for field in _KEY_FIELDS
        if field not in ("model", "attack", "eps", "eps_units", "n_images")
        and record.get(field) is not None
    ]
    text = (
        f"{record['model']} {record['attack']} eps={record['eps']:g} {record['eps_units']}, "
        f"{record.get('n_images', 10000)} images"
    )
    return text + (f" ({', '.join(extras)})" if extras else "")


CHAPTERS = ("01", "02", "03", "04")


def make_reference(
    run_dir: str | os.PathLike, command: str, chapters: tuple[str, ...] = CHAPTERS
) -> dict:
    """The reference from a finished full run's folder (its ``results.json`` and ``run.json``):
    the records written by the notebooks whose names start with ``chapters`` (the batch run
    stamps each record with its notebook), the ones a run of those chapters alone re-measures."""
    run_dir = Path(run_dir)
    run = json.loads((run_dir / "run.json").read_text())
    if run.get("quick") or run.get("parameters"):
        raise ValueError(
            f"{run_dir} is not a default full run (quick={run.get('quick')}, parameters="
            f"{run.get('parameters')}); the reference must be the committed configuration"
        )
    records = [
        r
        for r in load_results(run_dir / "results.json")["records"]
        if str(r.get("notebook", "")).startswith(tuple(chapters))
    ]
    if not records:
        raise ValueError(
            f"{run_dir / 'results.json'} holds no records stamped by notebooks {list(chapters)} "
            "(records are stamped when the batch run, fgsm-series run, writes them)"
        )
    return {
        "description": "Accuracies of the full run the committed notebooks come from.",
        "command": command,
        "chapters": list(chapters),
        "machine": machine_key(),
        "records": sorted(records, key=lambda r: [str(v) for v in _identity(r)]),
    }


def _seed_bands() -> dict[tuple, tuple[float, float]]:
    """``(model, units, eps) -> (low, high)`` from the committed seed study."""
    from .seeds import load_study, summarize

    bands = {}
    for row in summarize(load_study()):
        margin = SEED_BAND_STDS * (row["std"] or 0.0)
        bands[row["model"], row["units"], round(row["eps"], 6)] = (
            row["min"] - margin,
            row["max"] + margin,
        )
    return bands


def compare(
    reference: dict,
    records: list[dict],
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    same_machine: bool | None = None,
) -> dict:
    """Compare a run's ``records`` with ``reference`` (see the module's docstring).

    Returns ``{"mode", "checked", "moved", "missing", "unjudged", "passed"}``: ``moved`` and
    ``missing`` hold one line per failing number; ``mode`` is "exact" (same machine, within
    ``tolerance``) or "seed band" (another machine). ``same_machine`` defaults to comparing
    ``machine_key()`` with the reference's.
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0; got {tolerance}")
    if same_machine is None:
        same_machine = reference.get("machine") == machine_key()
    measured = {_identity(r): r for r in records}
    moved, missing, unjudged, checked = [], [], [], 0
    bands = None if same_machine else _seed_bands()
    for ref in reference["records"]:
        new = measured.get(_identity(ref))
        name = describe_record(ref)
        if new is None:
            missing.append(f"missing: {name} (reference {ref['accuracy']:.2f}%)")
            continue
        if same_machine:
            checked += 1
            difference = new["accuracy"] - ref["accuracy"]
            if abs(difference) > tolerance:
                moved.append(
                    f"moved: {name}: {ref['accuracy']:.2f}% -> {new['accuracy']:.2f}% "
                    f"({difference:+.2f} points, tolerance {tolerance:g})"
                )
            continue
        band = None
        if ref["attack"] in ("fgsm", "none") and ref.get("n_images", 10000) == 10000:
            band = bands.get((ref["model"], ref["eps_units"], round(ref["eps"], 6)))
        if band is None:
            unjudged.append(name)
            continue
        checked += 1
        low, high = band
        if not low <= new["accuracy"] <= high:
            moved.append(
                f"moved: {name}: {new['accuracy']:.2f}% is outside the seed study's band "
                f"[{low:.2f}, {high:.2f}] (reference run {ref['accuracy']:.2f}%)"
            )
    return {
        "mode": "exact" if same_machine else "seed band",
        "checked": checked,
        "moved": moved,
        "missing": missing,
        "unjudged": unjudged,
        "passed": not moved and not missing and checked > 0,
    }


def report(result: dict, reference: dict) -> str:
    """The comparison in lines a CI log can show."""
    lines = []
    if result["mode"] == "exact":
        lines.append(
            f"Same machine as the reference ({reference['machine']['cpu_model']}): every "
            f"accuracy must match the committed run."
        )
    else:
        lines.append(
            f"Another machine than the reference's ({reference['machine']['cpu_model']}, "
            f"{', '.join(reference['machine']['cpu_flags'])}; here {machine_key()['cpu_model']}): "
            "training rounds differently here, so the FGSM curves are held against the seed "
            f"study's bands (min-max widened by {SEED_BAND_STDS:g} std); "
            f"{len(result['unjudged'])} other accuracies are not judged."
        )
    lines += result["missing"] + result["moved"]
    verdict = "PASSED" if result["passed"] else "FAILED"
    lines.append(
        f"{verdict}: {result['checked']} accuracies compared, {len(result['moved'])} moved, "
        f"{len(result['missing'])} missing."
    )
    return "\n".join(lines)


def load_reference(path: str | os.PathLike | None = None) -> dict:
    """The committed reference run (or the one at ``path``)."""
    path = Path(path) if path is not None else REFERENCE_PATH
    if not path.is_file():
        raise FileNotFoundError(f"no reference run at {path}")
    return json.loads(path.read_text())


def main(argv: list[str] | None = None, prog: str = "fgsm-series regress") -> int:
    """``regress RUN_DIR [--reference FILE] [--tolerance T]``, or ``regress --record RUN_DIR``
    to write the reference from the run the committed notebooks come from."""
    import argparse

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
        "--same-machine",
        choices=("auto", "yes", "no"),
        default="auto",
        help="compare exactly (yes), against the seed bands (no), or decide from the CPU",
    )
    args = parser.parse_args(argv)
    run_dir = Path(args.run_dir)
    try:
        if args.record:
            target = Path(args.reference) if args.reference else REFERENCE_PATH
            reference = make_reference(run_dir, f"{prog} --record {args.run_dir}")
            target.write_text(json.dumps(reference, indent=1) + "\n")
            print(f"wrote {target}: {len(reference['records'])} records")
            return 0
        if not (run_dir / "results.json").is_file():
            raise FileNotFoundError(f"{run_dir / 'results.json'} does not exist: run first")
        reference = load_reference(args.reference)
        same = {"auto": None, "yes": True, "no": False}[args.same_machine]
        result = compare(
            reference,
            load_results(run_dir / "results.json")["records"],
            tolerance=args.tolerance,
            same_machine=same,
        )
    except (ValueError, FileNotFoundError, json.JSONDecodeError) as err:
        print(f"{prog}: error: {err}")
        return 2
    print(report(result, reference))
    return 0 if result["passed"] else 1
