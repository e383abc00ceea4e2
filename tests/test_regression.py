"""The results regression: a run's accuracies against the committed reference run."""

import json

import pytest

from fgsm_helpers import regression
from fgsm_helpers.results import add_records, make_record


def _records():
    return [
        make_record("baseline", "none", 0.0, 98.95),
        make_record("baseline", "fgsm", 0.2, 38.79, labels="true"),
        make_record("fgsm_at", "fgsm", 0.3, 90.12, labels="true"),
        make_record("baseline", "pgd", 0.1, 77.4, n_images=500, steps=40, restarts=1),
    ]


def _reference(records=None):
    return {"machine": regression.machine_key(), "records": records or _records()}


def test_same_machine_passes_on_identical_records():
    result = regression.compare(_reference(), _records())
    assert result["mode"] == "exact"
    assert result["passed"] and result["checked"] == 4 and not result["moved"]


def test_same_machine_names_the_number_that_moved():
    records = _records()
    records[1] = {**records[1], "accuracy": 38.52}
    result = regression.compare(_reference(), records)
    assert not result["passed"]
    assert len(result["moved"]) == 1
    line = result["moved"][0]
    assert "baseline fgsm eps=0.2 pixel" in line and "38.79% -> 38.52%" in line and "-0.27" in line


def test_within_tolerance_is_not_a_move():
    records = _records()
    records[0] = {**records[0], "accuracy": 98.99}
    assert regression.compare(_reference(), records, tolerance=0.05)["passed"]
    assert not regression.compare(_reference(), records, tolerance=0.01)["passed"]


def test_missing_measurement_fails():
    result = regression.compare(_reference(), _records()[:-1])
    assert not result["passed"]
    assert result["missing"] and "pgd" in result["missing"][0]


def test_new_records_are_not_failures():
    records = _records() + [make_record("fgsm_at", "fgsm", 0.8, 40.0)]
    assert regression.compare(_reference(), records)["passed"]


def test_other_machine_uses_the_seed_study_bands():
    # seed study, baseline pixel eps 0.2: five seeds between 25.84% and 45.84%
    records = _records()
    records[1] = {**records[1], "accuracy": 35.17}  # another CPU's seed 0: inside the band
    result = regression.compare(_reference(), records, same_machine=False)
    assert result["mode"] == "seed band" and result["passed"]
    assert any("pgd" in name for name in result["unjudged"])
    records[1] = {**records[1], "accuracy": 2.0}  # a broken attack or training: far outside
    result = regression.compare(_reference(), records, same_machine=False)
    assert not result["passed"] and "outside the seed study's band" in result["moved"][0]


def test_negative_tolerance_refused():
    with pytest.raises(ValueError, match="tolerance"):
        regression.compare(_reference(), _records(), tolerance=-1)


def _run_dir(tmp_path, records, quick=False, parameters=None):
    add_records(tmp_path / "results.json", [{**r, "notebook": "02_x.ipynb"} for r in records])
    add_records(  # a later chapter's record: not part of a reference for chapters 01-04
        tmp_path / "results.json",
        [make_record("pgd_at", "pgd", 0.3, 91.0, notebook="05_y.ipynb", steps=50)],
    )
    (tmp_path / "run.json").write_text(
        json.dumps({"quick": quick, "parameters": parameters or {}, "notebooks": ["01_x.ipynb"]})
    )
    return tmp_path


def test_command_line_records_then_compares(tmp_path, capsys):
    run = _run_dir(tmp_path / "run", _records())
    reference = tmp_path / "reference.json"
    assert regression.main([str(run), "--record", "--reference", str(reference)]) == 0
    assert len(json.loads(reference.read_text())["records"]) == 4
    assert regression.main([str(run), "--reference", str(reference)]) == 0
    assert "PASSED: 4 accuracies compared" in capsys.readouterr().out
    moved = _run_dir(tmp_path / "moved", [{**r, "accuracy": r["accuracy"] + 1} for r in _records()])
    assert regression.main([str(moved), "--reference", str(reference)]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and out.count("moved:") == 4


def test_command_line_refuses_a_quick_run_as_reference(tmp_path, capsys):
    run = _run_dir(tmp_path, _records(), quick=True)
    assert regression.main([str(run), "--record", "--reference", str(tmp_path / "r.json")]) == 2
    assert "not a default full run" in capsys.readouterr().out


def test_records_are_stamped_with_the_batch_runs_notebook(tmp_path, monkeypatch):
    monkeypatch.setenv("FGSM_NOTEBOOK", "03_adversarial_training.ipynb")
    data = add_records(tmp_path / "results.json", _records()[:1])
    assert data["records"][0]["notebook"] == "03_adversarial_training.ipynb"
    monkeypatch.delenv("FGSM_NOTEBOOK")
    data = add_records(tmp_path / "other.json", _records()[:1])
    assert "notebook" not in data["records"][0]


def test_command_line_missing_run(tmp_path, capsys):
    assert regression.main([str(tmp_path / "nowhere")]) == 2
    assert "run first" in capsys.readouterr().out


def test_two_chapters_measuring_the_same_thing_keep_a_record_each(tmp_path, monkeypatch):
    record = make_record("baseline", "pgd", 0.1, 77.2, n_images=500, steps=20, restarts=1)
    path = tmp_path / "results.json"
    monkeypatch.setenv("FGSM_NOTEBOOK", "04_results_comparison.ipynb")
    add_records(path, [record])
    add_records(path, [{**record, "accuracy": 77.4}])  # the same chapter again: replaced
    monkeypatch.setenv("FGSM_NOTEBOOK", "05_beyond_fgsm.ipynb")
    data = add_records(path, [{**record, "accuracy": 77.6}])  # another chapter's random starts
    assert sorted((r["notebook"][:2], r["accuracy"]) for r in data["records"]) == [
        ("04", 77.4),
        ("05", 77.6),
    ]
