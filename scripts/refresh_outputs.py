"""Re-execute notebooks in place, top to bottom in a fresh kernel, in their full (not quick)
configuration, and strip the metadata GitHub and reviewers should not see.

    FGSM_DATA_DIR=../shared/data .venv/bin/python scripts/refresh_outputs.py [01 02 ...]

Checkpoints and figures land in notebooks/checkpoints and notebooks/outputs (not committed).
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
import papermill

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def strip_metadata(path: Path) -> None:
    """Drop papermill's timestamps and parameters, widget state, and execution timings."""
    notebook = nbformat.read(path, as_version=4)
    for key in ("papermill", "widgets"):
        notebook.metadata.pop(key, None)
    for cell in notebook.cells:
        for key in ("papermill", "execution", "ExecuteTime"):
            cell.metadata.pop(key, None)
    nbformat.write(notebook, path)


def main(prefixes: list[str]) -> None:
    os.environ["FGSM_QUICK"] = "0"
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        if prefixes and not any(path.name.startswith(p) for p in prefixes):
            continue
        start = time.perf_counter()
        print(f"executing {path.name}", flush=True)
        papermill.execute_notebook(str(path), str(path), kernel_name="python3", cwd=str(NOTEBOOKS),
                                   progress_bar=False)
        strip_metadata(path)
        print(f"    {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
