"""The batch run on tiny stand-in notebooks: order, parameters, results on disk, failures."""

import json
import os

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from fgsm_helpers import runner


def _notebook(path, body, parameters="VALUE = 1\nOUTPUT_DIR = 'outputs'"):
    cell = new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    notebook = new_notebook(cells=[cell, new_code_cell(body)])
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(notebook, path)


@pytest.fixture()
def series(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    write = (
        "import json, os, pathlib\n"
        "path = pathlib.Path(OUTPUT_DIR) / 'results.json'\n"
        "data = json.loads(path.read_text()) if path.exists() else {'records': []}\n"
        "data['records'].append({'notebook': '{name}', 'value': VALUE, 'quick': os.environ.get('FGSM_QUICK')})\n"
        "path.write_text(json.dumps(data))"
    )
    _notebook(folder / "01_first.ipynb", write.replace("{name}", "01"))
    _notebook(folder / "02_second.ipynb", write.replace("{name}", "02"))
    return folder


def test_runs_in_order_with_parameters(series, tmp_path, monkeypatch):
    monkeypatch.setenv("FGSM_QUICK", "0")
    out = tmp_path / "out"
    timings = runner.run_series(
        out, parameters={"VALUE": 7}, notebook_dir=series, progress=False, quick=True
    )
    records = json.loads((out / "results.json").read_text())["records"]
    assert [r["notebook"] for r in records] == ["01", "02"]
    assert all(r["value"] == 7 and r["quick"] == "1" for r in records)
    assert (out / "01_first.ipynb").is_file() and (out / "02_second.ipynb").is_file()
    assert set(timings) == {"01_first.ipynb", "02_second.ipynb", "total"}
    assert json.loads((out / "run.json").read_text())["quick"] is True
    assert os.environ["FGSM_QUICK"] == "0"  # the caller's environment is restored


def test_failure_names_notebook_and_cell_and_keeps_earlier_results(series, tmp_path):
    _notebook(series / "02_second.ipynb", "raise RuntimeError('boom')")
    _notebook(series / "03_third.ipynb", "VALUE")
    out = tmp_path / "out"
    with pytest.raises(
        runner.SeriesError,
        match=r"02_second.ipynb failed at cell \[3\] \(raise RuntimeError\('boom'\)\): RuntimeError: boom",
    ):
        runner.run_series(out, notebook_dir=series, progress=False)
    assert json.loads((out / "results.json").read_text())["records"][0]["notebook"] == "01"
    assert not (out / "03_third.ipynb").exists()


def test_unknown_parameter_is_refused(series, tmp_path):
    with pytest.raises(ValueError, match="NOPE"):
        runner.run_series(
            tmp_path / "out", parameters={"NOPE": 1}, notebook_dir=series, progress=False
        )


def test_command_line_reports_failure(series, tmp_path, capsys):
    _notebook(series / "01_first.ipynb", "1 / 0")
    code = runner.main(
        ["run", "--out", str(tmp_path / "out"), "--notebooks", str(series), "-p", "VALUE", "3"]
    )
    assert code == 1
    assert "01_first.ipynb failed at cell [3] (1 / 0): ZeroDivisionError" in capsys.readouterr().err


@pytest.mark.parametrize(
    "text, value",
    [
        ("3", 3),
        ("0.5", 0.5),
        ("True", True),
        ("None", None),
        ("[0.1, 0.2]", [0.1, 0.2]),
        ("../data", "../data"),
        ("pixel", "pixel"),
    ],
)
def test_parameter_values_are_typed(text, value):
    assert runner.parse_value(text) == value


def test_relative_data_dir_reaches_the_kernels_absolute(tmp_path, monkeypatch):
    """Kernels run in the notebooks' folder: FGSM_DATA_DIR=../shared/data typed at the
    repository root must still mean <root>/../shared/data inside them."""
    folder = tmp_path / "repo" / "notebooks"
    folder.mkdir(parents=True)
    _notebook(
        folder / "01_env.ipynb",
        "import os, pathlib\n"
        "(pathlib.Path(OUTPUT_DIR) / 'data_dir.txt').write_text(os.environ['FGSM_DATA_DIR'])",
    )
    monkeypatch.chdir(tmp_path / "repo")
    monkeypatch.setenv("FGSM_DATA_DIR", "../shared/data")
    out = tmp_path / "out"
    runner.run_series(out, notebook_dir=folder, progress=False)
    assert (out / "data_dir.txt").read_text() == str((tmp_path / "shared" / "data").resolve())
    assert os.environ["FGSM_DATA_DIR"] == "../shared/data"  # the caller's environment is restored
