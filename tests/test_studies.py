"""The skeleton every study shares (``fgsm_helpers.studies.state``), tested once for all: the
resumable state file and the command-line convention of every study's subcommand."""

import json

import pytest

from fgsm_helpers import cli
from fgsm_helpers.studies import state

STUDIES = sorted(cli.STUDIES)


def test_a_study_file_resumes_and_refuses_another_configuration(tmp_path):
    path = tmp_path / "study.json"
    study = state.Study(path, description="d", command="c", configuration={"quick": True})
    assert not path.exists() and study.runs == []  # nothing is written before the first run
    study.add({"seed": 1, "accuracy": 90.0})
    study.add({"seed": 0, "accuracy": 91.0}, sort_by="seed", summary=[{"n": 2}])
    saved = json.loads(path.read_text())
    assert [r["seed"] for r in saved["runs"]] == [0, 1] and saved["summary"] == [{"n": 2}]
    assert {"cpu_model", "cpu_flags", "torch_threads"} <= set(saved["machine"])
    assert saved["versions"]["torch"] and saved["date"]
    again = state.Study(path, description="d", command="c", configuration={"quick": True})
    assert again.has(seed=0) and again.has(seed=1, accuracy=90.0) and not again.has(seed=2)
    with pytest.raises(ValueError, match="another configuration"):
        state.Study(path, description="d", command="c", configuration={"quick": False})


def test_an_interrupted_save_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "study.json"
    study = state.Study(path, description="d", command="c", configuration={})
    study.add({"seed": 0})
    before = path.read_text()

    def broken(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(state.json, "dumps", broken, raising=False)
    monkeypatch.setattr("fgsm_helpers.files.json.dumps", broken)
    with pytest.raises(KeyboardInterrupt):
        study.add({"seed": 1})
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["study.json"]  # no temporary file left


def test_committed_studies_load_by_name_and_missing_ones_say_how_to_make_them(tmp_path):
    for name in state.COMMITTED:
        assert state.load(name)  # every committed study ships with the package
    with pytest.raises(FileNotFoundError, match="fgsm-series seeds"):
        state.load("seeds", tmp_path / "absent.json")
    with pytest.raises(ValueError, match="name must be one of"):
        state.load("nope")


@pytest.mark.parametrize("seeds", [[], [0, 0], [-1], [1.5], [True]])
def test_seeds_must_be_distinct_non_negative_integers(seeds):
    with pytest.raises(ValueError, match="seeds"):
        state.check_seeds(seeds)


@pytest.mark.parametrize("study", STUDIES)
def test_every_study_names_itself_and_exits_2_on_a_usage_error(study, capsys):
    with pytest.raises(SystemExit) as usage:
        cli.main([study, "--no-such-option"])
    assert usage.value.code == 2
    err = capsys.readouterr().err
    assert f"{cli.program_name()} {study}" in err.splitlines()[0]  # the usage line's program


@pytest.mark.parametrize("study", ["seeds", "collapse", "ablation", "robustness"])
def test_every_training_study_defaults_to_device_auto(study, capsys):
    with pytest.raises(SystemExit) as shown:
        cli.main([study, "--help"])
    assert shown.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--device DEVICE" in text and "auto (the GPU when there is one)" in text


@pytest.mark.parametrize(
    "argv, message",
    [
        (["seeds", "--seeds", "0", "--out", "{bad}"], "error:"),
        (["collapse", "--seeds", "0", "--out", "{bad}"], "error:"),
        (["ablation", "--out", "{bad}"], "error:"),
        (["robustness", "--out", "{bad}"], "error:"),
        (["regress", "{missing}"], "run first"),
    ],
)
def test_every_study_reports_a_runtime_error_in_one_line_and_exits_1(
    argv, message, tmp_path, capsys, monkeypatch
):
    bad = tmp_path / "a-file"
    bad.write_text("not json")  # an existing --out that is not a study of this kind
    monkeypatch.setenv("FGSM_DATA_DIR", str(tmp_path / "no-mnist-here"))
    argv = [a.format(bad=bad, missing=tmp_path / "nowhere") for a in argv]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert err.startswith(f"{cli.program_name()} {argv[0]}: error:")
