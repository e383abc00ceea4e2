"""Shared code of the benchmark scripts: machine description, versions, thread setup, load
averages, table printing, and the merge of one benchmark's record into
``benchmarks/results/<machine>.json`` (written atomically: a temporary file in the same folder,
then ``os.replace``, so an interrupted run never leaves a half-written results file).

The results file holds::

    {"machine": {...}, "machine_slug": "cpu-2core-amd-epyc", "updated": "...",
     "benchmarks": {"eps_sweep": {record}, "training": {record}, "end_to_end": {record}}}

and every record holds ``date``, ``threads``, ``software`` (python, torch, torchattacks...),
``machine``, ``load_average`` (before and after), ``config`` and ``figures``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from fgsm_helpers.files import write_json_atomic

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
THREAD_ENV = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OMP_WAIT_POLICY",
    "GOMP_SPINCOUNT",
    "KMP_BLOCKTIME",
    "OMP_PROC_BIND",
)


# ------------------------------------------------------------------------- machine, versions
def describe_machine() -> dict[str, Any]:
    """The package's machine description (CPU model and vector extensions, CPU count, torch's
    threads, platform; ``fgsm_helpers.runtime.describe_machine``), plus what a benchmark reader
    also wants: physical and usable cores, RAM, OS, and the GPU if torch sees one."""
    import psutil
    import torch

    from fgsm_helpers.runtime import describe_machine as package_machine

    info: dict[str, Any] = {
        **package_machine(),
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "arch": platform.machine(),
    }
    if hasattr(os, "sched_getaffinity"):
        info["usable_cores"] = len(os.sched_getaffinity(0))
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def machine_slug(info: dict[str, Any] | None = None) -> str:
    """A short file name for this machine, e.g. ``cpu-2core-amd-epyc``."""
    info = info or describe_machine()
    model = info["cpu_model"].lower()
    model = re.sub(r"\((r|tm)\)", " ", model)
    model = re.sub(r"@.*$", " ", model)  # clock speed
    model = re.sub(r"\b(cpu|processor|\d+-core)\b", " ", model)
    model = re.sub(r"[^a-z0-9]+", "-", model).strip("-") or "unknown"
    cores = info.get("usable_cores") or info.get("logical_cores") or 0
    return f"cpu-{cores}core-{model}"


def software_versions() -> dict[str, str]:
    """Versions of python, torch, torchattacks, numpy, fgsm_helpers, and the git commit."""
    from importlib import metadata

    versions: dict[str, str] = {"python": platform.python_version()}
    for name in ("torch", "torchattacks", "numpy", "fgsm_helpers", "papermill", "psutil"):
        try:  # the installed distribution's version: no slow import
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    try:
        commit = subprocess.check_output(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, text=True, stderr=subprocess.DEVNULL
        ).strip()
        dirty = subprocess.check_output(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            text=True,
            stderr=subprocess.DEVNULL,
        ).strip()
        versions["git_commit"] = commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        pass
    try:
        import torch

        versions["torch_parallel_backend"] = (
            "OpenMP" if "OpenMP" in torch.__config__.parallel_info() else "other"
        )
        versions["mkldnn"] = str(torch.backends.mkldnn.is_available())
    except Exception:
        pass
    return versions


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (None where the OS has none)."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def now_iso() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


# ------------------------------------------------------------------------------- arguments
def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """``--threads``, ``--results`` and ``--data-dir``, shared by every script."""
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch intra-op threads (default: torch.get_num_threads() unchanged)",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=None,
        help="JSON file to merge the figures into (default: benchmarks/results/<machine>.json)",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="folder holding MNIST/raw (default: $FGSM_DATA_DIR, else ../shared/data)",
    )


def setup_threads(threads: int | None) -> int:
    """Set torch's intra-op threads explicitly (``None``: keep the current number)."""
    import torch

    if threads is not None:
        if threads < 1:
            raise SystemExit(f"--threads must be >= 1; got {threads}")
        torch.set_num_threads(threads)
    else:
        torch.set_num_threads(torch.get_num_threads())
    return torch.get_num_threads()


