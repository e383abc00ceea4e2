"""The benchmark scripts in their smallest configurations (not timed): each runs as a
subprocess, exits 0 and merges its record, with the expected keys, into a temporary results
JSON (``--results``), so benchmarks/results/ is never touched."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"
RECORD_KEYS = {
    "benchmark",
    "date",
    "machine",
    "software",
    "threads",
    "load_average",
    "config",
    "figures",
    "targets",
}

pytestmark = pytest.mark.slow


def run_script(
    name: str, args: list[str], results: Path, data_dir: Path, timeout: int = 300
) -> dict:
    env = dict(os.environ, FGSM_DATA_DIR=str(data_dir))
    completed = subprocess.run(
        [sys.executable, str(BENCH / name), *args, "--results", str(results)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert completed.returncode == 0, (
        f"{name} exited {completed.returncode}\nstdout:\n{completed.stdout[-3000:]}\n"
        f"stderr:\n{completed.stderr[-3000:]}"
    )
    data = json.loads(results.read_text())
    assert {"machine", "machine_slug", "benchmarks"} <= set(data)
    assert {"cpu_model", "logical_cores", "ram_gb"} <= set(data["machine"])
    assert data["machine_slug"].startswith("cpu-")
    return data


def check_record(record: dict) -> None:
    assert RECORD_KEYS <= set(record)
    assert {"python", "torch", "torchattacks"} <= set(record["software"])
    assert isinstance(record["threads"], int) and record["threads"] >= 1
    assert {"before", "after"} <= set(record["load_average"])


def test_eps_sweep_smallest(tmp_path, data_dir):
    results = tmp_path / "results.json"
    data = run_script(
        "bench_eps_sweep.py",
        [
            "--threads",
            "1",
            "--images",
            "200",
            "--tutorial-images",
            "20",
            "--train-images",
            "500",
            "--try-batch-sizes",
        ],
        results,
        data_dir,
    )
    record = data["benchmarks"]["eps_sweep"]
    check_record(record)
    figures = record["figures"]
    for key in (
        "ours_seconds",
        "torchattacks_seconds",
        "tutorial_seconds_extrapolated",
        "speedup_vs_torchattacks",
        "speedup_vs_tutorial",
        "accuracy_ours",
        "accuracy_torchattacks",
        "accuracy_tutorial_sample",
        "ours_fastest_batch_size",
        "checks",
    ):
        assert key in figures, key
    assert len(figures["accuracy_ours"]) == 8
    assert figures["checks"]["ours_vs_torchattacks_ok"]
    assert figures["checks"]["tutorial_vs_ours_same_counting_ok"]
    assert {"speedup_vs_torchattacks", "speedup_vs_tutorial"} <= set(record["targets"])


def test_training_smallest(tmp_path, data_dir):
    results = tmp_path / "results.json"
    data = run_script(
        "bench_training.py",
        [
            "--threads",
            "1",
            "--subset",
            "128",
            "--variant-subset",
            "64",
            "--variants",
            "baseline",
            "--eval-images",
            "200",
            "--matmul-size",
            "256",
            "--matmul-repeats",
            "2",
            "--micro-repeats",
            "2",
        ],
        results,
        data_dir,
    )
    record = data["benchmarks"]["training"]
    check_record(record)
    figures = record["figures"]
    for key in (
        "bound_matmul",
        "flops_per_image_counted",
        "flops_per_image_flop_counter",
        "headline",
        "variants",
        "evaluation",
        "micro_costs_ms",
    ):
        assert key in figures, key
    for label in ("clean", "fgsm"):
        assert figures["headline"][label]["images_per_second"] > 0
        assert 0 < figures["headline"][label]["fraction_of_bound"]
    assert figures["variants"][0]["name"].startswith("baseline")
    counted, checked = figures["flops_per_image_counted"], figures["flops_per_image_flop_counter"]
    assert abs(checked["fgsm_step"] / counted["fgsm_step"] - 1) < 1e-3


def test_end_to_end_smallest(tmp_path, data_dir):
    results = tmp_path / "results.json"
    data = run_script(
        "bench_end_to_end.py",
        ["--threads", "1", "--quick", "--only", "01"],
        results,
        data_dir,
        timeout=600,
    )
    record = data["benchmarks"]["end_to_end_quick_only_01"]  # a smoke run keeps its own key
    check_record(record)
    batch, alone = record["figures"]["batch"], record["figures"]["alone"]  # both cases
    assert batch["returncode"] == 0 and alone["returncode"] == 0
    assert set(batch["notebook_seconds"]) == {"01_mnist_cnn.ipynb"}
    assert set(alone["notebook_seconds"]) == {"01_mnist_cnn.ipynb"}
    assert alone["notebook_seconds"]["01_mnist_cnn.ipynb"] > 0
    assert batch["peak_rss_bytes"] > 100e6  # the kernel alone holds torch
    targets = record["targets"]
    assert targets["batch_peak_rss_gb"]["applies"] is False  # a smoke run meets no target
    assert targets["01_alone_seconds"]["applies"] is False


REFERENCE_AUTOATTACK = os.environ.get("FGSM_REFERENCE_AUTOATTACK", "")


@pytest.mark.skipif(
    not (REFERENCE_AUTOATTACK and (Path(REFERENCE_AUTOATTACK) / "autoattack").is_dir()),
    reason="set FGSM_REFERENCE_AUTOATTACK to a clone of github.com/fra31/auto-attack",
)
def test_reference_autoattack_smallest(tmp_path, data_dir):
    import fgsm_helpers as fh

    fh.set_seed(0)
    checkpoint = fh.save_checkpoint(fh.SmallCNN(), tmp_path / "untrained.pt", {"name": "tiny"})
    results = tmp_path / "results.json"
    data = run_script(
        "bench_reference_autoattack.py",
        # eps 0.001: the untrained model's one correct image (of 8) outlasts every attack,
        # so the whole ensemble runs in both implementations, in about 20 s.
        [
            "--threads",
            "1",
            "--reference",
            REFERENCE_AUTOATTACK,
            "--checkpoint",
            str(checkpoint),
            "--n",
            "8",
            "--eps",
            "0.001",
            "--square-queries",
            "20",
        ],
        results,
        data_dir,
    )
    record = data["benchmarks"]["reference_autoattack"]
    check_record(record)
    assert "package_sha256" in record["software"]["reference_autoattack"]
    figures = record["figures"]
    stages = ["clean", "apgd-ce", "apgd-t", "fab-t", "square"]
    for who in ("ours", "reference"):
        assert list(figures["robust_accuracy_after"][who]) == stages
        assert figures["robust_accuracy"][who]["n"] == 8
        assert len(figures["robust_accuracy"][who]["wilson_95"]) == 2
        assert figures["seconds"][who]["total"] > 0
    assert figures["attacks"]["reference"] == stages[1:]
    assert figures["checks"]["same_clean_accuracy"] and figures["checks"]["reference_log_agrees"]
    for module in figures["reference_modules"].values():
        assert Path(module).is_relative_to(Path(REFERENCE_AUTOATTACK).resolve())
    assert any("robust accuracy" in line for line in figures["reference_log"])
    assert {"only_ours_breaks", "only_reference_breaks", "reference_checks_fired"} <= set(figures)
    assert {"ours_within_reference_interval", "no_reference_warnings"} <= set(record["targets"])


def test_results_merge_keeps_other_benchmarks(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_common", BENCH / "common.py")
    common = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(common)
    path = tmp_path / "machine.json"
    common.merge_results(path, "first", {"figures": {"x": 1.0}})
    common.merge_results(path, "second", {"figures": {"y": 2.0}})
    common.merge_results(path, "first", {"figures": {"x": 3.0}})
    data = json.loads(path.read_text())
    assert data["benchmarks"] == {
        "first": {"figures": {"x": 3.0}},
        "second": {"figures": {"y": 2.0}},
    }
    assert [p.name for p in tmp_path.iterdir()] == ["machine.json"]  # no temporary files left
    assert (
        common.machine_slug({"cpu_model": "Intel(R) Xeon(R) CPU @ 2.20GHz", "logical_cores": 4})
        == "cpu-4core-intel-xeon"
    )


def test_performance_page_matches_its_json():
    """docs/performance.md's end-to-end figures are the ones the benchmark JSON it links holds."""
    section = (BENCH.parent / "docs" / "performance.md").read_text()
    linked = re.search(r"\(\.\./benchmarks/results/([\w.-]+\.json)\)", section)
    assert linked, "the Performance section links no benchmark JSON"
    data = json.loads((BENCH / "results" / linked.group(1)).read_text())["benchmarks"]
    batch = data["end_to_end"]["figures"]["batch"]
    alone = data["end_to_end_only_01_02_03_04"]["figures"]["alone"]
    for figures in (batch["notebook_seconds"], alone["notebook_seconds"]):
        for notebook, seconds in figures.items():
            assert f"{notebook[:2]}: {seconds:,.0f} s" in section, (notebook, seconds)
    assert f"{batch['chapters_01_04_seconds']:,.0f} s" in section
    assert f"{batch['runner_total_seconds']:,.0f} s" in section
    assert f"{batch['peak_rss_gb']:.2f} GB" in section
