"""The paper's numbers beside ours: intervals on both sides and a verdict that follows them."""

from __future__ import annotations

import pytest

from fgsm_helpers import paper, stats


def test_a_difference_inside_the_intervals_is_not_distinguishable():
    row = paper.compare_with_paper("clean", 98.95, 10_000, paper.TABLE1_CLEAN_ACCURACY)
    assert row["verdict"] == "not distinguishable"
    assert row["difference"] == pytest.approx(0.07)
    low, high = stats.accuracy_interval(98.95, 10_000)
    assert row["ours 95% CI"] == f"{low:.2f}-{high:.2f}"
    low, high = stats.accuracy_interval(paper.TABLE1_CLEAN_ACCURACY, paper.PAPER_TEST_IMAGES)
    assert row["paper 95% CI"] == f"{low:.2f}-{high:.2f}"


def test_separate_intervals_say_which_side():
    assert paper.compare_with_paper("eps 0.1", 88.2, 500, 91.68)["verdict"] == "ours lower"
    assert paper.compare_with_paper("eps 0.3", 80.0, 500, 67.9)["verdict"] == "ours higher"


def test_the_same_gap_on_few_images_is_not_distinguishable():
    """A 3-point gap is a finding on 10,000 images and none on 100."""
    assert paper.compare_with_paper("x", 88.68, 10_000, 91.68)["verdict"] == "ours lower"
    assert paper.compare_with_paper("x", 89.0, 100, 91.68)["verdict"] == "not distinguishable"


def test_a_rounded_accuracy_is_refused():
    with pytest.raises(ValueError):
        paper.compare_with_paper("x", 88.123, 500, 91.68)
