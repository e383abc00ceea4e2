"""What a student sees of a chapter: which code cells are collapsed, and how much of the visible
code is plumbing.

A code cell whose first line is ``# @title ...`` (or ``#@title``; ruff and Black write the
space, and Colab reads both) is collapsed everywhere a chapter is read:
Colab shows only its title (``cellView: form``), JupyterLab folds its source
(``jupyter.source_hidden``) and Jupyter Book hides its input (the ``hide-input`` tag, unless the
cell already carries ``remove-input`` or ``remove-cell``). :func:`write_layout` gives every such
cell that metadata (``python -m fgsm_helpers layout --write``); :func:`measure` reports, per
chapter, the code characters still visible and the share of them that is plumbing
(:data:`PLUMBING`: recording results, saving figures, paths, imports, quick-mode switches,
claim checks, rendered prose). Targets: at most :data:`MAX_PLUMBING_SHARE` plumbing and no
visible cell longer than :data:`MAX_VISIBLE_LINES` lines (``layout --check`` fails otherwise).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

TITLE_PATTERN = re.compile(r"#\s?@title\b")
MAX_PLUMBING_SHARE = 0.20
MAX_VISIBLE_LINES = 40
BOOK_TAGS = ("hide-input", "remove-input", "remove-cell")
#: A visible line that matches one of these is plumbing: it serves the run, not the lesson.
PLUMBING = {
    "import": re.compile(r"^\s*(import |from \S+ import )"),
    "results file": re.compile(r"results_path|fh\.results\.|add_records|set_section|make_record"),
    "figure saving": re.compile(r"save_figure|OUTPUT_DIR|CHECKPOINT_DIR"),
    "data location": re.compile(r"DATA_DIR|DOWNLOAD"),
    "quick mode": re.compile(r"\bQUICK\b"),
    "claim check": re.compile(r"check_claim|fh\.claims"),
    "rendered prose": re.compile(r"display\(\s*Markdown|Markdown\("),
    "device and seed": re.compile(r"get_device\(|set_seed\(|\bdevice=device\b"),
}


def is_collapsed(cell: dict) -> bool:
    """True for a code cell whose first line is ``# @title`` (or ``#@title``)."""
    source = "".join(cell.get("source", ""))
    return cell.get("cell_type") == "code" and bool(TITLE_PATTERN.match(source.lstrip()))


def collapse(cell: dict) -> None:
    """Give a ``#@title`` cell the metadata Colab, JupyterLab and Jupyter Book collapse on."""
    if not is_collapsed(cell):
        raise ValueError("only a code cell whose first line is '# @title ...' is collapsed")
    metadata = cell.setdefault("metadata", {})
    metadata["cellView"] = "form"
    metadata.setdefault("jupyter", {})["source_hidden"] = True
    tags = metadata.setdefault("tags", [])
    if not any(tag in tags for tag in BOOK_TAGS):
        tags.append("hide-input")


def write_layout(notebook_dir: str | Path = "notebooks") -> list[Path]:
    """Collapse every ``#@title`` cell of ``notebook_dir/NN_*.ipynb``; returns the notebooks
    whose file changed."""
    changed = []
    for path in sorted(Path(notebook_dir).glob("[0-9][0-9]_*.ipynb")):
        text = path.read_text()
        notebook = json.loads(text)
        for cell in notebook["cells"]:
            if is_collapsed(cell):
                collapse(cell)
        new = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
        if new != text:
            path.write_text(new)
            changed.append(path)
    return changed


#: A visible cell with one of these tags is plumbing as a whole: papermill's parameters, and
#: the cells a rendered book removes (rendered prose, recording results).
PLUMBING_CELL_TAGS = ("parameters", "remove-input", "remove-cell")
#: How the setup cell is found (fh.badges writes it and finds it by the same line).
SETUP_MARKER = 'IN_COLAB = "google.colab" in sys.modules'


