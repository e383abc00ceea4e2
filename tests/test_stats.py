"""Intervals and tests of fgsm_helpers.stats: closed forms, scipy as an independent reference,
bad inputs, and the sentences a lecturer reads aloud."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pytest
from scipy import stats as scipy_stats

import fgsm_helpers as fh
from fgsm_helpers.stats import (
    _p_value_text,
    accuracy_interval,
    compare_rates,
    count_words,
    describe_count,
    describe_difference,
    describe_rates,
    distinguishable,
    fisher_exact,
    widest_half_interval,
    wilson_interval,
    with_interval,
)

REPO = Path(__file__).resolve().parents[1]
Z95 = NormalDist().inv_cdf(0.975)


# Wilson interval: closed forms ------------------------------------------------------------------


def test_ninety_percent_on_1000_images():
    low, high = wilson_interval(900, 1000)
    assert (round(low, 1), round(high, 1)) == (88.0, 91.7)
    assert low == pytest.approx(87.9848, abs=1e-4) and high == pytest.approx(91.7091, abs=1e-4)
    # STYLE.md's "about ±1.9 points at 95%": the half-width
    assert (high - low) / 2 == pytest.approx(1.86, abs=0.01)


@pytest.mark.parametrize("n", [1, 2, 5, 10, 1000, 10000])
def test_none_and_all_correct(n):
    assert wilson_interval(0, n) == (0.0, pytest.approx(100 * Z95**2 / (n + Z95**2), rel=1e-12))
    assert wilson_interval(n, n) == (pytest.approx(100 * n / (n + Z95**2), rel=1e-12), 100.0)


@pytest.mark.parametrize("n", [1, 3, 10, 37, 1000])
@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
def test_interval_is_symmetric_under_swapping_right_and_wrong(n, confidence):
    for correct in range(0, n + 1, max(1, n // 7)):
        low, high = wilson_interval(correct, n, confidence)
        mirror_low, mirror_high = wilson_interval(n - correct, n, confidence)
        assert low == pytest.approx(100 - mirror_high, abs=1e-9)
        assert high == pytest.approx(100 - mirror_low, abs=1e-9)


@pytest.mark.parametrize("n", [2, 10, 1000])
def test_half_correct_is_centred_on_fifty(n):
    low, high = wilson_interval(n // 2, n)
    assert (low + high) / 2 == pytest.approx(50, abs=1e-9)


@pytest.mark.parametrize("correct, n", [(1, 4), (2, 5), (900, 1000), (8850, 10000), (3, 40)])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_bounds_solve_the_score_equation(correct, n, confidence):
    """Wilson's bounds are the two p with (p_hat - p)^2 = z^2 p (1 - p) / n."""
    z = NormalDist().inv_cdf((1 + confidence) / 2)
    p_hat = correct / n
    for bound in wilson_interval(correct, n, confidence):
        p = bound / 100
        assert (p_hat - p) ** 2 == pytest.approx(z**2 * p * (1 - p) / n, rel=1e-9)
    low, high = wilson_interval(correct, n, confidence)
    assert low < 100 * p_hat < high


