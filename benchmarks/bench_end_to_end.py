"""End-to-end run of the notebook series: wall time per notebook and peak memory.

Runs ``python -m fgsm_helpers run --out DIR [--only ...] [--quick]`` in a subprocess from the
repository root with ``FGSM_DATA_DIR`` set, and meanwhile polls the process tree with psutil
every ``--poll`` seconds (default 0.2): the RSS of the runner and all its descendants (the
Jupyter kernels papermill starts included) is summed, and the peak of that sum is reported.
Summing RSS counts pages shared between processes (libraries) once per process, so it
over-states real use a little: a conservative figure.

Per-notebook wall times come from ``DIR/timings.json``, which the runner writes
(``{notebook: seconds, "total": seconds}``); the script's own wall time of the subprocess
(interpreter start and imports included) is reported beside it.

Two cases (``--case``, default ``both``):

* ``batch``: the whole series in one output folder, models shared across chapters (the
  README's main command). Targets on the 2-core CPU: chapters 01-04 <= 300 s together, each
  later chapter <= 600 s, the whole series <= 20 minutes, peak RSS of the tree <= 3 GB.
* ``alone``: each chapter in a fresh output folder with no checkpoints, so it trains every model
  it needs itself (the Colab case: every notebook gets its own short-lived runtime). Targets:
  each of chapters 01-04 <= 300 s, each later chapter <= 600 s.

On a machine with a GPU (the notebooks pick it up by themselves) the batch case has one more
target: the whole series <= 60 s.

With ``--quick`` or ``--only`` the targets are printed for reference but do not apply.

``--threads N`` sets ``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` for the runner and its kernels
(default: unset, i.e. torch's default of one thread per core, the number recorded).

    FGSM_DATA_DIR=/work/shared/data .venv/bin/python benchmarks/bench_end_to_end.py
    .venv/bin/python benchmarks/bench_end_to_end.py --quick --only 01        # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import common
import psutil

TARGET_SECONDS_01_04 = 300.0
TARGET_SECONDS_CHAPTER_01_04 = 300.0  # each of 01-04 alone, and 01-04 together in the batch run
TARGET_SECONDS_LATER_CHAPTER = 600.0  # each later chapter, alone or in the batch run
TARGET_SECONDS_SERIES = 1200.0
TARGET_SECONDS_SERIES_GPU = 60.0  # the whole series, when a GPU runs it
TARGET_PEAK_RSS_GB = 3.0
CHAPTERS_01_04 = ("01", "02", "03", "04")


def _short_command(process: psutil.Process) -> str:
    try:
        words = process.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return "?"
    return " ".join(Path(words[0]).name if i == 0 else w for i, w in enumerate(words[:4]))[:80]


class TreeMemoryMonitor:
    """Polls the summed RSS of a process and all its descendants in a background thread."""

    def __init__(self, pid: int, interval: float) -> None:
        self.root = psutil.Process(pid)
        self.interval = interval
        self.peak_bytes = 0
        self.peak_at = 0.0
        self.peak_processes = 0
        self.peak_breakdown: list[dict] = []
        self.samples = 0
        self.max_processes = 0
        self._stop = threading.Event()
        self._start = time.perf_counter()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> int:
        try:
            processes = [self.root] + self.root.children(recursive=True)
        except psutil.NoSuchProcess:
            return 0
        total = 0
        alive = 0
        rows = []
        for process in processes:
            try:
                rss = process.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            total += rss
            alive += 1
            rows.append((process, rss))
        self.samples += 1
        self.max_processes = max(self.max_processes, alive)
        if total > self.peak_bytes:
            self.peak_bytes = total
            self.peak_at = time.perf_counter() - self._start
            self.peak_processes = alive
            self.peak_breakdown = [
                {"pid": p.pid, "command": _short_command(p), "rss_bytes": rss} for p, rss in rows
            ]
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeMemoryMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def run_series(args, run_dir: Path, env: dict, only: list[str] | None = None) -> dict:
    command = [sys.executable, "-m", "fgsm_helpers", "run", "--out", str(run_dir)]
    if args.quick:
        command.append("--quick")
    if only:
        command += ["--only", *only]
    run_dir.mkdir(parents=True, exist_ok=True)
    log_path = run_dir / "bench_runner.log"
    print("running:", " ".join(command), flush=True)
    start = time.perf_counter()
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command, cwd=common.REPO, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        with TreeMemoryMonitor(process.pid, args.poll) as monitor:
            returncode = process.wait()
    wall = time.perf_counter() - start
    log_text = log_path.read_text()
    timings_path = run_dir / "timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.is_file() else {}
    return {
        "command": command,
        "returncode": returncode,
        "wall_seconds": wall,
        "timings": timings,
        "peak_rss_bytes": monitor.peak_bytes,
        "peak_rss_at_seconds": monitor.peak_at,
        "processes_at_peak": monitor.peak_processes,
        "max_processes": monitor.max_processes,
        "peak_breakdown": monitor.peak_breakdown,
        "samples": monitor.samples,
        "log_tail": log_text[-3000:],
        "log_path": str(log_path),
    }


def chapter_target(notebook: str) -> float:
    """The wall-time budget of one chapter (alone, or in the batch run for chapters 05 on)."""
    return (
        TARGET_SECONDS_CHAPTER_01_04
        if notebook[:2] in CHAPTERS_01_04
        else TARGET_SECONDS_LATER_CHAPTER
    )


def target(value, limit: float, applies: bool) -> dict:
    return {
        "target": f"<= {limit:.0f}",
        "value": value,
        "applies": applies,
        "met": (value <= limit) if applies and value is not None else None,
    }


def batch_case(args, run_dir: Path, env: dict) -> tuple[dict, dict, list, dict]:
    """The whole series (or ``--only``) in one folder: figures, targets, table rows and the
    runner's result."""
    result = run_series(args, run_dir, env, args.only)
    timings = result["timings"]
    notebooks = {k: v for k, v in timings.items() if k != "total"}
    chapters = {k: v for k, v in notebooks.items() if k[:2] in CHAPTERS_01_04}
    chapters_total = sum(chapters.values())
    peak_gb = result["peak_rss_bytes"] / 1e9
    full_run = not args.quick and not args.only
    complete_01_04 = len(chapters) == len(CHAPTERS_01_04)
    figures = {
        "returncode": result["returncode"],
        "notebook_seconds": notebooks,
        "runner_total_seconds": timings.get("total"),
        "chapters_01_04_seconds": chapters_total if chapters else None,
        "subprocess_wall_seconds": result["wall_seconds"],
        "peak_rss_bytes": result["peak_rss_bytes"],
        "peak_rss_gb": peak_gb,
        "peak_rss_at_seconds": result["peak_rss_at_seconds"],
        "processes_at_peak": result["processes_at_peak"],
        "peak_rss_by_process": result["peak_breakdown"],
        "max_processes": result["max_processes"],
        "rss_samples": result["samples"],
    }
    targets = {
        "chapters_01_04_seconds": target(
            chapters_total, TARGET_SECONDS_01_04, not args.quick and complete_01_04
        ),
        "series_seconds": target(timings.get("total"), TARGET_SECONDS_SERIES, full_run),
        "peak_rss_gb": target(peak_gb, TARGET_PEAK_RSS_GB, not args.quick),
    }
    for name, seconds in notebooks.items():
        if name[:2] not in CHAPTERS_01_04:
            targets[f"{name[:2]}_seconds"] = target(
                seconds, TARGET_SECONDS_LATER_CHAPTER, not args.quick
            )
    if result["returncode"] != 0:
        figures["log_tail"] = result["log_tail"]
    rows = [
        ["batch: " + name, seconds, *_target_cells(targets.get(f"{name[:2]}_seconds"))]
        for name, seconds in notebooks.items()
    ]
    rows.append(
        [
            "batch: chapters 01-04 (sum)",
            chapters_total if chapters else "-",
            *_target_cells(targets["chapters_01_04_seconds"]),
        ]
    )
    rows.append(
        [
            "batch: whole series",
            timings.get("total", "-"),
            *_target_cells(targets["series_seconds"]),
        ]
    )
    rows.append(
        ["batch: peak RSS of the process tree, GB", peak_gb, *_target_cells(targets["peak_rss_gb"])]
    )
    return figures, targets, rows, result


