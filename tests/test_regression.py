"""The results regression: a run against the committed reference run, in both modes, on
synthetic records and on a real run from another CPU (../shared/runs/amd-epyc-2core)."""

import copy
import json
import shutil
from pathlib import Path

import pytest

from fgsm_helpers import claims
from fgsm_helpers.results import add_records, load_results, make_record, results_file
from fgsm_helpers.studies import regression

FOREIGN_RUN = Path(__file__).resolve().parents[2] / "shared" / "runs" / "amd-epyc-2core"
needs_foreign_run = pytest.mark.skipif(
    not (FOREIGN_RUN / "results.json").is_file(), reason=f"no foreign run at {FOREIGN_RUN}"
)


def _records():
    return [
        make_record("baseline", "none", 0.0, 98.95, images="aaaa"),
        make_record("baseline", "fgsm", 0.2, 38.79, labels="true", images="aaaa"),
        make_record("fgsm_at", "fgsm", 0.3, 90.12, labels="true", images="aaaa"),
        make_record("baseline", "pgd", 0.1, 77.4, n_images=500, steps=40, restarts=1),
    ]


def _reference(records=None, machine=None):
    return {
        "machine": machine or regression.machine_key(),
        "chapters": [],  # synthetic records: no chapter's claims apply
        "invariants": {
            "models": {"baseline": {"architecture": "PaperCNN", "parameters": 10, "recipe": {}}},
            "protocol": {"card": {"clamping": "[0, 1]"}},
            "ceilings": {"10000": 11.35},
        },
        "records": records or _records(),
    }


def _results(records=None):
    return {
        "records": records or _records(),
        "models": {"baseline": {"architecture": "PaperCNN", "parameters": 10, "recipe": {}}},
        "protocol": {"card": {"clamping": "[0, 1]"}},
    }


HERE = regression.machine_key()
ELSEWHERE = {**HERE, "cpu_model": "Another CPU", "cpu_flags": ["avx2"]}


def test_exact_mode_on_the_references_machine_passes_identical_records():
    result = regression.compare(_reference(), _results(), machine=HERE)
    assert result["mode"] == "exact" and "reference's kind of machine" in result["why"]
    assert result["passed"] and result["counts"]["accuracies"] == 4 and not result["failures"]


def test_exact_mode_names_the_number_that_moved():
    records = _records()
    records[1] = {**records[1], "accuracy": 38.52}
    result = regression.compare(_reference(), _results(records), machine=HERE)
    assert not result["passed"] and len(result["failures"]) == 1
    line = result["failures"][0]
    assert "baseline fgsm eps=0.2 pixel" in line and "38.79% -> 38.52%" in line and "-0.27" in line


def test_within_tolerance_is_not_a_move():
    records = _records()
    records[0] = {**records[0], "accuracy": 98.99}
    assert regression.compare(_reference(), _results(records), machine=HERE)["passed"]
    tight = regression.compare(_reference(), _results(records), machine=HERE, tolerance=0.01)
    assert not tight["passed"]


def test_another_machine_reports_moved_accuracies_as_drift_and_passes():
    records = _records()
    records[2] = {**records[2], "accuracy": 97.61}  # fgsm_at defeating FGSM on another CPU
    records[3] = {**records[3], "accuracy": 70.0}
    result = regression.compare(_reference(), _results(records), machine=ELSEWHERE)
    assert result["mode"] == "invariants" and "Another CPU" in result["why"]
    assert result["passed"], result["failures"]
    assert len(result["drift"]) == 2
    fgsm_line = next(line for line in result["drift"] if "fgsm_at" in line)
    assert "90.12% -> 97.61%" in fgsm_line and "band [" in fgsm_line and "seeds on" in fgsm_line
    assert "no seed study covers it" in next(line for line in result["drift"] if "pgd" in line)
    assert "drift, reported" in regression.report(result)


def test_a_run_that_does_not_record_its_machine_is_not_compared_exactly():
    result = regression.compare(_reference(), _results(), machine=None)
    assert result["mode"] == "invariants" and "does not record its machine" in result["why"]


