"""The batch run on tiny stand-in notebooks: order, parameters, results on disk, failures;
the command line: program name, --version, one-line errors, QUICK refused, no warnings, seeds."""

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

import fgsm_helpers
from fgsm_helpers import cli, runner


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
    code = cli.main(
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


# ------------------------------------------------------------------- the command line
def _cli(*args, cwd=None):
    """``python -m fgsm_helpers ARGS`` in a subprocess: (exit code, stdout, stderr)."""
    completed = subprocess.run(
        [sys.executable, "-m", "fgsm_helpers", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )
    return completed.returncode, completed.stdout, completed.stderr


def test_program_name_follows_the_invocation():
    assert cli.program_name("/venv/bin/fgsm-series") == "fgsm-series"
    assert cli.program_name("fgsm-series.exe") == "fgsm-series"  # pip's launcher on Windows
    assert cli.program_name("/repo/fgsm_helpers/__main__.py") == "python -m fgsm_helpers"


def test_usage_lines_name_python_dash_m():
    code, _, err = _cli("run")
    assert code == 2
    assert err.startswith("usage: python -m fgsm_helpers run ")


CONSOLE_SCRIPT = Path(sys.executable).with_name("fgsm-series")


@pytest.mark.skipif(
    not CONSOLE_SCRIPT.exists(), reason="fgsm-series is not installed beside python"
)
def test_console_script_names_itself_in_every_usage_line():
    top = subprocess.run([str(CONSOLE_SCRIPT), "--help"], capture_output=True, text=True)
    assert top.returncode == 0 and top.stdout.startswith("usage: fgsm-series ")
    sub = subprocess.run([str(CONSOLE_SCRIPT), "run"], capture_output=True, text=True)
    assert sub.returncode == 2 and sub.stderr.startswith("usage: fgsm-series run ")
    assert "python -m" not in top.stdout + sub.stderr


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"fgsm-series {fgsm_helpers.__version__}\n"


def _assert_one_line_error(err, *fragments):
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("python -m fgsm_helpers: error: ")
    for fragment in fragments:
        assert fragment in err


def test_out_that_is_a_file_is_a_one_line_error(series, tmp_path):
    existing = tmp_path / "results.txt"
    existing.write_text("keep me")
    code, _, err = _cli("run", "--out", str(existing), "--notebooks", str(series))
    assert code == 1
    _assert_one_line_error(err, str(existing), "existing file")
    assert existing.read_text() == "keep me"


def test_out_under_a_file_is_a_one_line_error(series, tmp_path):
    (tmp_path / "a_file").write_text("")
    code, _, err = _cli(
        "run", "--out", str(tmp_path / "a_file" / "out"), "--notebooks", str(series)
    )
    assert code == 1
    _assert_one_line_error(err, "cannot be created")


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write to any folder"
)
def test_out_that_is_not_writable_is_a_one_line_error(series, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, _, err = _cli("run", "--out", str(locked), "--notebooks", str(series))
    finally:
        locked.chmod(0o700)
    assert code == 1
    _assert_one_line_error(err, "not writable")


def test_not_writable_folder_is_refused_before_any_notebook(series, tmp_path, monkeypatch):
    """The same check without needing a non-root user: os.access says no."""
    monkeypatch.setattr(runner.os, "access", lambda path, mode: False)
    with pytest.raises(ValueError, match="is not writable"):
        runner.run_series(tmp_path / "out", notebook_dir=series, progress=False)
    assert not (tmp_path / "out" / "01_first.ipynb").exists()


def test_quick_as_a_parameter_is_refused(series, tmp_path, capsys):
    code = cli.main(
        ["run", "--out", str(tmp_path / "out"), "--notebooks", str(series), "-p", "QUICK", "True"]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "QUICK" in err and "--quick" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()  # refused before anything ran or was written
    with pytest.raises(ValueError, match="use --quick"):
        runner.run_series(tmp_path / "out", parameters={"QUICK": True}, notebook_dir=series)


def test_a_normal_run_prints_no_warnings(tmp_path):
    """Neither papermill's "Unable to parse line" (a parameters-cell comment with "=") nor
    ipykernel's "running over TCP without encryption" reaches the user."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    _notebook(
        folder / "01_only.ipynb",
        "print(VALUE)",
        parameters="QUICK = bool(0)  # True when FGSM_QUICK=1\nVALUE = 1\nOUTPUT_DIR = 'x'",
    )
    code, out, err = _cli("run", "--out", str(tmp_path / "out"), "--notebooks", str(folder))
    assert code == 0, err
    assert "Series finished" in out
    assert "Unable to parse" not in err
    assert "without encryption" not in err
    assert "WARNING" not in err


def test_seeds_forwards_its_arguments(monkeypatch):
    calls = []
    stand_in = types.ModuleType("fgsm_helpers.studies.seeds")
    stand_in.main = lambda argv, prog: calls.append(argv) or 3
    monkeypatch.setitem(sys.modules, "fgsm_helpers.studies.seeds", stand_in)
    assert cli.main(["seeds", "--help", "--seeds", "0", "1", "-p", "EPOCHS", "2"]) == 3
    assert calls == [["--help", "--seeds", "0", "1", "-p", "EPOCHS", "2"]]
    assert cli.main(["seeds"]) == 3 and calls[-1] == []


def test_seeds_is_listed_in_help(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "seeds" in capsys.readouterr().out
