"""The batch run: execute the whole series with papermill into one output folder.

``python -m fgsm_helpers run --out DIR [--quick] [-p NAME VALUE ...] [--only 01 02]`` (or
``fgsm-series run ...``) writes the executed notebooks, ``DIR/results.json`` (every accuracy
measured) and each figure as PNG. A failing notebook stops the run with its name and the
failing cell; what earlier notebooks wrote stays on disk. The command line itself is
:mod:`fgsm_helpers.cli`.
"""

from __future__ import annotations

import ast
import contextlib
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from ._env import DATA_DIR_ENV, QUICK_ENV

# Set through the environment before the notebooks' parameters cell runs, so papermill's
# injected cell (which comes after it) cannot change it: only --quick can.
NOT_A_PARAMETER = {"QUICK": "--quick"}


def find_notebooks(notebook_dir: str | Path | None = None) -> list[Path]:
    """The series' notebooks (``NN_slug.ipynb``) in order."""
    candidates = (
        [Path(notebook_dir)]
        if notebook_dir
        else [Path.cwd() / "notebooks", Path(__file__).resolve().parents[1] / "notebooks"]
    )
    for folder in candidates:
        notebooks = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
        if notebooks:
            return notebooks
    raise FileNotFoundError(
        "no notebooks found in "
        + " or ".join(str(c) for c in candidates)
        + ": run from the repository root or pass --notebooks DIR"
    )


def parse_value(text: str):
    """A ``-p`` value typed like papermill does: numbers, True/False/None, lists, else a string."""
    for parse in (ast.literal_eval, json.loads):
        try:
            return parse(text)
        except (ValueError, SyntaxError):
            continue
    return text


def notebook_parameters(path: Path) -> set[str]:
    """Names assigned in the notebook's ``parameters`` cell."""
    notebook = json.loads(path.read_text())
    names: set[str] = set()
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            tree = ast.parse("".join(cell["source"]))
            for node in tree.body:
                if isinstance(node, (ast.Assign, ast.AnnAssign)):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def run_series(
    out: str | Path,
    *,
    quick: bool = False,
    parameters: dict | None = None,
    only: list[str] | None = None,
    notebook_dir: str | Path | None = None,
    timeout: int | None = 3600,
    progress: bool = True,
) -> dict:
    """Execute the notebooks in order into ``out``; returns ``{notebook: seconds}``.

    Raises ``ValueError`` (before any notebook runs) for an ``out`` that is a file or cannot be
    written, a parameter no notebook declares, or ``QUICK`` given as a parameter (use
    ``quick=True``); :class:`SeriesError` when a notebook fails.

    >>> run_series("runs/quick", quick=True, only=["01"])  # doctest: +SKIP
    {'01_mnist_cnn.ipynb': 41.2, 'total': 41.2}
    """
    for name, option in NOT_A_PARAMETER.items():
        if name in (parameters or {}):
            raise ValueError(
                f"{name} cannot be set as a parameter: the notebooks derive their settings "
                f"from it before papermill's injected cell runs; use {option} instead"
            )
    out = prepare_output_dir(out)
    notebooks = find_notebooks(notebook_dir)
    if only:
        notebooks = [p for p in notebooks if any(p.name.startswith(prefix) for prefix in only)]
        if not notebooks:
            raise ValueError(f"--only {only} matches no notebook")
    given = dict(parameters or {})
    declared = set().union(*(notebook_parameters(p) for p in notebooks))
    unknown = set(parameters or {}) - declared
    if unknown:
        raise ValueError(
            f"no notebook has the parameter(s) {sorted(unknown)}; known: {sorted(declared)}"
        )
    (out / "run.json").write_text(
        json.dumps(
            {
                "quick": quick,
                "parameters": given,
                "notebooks": [p.name for p in notebooks],
                "machine": kernel_machine(),
            },
            indent=1,
        )
    )
    # The notebooks read FGSM_QUICK in their parameters cell (their own smoke configuration);
    # the kernels inherit it. Restored afterwards: the caller's environment is left as it was.
    # The kernels run in the notebooks' folder, so a relative FGSM_DATA_DIR (e.g. ../shared/data,
    # meant from where the command was typed) is made absolute for them.
    settings = {QUICK_ENV: "1" if quick else "0"}
    if os.environ.get(DATA_DIR_ENV):
        settings[DATA_DIR_ENV] = str(Path(os.environ[DATA_DIR_ENV]).expanduser().resolve())
    previous = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    try:
        return _run_notebooks(notebooks, out, given, quick, timeout, progress)
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def kernel_machine() -> dict | None:
    """The machine the notebooks' kernels run on, as ``regress`` compares it (CPU model and
    vector extensions, torch's threads and version), asked of this Python in a child process so
    that the batch run itself never imports torch; None if that fails."""
    code = (
        "import json; from fgsm_helpers.runtime import machine_key; "
        "print(json.dumps(machine_key()))"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
        )
        return json.loads(done.stdout)
    except (OSError, subprocess.SubprocessError, json.JSONDecodeError):
        return None


