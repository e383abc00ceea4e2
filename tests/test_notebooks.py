"""The notebooks' structure: title, badge, setup cell, one parameters cell, clean metadata,
committed outputs; badges that point at notebooks that exist; the generated setup cell, run in
a fresh interpreter under stand-ins for Colab, Kaggle and a local kernel, with the package
installed or missing and a pip that succeeds or fails."""

import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fgsm_helpers import badges
from fgsm_helpers.runner import find_notebooks, notebook_parameters

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
_GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


def _load(path):
    return json.loads(path.read_text())


def _source(cell):
    return "".join(cell["source"])


def test_the_series_is_there():
    names = [p.name for p in NOTEBOOKS]
    assert names[:4] == [
        "01_mnist_cnn.ipynb",
        "02_fgsm_attack.ipynb",
        "03_adversarial_training.ipynb",
        "04_results_comparison.ipynb",
    ]
    assert find_notebooks(REPO / "notebooks") == NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_structure(path):
    notebook = _load(path)
    cells = notebook["cells"]
    first = _source(cells[0])
    assert first.startswith("# ") and "## What you will learn" in first
    assert len(badges.BADGE_PATTERN.findall(first)) == 1
    setup = [
        c
        for c in cells
        if c["cell_type"] == "code" and 'IN_COLAB = "google.colab" in sys.modules' in _source(c)
    ]
    assert len(setup) == 1 and "fh.describe_runtime()" in _source(setup[0])
    parameters = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(parameters) == 1
    assert {"SEED", "DATA_DIR", "CHECKPOINT_DIR", "OUTPUT_DIR", "DEVICE"} <= notebook_parameters(
        path
    )
    assert cells.index(setup[0]) < cells.index(parameters[0])
    text = "\n".join(_source(c) for c in cells if c["cell_type"] == "markdown")
    # A summary that quotes the run's numbers is rendered by a code cell (Markdown(f"...")).
    rendered = "\n".join(_source(c) for c in cells if c["cell_type"] == "code")
    assert "## Exercise" in text and ("## Summary" in text or "## Summary" in rendered)
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"
    assert notebook["metadata"].get("accelerator") == "GPU"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_outputs_are_clean(path):
    notebook = _load(path)
    assert "widgets" not in notebook["metadata"], "widget state breaks GitHub's renderer"
    assert "papermill" not in notebook["metadata"]
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        assert "papermill" not in cell.get("metadata", {}), "strip papermill's per-cell timestamps"
        assert "execution" not in cell.get("metadata", {})
        assert "injected-parameters" not in cell.get("metadata", {}).get("tags", [])
        assert cell["execution_count"] is not None, "commit notebooks executed top to bottom"
        for output in cell.get("outputs", []):
            assert output.get("output_type") != "error", _source(cell)[:80]


def test_no_sys_path_hacks_and_no_hard_coded_cuda():
    package = sorted((REPO / "fgsm_helpers").glob("*.py"))
    scripts = [
        p
        for folder in ("benchmarks", "scripts", "tests")
        for p in sorted((REPO / folder).glob("*.py"))
        if p.name != "test_notebooks.py"
    ]  # this test names what it looks for
    for path in NOTEBOOKS + package + scripts:
        text = path.read_text()
        assert "sys.path.insert" not in text and "sys.path.append" not in text, path
    for path in NOTEBOOKS + package:
        text = path.read_text()
        assert '"cuda"' not in text.replace('"cuda", "mps"', "") or path.name == "runtime.py", path


def test_every_badge_points_at_an_existing_notebook():
    table = (REPO / "colab_badges.md").read_text()
    targets = badges.badge_targets(table)
    assert len(targets) == len(NOTEBOOKS)
    for notebook_path in NOTEBOOKS:
        targets += badges.badge_targets(notebook_path.read_text())
    repos_refs = {(repo, ref) for repo, ref, _ in targets}
    assert len(repos_refs) == 1, f"badges disagree on repository or ref: {repos_refs}"
    for _, _, relative in targets:
        assert (REPO / relative).is_file(), f"badge points at a missing notebook: {relative}"


def test_badge_script_rewrites_badges_and_setup_cells(tmp_path):
    (tmp_path / "notebooks").mkdir()
    for path in NOTEBOOKS:
        (tmp_path / "notebooks" / path.name).write_text(path.read_text())
    written = badges.write_badges(tmp_path, "someone/fork", "v1.2")
    assert tmp_path / "colab_badges.md" in written
    for path in (tmp_path / "notebooks").glob("*.ipynb"):
        text = path.read_text()
        assert badges.badge_targets(text) == [("someone/fork", "v1.2", f"notebooks/{path.name}")]
        assert _setup_source(_load(path)) == badges.setup_cell_source("someone/fork", "v1.2")
        assert badges.DEFAULT_REPO not in text
    with pytest.raises(ValueError, match="repo"):
        badges.write_badges(tmp_path, "not a repo", "main")