@pytest.mark.parametrize("machine", [HERE, ELSEWHERE])
def test_a_missing_measurement_fails_in_both_modes(machine):
    result = regression.compare(_reference(), _results(_records()[:-1]), machine=machine)
    assert not result["passed"] and "missing: baseline pgd" in result["failures"][0]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda r: r["models"]["baseline"].update(parameters=11), "baseline's parameters"),
        (lambda r: r["models"]["baseline"].update(recipe={"epochs": 2}), "baseline's recipe"),
        (lambda r: r["models"].pop("baseline"), "model card of baseline"),
        (lambda r: r["protocol"]["card"].update(clamping="none"), "protocol card"),
        (lambda r: r["records"][1].update(images="bbbb"), "other test images"),
        (lambda r: r["records"][1].update(accuracy=101.0), "not a percentage"),
        (lambda r: r["records"][1].update(n_images=0), "positive integer"),
    ],
)
def test_a_training_independent_change_fails_on_another_machine(change, message):
    results = copy.deepcopy(_results())
    change(results)
    result = regression.compare(_reference(), results, machine=ELSEWHERE)
    assert not result["passed"]
    assert any(message in line for line in result["failures"]), result["failures"]


def test_new_records_are_not_failures():
    records = _records() + [make_record("fgsm_at", "fgsm", 0.8, 40.0)]
    assert regression.compare(_reference(), _results(records), machine=HERE)["passed"]


def test_a_reference_without_invariants_fails_with_what_to_do():
    reference = {k: v for k, v in _reference().items() if k != "invariants"}
    result = regression.compare(reference, _results(), machine=ELSEWHERE)
    assert not result["passed"] and "regress --record" in result["failures"][0]


def test_negative_tolerance_and_unknown_mode_refused():
    with pytest.raises(ValueError, match="tolerance"):
        regression.compare(_reference(), _results(), tolerance=-1)
    with pytest.raises(ValueError, match="mode"):
        regression.compare(_reference(), _results(), mode="loose")


# --- the notebooks' exactly-checked cells ----------------------------------------------------


def _notebook(text, error=False):
    outputs = [{"output_type": "stream", "name": "stdout", "text": [text]}]
    if error:
        outputs.append({"output_type": "error", "ename": "ClaimFailed", "evalue": "no"})
    return {
        "cells": [
            {"cell_type": "code", "metadata": {}, "source": ["x"], "outputs": []},
            {
                "cell_type": "code",
                "metadata": {"tags": ["nbval-check-output"]},
                "source": ["print(count)"],
                "outputs": outputs,
            },
        ]
    }


def test_an_exactly_checked_cell_that_changed_fails_in_every_mode():
    same = {
        "01_x.ipynb": (_notebook("total parameters: 10\n"), _notebook("total parameters: 10\n"))
    }
    result = regression.compare(_reference(), _results(), machine=ELSEWHERE, notebooks=same)
    assert result["passed"] and result["counts"]["cells"] == 1
    changed = {
        "01_x.ipynb": (_notebook("total parameters: 11\n"), _notebook("total parameters: 10\n"))
    }
    result = regression.compare(_reference(), _results(), machine=ELSEWHERE, notebooks=changed)
    assert not result["passed"] and "exactly-checked cell 1" in result["failures"][0]
    failed = {"01_x.ipynb": (_notebook("a\n", error=True), _notebook("a\n"))}
    result = regression.compare(_reference(), _results(), machine=ELSEWHERE, notebooks=failed)
    assert not result["passed"] and "raised ClaimFailed" in result["failures"][0]


# --- the claims, on a real run from another CPU ------------------------------------------------


@needs_foreign_run
def test_the_foreign_runs_claims_all_hold():
    results = json.loads((FOREIGN_RUN / "results.json").read_text())
    found = claims.run_claims(results, {10000: 11.35, 500: 13.4})
    assert len(found) == 15 and all(c["holds"] for c in found), [c for c in found if not c["holds"]]


NB04 = "04_results_comparison.ipynb"


