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

Targets (for the full run of chapters 01-04 on the 2-core CPU): chapters 01-04 <= 300 s in all,
peak RSS of the tree <= 3 GB. With ``--quick`` or ``--only`` the targets are printed for
reference but do not apply.

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


def run_series(args, run_dir: Path, env: dict) -> dict:
    command = [sys.executable, "-m", "fgsm_helpers", "run", "--out", str(run_dir)]
    if args.quick:
        command.append("--quick")
    if args.only:
        command += ["--only", *args.only]
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
    return {
        "command": command,
        "returncode": returncode,
        "wall_seconds": wall,
        "peak_rss_bytes": monitor.peak_bytes,
        "peak_rss_at_seconds": monitor.peak_at,
        "processes_at_peak": monitor.peak_processes,
        "max_processes": monitor.max_processes,
        "peak_breakdown": monitor.peak_breakdown,
        "samples": monitor.samples,
        "log_tail": log_text[-3000:],
        "log_path": str(log_path),
    }


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
        "--run-dir",
        type=Path,
        default=None,
        help="output folder for the runner (default: a temporary folder, deleted after)",
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
        "poll_seconds": args.poll,
        "threads_env": env.get("OMP_NUM_THREADS", "unset"),
        "data_dir": data_dir,
    }
    record = common.new_record("end_to_end", threads, config)

    temporary = args.run_dir is None
    base = (
        Path(tempfile.mkdtemp(prefix="fgsm_e2e_")) if temporary else args.run_dir.resolve().parent
    )
    run_dir = base / "run" if temporary else args.run_dir.resolve()
    if run_dir.exists() and any(run_dir.iterdir()) and not temporary:
        print(f"note: {run_dir} is not empty; the runner writes over it", flush=True)
    try:
        result = run_series(args, run_dir, env)
        timings_path = run_dir / "timings.json"
        timings = json.loads(timings_path.read_text()) if timings_path.is_file() else {}
    finally:
        if temporary and not args.keep:
            shutil.rmtree(base, ignore_errors=True)

    notebooks = {k: v for k, v in timings.items() if k != "total"}
    chapters = {k: v for k, v in notebooks.items() if k[:2] in CHAPTERS_01_04}
    chapters_total = sum(chapters.values())
    peak_gb = result["peak_rss_bytes"] / 1e9
    full_run = not args.quick and (
        not args.only or set(CHAPTERS_01_04) <= {o[:2] for o in args.only}
    )
    complete_01_04 = len(chapters) == len(CHAPTERS_01_04)
    time_ok = (chapters_total <= TARGET_SECONDS_01_04) if full_run and complete_01_04 else None
    rss_ok = (peak_gb <= TARGET_PEAK_RSS_GB) if full_run else None
    record["figures"] = {
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
    record["targets"] = {
        "chapters_01_04_seconds": {
            "target": f"<= {TARGET_SECONDS_01_04:.0f}",
            "value": chapters_total,
            "applies": full_run and complete_01_04,
            "met": time_ok,
        },
        "peak_rss_gb": {
            "target": f"<= {TARGET_PEAK_RSS_GB}",
            "value": peak_gb,
            "applies": full_run,
            "met": rss_ok,
        },
    }
    if result["returncode"] != 0:
        record["figures"]["log_tail"] = result["log_tail"]
    common.finish_record(record, started)
    # a failed run is kept apart: it never replaces the figures of a complete one
    name = record_name(args) + ("_failed" if result["returncode"] != 0 else "")
    path = common.merge_results(args.results, name, record)

    rows = [[name, seconds, "", ""] for name, seconds in notebooks.items()]
    rows.append(
        [
            "chapters 01-04 (sum)",
            chapters_total if chapters else "-",
            f"<= {TARGET_SECONDS_01_04:.0f} s",
            common.check_mark(time_ok),
        ]
    )
    rows.append(["runner total (timings.json)", timings.get("total", "-"), "", ""])
    rows.append(["subprocess wall (imports included)", result["wall_seconds"], "", ""])
    rows.append(
        [
            "peak RSS of the process tree, GB",
            peak_gb,
            f"<= {TARGET_PEAK_RSS_GB} GB",
            common.check_mark(rss_ok),
        ]
    )
    notes = [
        common.header_line(record),
        f"mode: {'quick' if args.quick else 'full'}"
        + (f", only {' '.join(args.only)}" if args.only else "")
        + (
            "" if full_run else " -- the targets apply to the full run of chapters 01-04 only (n/a)"
        ),
        f"RSS summed over the runner and its {result['max_processes'] - 1} descendant process(es) at most "
        f"(kernels included), sampled every {args.poll} s ({result['samples']} samples); "
        f"peak at {result['peak_rss_at_seconds']:.0f} s: "
        + ", ".join(
            f"{p['command'][:40]} {p['rss_bytes'] / 1e9:.2f} GB" for p in result["peak_breakdown"]
        ),
        f"load average before {record['load_average']['before']}, after {record['load_average']['after']}",
        f"results merged into {path}",
    ]
    if result["returncode"] != 0:
        notes.insert(
            0, f"THE RUNNER FAILED (exit {result['returncode']}); log tail:\n{result['log_tail']}"
        )
    common.print_table(
        "End-to-end notebook run (python -m fgsm_helpers run)",
        ["notebook", "seconds", "target", "met"],
        rows,
        notes,
    )
    return 0 if result["returncode"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