def alone_case(args, base: Path, env: dict, notebooks: list[str]) -> tuple[dict, dict, list]:
    """Each chapter in a fresh folder (no checkpoints): the Colab case."""
    seconds, peaks, failed = {}, {}, {}
    for name in notebooks:
        run_dir = base / f"alone_{name[:2]}"
        if run_dir.exists():
            shutil.rmtree(run_dir)
        result = run_series(args, run_dir, env, [name[:2]])
        seconds[name] = result["timings"].get(name)
        peaks[name] = result["peak_rss_bytes"] / 1e9
        if result["returncode"] != 0:
            failed[name] = result["log_tail"]
    targets = {
        f"{name[:2]}_alone_seconds": target(
            value, chapter_target(name), not args.quick and value is not None
        )
        for name, value in seconds.items()
    }
    figures = {
        "notebook_seconds": seconds,
        "peak_rss_gb": peaks,
        "failed": failed,
        "returncode": 1 if failed else 0,
    }
    rows = [
        [
            f"alone: {name}",
            value if value is not None else "failed",
            *_target_cells(targets[f"{name[:2]}_alone_seconds"]),
        ]
        for name, value in seconds.items()
    ]
    return figures, targets, rows


def _target_cells(entry: dict | None) -> list[str]:
    if entry is None:
        return ["", ""]
    return [f"{entry['target']}", common.check_mark(entry["met"])]


