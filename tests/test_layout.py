"""fh.layout: which cells collapse, and how much of the visible code is plumbing."""

import json

import pytest

from fgsm_helpers import layout


def _code(source, tags=(), **metadata):
    if tags:
        metadata["tags"] = list(tags)
    return {
        "cell_type": "code",
        "id": "c0ffee00",
        "metadata": metadata,
        "source": source,
        "outputs": [],
        "execution_count": None,
    }


def _markdown(source):
    return {"cell_type": "markdown", "id": "deadbeef", "metadata": {}, "source": source}


def _write(folder, name, cells):
    path = folder / name
    notebook = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    return path


# --- collapsing -------------------------------------------------------------------------------


def test_is_collapsed_reads_the_first_line_of_a_code_cell():
    assert layout.is_collapsed(_code("#@title Parameters\nEPOCHS = 1"))
    assert layout.is_collapsed(_code("# @title Parameters, as ruff formats it\nEPOCHS = 1"))
    assert layout.is_collapsed(_code(["  #@title Setup\n", "import sys"]))  # list source
    assert not layout.is_collapsed(_code("EPOCHS = 1\n#@title too late"))
    assert not layout.is_collapsed(_markdown("#@title not code"))


def test_collapse_sets_colab_jupyterlab_and_book_metadata():
    cell = _code("#@title Record the results\nfh.results.add_records(r)")
    layout.collapse(cell)
    metadata = cell["metadata"]
    assert metadata["cellView"] == "form"
    assert metadata["jupyter"]["source_hidden"] is True
    assert metadata["tags"] == ["hide-input"]
    layout.collapse(cell)  # twice: the same, no second tag
    assert metadata["tags"] == ["hide-input"]


@pytest.mark.parametrize("tag", ["remove-input", "remove-cell"])
def test_collapse_adds_no_hide_input_where_a_book_already_removes_the_input(tag):
    cell = _code("#@title Prose\ndisplay(Markdown(text))", tags=[tag, "nbval-ignore-output"])
    layout.collapse(cell)
    assert cell["metadata"]["tags"] == [tag, "nbval-ignore-output"]
    assert cell["metadata"]["cellView"] == "form"


def test_collapse_keeps_other_metadata_and_tags():
    cell = _code("#@title Parameters\nSEED = 0", tags=["parameters"], jupyter={"outputs_hidden": 1})
    layout.collapse(cell)
    assert cell["metadata"]["tags"] == ["parameters", "hide-input"]
    assert cell["metadata"]["jupyter"] == {"outputs_hidden": 1, "source_hidden": True}


@pytest.mark.parametrize("cell", [_code("x = 1"), _markdown("#@title prose")])
def test_collapsing_a_cell_without_a_title_line_is_refused(cell):
    with pytest.raises(ValueError, match="@title"):
        layout.collapse(cell)


# --- measuring --------------------------------------------------------------------------------


def test_measure_counts_plumbing_cells_whole_and_pattern_lines_elsewhere(tmp_path):
    setup = f'import sys\n{layout.SETUP_MARKER}\nprint("set up")'
    lesson = "import torch\nx_adv = x + eps * grad.sign()\n\nloss = model(x_adv)"
    path = _write(
        tmp_path,
        "01_demo.ipynb",
        [
            _markdown("# Title"),
            _code(setup),  # setup cell: every line plumbing
            _code("EPOCHS = 1\nSEED = 0", tags=["parameters"]),
            _code("text = f'{acc:.1f}'\nshow(text)", tags=["remove-input"]),
            _code(lesson),  # one import line is plumbing, the rest lesson
            _code("#@title Save\n" + "fh.plots.save_figure(fig, OUTPUT_DIR, 'x')\n" * 50),
        ],
    )
    view = layout.measure(path)
    plumbing = ["import sys", layout.SETUP_MARKER, 'print("set up")', "EPOCHS = 1", "SEED = 0"]
    plumbing += ["text = f'{acc:.1f}'", "show(text)", "import torch"]
    lesson_lines = ["x_adv = x + eps * grad.sign()", "loss = model(x_adv)"]
    assert view.plumbing_chars == sum(map(len, plumbing))
    assert view.visible_chars == sum(map(len, plumbing + lesson_lines))  # blank lines: none
    assert view.plumbing_share == pytest.approx(view.plumbing_chars / view.visible_chars)
    assert [kind for _, kind, _ in view.plumbing_lines] == [
        "setup cell",
        "setup cell",
        "setup cell",
        "parameters cell",
        "parameters cell",
        "remove-input cell",
        "remove-input cell",
        "import",
    ]
    assert view.plumbing_lines[-1][0] == 4  # the cell's index in the notebook
    assert view.collapsed_cells == 1  # its 51 lines are not visible and not counted
    assert view.longest_visible_cell == 4


