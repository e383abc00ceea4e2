"""The batch run: execute the whole series with papermill into one output folder.

``python -m fgsm_helpers run --out DIR [--quick] [-p NAME VALUE ...] [--only 01 02]`` (or
``fgsm-series run ...``) writes the executed notebooks, ``DIR/results.json`` (every accuracy
measured) and each figure as PNG. A failing notebook stops the run with its name and the
failing cell; what earlier notebooks wrote stays on disk. The same command line has
``badges`` (see ``badges``) and ``seeds`` (see ``seeds``).
"""

from __future__ import annotations

import argparse
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

from ._env import DATA_DIR_ENV, NOTEBOOK_ENV, QUICK_ENV

SCRIPT_NAME = "fgsm-series"  # the console script (pyproject.toml's [project.scripts])
MODULE_NAME = "python -m fgsm_helpers"
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
    code = "import json; from fgsm_helpers.regression import machine_key; print(json.dumps(machine_key()))"
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
        # the kernel inherits it: results.add_records stamps each record with its notebook
        os.environ[NOTEBOOK_ENV] = path.name
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
        finally:
            os.environ.pop(NOTEBOOK_ENV, None)
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


def program_name(argv0: str | None = None) -> str:
    """How the user called the command line, for its usage lines: ``fgsm-series`` when run
    as the console script, else ``python -m fgsm_helpers``."""
    name = Path(argv0 if argv0 is not None else sys.argv[0]).name
    if name.lower().removesuffix(".exe").removesuffix("-script.py") == SCRIPT_NAME:
        return SCRIPT_NAME
    return MODULE_NAME


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser (``run``, ``badges``, ``seeds``, ``collapse``, ``ablation``,
    ``regress``,
    ``--version``)."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog=prog or program_name(), description="The FGSM notebook series from the command line."
    )
    parser.add_argument("--version", action="version", version=f"{SCRIPT_NAME} {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="execute the whole series with papermill")
    run.add_argument(
        "--out", required=True, help="folder for executed notebooks, results.json, figures"
    )
    run.add_argument(
        "--quick",
        action="store_true",
        help="smoke configuration (FGSM_QUICK=1): small data subsets, few attack steps",
    )
    run.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="set a notebook parameter (passed to papermill), e.g. -p EPOCHS 2; "
        "QUICK is not one: use --quick",
    )
    run.add_argument(
        "--only", nargs="+", help="run only the notebooks whose names start with these"
    )
    run.add_argument("--notebooks", help="folder holding the notebooks (default: ./notebooks)")
    run.add_argument("--timeout", type=int, default=3600, help="seconds allowed per cell")
    badges = commands.add_parser(
        "badges", help="write the Colab badges and setup cells into the notebooks"
    )
    badges.add_argument("--repo", required=True, help="GitHub OWNER/NAME")
    badges.add_argument("--ref", default="main", help="branch, tag or commit the badges open")
    badges.add_argument("--root", default=".", help="repository root")
    # Listed for --help only: main() hands everything after "seeds" to seeds.main untouched.
    commands.add_parser(
        "seeds", add_help=False, help="seed-variance runs (seeds --help lists its options)"
    )
    commands.add_parser(
        "collapse",
        add_help=False,
        help="how often FGSM with a random start collapses, over seeds (collapse --help)",
    )
    commands.add_parser(
        "ablation",
        add_help=False,
        help="chapter 06's defence with one ingredient changed at a time (ablation --help)",
    )
    commands.add_parser(
        "regress",
        add_help=False,
        help="compare a full run's accuracies with the committed run (regress --help)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """The command line: ``fgsm-series`` / ``python -m fgsm_helpers`` (see ``--help``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["seeds"]:
        from .seeds import main as seeds_main

        return seeds_main(argv[1:])
    if argv[:1] == ["collapse"]:
        from .collapse import main as collapse_main

        return collapse_main(argv[1:], prog=f"{program_name()} collapse")
    if argv[:1] == ["ablation"]:
        from .defence import main as ablation_main

        return ablation_main(argv[1:], prog=f"{program_name()} ablation")
    if argv[:1] == ["regress"]:
        from .regression import main as regress_main

        return regress_main(argv[1:], prog=f"{program_name()} regress")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "badges":
            from .badges import write_badges

            for path in write_badges(args.root, args.repo, args.ref):
                print(f"wrote {path}")
            return 0
        parameters = {name: parse_value(value) for name, value in args.parameter}
        run_series(
            args.out,
            quick=args.quick,
            parameters=parameters,
            only=args.only,
            notebook_dir=args.notebooks,
            timeout=args.timeout,
        )
    except (SeriesError, ValueError, FileNotFoundError) as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 1
    return 0
