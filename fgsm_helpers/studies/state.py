"""One skeleton for every study: a resumable state file and one command-line convention.

A study is a JSON file: what it is (``description``), the ``command`` that made it, its
``configuration`` (the quick settings included), the ``versions`` and ``machine`` it ran on,
and a list of runs (one per seed, or per seed and variant). :class:`Study` opens it, refuses to
resume it under another configuration, says which runs are done, and saves it atomically after
every run, so an interrupted study resumes where it stopped.

Every study's command line (:func:`run_command`) follows one convention: ``--out`` (the file,
resumed when it exists), ``--device auto`` (the GPU when there is one), ``--data-dir``,
``--quick``; a usage error exits 2 with argparse's message, an error while running exits 1 with
one line on stderr (``PROG: error: ...``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import torch

from .._env import tune_cpu_allocator
from ..files import write_json_atomic
from ..runtime import describe_machine

#: The committed studies, shipped as package data.
DATA_DIR = Path(__file__).resolve().parent / "data"
COMMITTED = {
    "seeds": ("seed_study.json", "fgsm-series seeds"),
    "collapse": ("collapse_study.json", "fgsm-series collapse"),
    "ablation": ("ablation_study.json", "fgsm-series ablation"),
    "reference": ("reference_run.json", "fgsm-series regress --record"),
    "robustness": ("robustness_study.json", "fgsm-series robustness"),
}


def committed_path(name: str) -> Path:
    """Where the committed study ``name`` (``seeds``, ``collapse``, ``ablation``, ``reference``)
    ships."""
    if name not in COMMITTED:
        raise ValueError(f"name must be one of {sorted(COMMITTED)}; got {name!r}")
    return DATA_DIR / COMMITTED[name][0]


def load(name: str, path: str | os.PathLike | None = None) -> dict:
    """The study at ``path``, else the committed study ``name``; a missing file names the
    command that makes one.

    >>> load("collapse")["configuration"]["epochs"]
    10
    """
    target = Path(path) if path is not None else committed_path(name)
    if not target.is_file():
        raise FileNotFoundError(f"no study at {target}; make one with `{COMMITTED[name][1]}`")
    return json.loads(target.read_text())


def now() -> str:
    """The time, for a study's ``date`` (UTC, to the second)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def check_seeds(seeds: Sequence[int]) -> list[int]:
    """``seeds`` as a list, refused unless they are distinct non-negative integers."""
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must hold at least one seed")
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seeds must be non-negative integers; got {seed!r}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct; got {seeds}")
    return seeds


class Study:
    """A study's file, open for resuming.

    ``runs_key`` names its list of runs (``"runs"``; the seed study keeps ``"seeds"``).
    Opening a file made with another ``configuration`` raises ``ValueError``.

    >>> study = Study("s.json", description="...", command="...", configuration={"quick": True})
    >>> if not study.has(seed=0): study.add({"seed": 0, "accuracy": 98.9})
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        description: str,
        command: str,
        configuration: dict,
        device=None,
        runs_key: str = "runs",
        extra: dict | None = None,
    ) -> None:
        self.path = Path(path)
        self.runs_key = runs_key
        if self.path.is_file():
            self.data = json.loads(self.path.read_text())
            if self.data.get("configuration") != configuration:
                raise ValueError(
                    f"{self.path} holds a study with another configuration (quick="
                    f"{self.data.get('configuration', {}).get('quick')}); choose another --out"
                )
            self.data.setdefault(runs_key, [])
        else:
            self.data = {
                "description": description,
                "command": command,
                "configuration": configuration,
                **(extra or {}),
                "versions": {"torch": torch.__version__, "python": platform.python_version()},
                "machine": describe_machine(device),
                "date": now(),
                runs_key: [],
            }

    @property
    def runs(self) -> list[dict]:
        return self.data[self.runs_key]

    def has(self, **key) -> bool:
        """Whether a run with these fields (``seed=0, variant="defence"``) is already done."""
        return any(all(run.get(k) == v for k, v in key.items()) for run in self.runs)

    def add(self, run: dict, *, sort_by: str | None = None, **sections) -> None:
        """Append ``run`` (sorted by ``sort_by`` if given), set ``sections`` (e.g. ``summary``)
        and the date, and save the file atomically."""
        self.runs.append(run)
        if sort_by:
            self.runs.sort(key=lambda r: r[sort_by])
        self.data.update(sections)
        self.data["date"] = now()
        self.save()

    def save(self) -> None:
        write_json_atomic(self.path, self.data)


# --- the command-line convention ---------------------------------------------------------------


def study_parser(prog: str, description: str, *, out_help: str) -> argparse.ArgumentParser:
    """An argument parser with the options every study takes: ``--out``, ``--device`` (default
    auto), ``--data-dir`` and ``--quick``; add the study's own options to it."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--out", required=True, help=out_help)
    parser.add_argument(
        "--device", default="auto", help="auto (the GPU when there is one), cpu, cuda or mps"
    )
    parser.add_argument("--data-dir", default=None, help="MNIST folder (else $FGSM_DATA_DIR)")
    parser.add_argument("--quick", action="store_true", help="a small, fast configuration")
    return parser


def run_command(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    body: Callable[[argparse.Namespace, str], int | None],
) -> int:
    """Parse ``argv`` (a usage error exits 2), tune the CPU allocator as the notebooks do, and
    run ``body(args, command)``; an error while it runs is printed as one line on stderr and
    returns 1. ``command`` is the command line, for the study file."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    tune_cpu_allocator()  # about 1.2x faster training on a CPU, as in the notebooks' setup cell
    command = f"{parser.prog} {shlex.join(argv)}".strip()
    try:
        return body(args, command) or 0
    except (ValueError, FileNotFoundError, OSError, KeyError) as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 1