def plumbing_cell_kind(cell: dict) -> str | None:
    """The kind of plumbing a whole cell is (setup, parameters, or a cell a book removes)."""
    if SETUP_MARKER in "".join(cell.get("source", "")):
        return "setup cell"
    tags = cell.get("metadata", {}).get("tags", [])
    for tag in PLUMBING_CELL_TAGS:
        if tag in tags:
            return f"{tag} cell"
    return None


def plumbing_kind(line: str) -> str | None:
    """The kind of plumbing ``line`` is (a key of :data:`PLUMBING`), or None for lesson code."""
    for kind, pattern in PLUMBING.items():
        if pattern.search(line):
            return kind
    return None


@dataclass
class ChapterView:
    """What a student sees of one chapter's code."""

    notebook: str
    visible_chars: int = 0
    plumbing_chars: int = 0
    collapsed_cells: int = 0
    longest_visible_cell: int = 0  # lines
    plumbing_lines: list[tuple[int, str, str]] = field(default_factory=list)  # cell, kind, line

    @property
    def plumbing_share(self) -> float:
        return self.plumbing_chars / self.visible_chars if self.visible_chars else 0.0

    def problems(self) -> list[str]:
        found = []
        if self.plumbing_share > MAX_PLUMBING_SHARE:
            found.append(
                f"{self.notebook}: {100 * self.plumbing_share:.0f}% of the visible code is "
                f"plumbing (at most {100 * MAX_PLUMBING_SHARE:.0f}%)"
            )
        if self.longest_visible_cell > MAX_VISIBLE_LINES:
            found.append(
                f"{self.notebook}: a visible cell has {self.longest_visible_cell} lines "
                f"(at most {MAX_VISIBLE_LINES})"
            )
        return found


def measure(path: str | Path) -> ChapterView:
    """Count the code a student sees in the notebook at ``path``: collapsed cells show only
    their title; the other code cells' non-blank lines are counted. Every line of a setup,
    parameters or book-removed cell (:func:`plumbing_cell_kind`) is plumbing, and elsewhere the
    lines matching :data:`PLUMBING`."""
    path = Path(path)
    view = ChapterView(path.name)
    for index, cell in enumerate(json.loads(path.read_text())["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        if is_collapsed(cell):
            view.collapsed_cells += 1
            continue
        lines = source.splitlines()
        view.longest_visible_cell = max(view.longest_visible_cell, len(lines))
        whole = plumbing_cell_kind(cell)
        for line in lines:
            if not line.strip():
                continue
            view.visible_chars += len(line.strip())
            kind = whole or plumbing_kind(line)
            if kind:
                view.plumbing_chars += len(line.strip())
                view.plumbing_lines.append((index, kind, line.strip()))
    return view


def report(notebook_dir: str | Path = "notebooks", verbose: bool = False) -> tuple[str, list[str]]:
    """A table of :func:`measure` for every chapter, and the problems against the targets."""
    rows, problems = [], []
    header = f"{'chapter':34} {'visible':>8} {'plumbing':>9} {'collapsed':>9} {'longest':>8}"
    rows.append(header)
    for path in sorted(Path(notebook_dir).glob("[0-9][0-9]_*.ipynb")):
        view = measure(path)
        rows.append(
            f"{view.notebook:34} {view.visible_chars:8,} {100 * view.plumbing_share:8.1f}% "
            f"{view.collapsed_cells:9} {view.longest_visible_cell:8}"
        )
        if verbose:
            rows += [f"    cell {i}: [{kind}] {line}" for i, kind, line in view.plumbing_lines]
        problems += view.problems()
    rows.append(
        f"targets: at most {100 * MAX_PLUMBING_SHARE:.0f}% plumbing per chapter, no visible "
        f"cell over {MAX_VISIBLE_LINES} lines (visible = code characters outside collapsed cells)"
    )
    return "\n".join(rows), problems
