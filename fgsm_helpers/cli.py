"""The command line, ``fgsm-series`` or ``python -m fgsm_helpers``: the one module that knows
every subcommand.

* ``run``: the batch run (:mod:`fgsm_helpers.runner`);
* ``badges``: the Colab badges and setup cells (:mod:`fgsm_helpers.badges`);
* ``layout``: collapsed cells, and the share of visible code that is plumbing
  (:mod:`fgsm_helpers.layout`);
* ``seeds``, ``collapse``, ``ablation``, ``regress``: the studies (:mod:`fgsm_helpers.studies`),
  each with its own options (``fgsm-series seeds --help``).

Every subcommand follows one convention: a usage error exits 2 with argparse's message, an
error while running exits 1 with one line on stderr, ``--device`` defaults to ``auto``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from . import __version__
from .badges import write_badges, write_run_times
from .layout import report, write_layout
from .runner import SeriesError, parse_value, run_series

SCRIPT_NAME = "fgsm-series"  # the console script (pyproject.toml's [project.scripts])
MODULE_NAME = "python -m fgsm_helpers"
#: The studies' subcommands and their modules (each has ``main(argv, prog)``). They are
#: imported when called, so that ``run`` and ``badges`` never import torch.
STUDIES = {
    "seeds": "fgsm_helpers.studies.seeds",
    "collapse": "fgsm_helpers.studies.collapse",
    "ablation": "fgsm_helpers.studies.ablation",
    "regress": "fgsm_helpers.studies.regression",
    "robustness": "fgsm_helpers.studies.robustness",
}


def program_name(argv0: str | None = None) -> str:
    """How the user called the command line, for its usage lines: ``fgsm-series`` when run
    as the console script, else ``python -m fgsm_helpers``."""
    name = Path(argv0 if argv0 is not None else sys.argv[0]).name
    if name.lower().removesuffix(".exe").removesuffix("-script.py") == SCRIPT_NAME:
        return SCRIPT_NAME
    return MODULE_NAME


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser: ``run``, ``badges``, ``--version``, and the studies (``seeds``,
    ``collapse``, ``ablation``, ``regress``), which parse their own options."""
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
    layout = commands.add_parser(
        "layout",
        help="collapse the # @title cells; print each chapter's visible code and plumbing share",
    )
    layout.add_argument("--write", action="store_true", help="write the collapse metadata")
    layout.add_argument(
        "--check", action="store_true", help="exit 1 when a chapter misses the targets"
    )
    layout.add_argument("-v", "--verbose", action="store_true", help="list the plumbing lines")
    layout.add_argument("--notebooks", default="notebooks", help="folder holding the notebooks")
    # Listed for --help only: main() hands everything after a study's name to its own main.
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
        "robustness",
        add_help=False,
        help="AutoAttack on the series' models over seeds and many images (robustness --help)",
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
    if argv[:1] and argv[0] in STUDIES:
        study = importlib.import_module(STUDIES[argv[0]])
        return study.main(argv[1:], prog=f"{program_name()} {argv[0]}")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "layout":
            if args.write:
                for path in write_layout(args.notebooks):
                    print(f"wrote {path}")
            table, problems = report(args.notebooks, verbose=args.verbose)
            print(table)
            for problem in problems:
                print(problem, file=sys.stderr)
            return 1 if args.check and problems else 0
        if args.command == "badges":
            for path in write_badges(args.root, args.repo, args.ref):
                print(f"wrote {path}")
            for path in write_run_times(args.root):
                print(f"wrote {path} (its run-time line)")
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