def test_every_plumbing_pattern_is_recognised():
    examples = {
        "import": "from fgsm_helpers import plots",
        "results file": "fh.results.add_records(rows)",
        "figure saving": "fh.plots.show_figure(fig, OUTPUT_DIR, 'curve')",
        "data location": "x, y = fh.load_mnist('test', DATA_DIR)",
        "quick mode": "epochs = 1 if QUICK else 5",
        "claim check": "check_claim(acc > 90, 'accurate')",
        "rendered prose": "display(Markdown(f'{acc:.1f}%'))",
        "device and seed": "fh.set_seed(0)",
    }
    assert set(examples) == set(layout.PLUMBING)
    for kind, line in examples.items():
        assert layout.plumbing_kind(line) == kind
    assert layout.plumbing_kind("x_adv = fgsm(model, x, y, eps)") is None


def test_report_flags_too_much_plumbing_and_too_long_a_visible_cell(tmp_path):
    lesson = "\n".join(f"step_{i} = model(x_{i})" for i in range(41))  # 41 lines, no plumbing
    _write(tmp_path, "01_long.ipynb", [_code(lesson)])
    _write(tmp_path, "02_plumbing.ipynb", [_code("import torch\nx = torch.zeros(3)")])
    _write(tmp_path, "03_fine.ipynb", [_code("\n".join(["y = model(x)"] * 40))])
    _write(tmp_path, "notes.ipynb", [_code("import os\n" * 99)])  # not a chapter: ignored
    table, problems = layout.report(tmp_path)
    assert problems == [
        "01_long.ipynb: a visible cell has 41 lines (at most 40)",
        "02_plumbing.ipynb: 40% of the visible code is plumbing (at most 20%)",
    ]
    assert "notes.ipynb" not in table and "03_fine.ipynb" in table
    verbose, _ = layout.report(tmp_path, verbose=True)
    assert "cell 0: [import] import torch" in verbose


def test_share_at_the_limit_is_no_problem():
    view = layout.ChapterView("01_x.ipynb", visible_chars=100, plumbing_chars=20)
    view.longest_visible_cell = layout.MAX_VISIBLE_LINES
    assert view.problems() == []
    assert layout.ChapterView("empty.ipynb").plumbing_share == 0.0


# --- writing ----------------------------------------------------------------------------------


def test_write_layout_collapses_title_cells_and_a_second_run_changes_nothing(tmp_path):
    collapsed = _code("#@title Parameters\nSEED = 0", tags=["parameters"])
    chapter = _write(tmp_path, "01_demo.ipynb", [_markdown("# Ünïcode title"), collapsed])
    done = _write(tmp_path, "02_done.ipynb", [_code("x = 1")])
    assert layout.write_layout(tmp_path) == [chapter]
    cell = json.loads(chapter.read_text())["cells"][1]
    assert cell["metadata"]["cellView"] == "form"
    assert cell["metadata"]["tags"] == ["parameters", "hide-input"]
    assert "Ünïcode" in chapter.read_text()  # written as UTF-8 text, not escaped
    text = chapter.read_text()
    assert layout.write_layout(tmp_path) == []  # idempotent
    assert chapter.read_text() == text
    assert (
        done.read_text()
        == json.dumps(json.loads(done.read_text()), indent=1, ensure_ascii=False) + "\n"
    )
