"""Colab badges and setup cells, written from the notebooks' file names (never by hand).

``python -m fgsm_helpers badges --repo OWNER/NAME --ref main`` rewrites, in every notebook,
the badge in the first cell and the whole setup cell (:func:`setup_cell_source`, which
installs the package from the same repository and ref as the badge), and writes
``colab_badges.md`` with one badge per notebook.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from .layout import SETUP_MARKER, collapse  # SETUP_MARKER: how the setup cell is found

DEFAULT_REPO = "fgsm-series/fgsm-notebooks"
DEFAULT_REF = "main"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
BADGE_PATTERN = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)")
INSTALL_PATTERN = re.compile(r"git\+https://github\.com/[^\"'\s@]+(@[^\"'\s]+)?")
TARGET_PATTERN = re.compile(
    r"https://colab\.research\.google\.com/github/([^/]+/[^/]+)/blob/([^/]+)/(.+?\.ipynb)"
)


def colab_url(repo: str, ref: str, notebook: str) -> str:
    return f"https://colab.research.google.com/github/{repo}/blob/{ref}/notebooks/{notebook}"


def badge_markdown(repo: str, ref: str, notebook: str) -> str:
    return f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(repo, ref, notebook)})"


def install_url(repo: str, ref: str) -> str:
    return f"git+https://github.com/{repo}@{ref}"


# The extras the setup cell installs with the package: whatever a chapter calls must come with
# it. [robust] is torchattacks 3.3 (chapter 06's AutoAttack and Square, chapter 05's
# cross-checks) and scipy, which it imports; Colab ships scipy, and torchattacks 3.3 declares no
# dependencies, so nothing Colab has is replaced (.ci/colab_twin.sh checks that).
SETUP_EXTRAS = ("robust",)


def install_requirement(repo: str, ref: str) -> str:
    """What the setup cell gives pip: the package with :data:`SETUP_EXTRAS`, from ``repo`` at
    ``ref``.

    >>> install_requirement("me/fork", "v1")
    'fgsm_helpers[robust] @ git+https://github.com/me/fork@v1'
    """
    return f"fgsm_helpers[{','.join(SETUP_EXTRAS)}] @ {install_url(repo, ref)}"


def setup_cell_source(repo: str = DEFAULT_REPO, ref: str = DEFAULT_REF) -> str:
    """The source of every notebook's setup cell, installing from ``repo`` at ``ref``.

    Import first; only when ``fgsm_helpers`` is missing, install it in Colab or Kaggle (and
    stop with a message naming the repository and ref if pip fails), or tell a local user how
    to install it. Then Colab's widget manager, the explicit allocator tuning, and one line
    saying where the notebook runs (with GPU advice for a CPU-only Colab or Kaggle runtime).

    >>> 'REPO, REF = "me/fork", "v1"' in setup_cell_source("me/fork", "v1")
    True
    """
    _check_repo_and_ref(repo, ref)
    extras = ",".join(SETUP_EXTRAS)
    package = f"fgsm_helpers[{extras}]"
    return f"""\
# @title Setup: install `fgsm_helpers` on Colab, then say where this runs
# Written by `python -m fgsm_helpers badges`: edit fgsm_helpers/badges.py, not this cell.
import os
import subprocess
import sys

IN_COLAB = "google.colab" in sys.modules
IN_KAGGLE = "KAGGLE_KERNEL_RUN_TYPE" in os.environ
REPO, REF = "{repo}", "{ref}"  # the same repository and ref as the badge
# The package with the extras the chapters call (torchattacks: chapter 06's AutoAttack)
PACKAGE = f"{package} @ git+https://github.com/{{REPO}}@{{REF}}"

try:
    import fgsm_helpers as fh
except ModuleNotFoundError:
    if not (IN_COLAB or IN_KAGGLE):
        raise ModuleNotFoundError(
            "fgsm_helpers is not installed for this kernel. In a terminal, at the repository's "
            "root, run `pip install -e '.[{extras}]'` (or `bash scripts/setup.sh`), then "
            "restart the kernel."
        ) from None
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", PACKAGE],
        capture_output=True,
        text=True,
    )
    if pip.returncode != 0:
        print(pip.stderr, file=sys.stderr)
        raise RuntimeError(
            f"Could not install fgsm_helpers from the GitHub repository {{REPO}} at ref {{REF}} "
            "(pip's error is above). Is the repository public (a private fork cannot be installed "
            "this way) and does the ref exist? In Kaggle, turn on Settings > Internet. Then run "
            "this cell again."
        ) from None
    import importlib

    importlib.invalidate_caches()  # let this kernel see the package pip just installed
    import fgsm_helpers as fh