def prepare_output_dir(out: str | Path) -> Path:
    """Create ``out`` (and its parents) and check it can be written; returns it absolute.

    Raises ``ValueError`` with a one-line message for a path that is a file, lies under a
    file, or cannot be created or written.

    >>> prepare_output_dir("runs/quick")  # doctest: +SKIP
    PosixPath('/home/me/fgsm-notebooks/runs/quick')
    """
    out = Path(out).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is an existing file; name a folder (it is created)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"--out {out} cannot be created: {err.strerror or err}") from err
    if not os.access(out, os.W_OK | os.X_OK):
        raise ValueError(f"--out {out} is not writable; choose a folder you can write to")
    return out


class _DropPapermillParseWarnings(logging.Filter):
    """papermill re-reads each parameters cell with a line-based parser only to warn about
    unknown parameters, and warns about every line it cannot read (a comment holding ``=``,
    a call with keyword arguments). The runner checks parameter names itself, with Python's
    own parser (``notebook_parameters``), so those warnings tell the user nothing to act on."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Unable to parse line")


@contextlib.contextmanager
def _quiet_papermill() -> Iterator[None]:
    logger = logging.getLogger("papermill.translators")
    drop = _DropPapermillParseWarnings()
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


def kernel_config():
    """Configuration for the kernels the runner starts: CurveZMQ transport encryption where
    the kernelspec supports it (ipykernel 7 declares it), which is also what keeps ipykernel
    from warning "Kernel is running over TCP without encryption" at every notebook. Empty when
    this jupyter_client or pyzmq cannot encrypt (then there is no warning to silence either)."""
    import zmq
    from jupyter_client.manager import KernelManager
    from traitlets.config import Config

    if "transport_encryption" in KernelManager.class_trait_names() and zmq.has("curve"):
        return Config({"KernelManager": {"transport_encryption": "auto"}})
    return Config()


def _run_notebooks(
    notebooks: list[Path], out: Path, given: dict, quick: bool, timeout: int | None, progress: bool
) -> dict:
    import papermill

    config = kernel_config()
    timings: dict[str, float] = {}
    total_start = time.perf_counter()
    for number, path in enumerate(notebooks, 1):
        names = notebook_parameters(path)
        values = {"OUTPUT_DIR": str(out), "CHECKPOINT_DIR": str(out / "checkpoints")}
        values.update(given)
        values = {k: v for k, v in values.items() if k in names}
        print(
            f"[{number}/{len(notebooks)}] {path.name}" + (" (quick)" if quick else ""), flush=True
        )
        start = time.perf_counter()
        try:
            with _quiet_papermill():
                papermill.execute_notebook(
                    str(path),
                    str(out / path.name),
                    parameters=values,
                    kernel_name="python3",
                    cwd=str(path.parent),
                    progress_bar=progress,
                    execution_timeout=timeout,
                    config=config,
                )
        except papermill.PapermillExecutionError as err:
            raise SeriesError(
                f"{path.name} failed at cell [{err.exec_count}] ({_first_line(out / path.name, err.exec_count)}): "
                f"{err.ename}: {err.evalue}\n"
                f"The partly executed notebook is {out / path.name}; results of the notebooks "
                f"before it stay in {out}."
            ) from err
        timings[path.name] = time.perf_counter() - start
        print(f"    done in {timings[path.name]:.0f} s", flush=True)
    timings["total"] = time.perf_counter() - total_start
    (out / "timings.json").write_text(json.dumps(timings, indent=1))
    print(
        f"Series finished in {timings['total']:.0f} s: notebooks, results.json and figures in {out}"
    )
    return timings


def _first_line(executed: Path, exec_count: int) -> str:
    """The first line of the executed notebook's cell with this execution count."""
    try:
        cells = json.loads(executed.read_text())["cells"]
    except (OSError, ValueError, KeyError):
        return "source unavailable"
    for cell in cells:
        if cell.get("execution_count") == exec_count:
            lines = "".join(cell["source"]).strip().splitlines()
            return lines[0][:80] if lines else ""
    return "source unavailable"


class SeriesError(RuntimeError):
    """A notebook of the batch run failed."""