def test_more_images_or_less_confidence_narrow_the_interval():
    intervals = [wilson_interval(9 * n // 10, n) for n in (10, 100, 1000, 10000)]
    widths = [high - low for low, high in intervals]
    assert widths == sorted(widths, reverse=True) and len(set(widths)) == 4
    by_confidence = [wilson_interval(900, 1000, c) for c in (0.8, 0.9, 0.95, 0.99)]
    assert all(a[0] > b[0] and a[1] < b[1] for a, b in zip(by_confidence, by_confidence[1:]))


# Wilson interval: scipy as reference ------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 5, 10, 37, 100, 1000, 10000])
@pytest.mark.parametrize("confidence", [0.8, 0.9, 0.95, 0.99, 0.999])
def test_wilson_matches_scipy(n, confidence):
    for correct in sorted({0, 1, n // 3, n // 2, n - 1, n, 9 * n // 10}):
        if not 0 <= correct <= n:
            continue
        reference = scipy_stats.binomtest(correct, n).proportion_ci(
            confidence_level=confidence, method="wilson"
        )
        low, high = wilson_interval(correct, n, confidence)
        assert low == pytest.approx(100 * reference.low, rel=1e-9, abs=1e-9), (correct, n)
        assert high == pytest.approx(100 * reference.high, rel=1e-9, abs=1e-9), (correct, n)


# Accuracies in percent -------------------------------------------------------------------------


def test_accuracy_interval_is_the_interval_of_its_count():
    assert accuracy_interval(90.0, 1000) == wilson_interval(900, 1000)
    assert accuracy_interval(88.5, 10000, 0.99) == wilson_interval(8850, 10000, 0.99)
    assert accuracy_interval(0.0, 7) == wilson_interval(0, 7)
    assert accuracy_interval(100.0, 7) == wilson_interval(7, 7)


@pytest.mark.parametrize("n", [3, 7, 1000, 10000])
def test_every_accuracy_the_evaluation_returns_is_accepted(n):
    """fh.accuracy returns 100.0 * correct / n: every such float maps back to its count."""
    for correct in range(n + 1):
        assert accuracy_interval(100.0 * correct / n, n) == wilson_interval(correct, n)


def test_a_float32_accuracy_is_accepted():
    """``100.0 * (pred == y).float().mean().item()`` is up to 3e-6 points off 100 * k / n."""
    n = 1000
    off = [abs(100.0 * float(np.float32(k / n)) - 100 * k / n) for k in range(n + 1)]
    assert max(off) > 1e-6  # a tolerance of 1e-6 would refuse these
    for k in range(n + 1):
        assert accuracy_interval(100.0 * float(np.float32(k / n)), n) == wilson_interval(k, n)
    assert accuracy_interval(90.0 + 5e-6, n) == wilson_interval(900, n)
    with pytest.raises(ValueError, match="not a whole number"):
        accuracy_interval(90.0 + 5e-5, n)


def test_a_rounded_accuracy_is_refused_with_the_reason():
    with pytest.raises(ValueError, match=r"97\.53% of 1,000 images is 975\.3 images, not a whole"):
        accuracy_interval(97.53, 1000)
    with pytest.raises(ValueError, match=r"unrounded accuracy .*100/3 = 33\.3333"):
        accuracy_interval(33.3, 3)


# Distinguishable accuracies ---------------------------------------------------------------------


def test_interval_text_is_the_accuracy_with_its_interval():
    low, high = fh.stats.accuracy_interval(86.0, 1000)
    assert fh.stats.interval_text(86.0, 1000) == f"86.0% ({low:.1f}-{high:.1f})"
    assert fh.stats.interval_text(100.0, 40, decimals=0) == "100% (91-100)"
    with pytest.raises(ValueError, match="whole number"):
        fh.stats.interval_text(97.53, 1000)


def test_distinguishable_is_non_overlap_of_the_intervals():
    assert not distinguishable((90.0, 1000), (88.5, 1000))  # 88.0-91.7 and 86.4-90.3
    assert not distinguishable((90.0, 1000), (88.5, 10000))  # 88.0-91.7 and 87.9-89.1
    assert distinguishable((90.0, 1000), (85.0, 1000))  # 88.0-91.7 and 82.7-87.1
    assert distinguishable((85.0, 1000), (90.0, 1000))
    assert not distinguishable((90.0, 1000), (90.0, 1000))
    # 90.0% on 1,000 is 87.985-91.709: 87.4% on 10,000 (86.735-88.036) overlaps it by 0.05
    # points, 87.3% (86.633-87.938) misses it by 0.05 points
    assert not distinguishable((90.0, 1000), (87.4, 10000))
    assert distinguishable((90.0, 1000), (87.3, 10000))
    # the wider 99% intervals (87.29-92.19 and 82.40-88.13) turn a distinguishable pair into
    # one that is not
    assert distinguishable((90.0, 1000), (85.5, 1000), 0.95)
    assert not distinguishable((90.0, 1000), (85.5, 1000), 0.99)


def test_distinguishable_agrees_with_the_intervals_on_a_grid():
    for a in ((50.0, 10), (90.0, 1000), (98.9, 1000), (99.0, 10000)):
        for correct in range(0, 1001, 25):
            b = (correct / 10, 1000)
            low_a, high_a = accuracy_interval(*a)
            low_b, high_b = accuracy_interval(*b)
            overlap = min(high_a, high_b) >= max(low_a, low_b)
            assert distinguishable(a, b) is (not overlap), (a, b)


def test_distinguishable_implies_fisher_finds_the_difference():
    """The conservative direction the docstring promises, for samples of 3 to 20 trials."""
    sizes = range(3, 21)
    intervals = {(k, n): wilson_interval(k, n) for n in sizes for k in range(n + 1)}
    checked = 0
    for (k1, n1), (low1, _) in intervals.items():
        for (k2, n2), (_, high2) in intervals.items():
            if low1 > high2:
                assert fisher_exact(k1, n1, k2, n2) < 0.05, (k1, n1, k2, n2)
                assert distinguishable((100 * k1 / n1, n1), (100 * k2 / n2, n2))
                checked += 1
    assert checked > 1000


def test_describe_difference_reads_aloud():
    assert describe_difference((90.0, 1000), (88.5, 10000)) == (
        "90.0% (88.0-91.7, n=1,000) and 88.5% (87.9-89.1, n=10,000): not distinguishable at 95%"
    )
    assert describe_difference((90.0, 1000), (80.0, 1000)) == (
        "90.0% (88.0-91.7, n=1,000) and 80.0% (77.4-82.4, n=1,000): distinguishable at 95%"
    )
    assert describe_difference((90.0, 1000), (88.5, 10000), 0.99, decimals=2) == (
        "90.00% (87.29-92.19, n=1,000) and 88.50% (87.65-89.30, n=10,000): "
        "not distinguishable at 99%"
    )
    assert describe_difference((50.0, 10), (50.0, 10), 0.999).endswith("at 99.9%")


# Fisher's exact test ----------------------------------------------------------------------------


def test_two_of_five_against_none_of_five():
    # margins 2 and 8 successes/failures, 5 per group: numerators C(2, x) C(8, 5 - x) = 56, 112,
    # 56 over C(10, 5) = 252; x = 0 and x = 2 are as probable as the observed x = 2.
    assert fisher_exact(2, 5, 0, 5) == pytest.approx(float(Fraction(112, 252)), rel=1e-15)
    assert fisher_exact(2, 5, 0, 5) == pytest.approx(0.4444444444, abs=1e-10)
    assert fisher_exact(5, 5, 0, 5) == pytest.approx(2 / 252, rel=1e-15)


def test_fisher_symmetries_and_equal_rates():
    for k1, n1, k2, n2 in [(2, 5, 0, 5), (3, 7, 1, 9), (900, 1000, 885, 1000), (0, 4, 4, 4)]:
        p = fisher_exact(k1, n1, k2, n2)
        assert fisher_exact(k2, n2, k1, n1) == pytest.approx(p, rel=1e-12)
        assert fisher_exact(n1 - k1, n1, n2 - k2, n2) == pytest.approx(p, rel=1e-12)
    assert fisher_exact(3, 6, 3, 6) == 1.0
    assert fisher_exact(0, 5, 0, 5) == 1.0


def test_fisher_matches_scipy_on_every_small_table():
    for n1 in range(1, 9):
        for n2 in range(1, 9):
            for k1 in range(n1 + 1):
                for k2 in range(n2 + 1):
                    table = [[k1, n1 - k1], [k2, n2 - k2]]
                    reference = scipy_stats.fisher_exact(table).pvalue
                    p = fisher_exact(k1, n1, k2, n2)
                    assert p == pytest.approx(reference, rel=1e-9), table


@pytest.mark.parametrize(
    "k1, n1, k2, n2",
    [(900, 1000, 885, 1000), (9000, 10000, 8850, 10000), (9890, 10000, 9870, 10000),
     (3, 40, 17, 45), (0, 10000, 3, 10000), (1, 2, 60, 61)],
)  # fmt: skip
def test_fisher_matches_scipy_on_large_tables(k1, n1, k2, n2):
    reference = scipy_stats.fisher_exact([[k1, n1 - k1], [k2, n2 - k2]]).pvalue
    assert fisher_exact(k1, n1, k2, n2) == pytest.approx(reference, rel=1e-9)


def test_fisher_on_10000_images_takes_well_under_a_second():
    """One math.comb per term took 26 s for this table; the ratio recurrence takes 60 ms."""
    start = time.perf_counter()
    fisher_exact(5000, 10000, 5000, 10000)
    assert time.perf_counter() - start < 5


# Comparing rates --------------------------------------------------------------------------------


def test_compare_rates_reports_rates_intervals_and_the_test():
    result = compare_rates(2, 5, 0, 5)
    assert result["rate1"] == 40.0 and result["rate2"] == 0.0
    assert result["interval1"] == wilson_interval(2, 5, 0.95)
    assert result["interval2"] == wilson_interval(0, 5, 0.95)
    assert result["p_value"] == pytest.approx(4 / 9, rel=1e-12)
    assert result["different"] is False
    assert compare_rates(5, 5, 0, 5)["different"] is True
    strict = compare_rates(5, 5, 0, 5, alpha=0.001)
    assert strict["different"] is False
    assert strict["interval1"] == wilson_interval(5, 5, 0.999)


def test_describe_rates_reads_aloud():
    assert describe_rates(2, 5, 0, 5) == (
        "2 of 5 seeds (12-77%) against 0 of 5 (0-43%): "
        "Fisher's exact test p = 0.44, no evidence of a difference at the 5% level"
    )
    assert describe_rates(5, 5, 0, 5) == (
        "5 of 5 seeds (57-100%) against 0 of 5 (0-43%): "
        "Fisher's exact test p = 0.0079, a difference at the 5% level"
    )
    assert describe_rates(1, 5, 1, 5).startswith("1 of 5 seeds (4-62%) against 1 of 5 (4-62%)")
    assert describe_rates(1, 5, 1, 5).endswith("p = 1, no evidence of a difference at the 5% level")
    assert describe_rates(1, 1, 0, 5).startswith("1 of 1 seed (21-100%) against")
    assert describe_rates(500, 1000, 200, 1000, unit="run", decimals=1) == (
        "500 of 1,000 runs (46.9-53.1%) against 200 of 1,000 (17.6-22.6%): "
        "Fisher's exact test p < 0.001, a difference at the 5% level"
    )
    assert describe_rates(1, 2, 0, 3, unit="mouse", plural="mice").startswith("1 of 2 mice")
    assert describe_rates(4, 5, 0, 5).endswith("p = 0.048, a difference at the 5% level")
    assert describe_rates(4, 5, 0, 5, alpha=0.01) == (
        "4 of 5 seeds (28-98%) against 0 of 5 (0-57%): "
        "Fisher's exact test p = 0.048, no evidence of a difference at the 1% level"
    )
    for sentence in (describe_rates(k, 5, 0, 5) for k in range(6)):
        assert "(s)" not in sentence and " 1 seeds" not in sentence


def test_p_value_is_never_rounded_onto_the_other_side_of_alpha():
    assert _p_value_text(0.4444, 0.05) == "p = 0.44"
    assert _p_value_text(0.0496, 0.05) == "p = 0.0496"
    assert _p_value_text(0.0504, 0.05) == "p = 0.0504"
    assert _p_value_text(0.00999, 0.01) == "p = 0.00999"
    assert _p_value_text(0.0004, 0.05) == "p < 0.001"
    assert _p_value_text(0.0004, 0.001) == "p = 0.0004"


# Bad inputs -------------------------------------------------------------------------------------


# Sentences: an accuracy with its interval, a count in words ---------------------------------------


def test_with_interval_is_the_accuracy_and_its_wilson_interval():
    assert with_interval(90.0, 1000) == "90.0% (88.0-91.7)"
    low, high = accuracy_interval(98.48, 10000)
    assert with_interval(98.48, 10000, decimals=2) == f"98.48% ({low:.2f}-{high:.2f})"
    assert with_interval(0.0, 500) == "0.0% (0.0-0.8)"
    with pytest.raises(ValueError, match="not a whole number"):
        with_interval(97.53, 1000)


@pytest.mark.parametrize(
    ("k", "n", "words"),
    [
        (8, 8, "all 8 digits"),
        (0, 8, "none of the 8 digits"),
        (3, 8, "3 of the 8 digits"),
        (2, 2, "both digits"),
        (0, 2, "neither digit"),
        (1, 2, "1 of the 2 digits"),
        (1, 1, "the one digit"),
        (0, 1, "none of 1 digit"),
        (1000, 1000, "all 1,000 digits"),
    ],
)
def test_count_words_reads_as_a_person_writes(k, n, words):
    assert count_words(k, n, "digit") == words
    assert "(s)" not in words and f"{n} of these {n}" not in words


def test_count_words_takes_an_irregular_plural():
    assert count_words(3, 5, "eps", "eps") == "3 of the 5 eps"


def test_describe_count_gives_the_interval_of_the_rate():
    low, high = wilson_interval(4, 5)
    assert describe_count(4, 5) == (
        f"4 of the 5 seeds (95% interval of the rate: {low:.0f}-{high:.0f}%)"
    )
    assert describe_count(5, 5).startswith("all 5 seeds (95% interval of the rate: 57-100%")
    assert describe_count(0, 5, "run").startswith(
        "none of the 5 runs (95% interval of the rate: 0-"
    )


def test_widest_half_interval_is_the_largest_distance_to_an_end():
    values = [50.0, 90.0, 100.0]
    expected = max(
        max(v - accuracy_interval(v, 500)[0], accuracy_interval(v, 500)[1] - v) for v in values
    )
    assert widest_half_interval(values, 500) == pytest.approx(expected)
    assert widest_half_interval([50.0], 500) > widest_half_interval([90.0], 500)
    assert widest_half_interval([], 500) == 0.0


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: wilson_interval(-1, 10), r"correct must be between 0 and n=10, got -1"),
        (lambda: wilson_interval(11, 10), r"correct must be between 0 and n=10, got 11"),
        (lambda: wilson_interval(0, 0), r"n must be a positive number of trials"),
        (lambda: wilson_interval(2, -5), r"n must be a positive number of trials"),
        (lambda: wilson_interval(2.5, 10), r"correct must be a whole number, got 2\.5"),
        (lambda: wilson_interval(5, 10.0), r"n must be a whole number, got 10\.0"),
        (lambda: wilson_interval(True, 10), r"correct must be a whole number, got True"),
        (lambda: wilson_interval(5, 10, 95), r"confidence .* \(0\.95 for 95%\), got 95"),
        (lambda: wilson_interval(5, 10, 0), r"confidence must be strictly between 0 and 1"),
        (lambda: wilson_interval(5, 10, 1.0), r"confidence must be strictly between 0 and 1"),
        (lambda: wilson_interval(5, 10, "0.95"), r"confidence must be a number"),
        (lambda: accuracy_interval(0.9, 1000.0), r"n must be a whole number"),
        (lambda: accuracy_interval(90.0, 0), r"n must be a positive number of images"),
        (lambda: accuracy_interval(101.0, 1000), r"in percent, between 0 and 100, got 101\.0"),
        (lambda: accuracy_interval(-0.1, 1000), r"in percent, between 0 and 100"),
        (lambda: accuracy_interval("90", 1000), r"accuracy_percent must be a number"),
        (lambda: distinguishable((90.0,), (88.5, 1000)), r"a must be a pair \(accuracy_percent"),
        (lambda: distinguishable((90.0, 1000), 88.5), r"b must be a pair"),
        (lambda: distinguishable((90.0, 1000), (88.55, 1000)), r"not a whole number"),
        (lambda: describe_difference((90.0, 1000, 1), (88.5, 1000)), r"a must be a pair"),
        (lambda: fisher_exact(6, 5, 0, 5), r"k1 must be between 0 and n1=5, got 6"),
        (lambda: fisher_exact(1, 5, 1, 0), r"n2 must be a positive number"),
        (lambda: fisher_exact(1, 5, -1, 5), r"k2 must be between 0 and n2=5"),
        (lambda: compare_rates(2, 5, 0, 5, alpha=5), r"alpha .* \(0\.05 for the 5% level\)"),
        (lambda: compare_rates(2, 5, 0, 5, alpha=0), r"alpha must be strictly between"),
        (lambda: describe_rates(2, 5, 0, 5, unit=""), r"unit must name what was counted"),
        (lambda: count_words(6, 5, "seed"), r"k must be between 0 and n=5, got 6"),
        (lambda: count_words(1, 5, " "), r"unit must name what was counted"),
    ],
)
def test_bad_inputs_say_what_is_expected(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# Packaging --------------------------------------------------------------------------------------


def test_reached_through_the_package():
    assert "stats" in dir(fh)
    assert fh.stats.wilson_interval is wilson_interval


def test_no_scipy_at_run_time():
    """scipy is a test extra only: importing and using the module must not load it."""
    code = (
        "import sys, fgsm_helpers.stats as s\n"
        "s.describe_rates(2, 5, 0, 5); s.describe_difference((90.0, 1000), (88.5, 1000))\n"
        "print(s.__file__); print('scipy' in sys.modules)\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, check=True
    )
    module_file, scipy_loaded = completed.stdout.split()
    assert Path(module_file).resolve() == REPO / "fgsm_helpers" / "stats.py"
    assert scipy_loaded == "False"


def test_rank_sum_exact_counts_every_split_of_the_seeds():
    from fgsm_helpers.stats import rank_sum_exact

    assert rank_sum_exact([86.0, 87.2, 85.1], [0.0, 70.4, 0.2]) == pytest.approx(0.1)  # 2 of 20
    assert rank_sum_exact([1, 2, 3], [1, 2, 3]) == 1.0
    assert rank_sum_exact([1, 2], [3, 4, 5, 6]) == pytest.approx(2 / 15)
    assert rank_sum_exact([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) == pytest.approx(2 / 252)
    # ties take mid-ranks: [1, 1] against [1, 2] is no evidence either way
    assert rank_sum_exact([1, 1], [1, 2]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least one"):
        rank_sum_exact([], [1])
    with pytest.raises(ValueError, match="at most 20"):
        rank_sum_exact(range(11), range(11))


def test_mcnemar_exact_counts_only_the_images_the_two_disagree_on():
    from fgsm_helpers.stats import mcnemar_exact

    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(0, 5) == mcnemar_exact(5, 0) == pytest.approx(2 / 32)
    assert mcnemar_exact(3, 3) == 1.0
    assert mcnemar_exact(0, 10) == pytest.approx(2 / 1024)
    with pytest.raises(ValueError, match="whole number"):
        mcnemar_exact(1.5, 2)