def record_name(args) -> str:
    """Where the record goes: a smoke or partial run never overwrites the full run's figures."""
    if args.name:
        return args.name
    name = "end_to_end" + ("_quick" if args.quick else "")
    return name + ("_only_" + "_".join(args.only) if args.only else "")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    common.add_common_arguments(parser)
    parser.add_argument("--quick", action="store_true", help="the runner's smoke configuration")
    parser.add_argument(
        "--only", nargs="+", metavar="NN", help="run only these notebooks, e.g. 01 02"
    )
    parser.add_argument(
        "--case",
        choices=("batch", "alone", "both"),
        default="both",
        help="the batch run, each chapter alone (fresh folder, the Colab case), or both",
    )
    parser.add_argument(
        "--run-dir",
        type=Path,
        default=None,
        help="folder for the runs: RUN_DIR/batch and RUN_DIR/alone_NN (default: a temporary "
        "folder, deleted after)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary run folder")
    parser.add_argument(
        "--poll", type=float, default=0.2, help="seconds between RSS samples (default 0.2)"
    )
    parser.add_argument(
        "--name",
        default=None,
        help="key of this record in the results JSON (default 'end_to_end' for the full "
        "series, 'end_to_end_quick' / 'end_to_end_only_NN...' otherwise)",
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    threads = common.setup_threads(args.threads)
    data_dir = common.resolve_data_dir(args.data_dir)
    env = dict(os.environ, FGSM_DATA_DIR=data_dir, PYTHONUNBUFFERED="1")
    if args.threads is not None:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(args.threads)
    config = {
        "quick": args.quick,
        "only": args.only,
        "case": args.case,
        "poll_seconds": args.poll,
        "threads_env": env.get("OMP_NUM_THREADS", "unset"),
        "data_dir": data_dir,
    }
    record = common.new_record("end_to_end", threads, config)

    temporary = args.run_dir is None
    base = Path(tempfile.mkdtemp(prefix="fgsm_e2e_")) if temporary else args.run_dir.resolve()
    batch_dir = base / "batch"
    if batch_dir.exists() and any(batch_dir.iterdir()):
        print(f"note: {batch_dir} is not empty; the runner writes over it", flush=True)
    notebooks = [
        p.name
        for p in sorted((common.REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
        if not args.only or p.name[:2] in args.only
    ]
    figures, targets, rows, failed = {}, {}, [], False
    try:
        if args.case in ("batch", "both"):
            batch, batch_targets, batch_rows, result = batch_case(args, batch_dir, env)
            figures["batch"], rows = batch, rows + batch_rows
            targets.update({f"batch_{k}": v for k, v in batch_targets.items()})
            if record["machine"].get("gpu"):  # on a GPU the whole series should take a minute
                targets["batch_series_seconds_gpu"] = target(
                    result["timings"].get("total"),
                    TARGET_SECONDS_SERIES_GPU,
                    not args.quick and not args.only,
                )
                rows.append(
                    [
                        f"batch on {record['machine']['gpu']}: whole series",
                        result["timings"].get("total", "-"),
                        *_target_cells(targets["batch_series_seconds_gpu"]),
                    ]
                )
            failed |= result["returncode"] != 0
        if args.case in ("alone", "both"):
            alone, alone_targets, alone_rows = alone_case(args, base, env, notebooks)
            figures["alone"], rows = alone, rows + alone_rows
            targets.update(alone_targets)
            failed |= alone["returncode"] != 0
    finally:
        if temporary and not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    record["figures"] = figures
    record["targets"] = targets
    common.finish_record(record, started)
    # a failed run is kept apart: it never replaces the figures of a complete one
    name = record_name(args) + ("_failed" if failed else "")
    path = common.merge_results(args.results, name, record)
    notes = [
        common.header_line(record),
        f"mode: {'quick' if args.quick else 'full'}, case: {args.case}"
        + (f", only {' '.join(args.only)}" if args.only else "")
        + ("" if not args.quick else " -- the targets apply to the full configuration only"),
        "alone: each chapter in a fresh folder, training every model it needs (the Colab case)",
        f"load average before {record['load_average']['before']}, after {record['load_average']['after']}",
        f"results merged into {path}",
    ]
    if failed:
        notes.insert(0, "A RUN FAILED: see the record's log_tail / failed entries")
    common.print_table(
        "End-to-end notebook runs (python -m fgsm_helpers run)",
        ["run", "seconds", "target", "met"],
        rows,
        notes,
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
