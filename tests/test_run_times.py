"""Each chapter's run-time line, written from the benchmark JSONs (fh.badges.write_run_times)."""

import json
import shutil
from pathlib import Path

from fgsm_helpers import badges

ROOT = Path(__file__).resolve().parents[1]


def _record(
    alone: dict, gpu: str | None = None, quick: bool = False, date: str = "2026-12-05"
) -> dict:
    machine = {"cpu_model": "AMD EPYC", "usable_cores": 2}
    if gpu:
        machine["gpu"] = gpu
    return {
        "machine": machine,
        "benchmarks": {
            "end_to_end_alone": {
                "machine": machine,
                "config": {"quick": quick, "only": None},
                "date": date,
                "figures": {"alone": {"notebook_seconds": alone}},
            }
        },
    }


def test_run_times_come_from_the_alone_case(tmp_path):
    (tmp_path / "cpu.json").write_text(json.dumps(_record({"01_a.ipynb": 71.0, "02_b.ipynb": 600})))
    (tmp_path / "quick.json").write_text(json.dumps(_record({"01_a.ipynb": 5.0}, quick=True)))
    (tmp_path / "gpu.json").write_text(json.dumps(_record({"01_a.ipynb": 9.0}, gpu="NVIDIA H100")))
    text = badges.run_time_source("01_a.ipynb", tmp_path)
    assert "about 71 s on 2-core AMD EPYC (`benchmarks/results/cpu.json`)" in text
    assert "on a GPU, about 9 s on NVIDIA H100" in text
    assert "5 s" not in text  # a quick run is not the chapter's run time
    assert "short enough to run as it is" in text and "switch to a GPU" not in text
    assert "about 10 min" in badges.run_time_source("02_b.ipynb", tmp_path)
    assert "switch to a GPU" in badges.run_time_source("02_b.ipynb", tmp_path)
    assert "not measured yet" in badges.run_time_source("03_c.ipynb", tmp_path)
    assert "switch to a GPU" in badges.run_time_source("03_c.ipynb", tmp_path)


def test_write_run_times_inserts_once_then_updates(tmp_path):
    shutil.copytree(
        ROOT / "notebooks",
        tmp_path / "notebooks",
        ignore=shutil.ignore_patterns("checkpoints", "outputs"),
    )
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    badges.write_run_times(tmp_path)
    again = badges.write_run_times(tmp_path)
    assert again == []  # idempotent
    for path in sorted((tmp_path / "notebooks").glob("0*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        marked = [i for i, c in enumerate(cells) if badges.RUN_TIME_MARKER in "".join(c["source"])]
        assert marked == [1], path.name


def test_the_newest_alone_record_of_a_file_counts(tmp_path):
    data = _record({"01_a.ipynb": 200.0}, date="2026-12-05T10:00")
    rerun = _record({"01_a.ipynb": 70.0}, date="2026-12-05T12:00")["benchmarks"]["end_to_end_alone"]
    rerun["config"]["only"] = ["01"]  # a chapter re-run alone is the same measurement
    data["benchmarks"]["end_to_end_alone_01"] = rerun
    (tmp_path / "cpu.json").write_text(json.dumps(data))
    assert badges.chapter_run_times("01_a.ipynb", tmp_path)["cpu"][0][1] == 70.0


def test_committed_run_time_lines_are_what_the_script_writes(tmp_path):
    shutil.copytree(
        ROOT / "notebooks",
        tmp_path / "notebooks",
        ignore=shutil.ignore_patterns("checkpoints", "outputs"),
    )
    shutil.copytree(ROOT / "benchmarks" / "results", tmp_path / "benchmarks" / "results")
    assert badges.write_run_times(tmp_path) == []
