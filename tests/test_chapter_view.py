"""What a student sees of the committed chapters: collapsed plumbing, the layout targets, a
text alternative on every figure, and no exercise answer printed."""

from __future__ import annotations

import importlib
import inspect
import json
import shutil
from pathlib import Path

import pytest

from fgsm_helpers import layout

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def test_every_chapter_meets_the_layout_targets():
    table, problems = layout.report(REPO / "notebooks")
    assert problems == [], table


def test_collapse_metadata_is_what_layout_writes(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for path in NOTEBOOKS:
        shutil.copy(path, folder)
    assert layout.write_layout(folder) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_setup_and_parameters_cells_are_collapsed(path):
    cells = [c for c in _cells(path) if c["cell_type"] == "code"]
    setup = [c for c in cells if layout.SETUP_MARKER in "".join(c["source"])]
    parameters = [c for c in cells if "parameters" in c["metadata"].get("tags", [])]
    assert setup and parameters
    for cell in setup + parameters:
        assert layout.is_collapsed(cell), "".join(cell["source"])[:60]
        assert cell["metadata"]["cellView"] == "form"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_figure_output_carries_a_text_alternative(path):
    figures = 0
    for cell in _cells(path):
        for output in cell.get("outputs", []):
            if "image/png" in output.get("data", {}):
                figures += 1
                alt = output.get("metadata", {}).get("image/png", {}).get("alt", "")
                assert len(alt) > 40, (
                    f"a figure without alt text in: {''.join(cell['source'])[:80]}"
                )
    assert figures > 0


def _answer_strings(value) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) < 1000:
        return []
    return [f"{value:,}", str(value)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_chapter_prints_an_exercise_answer(path):
    """Whole-number answers (a parameter count, say) appear nowhere a student reads: not in
    the markdown, not in an output."""
    module = importlib.import_module(f"fgsm_helpers.exercises.chapter{path.name[:2]}")
    chapter = next(v for v in vars(module).values() if type(v).__name__ == "Chapter")
    shown = []
    for cell in _cells(path):
        if cell["cell_type"] == "markdown":
            shown.append("".join(cell["source"]))
        for output in cell.get("outputs", []):
            shown.append(json.dumps(output.get("text", "")) + json.dumps(output.get("data", {})))
    text = "\n".join(shown)
    checked = 0
    for exercise in chapter.exercises:
        function = exercise.solution_function()
        if inspect.signature(function).parameters:
            continue  # an answer computed from data or a function: nothing fixed to print
        for answer in _answer_strings(function()):
            checked += 1
            assert answer not in text, f"{exercise.name}'s answer {answer} is printed"