def resolve_data_dir(data_dir: str | None) -> str:
    """``--data-dir``, else the package's default (``$FGSM_DATA_DIR``, else the per-user
    cache: ``fgsm_helpers.data.default_data_dir``); exported as ``FGSM_DATA_DIR`` so
    subprocesses (the notebook runner) see the same data. Benchmarks never download."""
    from fgsm_helpers.data import resolve_data_dir as package_data_dir

    path = str(package_data_dir(data_dir))
    if not (Path(path) / "MNIST" / "raw" / "t10k-images-idx3-ubyte").is_file():
        raise SystemExit(f"real MNIST not found under {path}: pass --data-dir or set FGSM_DATA_DIR")
    os.environ["FGSM_DATA_DIR"] = str(path)
    return str(path)


def default_results_path() -> Path:
    return RESULTS_DIR / f"{machine_slug()}.json"


# ------------------------------------------------------------------------------ the record
def new_record(name: str, threads: int, config: dict[str, Any]) -> dict[str, Any]:
    """The start of a benchmark's record: date, machine, versions, threads, load average."""
    return {
        "benchmark": name,
        "date": now_iso(),
        "machine": describe_machine(),
        "software": software_versions(),
        "threads": threads,
        "environment": {name: os.environ.get(name) for name in THREAD_ENV},
        "load_average": {"before": load_average()},
        "config": config,
        "figures": {},
    }


def finish_record(record: dict[str, Any], started: float) -> dict[str, Any]:
    record["load_average"]["after"] = load_average()
    record["benchmark_seconds"] = round(time.perf_counter() - started, 1)
    before = record["load_average"].get("before")
    cores = record["machine"].get("usable_cores") or record["machine"].get("logical_cores") or 1
    if before and before[0] > 0.5:
        record.setdefault("notes", []).append(
            f"load average {before[0]} on {cores} cores when the benchmark started: other work "
            "was running, so timings may be pessimistic"
        )
    return record


def _to_json(value: Any) -> Any:
    """Plain JSON types: floats rounded to 6 significant digits, dict keys as strings."""
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, Path):
        return str(value)
    return str(value)


def merge_results(path: Path | None, name: str, record: dict[str, Any]) -> Path:
    """Put ``record`` under ``benchmarks[name]`` of the results JSON, keeping the other
    benchmarks' records; the machine description at the top is refreshed."""
    path = Path(path) if path is not None else default_results_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:16]
    with _locked(Path(tempfile.gettempdir()) / f"fgsm-bench-{digest}.lock"):
        return _merge_locked(path, name, record)


@contextlib.contextmanager
def _locked(lock_path: Path):
    """An exclusive lock (``fcntl.flock``) so that two benchmarks finishing at the same time
    do not lose each other's records; no lock where fcntl is missing (Windows)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _merge_locked(path: Path, name: str, record: dict[str, Any]) -> Path:
    data: dict[str, Any] = {}
    if path.is_file():
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            backup = path.with_name(path.name + ".unreadable")
            os.replace(path, backup)
            print(f"warning: {path} was unreadable ({err}); moved it to {backup}", file=sys.stderr)
            data = {}
    machine = describe_machine()
    data["machine"] = machine
    data["machine_slug"] = machine_slug(machine)
    data["updated"] = now_iso()
    data.setdefault("benchmarks", {})[name] = _to_json(record)
    write_json_atomic(path, _to_json(data))
    return path


# ---------------------------------------------------------------------------------- output
def print_table(
    title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]], notes: Iterable[str] = ()
) -> str:
    """Print an aligned text table (and return it)."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
        return str(value)

    text_rows = [[cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in text_rows]) for i, h in enumerate(headers)]
    rule = "  ".join("-" * w for w in widths)
    lines = [title, "=" * len(title), "  ".join(h.ljust(w) for h, w in zip(headers, widths)), rule]
    for row in text_rows:
        lines.append(
            "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(row, widths)))
        )
    lines.append(rule)
    lines.extend(notes)
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def header_line(record: dict[str, Any]) -> str:
    machine, software = record["machine"], record["software"]
    return (
        f"{machine['cpu_model']}, {machine.get('usable_cores', machine['logical_cores'])} cores, "
        f"{machine['ram_gb']} GB | python {software['python']}, torch {software['torch']}, "
        f"torchattacks {software.get('torchattacks')} | threads {record['threads']} | "
        f"load average {record['load_average']['before']}"
    )


def check_mark(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "MISS")