if IN_COLAB:
    from google.colab import output

    output.enable_custom_widget_manager()  # Colab's ipywidgets 7 needs it for the sliders

fh.tune_cpu_allocator()  # reuse freed CPU buffers: about 1.2x faster training
print(fh.describe_runtime())
advice = fh.runtime_advice()  # how to get a GPU, on a CPU-only Colab or Kaggle runtime
if advice:
    print(advice)"""


def _check_repo_and_ref(repo: str, ref: str) -> None:
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
        raise ValueError(f"repo must look like OWNER/NAME; got {repo!r}")
    if not re.fullmatch(r"[\w./-]+", ref):
        raise ValueError(f"ref must be a branch, tag or commit; got {ref!r}")


def _set_source(cell: dict, text: str) -> None:
    """Give ``cell`` the source ``text`` in the form its notebook already uses (one string, or
    nbformat's list of lines), so that a cell whose text is unchanged stays byte for byte."""
    cell["source"] = text.splitlines(keepends=True) if isinstance(cell["source"], list) else text


def _title(notebook: dict, fallback: str) -> str:
    for cell in notebook["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


def write_badges(
    root: str | Path = ".", repo: str = DEFAULT_REPO, ref: str = DEFAULT_REF
) -> list[Path]:
    """Rewrite the badge and the setup cell (:func:`setup_cell_source`) of every
    ``root/notebooks/NN_*.ipynb`` and write ``root/colab_badges.md``; returns the files written.

    The setup cell is the one code cell containing ``IN_COLAB = "google.colab" in sys.modules``;
    a notebook without exactly one such cell, or without a badge, is a ``ValueError``.
    """
    _check_repo_and_ref(repo, ref)
    setup_source = setup_cell_source(repo, ref)
    root = Path(root)
    notebooks = sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no notebooks in {root / 'notebooks'}")
    written, rows = [], []
    for path in notebooks:
        notebook = json.loads(path.read_text())
        badge = badge_markdown(repo, ref, path.name)
        first = notebook["cells"][0]
        text = "".join(first["source"])
        if not BADGE_PATTERN.search(text):
            raise ValueError(f"{path.name}: the first cell has no Colab badge to rewrite")
        _set_source(first, BADGE_PATTERN.sub(lambda _, badge=badge: badge, text))
        setup_cells = [
            cell
            for cell in notebook["cells"]
            if cell["cell_type"] == "code" and SETUP_MARKER in "".join(cell["source"])
        ]
        if len(setup_cells) != 1:
            raise ValueError(
                f"{path.name}: expected one setup cell (a code cell with {SETUP_MARKER!r}); "
                f"found {len(setup_cells)}"
            )
        _set_source(setup_cells[0], setup_source)
        collapse(setup_cells[0])
        for cell in notebook["cells"]:
            source = "".join(cell["source"])
            if cell["cell_type"] == "code" and cell is not setup_cells[0] and "git+" in source:
                _set_source(cell, INSTALL_PATTERN.sub(install_url(repo, ref), source))
        path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
        written.append(path)
        rows.append(f"| {path.stem[:2]} | {_title(notebook, path.stem)} | {badge} |")
    table = root / "colab_badges.md"
    table.write_text(
        "# Open the series in Google Colab\n\n"
        f"Written by `python -m fgsm_helpers badges --repo {repo} --ref {ref}`; do not edit by hand.\n"
        "Each notebook installs `fgsm_helpers` from the same repository and ref as its badge.\n\n"
        "| # | Notebook | Open |\n|---|---|---|\n" + "\n".join(rows) + "\n"
    )
    written.append(table)
    return written


RUN_TIME_MARKER = "<!-- run time: written by `python -m fgsm_helpers badges` -->"
QUICK_ADVICE = (
    "On a CPU-only runtime, either switch to a GPU (in Colab: *Runtime > Change runtime type*) "
    "or set `QUICK = True` in the parameters cell: small subsets and few attack steps, a few "
    "minutes, numbers that only show the shape of the results."
)
#: A chapter whose every measured CPU run takes at most this long runs as it is on a CPU.
SHORT_ON_CPU_SECONDS = 300.0
SHORT_ADVICE = (
    "That is short enough to run as it is on a CPU-only runtime; `QUICK = True` in the "
    "parameters cell (small subsets, numbers that only show the shape of the results) is for a "
    "smoke test."
)


def _minutes(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"


def chapter_run_times(notebook: str, results_dir: str | Path) -> dict[str, list[tuple[str, float]]]:
    """The measured run times of ``notebook`` alone in a fresh runtime, from the benchmark
    JSONs in ``results_dir`` (``benchmarks/bench_end_to_end.py --case alone``): ``{"cpu":
    [(machine, seconds), ...], "gpu": [...]}``, from the records whose ``figures`` hold an
    ``alone`` case of the full configuration (``--only`` does not matter there: each chapter
    runs in its own folder anyway). Where one file holds several such records for the
    notebook, the newest (``date``) counts."""
    found: dict[str, list[tuple[str, float]]] = {"cpu": [], "gpu": []}
    for path in sorted(Path(results_dir).glob("*.json")):
        data = json.loads(path.read_text())
        newest = None
        for record in data.get("benchmarks", {}).values():
            figures, config = record.get("figures", {}), record.get("config", {})
            alone = figures.get("alone", {}) if isinstance(figures, dict) else {}
            seconds = alone.get("notebook_seconds", {}).get(notebook)
            if seconds is None or config.get("quick"):
                continue
            if newest is None or record.get("date", "") > newest[0].get("date", ""):
                newest = (record, seconds)
        if newest is None:
            continue
        record, seconds = newest
        machine = record.get("machine", data.get("machine", {}))
        gpu = machine.get("gpu")
        kind = "gpu" if gpu else "cpu"
        name = gpu or f"{machine.get('usable_cores', '?')}-core {machine.get('cpu_model', 'CPU')}"
        found[kind].append((f"{name} (`benchmarks/results/{path.name}`)", float(seconds)))
    return found


def run_time_source(notebook: str, results_dir: str | Path) -> str:
    """The markdown of a chapter's run-time cell: measured alone in a fresh runtime on a 2-core
    CPU (Colab's free runtime has 2 cores) and on a GPU, "not measured" where a benchmark JSON
    has no figure, and what to do on a CPU-only runtime."""
    times = chapter_run_times(notebook, results_dir)

    def listed(kind: str) -> str:
        if not times[kind]:
            return "not measured yet"
        return ", ".join(f"about {_minutes(s)} on {name}" for name, s in times[kind])

    short = times["cpu"] and all(s <= SHORT_ON_CPU_SECONDS for _, s in times["cpu"])
    advice = SHORT_ADVICE if short else QUICK_ADVICE
    return (
        f"{RUN_TIME_MARKER}\n"
        f"**How long it takes.** This chapter alone in a fresh runtime (it trains or loads what "
        f"it needs): on a CPU, {listed('cpu')}; on a GPU, {listed('gpu')}. {advice}"
    )


def write_run_times(root: str | Path = ".") -> list[Path]:
    """Write each chapter's run-time cell (:func:`run_time_source`, a markdown cell after the
    title cell, found by :data:`RUN_TIME_MARKER`) from ``root/benchmarks/results``."""
    root = Path(root)
    written = []
    for path in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        text = path.read_text()
        notebook = json.loads(text)
        source = run_time_source(path.name, root / "benchmarks" / "results")
        cells = [c for c in notebook["cells"] if RUN_TIME_MARKER in "".join(c["source"])]
        if cells:
            _set_source(cells[0], source)
        else:
            cell_id = hashlib.sha1(path.name.encode()).hexdigest()[:8]
            cell = {"cell_type": "markdown", "id": cell_id, "metadata": {}, "source": []}
            _set_source(cell, source)
            notebook["cells"].insert(1, cell)
        new = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
        if new != text:
            path.write_text(new)
            written.append(path)
    return written


def badge_targets(text: str) -> list[tuple[str, str, str]]:
    """``(repo, ref, notebook path)`` of every Colab badge link in ``text``."""
    return TARGET_PATTERN.findall(text)