def test_badge_script_needs_exactly_one_setup_cell(tmp_path):
    (tmp_path / "notebooks").mkdir()
    notebook = _load(NOTEBOOKS[0])
    notebook["cells"] = [c for c in notebook["cells"] if badges.SETUP_MARKER not in _source(c)]
    (tmp_path / "notebooks" / NOTEBOOKS[0].name).write_text(json.dumps(notebook))
    with pytest.raises(ValueError, match="expected one setup cell"):
        badges.write_badges(tmp_path, "someone/fork", "v1.2")


def test_committed_badges_are_what_the_script_writes(tmp_path):
    repo, ref, _ = badges.badge_targets((REPO / "colab_badges.md").read_text())[0]
    (tmp_path / "notebooks").mkdir()
    for path in NOTEBOOKS:
        (tmp_path / "notebooks" / path.name).write_text(path.read_text())
    badges.write_badges(tmp_path, repo, ref)
    assert (tmp_path / "colab_badges.md").read_text() == (REPO / "colab_badges.md").read_text()
    for path in NOTEBOOKS:  # byte for byte: sources keep their form (string or list of lines)
        assert (tmp_path / "notebooks" / path.name).read_text() == path.read_text(), path.name


def _setup_source(notebook):
    return next(
        _source(c)
        for c in notebook["cells"]
        if c["cell_type"] == "code" and badges.SETUP_MARKER in _source(c)
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_setup_cells_are_what_the_script_writes(path):
    """The setup cell is generated (``python -m fgsm_helpers badges``), at the badge's ref."""
    notebook = _load(path)
    repo, ref, _ = badges.badge_targets(_source(notebook["cells"][0]))[0]
    assert _setup_source(notebook) == badges.setup_cell_source(repo, ref)


# A stand-in runtime for the generated setup cell, run in a fresh interpreter: a fake
# google.colab (COLAB), Kaggle's environment variable (set by the test), fgsm_helpers missing
# until "pip" runs (MISSING), and a pip that records its command and exits with PIP_EXIT.
_STAND_IN = """\
import json, subprocess, sys, types

config = json.loads(sys.argv[1])
calls = []
if config["colab"]:
    google, colab = types.ModuleType("google"), types.ModuleType("google.colab")
    colab.output = types.SimpleNamespace(
        enable_custom_widget_manager=lambda: calls.append("widgets")
    )
    google.colab = colab
    sys.modules.update({"google": google, "google.colab": colab})
if config["missing"]:
    sys.modules["fgsm_helpers"] = None  # import fails with ModuleNotFoundError


real_run = subprocess.run


def fake_pip(command, **kwargs):
    if list(command[1:3]) != ["-m", "pip"]:
        return real_run(command, **kwargs)  # e.g. platform.processor()'s uname
    calls.append(command)
    if config["pip_exit"] == 0:
        del sys.modules["fgsm_helpers"]  # "installed": the real package imports again
    return subprocess.CompletedProcess(command, config["pip_exit"], "", "ERROR: no such ref\\n")


subprocess.run = fake_pip
try:
    exec(compile(config["source"], "setup_cell", "exec"), {"__name__": "__main__"})
finally:
    tuned = "fgsm_helpers._env" in sys.modules and sys.modules["fgsm_helpers._env"]._allocator_tuned
    print("CALLS " + json.dumps({"calls": calls, "tuned": tuned}))
"""


def _run_setup_cell(tmp_path, *, colab=False, kaggle=False, missing=False, pip_exit=0):
    """Run ``setup_cell_source("someone/fork", "v1.2")`` under a stand-in runtime; returns
    (exit code, what it printed, its stderr, its pip commands and widget calls, allocator tuned)."""
    script = tmp_path / "stand_in.py"
    script.write_text(_STAND_IN)
    config = {
        "source": badges.setup_cell_source("someone/fork", "v1.2"),
        "colab": colab,
        "missing": missing,
        "pip_exit": pip_exit,
    }
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("COLAB_RELEASE_TAG", "KAGGLE_KERNEL_RUN_TYPE", "FGSM_TUNE_ALLOCATOR")
    }
    if kaggle:
        env["KAGGLE_KERNEL_RUN_TYPE"] = "Interactive"
    completed = subprocess.run(
        [sys.executable, str(script), json.dumps(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    printed, _, record = completed.stdout.rpartition("CALLS ")
    record = json.loads(record)
    return completed.returncode, printed, completed.stderr, record["calls"], record["tuned"]


# The package with the extras the chapters call (chapter 06 needs torchattacks, from [robust]).
PIP_COMMAND = [
    sys.executable,
    "-m",
    "pip",
    "install",
    "-q",
    "fgsm_helpers[robust] @ git+https://github.com/someone/fork@v1.2",
]


def test_setup_cell_installs_the_extras_the_chapters_need():
    assert badges.install_requirement("someone/fork", "v1.2") == PIP_COMMAND[-1]
    assert "robust" in badges.SETUP_EXTRAS


def test_setup_cell_locally_with_the_package_installs_nothing(tmp_path):
    code, printed, err, calls, tuned = _run_setup_cell(tmp_path)
    assert code == 0, err
    assert calls == []
    assert re.search(r"Running on local .* device: ", printed)
    assert "GPU" not in printed  # no advice for a local CPU
    assert tuned == _GLIBC  # the explicit allocator tuning ran


def test_setup_cell_locally_without_the_package_says_how_to_install(tmp_path):
    code, printed, err, calls, _ = _run_setup_cell(tmp_path, missing=True)
    assert code != 0 and calls == []  # never pip-installs into a local environment
    assert "ModuleNotFoundError" in err and "pip install -e '.[robust]'" in err
    assert "scripts/setup.sh" in err


def test_setup_cell_in_colab_with_the_package_skips_the_install(tmp_path):
    code, printed, err, calls, _ = _run_setup_cell(tmp_path, colab=True)
    assert code == 0, err
    assert calls == ["widgets"]
    assert "Google Colab" in printed


def test_setup_cell_in_colab_installs_from_the_badge_repo_and_ref(tmp_path):
    code, printed, err, calls, _ = _run_setup_cell(tmp_path, colab=True, missing=True)
    assert code == 0, err
    assert calls == [PIP_COMMAND, "widgets"]
    assert "Google Colab" in printed
    if "cuda" not in printed:
        assert "Runtime > Change runtime type" in printed  # how to get a GPU in Colab


def test_setup_cell_in_kaggle_installs_and_advises(tmp_path):
    code, printed, err, calls, _ = _run_setup_cell(tmp_path, kaggle=True, missing=True)
    assert code == 0, err
    assert calls == [PIP_COMMAND]  # no Colab widget manager in Kaggle
    assert "Running on Kaggle" in printed
    if "cuda" not in printed:
        assert "Settings > Accelerator" in printed  # how to get a GPU in Kaggle


@pytest.mark.parametrize("runtime", ["colab", "kaggle"])
def test_setup_cell_stops_when_the_install_fails(tmp_path, runtime):
    code, printed, err, calls, _ = _run_setup_cell(
        tmp_path, colab=runtime == "colab", kaggle=runtime == "kaggle", missing=True, pip_exit=1
    )
    assert code != 0 and calls == [PIP_COMMAND]
    assert "ERROR: no such ref" in err  # pip's own error is shown
    error = err.strip().splitlines()[-1]
    assert error.startswith("RuntimeError: ")
    assert "someone/fork" in error and "v1.2" in error and "Internet" in error
    assert "Running on" not in printed  # it stopped: no runtime line after a failed install


def _curve_in_words(curve: dict) -> str:
    """Chapter 02's "The curve in words" cell, run on a made-up FGSM curve (10,000 images)."""
    notebook = _load(REPO / "notebooks" / "02_fgsm_attack.ipynb")
    (cell,) = [c for c in notebook["cells"] if _source(c).startswith("# @title The curve in words")]
    shown = []
    namespace = {
        "curve": curve,
        "x_test": range(10_000),
        "fh": __import__("fgsm_helpers"),
        "QUICK": True,
        "Markdown": str,
        "display": shown.append,
    }
    exec(compile(_source(cell), "chapter02_curve_in_words", "exec"), namespace)
    (text,) = shown
    return text


@pytest.mark.parametrize(
    ("curve", "says", "never"),
    [
        (  # the committed run: 3.4% at eps 0.4, 13.1% at eps 0.8
            {0.0: 99.04, 0.3: 7.48, 0.4: 3.40, 0.5: 3.68, 0.6: 5.77, 0.7: 8.91, 0.8: 13.14},
            "accuracy rises again after eps 0.4. FGSM leaves our CNN 3.4% (95% interval 3.1-3.8%)"
            " at eps 0.4 but 13.1% (95% interval 12.5-13.8%) at eps 0.8",
            "stops falling",
        ),
        ({0.0: 99.0, 0.4: 5.0, 0.8: 1.0}, "Accuracy falls all the way to eps 0.8", "rises"),
        (
            {0.0: 99.0, 0.4: 5.0, 0.6: 10.0, 0.8: 1.0},
            "lowest at the largest eps, 0.8",
            "all the way",
        ),
        ({0.0: 99.0, 0.4: 3.4, 0.8: 3.5}, "ends higher, but not beyond the intervals", "rises"),
    ],
)
def test_chapter02_curve_in_words_says_what_the_curve_does(curve, says, never):
    text = _curve_in_words(curve)
    assert says in text and never not in text
    assert "Chapter 04 comes back to this" not in text