@needs_foreign_run
def test_each_claim_is_one_its_chapter_checks():
    """run_claims mirrors the chapters' own check_claim calls: the same sentences."""
    results = json.loads((FOREIGN_RUN / "results.json").read_text())
    notebooks = {
        p.name[:2]: p for p in (Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb")
    }
    for claim in claims.run_claims(results, {10000: 11.35, 500: 13.4}):
        source = "".join(
            "".join(cell["source"])
            for cell in json.loads(notebooks[claim["chapter"]].read_text())["cells"]
        )
        assert "check_claim(" in source and f'"{claim["claim"]}"' in source.replace(
            '"\n        "', ""
        ), claim["claim"]


def _copy_run(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(FOREIGN_RUN, run)
    for path in run.iterdir():
        path.chmod(0o644)
    return run


def _edit_record(run, change, **identity):
    path = run / "results.json"
    results = json.loads(path.read_text())
    matches = [r for r in results["records"] if all(r.get(k) == v for k, v in identity.items())]
    assert len(matches) == 1, matches
    change(matches[0])
    path.write_text(json.dumps(results))


@needs_foreign_run
def test_regress_passes_on_the_foreign_run_and_names_its_drift(capsys):
    assert regression.main([str(FOREIGN_RUN)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("comparison mode: invariants (")
    assert "does not record its machine" in out
    assert "drift: fgsm_at fgsm eps=0.2 pixel, 10000 images" in out and "92.31% -> 97.71%" in out
    assert "PASSED: 106 records present" in out and "15 claims" in out


@needs_foreign_run
@pytest.mark.parametrize(
    "edit, expected",
    [
        (  # PGD no longer exposes the FGSM-trained model: chapter 04's claim breaks
            (
                lambda r: r.update(accuracy=96.0),
                dict(model="fgsm_at", attack="pgd", eps=0.3, eps_units="pixel", notebook=NB04),
            ),
            "claim fails: chapter 04: PGD takes the pixel-units FGSM-trained model",
        ),
        (  # the baseline beats the ceiling on flat-gray images: impossible
            (
                lambda r: r.update(accuracy=30.0),
                dict(model="baseline", attack="flat_gray", notebook=NB04),
            ),
            "claim fails: chapter 04: no model beats the ceiling",
        ),
        (  # measured on other test images
            (
                lambda r: r.update(images="0123456789abcdef"),
                dict(model="baseline", attack="fgsm", eps=0.2, notebook="02_fgsm_attack.ipynb"),
            ),
            "measured on other test images",
        ),
    ],
)
def test_regress_fails_on_a_copy_of_the_foreign_run_changed_on_purpose(
    tmp_path, capsys, edit, expected
):
    run = _copy_run(tmp_path)
    change, identity = edit
    _edit_record(run, change, **identity)
    assert regression.main([str(run)]) == 1
    out = capsys.readouterr().out
    assert expected in out and "FAILED" in out


@needs_foreign_run
def test_regress_fails_when_the_foreign_run_lost_a_record_or_a_parameter(tmp_path, capsys):
    run = _copy_run(tmp_path)
    results = json.loads((run / "results.json").read_text())
    results["records"] = [r for r in results["records"] if r["attack"] != "flat_gray"]
    results["models"]["fgsm_at"]["parameters"] += 1
    (run / "results.json").write_text(json.dumps(results))
    assert regression.main([str(run)]) == 1
    out = capsys.readouterr().out
    assert "missing: baseline flat_gray" in out and "fgsm_at's parameters" in out


@needs_foreign_run
def test_exact_mode_on_the_foreign_run_fails_on_its_moved_accuracies(capsys):
    assert regression.main([str(FOREIGN_RUN), "--mode", "exact"]) == 1
    out = capsys.readouterr().out
    assert "comparison mode: exact (asked for" in out
    assert "moved: fgsm_at fgsm eps=0.2 pixel" in out


# --- the command line ---------------------------------------------------------------------------


def _run_dir(tmp_path, records, quick=False, parameters=None, machine=None):
    add_records(tmp_path / "results.json", [{**r, "notebook": "02_x.ipynb"} for r in records])
    add_records(  # a later chapter's record: not part of a reference for chapters 01-04
        tmp_path / "results.json",
        [make_record("pgd_at", "pgd", 0.3, 91.0, notebook="05_y.ipynb", steps=50)],
    )
    run = {"quick": quick, "parameters": parameters or {}, "notebooks": ["01_x.ipynb"]}
    if machine:
        run["machine"] = machine
    (tmp_path / "run.json").write_text(json.dumps(run))
    return tmp_path


@pytest.mark.slow  # --record reads MNIST's test labels for the ceilings
def test_command_line_records_then_compares(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(regression, "CHAPTERS", ("02",))
    monkeypatch.setattr(regression, "run_claims", lambda results, ceilings, chapters: [])
    run = _run_dir(tmp_path / "run", _records(), machine=HERE)
    reference = tmp_path / "reference.json"
    assert regression.main([str(run), "--record", "--reference", str(reference)]) == 0
    recorded = json.loads(reference.read_text())
    assert len(recorded["records"]) == 4 and recorded["invariants"]["ceilings"]["10000"] == 11.35
    assert regression.main([str(run), "--reference", str(reference)]) == 0
    assert "comparison mode: exact" in capsys.readouterr().out
    moved = _run_dir(
        tmp_path / "moved", [{**r, "accuracy": r["accuracy"] + 1} for r in _records()], machine=HERE
    )
    assert regression.main([str(moved), "--reference", str(reference)]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and out.count("moved:") == 4


def test_command_line_refuses_a_quick_run(tmp_path, capsys):
    run = _run_dir(tmp_path, _records(), quick=True)
    assert regression.main([str(run), "--record", "--reference", str(tmp_path / "r.json")]) == 1
    assert "not a default full run" in capsys.readouterr().err
    assert regression.main([str(run)]) == 1
    assert "not a default full run" in capsys.readouterr().err


def test_command_line_missing_run_and_bad_usage(tmp_path, capsys):
    assert regression.main([str(tmp_path / "nowhere")]) == 1
    err = capsys.readouterr().err
    assert "run first" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit) as usage:
        regression.main([str(tmp_path), "--mode", "loose"])
    assert usage.value.code == 2
    with pytest.raises(SystemExit) as usage:
        regression.main([str(tmp_path), "--tolerance", "-1"])
    assert usage.value.code == 2


def test_the_batch_run_records_its_machine(tmp_path, monkeypatch):
    from fgsm_helpers import runner

    monkeypatch.setattr(runner, "_run_notebooks", lambda *args: {"total": 0.0})
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    (notebooks / "01_x.ipynb").write_text(
        json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    )
    runner.run_series(tmp_path / "out", notebook_dir=notebooks)
    machine = json.loads((tmp_path / "out" / "run.json").read_text())["machine"]
    assert machine == regression.machine_key()


def test_records_written_through_a_chapters_results_file_carry_its_notebook(tmp_path):
    stamped = results_file(tmp_path, "03_adversarial_training.ipynb")
    data = add_records(stamped, _records()[:1])
    assert data["records"][0]["notebook"] == "03_adversarial_training.ipynb"
    assert load_results(stamped) == data  # a ResultsFile is a path to everything that reads one
    data = add_records(tmp_path / "other.json", _records()[:1])
    assert "notebook" not in data["records"][0]
    with pytest.raises(ValueError, match="notebook"):
        results_file(tmp_path, "03")


def test_two_chapters_measuring_the_same_thing_keep_a_record_each(tmp_path):
    record = make_record("baseline", "pgd", 0.1, 77.2, n_images=500, steps=20, restarts=1)
    chapter04 = results_file(tmp_path, "04_results_comparison.ipynb")
    add_records(chapter04, [record])
    add_records(chapter04, [{**record, "accuracy": 77.4}])  # the same chapter again: replaced
    chapter05 = results_file(tmp_path, "05_beyond_fgsm.ipynb")
    data = add_records(chapter05, [{**record, "accuracy": 77.6}])  # other random starts
    assert sorted((r["notebook"][:2], r["accuracy"]) for r in data["records"]) == [
        ("04", 77.4),
        ("05", 77.6),
    ]


def test_the_committed_reference_holds_what_does_not_depend_on_training():
    from fgsm_helpers import zoo

    reference = regression.load_reference()
    invariants = reference["invariants"]
    for name, card in invariants["models"].items():
        assert card["recipe"] == zoo.recipe(name)
        assert card["parameters"] == claims.PAPER_CNN_PARAMETERS
    assert invariants["ceilings"] == {"500": 13.4, "10000": 11.35}
    assert reference["chapters"] == list(regression.CHAPTERS)
