"""Commit-ready notebook outputs from a full, seeded run, with the metadata GitHub and reviewers
should not see stripped (papermill's timestamps and parameters, widget state, timings).

Re-execute the notebooks in place, top to bottom in fresh kernels (full configuration):

    FGSM_DATA_DIR=../shared/data .venv/bin/python scripts/refresh_outputs.py [01 02 ...]

or take the executed notebooks of a batch run (``python -m fgsm_helpers run --out DIR``),
dropping the cell papermill injected:

    .venv/bin/python scripts/refresh_outputs.py --from DIR [01 02 ...]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def strip_metadata(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop papermill's injected cell, timestamps and parameters, widget state and timings."""
    for key in ("papermill", "widgets"):
        notebook.metadata.pop(key, None)
    notebook.cells = [
        c for c in notebook.cells if "injected-parameters" not in c.metadata.get("tags", [])
    ]
    for cell in notebook.cells:
        for key in ("papermill", "execution", "ExecuteTime"):
            cell.metadata.pop(key, None)
    return notebook


def selected(prefixes: list[str]) -> list[Path]:
    return [
        p
        for p in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
        if not prefixes or any(p.name.startswith(prefix) for prefix in prefixes)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "prefixes", nargs="*", help="only the notebooks whose names start with these"
    )
    parser.add_argument(
        "--from", dest="run_dir", help="folder of a batch run to take executed notebooks from"
    )
    args = parser.parse_args()
    for path in selected(args.prefixes):
        if args.run_dir:
            executed = Path(args.run_dir) / path.name
            run = json.loads((Path(args.run_dir) / "run.json").read_text())
            if run["quick"] or run["parameters"]:
                raise SystemExit(f"{args.run_dir} is not a full run with default parameters: {run}")
            notebook = nbformat.read(executed, as_version=4)
            nbformat.write(strip_metadata(notebook), path)
            print(f"{path.name}: outputs taken from {executed}")
            continue
        import papermill

        os.environ["FGSM_QUICK"] = "0"
        start = time.perf_counter()
        papermill.execute_notebook(
            str(path), str(path), kernel_name="python3", cwd=str(NOTEBOOKS), progress_bar=False
        )
        nbformat.write(strip_metadata(nbformat.read(path, as_version=4)), path)
        print(f"{path.name}: executed in place in {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
