"""The Colab twin's two Python steps, run by .ci/colab_twin.sh with the twin's own Python.

``install-args ROOT COMMIT``: the arguments of ``pip install`` that every notebook's setup cell
runs in Colab, one per line, with the GitHub URL (``git+https://github.com/{REPO}@{REF}``)
replaced by this clone at COMMIT (``git+file://ROOT@COMMIT``): pip clones and builds the
package as it does from GitHub, with whatever extras and options the setup cell names. All the
setup cells must agree.

``run --data-dir DIR --python X.Y NOTEBOOK...``: each chapter alone, as a student opens it from
its badge: copied into a fresh temporary folder, executed top to bottom by nbclient in a fresh
kernel of this Python (no papermill, nothing injected) in quick mode (FGSM_QUICK=1). Prints each
chapter's time; a failing chapter is named with its cell and error, the other chapters still
run, and the exit status is 1. Every chapter must have run on Python X.Y.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

SETUP_MARKER = 'IN_COLAB = "google.colab" in sys.modules'  # as fgsm_helpers.badges finds it
KERNEL = "python3"  # the notebooks' kernelspec name, as in Colab
_REPO, _REF = "\x00REPO\x00", "\x00REF\x00"  # stand-ins for the cell's REPO and REF variables
GITHUB_URL = f"git+https://github.com/{_REPO}@{_REF}"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def setup_cell(path: Path) -> str:
    cells = [
        "".join(cell["source"])
        for cell in nbformat.read(path, as_version=4).cells
        if cell.cell_type == "code" and SETUP_MARKER in "".join(cell["source"])
    ]
    if len(cells) != 1:
        raise SystemExit(f"{path.name}: expected one setup cell, found {len(cells)}")
    return cells[0]


def _evaluate(node: ast.expr, namespace: dict[str, str], where: str) -> str:
    return str(eval(compile(ast.Expression(node), where, "eval"), {}, namespace))


def pip_install_args(source: str, where: str) -> list[str]:
    """What follows ``[sys.executable, "-m", "pip", "install", ...`` in the setup cell, each
    argument evaluated with REPO and REF as stand-ins and the cell's own top-level string
    assignments (such as ``PACKAGE = f"...{REPO}@{REF}"``)."""
    tree = ast.parse(source)
    namespace = {"REPO": _REPO, "REF": _REF}
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id not in ("REPO", "REF")
            and isinstance(node.value, (ast.Constant, ast.JoinedStr))
        ):
            namespace[node.targets[0].id] = _evaluate(node.value, namespace, where)
    for node in ast.walk(tree):
        if not isinstance(node, ast.List) or len(node.elts) < 5:
            continue
        head = [ast.unparse(element) for element in node.elts[:4]]
        if head == ["sys.executable", "'-m'", "'pip'", "'install'"]:
            return [_evaluate(element, namespace, where) for element in node.elts[4:]]
    raise SystemExit(f"{where}: the setup cell runs no `pip install`")


def install_args(root: Path, commit: str) -> list[str]:
    notebooks = sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise SystemExit(f"no notebooks in {root / 'notebooks'}")
    found = {path.name: pip_install_args(setup_cell(path), path.name) for path in notebooks}
    if len({tuple(args) for args in found.values()}) != 1:
        raise SystemExit(f"the setup cells install different things: {found}")
    args = next(iter(found.values()))
    if not any(GITHUB_URL in arg for arg in args):
        raise SystemExit(f"the setup cells do not install from the badge's repository: {args}")
    local = f"git+file://{root.resolve()}@{commit}"
    return [arg.replace(GITHUB_URL, local) for arg in args]


def _describe_cell(notebook, index: int) -> str:
    cell = notebook.cells[index]
    first_line = next((line for line in cell.source.splitlines() if line.strip()), "")
    return f"cell {index + 1} of {len(notebook.cells)} (starts `{first_line.strip()[:60]}`)"


def _error_of(cell) -> tuple[str, list[str]]:
    """``(ename: evalue, last traceback lines)`` of a cell's error output."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            lines = ANSI.sub("", "\n".join(output.get("traceback", []))).splitlines()
            return f"{output['ename']}: {output['evalue']}", lines[-12:]
    return "", []


def run_chapter(path: Path, python: str, timeout: int) -> tuple[float, str | None, list[str]]:
    """Execute one chapter alone in a fresh folder; ``(seconds, failure or None, the end of
    the failing cell's traceback)``."""
    with tempfile.TemporaryDirectory(prefix=f"colab-twin-{path.stem[:2]}-") as folder:
        copy = Path(shutil.copy(path, folder))
        notebook = nbformat.read(copy, as_version=4)
        started = {"index": None}
        client = NotebookClient(
            notebook,
            timeout=timeout,
            kernel_name=KERNEL,
            resources={"metadata": {"path": folder}},
            on_cell_start=lambda cell, cell_index: started.update(index=cell_index),
        )
        start = time.perf_counter()
        failure, traceback = None, []
        try:
            client.execute()
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as error:
            index = started["index"]
            where = _describe_cell(notebook, index) if index is not None else "before any cell"
            message, traceback = _error_of(notebook.cells[index]) if index is not None else ("", [])
            if not message:
                message = f"{type(error).__name__}: {str(error).strip().splitlines()[-1]}"
            failure = f"{where}: {message}"
        seconds = time.perf_counter() - start
        version = notebook.metadata.get("language_info", {}).get("version", "unknown")
        if failure is None and not version.startswith(f"{python}."):
            failure = f"ran on Python {version}, not {python}"
    return seconds, failure, traceback


def run(paths: list[Path], data_dir: str, python: str, timeout: int) -> int:
    spec = KernelSpecManager().get_kernel_spec(KERNEL)
    if spec.argv[0] not in ("python", sys.executable):
        raise SystemExit(f"kernel {KERNEL!r} runs {spec.argv[0]}, not this Python {sys.executable}")
    # The kernels inherit this environment: quick mode and the offline MNIST copy, nothing of a
    # batch run.
    os.environ.update(FGSM_QUICK="1", FGSM_DATA_DIR=str(Path(data_dir).resolve()))
    os.environ.pop("FGSM_NOTEBOOK", None)
    times, failures = {}, {}
    for path in paths:
        print(f"{path.name}: running alone in a fresh folder (quick mode)", flush=True)
        seconds, failure, traceback = run_chapter(path, python, timeout)
        times[path.name] = seconds
        status = "passed" if failure is None else f"FAILED at {failure}"
        print(f"{path.name}: {status} in {seconds:.0f} s", flush=True)
        print("".join(f"    | {line}\n" for line in traceback), end="", flush=True)
        if failure is not None:
            failures[path.name] = failure
    print("Colab twin chapters (Python " + python + ", quick mode, each alone):")
    for name, seconds in times.items():
        print(f"  {name}: {seconds:.0f} s, " + ("FAILED" if name in failures else "passed"))
    for name, failure in failures.items():
        print(f"FAIL {name}, {failure}")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    install = commands.add_parser("install-args", help="the setup cell's pip install, locally")
    install.add_argument("root", type=Path)
    install.add_argument("commit")
    chapters = commands.add_parser("run", help="execute each chapter alone")
    chapters.add_argument("notebooks", nargs="+", type=Path)
    chapters.add_argument("--data-dir", required=True)
    chapters.add_argument("--python", required=True, help="the kernel's Python, e.g. 3.13")
    chapters.add_argument("--cell-timeout", type=int, default=1200)
    args = parser.parse_args(argv)
    if args.command == "install-args":
        print("\n".join(install_args(args.root, args.commit)))
        return 0
    return run(args.notebooks, args.data_dir, args.python, args.cell_timeout)


if __name__ == "__main__":
    sys.exit(main())
