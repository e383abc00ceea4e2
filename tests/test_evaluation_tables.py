"""Chapter 05's measured-and-recorded tables (``fh.evaluation``): the target measure, curve and
transfer comparisons with Wilson intervals, DeepFool with its failures counted, and the
torchattacks cross-check. Tiny seeded models on synthetic images: no MNIST, well under a second
each."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest
import torch
from torch import nn

import fgsm_helpers as fh
from fgsm_helpers import evaluation


def _linear(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(fh.models.Normalize(), nn.Flatten(), nn.Linear(28 * 28, 10)).eval()


@pytest.fixture()
def images():
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(40, 1, 28, 28, generator=generator)
    y = torch.randint(0, 10, (40,), generator=generator)
    return x, y


@pytest.fixture()
def model(images):
    """A linear model that classifies its own images right (labels = its predictions), so
    attacks have something to take away."""
    return _linear(0)


def _records(path):
    return json.loads(path.read_text())["records"]


def test_target_measure_is_the_three_measurements_and_records_them(model, images, tmp_path):
    x, y = images
    y = fh.predict(model, x)  # every image right: clean accuracy 100%
    results = fh.results.results_file(tmp_path, "05_beyond_fgsm.ipynb")
    measured = evaluation.target_measure(
        model, x, y, 0.1, steps=3, alpha=0.05, restarts=2, n_single=30, n_restart=20,
        seed=1, results_path=results, name="toy",
    )  # fmt: skip
    assert measured["clean"] == 100.0 and measured["n_clean"] == 40
    assert (measured["n_pgd"], measured["n_restarts"]) == (30, 20)
    single = evaluation.pgd_accuracy(model, x[:30], y[:30], 0.1, steps=3, alpha=0.05, seed=1)
    restarted = evaluation.pgd_accuracy(
        model, x[:20], y[:20], 0.1, steps=3, alpha=0.05, restarts=2, seed=1
    )
    assert measured["pgd"] == single and measured["pgd_restarts"] == restarted
    assert measured["pgd"] < 100.0  # the attack took something away
    records = _records(tmp_path / "results.json")
    assert {(r["attack"], r["n_images"], r.get("restarts")) for r in records} == {
        ("none", 40, None),
        ("pgd", 30, 1),
        ("pgd", 20, 2),
    }
    assert all(r["model"] == "toy" and r["notebook"] == "05_beyond_fgsm.ipynb" for r in records)


def test_target_measure_at_eps_zero_is_clean_and_needs_a_name_to_record(model, images, tmp_path):
    x, y = images
    measured = evaluation.target_measure(model, x, y, 0.0, steps=2, alpha=0.01, restarts=2)
    assert measured["pgd"] == measured["pgd_restarts"] == measured["clean"]
    assert measured["n_pgd"] == measured["n_restarts"] == 40  # None: every image
    with pytest.raises(ValueError, match="name"):
        evaluation.target_measure(
            model, x, y, 0.0, steps=2, alpha=0.01, restarts=2, results_path=tmp_path / "r.json"
        )


def test_target_table_gives_every_pgd_number_its_interval_and_images():
    measured = {
        "a": {"clean": 99.0, "pgd": 86.0, "n_pgd": 1000, "pgd_restarts": 82.3, "n_restarts": 1000},
        "b": {"clean": 88.0, "pgd": 5.2, "n_pgd": 500, "pgd_restarts": 6.0, "n_restarts": 100},
    }
    rows = evaluation.target_table(measured, {"a": 61.7, "b": 101}, steps=50, restarts=5)
    assert [r["model"] for r in rows] == ["a", "b"]
    assert rows[0]["PGD-50 % (95% interval)"] == fh.stats.interval_text(86.0, 1000)
    assert rows[0]["PGD-50 % (95% interval)"].startswith("86.0% (83.")
    assert rows[1]["PGD-50x5 % (95% interval)"] == fh.stats.interval_text(6.0, 100)
    assert (rows[1]["images"], rows[1]["images "], rows[1]["train s"]) == (500, 100, 101.0)
    assert "images" in fh.plots.format_table(rows, list(rows[0]))


def test_curve_comparison_calls_a_difference_only_outside_the_intervals():
    first = {0.1: 95.0, 0.3: 87.87}
    second = {0.1: 96.0, 0.3: 60.0}
    rows = evaluation.curve_comparison(("true", first), ("predicted", second), 10000)
    assert [r["eps"] for r in rows] == [0.1, 0.3]
    assert rows[0]["difference"] == pytest.approx(1.0)
    assert rows[0]["intervals"] == "distinguishable"  # 1 point on 10,000 images
    assert rows[1]["intervals"] == "distinguishable"
    small = evaluation.curve_comparison(("true", {0.3: 87.8}), ("predicted", {0.3: 88.4}), 500)
    assert small[0]["intervals"] == "not distinguishable"
    assert small[0]["true %"] == fh.stats.interval_text(87.8, 500)


def test_transfer_table_from_a_model_to_itself_is_the_white_box_attack(model, images, tmp_path):
    x, y = images
    y = fh.predict(model, x)
    results = fh.results.results_file(tmp_path, "05_beyond_fgsm.ipynb")
    other = _linear(1)
    rows = evaluation.transfer_table(
        model, {"itself": model, "other": other}, x, y, 0.1, pgd_steps=3, seed=2,
        source_name="toy", results_path=results,
    )  # fmt: skip
    assert [(r["target"], r["attack"]) for r in rows] == [
        ("itself", "fgsm"), ("itself", "pgd"), ("other", "fgsm"), ("other", "pgd"),
    ]  # fmt: skip
    white_box_fgsm = fh.accuracy(model, fh.fgsm(model, x, y, 0.1), y)
    assert rows[0]["accuracy"] == white_box_fgsm
    generator = torch.Generator().manual_seed(2)
    white_box_pgd = fh.accuracy(model, fh.pgd(model, x, y, 0.1, steps=3, generator=generator), y)
    assert rows[1]["accuracy"] == white_box_pgd
    assert rows[1]["crafted on toy with"] == "PGD-3" and rows[0]["images"] == 40
    assert rows[2]["accuracy at eps 0.1 % (95% interval)"] == fh.stats.interval_text(
        rows[2]["accuracy"], 40
    )
    records = _records(tmp_path / "results.json")
    assert sorted((r["model"], r["attack"]) for r in records) == [
        ("itself", "transfer_fgsm"), ("itself", "transfer_pgd"),
        ("other", "transfer_fgsm"), ("other", "transfer_pgd"),
    ]  # fmt: skip
    assert all(r["source_model"] == "toy" for r in records)


def test_deepfool_table_counts_failures_and_leaves_them_out_of_the_medians(images, tmp_path):
    x, _ = images
    torch.manual_seed(0)
    cnn = fh.PaperCNN().eval()
    results = fh.results.results_file(tmp_path, "05_beyond_fgsm.ipynb")
    rows, sizes = evaluation.deepfool_table(
        {"cnn": cnn}, x[:12], steps=1, overshoot=0.0, results_path=results
    )
    x_adv, flipped = fh.attacks.deepfool(cnn, x[:12], steps=1, overshoot=0.0)
    (row,) = rows
    assert row["images"] == 12 and row["not flipped"] == int((~flipped).sum())
    assert 0 < row["not flipped"] < 12  # one step leaves some images unflipped: counted
    l2 = (x_adv - x[:12]).flatten(1).norm(dim=1)[flipped]
    assert torch.equal(sizes["cnn"], l2)
    assert row["median L2 of the flipped"] == pytest.approx(l2.median().item())
    saved = json.loads((tmp_path / "results.json").read_text())["deepfool"]["cnn"]
    assert saved["not flipped"] == row["not flipped"] and saved["steps"] == 1


@pytest.mark.skipif(
    importlib.util.find_spec("torchattacks") is None,
    reason="torchattacks (the robust extra) is not installed",
)
def test_torchattacks_cross_check_is_seeded_and_recorded(model, images, tmp_path):
    x, y = images
    y = fh.predict(model, x)
    results = fh.results.results_file(tmp_path, "05_beyond_fgsm.ipynb")
    kwargs = {"steps": 3, "alpha": 0.05, "seed": 4}
    first = evaluation.torchattacks_pgd_accuracy(
        model, x, y, 0.1, results_path=results, name="toy", **kwargs
    )
    torch.manual_seed(123)
    state = torch.get_rng_state()
    assert evaluation.torchattacks_pgd_accuracy(model, x, y, 0.1, **kwargs) == first
    assert torch.equal(torch.get_rng_state(), state)  # the caller's random stream untouched
    assert 0.0 <= first < 100.0
    (record,) = _records(tmp_path / "results.json")
    assert record["implementation"] == "torchattacks" and record["model"] == "toy"


def test_torchattacks_cross_check_says_none_without_torchattacks(model, images, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchattacks", None)  # import raises ImportError
    x, y = images
    assert evaluation.torchattacks_pgd_accuracy(model, x, y, 0.1, steps=2, alpha=0.05) is None
