"""The notebooks' structure: title, badge, setup cell, one parameters cell, clean metadata,
committed outputs; badges that point at notebooks that exist; the Colab branch of the setup
cell, run with a stand-in ``google.colab``."""

import json
import re
import sys
import types
from pathlib import Path

import pytest
from IPython.core.inputtransformer2 import TransformerManager

from fgsm_helpers import badges
from fgsm_helpers.runner import find_notebooks, notebook_parameters

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


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
    assert "## Exercise" in text and "## Summary" in text
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


def test_badge_script_rewrites_badges_and_install_lines(tmp_path):
    (tmp_path / "notebooks").mkdir()
    for path in NOTEBOOKS:
        (tmp_path / "notebooks" / path.name).write_text(path.read_text())
    written = badges.write_badges(tmp_path, "someone/fork", "v1.2")
    assert tmp_path / "colab_badges.md" in written
    for path in (tmp_path / "notebooks").glob("*.ipynb"):
        text = path.read_text()
        assert badges.badge_targets(text) == [("someone/fork", "v1.2", f"notebooks/{path.name}")]
        assert "git+https://github.com/someone/fork@v1.2" in text
        assert badges.DEFAULT_REPO not in text
    with pytest.raises(ValueError, match="repo"):
        badges.write_badges(tmp_path, "not a repo", "main")


def test_committed_badges_are_what_the_script_writes(tmp_path):
    repo, ref, _ = badges.badge_targets((REPO / "colab_badges.md").read_text())[0]
    (tmp_path / "notebooks").mkdir()
    for path in NOTEBOOKS:
        (tmp_path / "notebooks" / path.name).write_text(path.read_text())
    badges.write_badges(tmp_path, repo, ref)
    assert (tmp_path / "colab_badges.md").read_text() == (REPO / "colab_badges.md").read_text()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_setup_cell_in_colab_installs_at_the_badge_ref(path, monkeypatch, capsys):
    """Run the setup cell's Colab branch with a stand-in google.colab and IPython."""
    notebook = _load(path)
    setup = next(
        _source(c)
        for c in notebook["cells"]
        if c["cell_type"] == "code" and 'IN_COLAB = "google.colab" in sys.modules' in _source(c)
    )
    calls = []
    colab = types.ModuleType("google.colab")
    colab.output = types.SimpleNamespace(
        enable_custom_widget_manager=lambda: calls.append("widgets")
    )
    google = types.ModuleType("google")
    google.colab = colab
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    shell = types.SimpleNamespace(run_line_magic=lambda magic, line: calls.append((magic, line)))
    code = TransformerManager().transform_cell(setup)
    exec(compile(code, str(path), "exec"), {"get_ipython": lambda: shell})
    repo, ref, _ = badges.badge_targets(_source(notebook["cells"][0]))[0]
    pip_calls = [c for c in calls if isinstance(c, tuple) and c[0] == "pip"]
    assert pip_calls == [("pip", f'install -q "git+https://github.com/{repo}@{ref}"')]
    assert "widgets" in calls
    printed = capsys.readouterr().out
    assert "Google Colab" in printed
    if "cuda" not in printed:
        assert "no GPU" in printed  # the advice for a CPU-only Colab runtime


def test_setup_cell_outside_colab_installs_nothing(monkeypatch, capsys):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    notebook = _load(NOTEBOOKS[0])
    setup = next(
        _source(c)
        for c in notebook["cells"]
        if c["cell_type"] == "code" and 'IN_COLAB = "google.colab" in sys.modules' in _source(c)
    )
    calls = []
    shell = types.SimpleNamespace(run_line_magic=lambda magic, line: calls.append(magic))
    exec(
        compile(TransformerManager().transform_cell(setup), "setup", "exec"),
        {"get_ipython": lambda: shell},
    )
    assert calls == []
    assert re.search(r"Running on local .* device: ", capsys.readouterr().out)
