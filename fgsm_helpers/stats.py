"""Say only what the numbers allow: intervals for accuracies, tests for rates over seeds.

An accuracy measured on n images is a proportion with sampling error: at 90% on 1,000 images
the 95% Wilson interval is 88.0-91.7%, so a 1-point difference on 1,000 images is no finding.
A rate over a few seeds ("collapsed in 2 of 5 seeds") is a small sample: Fisher's exact test
says whether it differs from another rate ("0 of 5") more than chance would (here it does not:
p = 0.44). Accuracies and rates are in percent, as everywhere in the series. Standard library
only: the normal quantile comes from :class:`statistics.NormalDist`, the hypergeometric
probabilities from :func:`math.comb`, so scipy is not needed at run time.

>>> describe_difference((90.0, 1000), (88.5, 1000))   # '... not distinguishable at 95%'
>>> describe_rates(2, 5, 0, 5)   # "... p = 0.44, no evidence of a difference at the 5% level"
"""

from __future__ import annotations

import itertools
import math
import numbers
from statistics import NormalDist

# An accuracy in percent counts as a whole number of images when it is this close (in percent
# points) to 100 * correct / n. Not 1e-6: an accuracy taken as a float32 mean
# (``100.0 * (pred == y).float().mean().item()``, as robustness.py does) is up to 3e-6 points
# off, while an accuracy rounded for display is off by far more on any realistic n.
_COUNT_TOLERANCE = 1e-5


def _check_count(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    return int(value)


def _check_counts(correct, n, correct_name: str = "correct", n_name: str = "n") -> tuple[int, int]:
    n = _check_count(n, n_name)
    correct = _check_count(correct, correct_name)
    if n <= 0:
        raise ValueError(f"{n_name} must be a positive number of trials (images, seeds), got {n}")
    if not 0 <= correct <= n:
        raise ValueError(f"{correct_name} must be between 0 and {n_name}={n}, got {correct}")
    return correct, n


def _check_probability(value, name: str, example: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number between 0 and 1 ({example}), got {value!r}")
    if not 0 < value < 1:
        raise ValueError(f"{name} must be strictly between 0 and 1 ({example}), got {value!r}")
    return float(value)


def wilson_interval(correct: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of the proportion ``correct / n``, in percent: ``(low, high)``.

    With ``p = correct / n`` and ``z`` the standard normal quantile at ``(1 + confidence) / 2``:
    ``(p + z²/2n ± z * sqrt(p(1 - p)/n + z²/4n²)) / (1 + z²/n)`` (Wilson 1927; Agresti & Coull
    1998 recommend it over the normal-approximation interval, which is wrong near 0% and 100%).
    The interval never leaves [0, 100]; it starts at exactly 0 when ``correct == 0`` and ends
    at exactly 100 when ``correct == n``. ``correct`` and ``n`` are counts (correctly classified
    images and images, or collapsed seeds and seeds); ``confidence`` is a probability.

    >>> wilson_interval(900, 1000)          # 90.0% on 1,000 images
    (87.98..., 91.70...)
    """
    correct, n = _check_counts(correct, n)
    confidence = _check_probability(confidence, "confidence", "0.95 for 95%")
    z = NormalDist().inv_cdf((1 + confidence) / 2)
    centre = (correct + z**2 / 2) / (n + z**2)
    half_width = z / (n + z**2) * math.sqrt(correct * (n - correct) / n + z**2 / 4)
    low = 0.0 if correct == 0 else max(0.0, centre - half_width)
    high = 1.0 if correct == n else min(1.0, centre + half_width)
    return 100 * low, 100 * high


def _count_from_accuracy(accuracy_percent: float, n: int) -> int:
    """The number of correct images behind an accuracy in percent on ``n`` images."""
    n = _check_count(n, "n")
    if n <= 0:
        raise ValueError(f"n must be a positive number of images, got {n}")
    if isinstance(accuracy_percent, bool) or not isinstance(accuracy_percent, numbers.Real):
        raise ValueError(f"accuracy_percent must be a number in percent, got {accuracy_percent!r}")
    if not 0 <= accuracy_percent <= 100:
        raise ValueError(
            f"accuracy_percent must be in percent, between 0 and 100, got {accuracy_percent!r}"
        )
    correct = round(accuracy_percent * n / 100)
    if abs(accuracy_percent - 100 * correct / n) > _COUNT_TOLERANCE:
        raise ValueError(
            f"{accuracy_percent!r}% of {n:,} images is {accuracy_percent * n / 100:g} images, not "
            f"a whole number: pass the unrounded accuracy (a multiple of 100/{n:,} = "
            f"{100 / n:g} points) or the count of correct images to wilson_interval"
        )
    return correct


def accuracy_interval(
    accuracy_percent: float, n: int, confidence: float = 0.95
) -> tuple[float, float]:
    """:func:`wilson_interval` of an accuracy given in percent on ``n`` images, in percent.

    The accuracy must be a whole number of images, ``100 * correct / n`` as
    :func:`fgsm_helpers.evaluation.accuracy` returns it, to within 1e-5 points (a float32 mean
    is accepted); a rounded accuracy that is not one (97.5% on 10,000 images is one, 97.53% on
    1,000 is not) raises ValueError.

    >>> accuracy_interval(90.0, 1000)       # same as wilson_interval(900, 1000)
    (87.98..., 91.70...)
    """
    return wilson_interval(_count_from_accuracy(accuracy_percent, n), n, confidence)


def interval_text(
    accuracy_percent: float, n: int, confidence: float = 0.95, decimals: int = 1
) -> str:
    """An accuracy on ``n`` images with its :func:`accuracy_interval`, for a table or a
    sentence: ``"86.0% (83.7-88.0)"``, percentages with ``decimals`` decimals.

    >>> interval_text(90.0, 1000)
    '90.0% (88.0-91.7)'
    """
    low, high = accuracy_interval(accuracy_percent, n, confidence)
    return (
        f"{_percent(accuracy_percent, decimals)}% "
        f"({_percent(low, decimals)}-{_percent(high, decimals)})"
    )


def _check_measurement(measurement, name: str) -> tuple[float, int]:
    if not isinstance(measurement, (tuple, list)) or len(measurement) != 2:
        raise ValueError(
            f"{name} must be a pair (accuracy_percent, n), e.g. (90.0, 1000), got {measurement!r}"
        )
    return measurement[0], measurement[1]


def distinguishable(a: tuple[float, int], b: tuple[float, int], confidence: float = 0.95) -> bool:
    """Whether two accuracies, each ``(accuracy_percent, n)``, can be told apart.

    The series' convention: two accuracies are distinguishable when their Wilson intervals
    (:func:`accuracy_interval`, at ``confidence``) do not overlap, that is when the lower end
    of one lies strictly above the upper end of the other; a difference inside the intervals is
    not distinguishable. The rule is conservative: two non-overlapping 95% intervals of similar
    width correspond to a two-sample test at about the 0.5% level, not 5%, so a real difference
    can be called not distinguishable. In the other direction the rule is safe: when each
    sample has at least 3 trials, two non-overlapping 95% intervals are a difference that
    :func:`fisher_exact` also finds at the 5% level (checked for every pair of samples of 3 to
    60 trials; with 1 or 2 trials Fisher's test can disagree).

    >>> distinguishable((90.0, 1000), (88.5, 1000))     # 88.0-91.7 overlaps 86.4-90.3
    False
    """
    low_a, high_a = accuracy_interval(*_check_measurement(a, "a"), confidence)
    low_b, high_b = accuracy_interval(*_check_measurement(b, "b"), confidence)
    return low_a > high_b or low_b > high_a


def _percent(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"


def _confidence_text(confidence: float) -> str:
    return f"{100 * confidence:.10g}%"


def describe_difference(
    a: tuple[float, int], b: tuple[float, int], confidence: float = 0.95, decimals: int = 1
) -> str:
    """A sentence comparing two accuracies, each ``(accuracy_percent, n)``, with their intervals
    and the verdict of :func:`distinguishable`; percentages with ``decimals`` decimals.

    >>> describe_difference((90.0, 1000), (88.5, 1000))
    '90.0% (88.0-91.7, n=1,000) and 88.5% (86.4-90.3, n=1,000): not distinguishable at 95%'
    """
    parts = []
    for name, measurement in (("a", a), ("b", b)):
        accuracy_percent, n = _check_measurement(measurement, name)
        low, high = accuracy_interval(accuracy_percent, n, confidence)
        parts.append(
            f"{_percent(accuracy_percent, decimals)}% "
            f"({_percent(low, decimals)}-{_percent(high, decimals)}, n={n:,})"
        )
    verdict = "distinguishable" if distinguishable(a, b, confidence) else "not distinguishable"
    return f"{parts[0]} and {parts[1]}: {verdict} at {_confidence_text(confidence)}"


def fisher_exact(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value of Fisher's exact test that the rates ``k1 / n1`` and ``k2 / n2`` are
    the same (Fisher 1935), e.g. runs that collapsed out of the seeds tried, for two recipes.

    Given the margins, the number of successes in the first sample, X, is hypergeometric:
    ``P(X = x) = C(k1 + k2, x) * C(n1 + n2 - k1 - k2, n1 - x) / C(n1 + n2, n1)``. The p-value
    sums ``P(X = x)`` over every x no more probable than the observed ``k1`` (R's and scipy's
    two-sided definition). The probabilities are compared as exact integers (numerators over
    the common denominator), so ties are ties without the relative tolerance that R and scipy
    need for floating point.

    >>> fisher_exact(2, 5, 0, 5)            # collapsed in 2 of 5 seeds against 0 of 5
    0.444...
    """
    k1, n1 = _check_counts(k1, n1, "k1", "n1")
    k2, n2 = _check_counts(k2, n2, "k2", "n2")
    successes, total = k1 + k2, n1 + n2
    failures = total - successes
    first = max(0, n1 - failures)
    last = min(successes, n1)
    # Numerators C(successes, x) * C(failures, n1 - x) for x = first..last, by the ratio of
    # consecutive terms (exact integer division): math.comb for each term takes seconds at
    # n = 10,000, this takes milliseconds.
    term = math.comb(successes, first) * math.comb(failures, n1 - first)
    numerators = [term]
    for x in range(first, last):
        term = term * (successes - x) * (n1 - x) // ((x + 1) * (failures - n1 + x + 1))
        numerators.append(term)
    observed = numerators[k1 - first]
    as_extreme = sum(value for value in numerators if value <= observed)
    return as_extreme / sum(numerators)


def compare_rates(k1: int, n1: int, k2: int, n2: int, alpha: float = 0.05) -> dict:
    """Two rates ``k1 / n1`` and ``k2 / n2`` (e.g. collapsed seeds out of seeds tried) side by
    side: each in percent with its Wilson interval at confidence ``1 - alpha``, Fisher's exact
    two-sided p-value, and ``"different": p < alpha``.

    >>> compare_rates(2, 5, 0, 5)["p_value"], compare_rates(2, 5, 0, 5)["different"]
    (0.444..., False)
    """
    alpha = _check_probability(alpha, "alpha", "0.05 for the 5% level")
    k1, n1 = _check_counts(k1, n1, "k1", "n1")
    k2, n2 = _check_counts(k2, n2, "k2", "n2")
    p_value = fisher_exact(k1, n1, k2, n2)
    return {
        "rate1": 100 * k1 / n1,
        "rate2": 100 * k2 / n2,
        "interval1": wilson_interval(k1, n1, 1 - alpha),
        "interval2": wilson_interval(k2, n2, 1 - alpha),
        "confidence": 1 - alpha,
        "p_value": p_value,
        "alpha": alpha,
        "different": p_value < alpha,
    }


def _p_value_text(p_value: float, alpha: float) -> str:
    """``p = 0.44``: two significant digits, more when rounding would hide which side of alpha
    the p-value is on (0.0496 against 0.05 reads ``p = 0.0496``, not ``p = 0.05``)."""
    if p_value < 0.001 < alpha:
        return "p < 0.001"
    for digits in range(2, 7):
        text = f"{p_value:.{digits}g}"
        shown = float(text)
        if shown != alpha and (shown < alpha) == (p_value < alpha):
            break
    return f"p = {text}"


def describe_rates(
    k1: int,
    n1: int,
    k2: int,
    n2: int,
    alpha: float = 0.05,
    unit: str = "seed",
    plural: str | None = None,
    decimals: int = 0,
) -> str:
    """A sentence comparing two rates with their intervals and Fisher's exact test
    (:func:`compare_rates`); ``unit`` names what was counted (``plural`` defaults to
    ``unit + "s"``), interval ends in percent with ``decimals`` decimals.

    >>> describe_rates(2, 5, 0, 5)
    "2 of 5 seeds (12-77%) against 0 of 5 (0-43%): Fisher's exact test p = 0.44, no evidence ..."
    """
    if not isinstance(unit, str) or not unit.strip():
        raise ValueError(f"unit must name what was counted, e.g. 'seed', got {unit!r}")
    result = compare_rates(k1, n1, k2, n2, alpha)
    units = unit if n1 == 1 else (plural or unit + "s")
    (low1, high1), (low2, high2) = result["interval1"], result["interval2"]
    first = f"{k1:,} of {n1:,} {units} ({_percent(low1, decimals)}-{_percent(high1, decimals)}%)"
    second = f"{k2:,} of {n2:,} ({_percent(low2, decimals)}-{_percent(high2, decimals)}%)"
    level = f"{100 * result['alpha']:.10g}%"
    verdict = "a difference" if result["different"] else "no evidence of a difference"
    p_text = _p_value_text(result["p_value"], result["alpha"])
    return f"{first} against {second}: Fisher's exact test {p_text}, {verdict} at the {level} level"


def with_interval(accuracy_percent: float, n: int, decimals: int | None = None) -> str:
    """An accuracy in percent on ``n`` images with its 95% Wilson interval, for a sentence:
    ``"87.87% (87.21-88.50)"`` (:func:`accuracy_interval`). ``decimals`` defaults to what shows
    one image's worth on ``n`` images: 1 up to 1,000 images, 2 beyond.

    >>> with_interval(90.0, 1000), with_interval(98.48, 10_000)
    ('90.0% (88.0-91.7)', '98.48% (98.22-98.70)')
    """
    low, high = accuracy_interval(accuracy_percent, n)
    if decimals is None:
        decimals = 1 if n <= 1000 else 2
    return (
        f"{_percent(accuracy_percent, decimals)}% "
        f"({_percent(low, decimals)}-{_percent(high, decimals)})"
    )


def count_words(k: int, n: int, unit: str, plural: str | None = None) -> str:
    """``k`` of ``n`` counted things in words, as a person writes them: "all 5 seeds", "both
    seeds", "neither seed", "the one seed", "none of the 5 seeds", "3 of the 5 seeds"
    (``plural`` defaults to ``unit + "s"``).

    >>> count_words(8, 8, "digit"), count_words(0, 2, "seed"), count_words(3, 5, "eps", "eps")
    ('all 8 digits', 'neither seed', '3 of the 5 eps')
    """
    k, n = _check_counts(k, n, "k", "n")
    if not isinstance(unit, str) or not unit.strip():
        raise ValueError(f"unit must name what was counted, e.g. 'seed', got {unit!r}")
    plural = plural or unit + "s"
    if n == 1:
        return f"the one {unit}" if k == 1 else f"none of 1 {unit}"
    if n == 2 and k in (0, 2):
        return f"both {plural}" if k == 2 else f"neither {unit}"
    if k == n:
        return f"all {n:,} {plural}"
    if k == 0:
        return f"none of the {n:,} {plural}"
    return f"{k:,} of the {n:,} {plural}"


def describe_count(k: int, n: int, unit: str = "seed", plural: str | None = None) -> str:
    """A rate over a few runs in words with its 95% Wilson interval: ``"all 5 seeds (95%
    interval of the rate: 57-100%)"`` (:func:`count_words`, :func:`wilson_interval`).

    >>> describe_count(4, 5)
    '4 of the 5 seeds (95% interval of the rate: 38-96%)'
    """
    low, high = wilson_interval(k, n)
    return f"{count_words(k, n, unit, plural)} (95% interval of the rate: {low:.0f}-{high:.0f}%)"


def widest_half_interval(accuracies, n: int, confidence: float = 0.95) -> float:
    """The largest distance (points) from any of ``accuracies`` (percent, each on ``n`` images)
    to an end of its Wilson interval: how far apart two of them may be by chance, at most, for
    a table's caption ("each within ±4.4 points").

    >>> round(widest_half_interval([50.0, 90.0], 500), 1)
    4.4
    """
    widest = 0.0
    for value in accuracies:
        low, high = accuracy_interval(value, n, confidence)
        widest = max(widest, value - low, high - value)
    return widest


def rank_sum_exact(a, b) -> float:
    """Two-sided exact p-value of the Wilcoxon rank-sum (Mann-Whitney) test that two small
    samples (e.g. the AutoAttack figures of two recipes, one per training seed) come from the
    same distribution: every way of splitting the pooled values into groups of ``len(a)`` and
    ``len(b)`` is equally likely under that hypothesis, and the p-value is the share of splits
    whose rank sum lies at least as far from its mean as the observed one (ties get mid-ranks).
    With 3 seeds against 3, even complete separation gives p = 0.1: three seeds each cannot
    show a difference at the 5% level, however large.

    >>> rank_sum_exact([86.0, 87.2, 85.1], [0.0, 70.4, 0.2])
    0.1
    """
    a, b = [float(v) for v in a], [float(v) for v in b]
    if not a or not b:
        raise ValueError("both samples need at least one value")
    if len(a) + len(b) > 20:
        raise ValueError("rank_sum_exact enumerates every split: at most 20 values in all")
    pooled = sorted(a + b)
    ranks = {}
    for value in set(pooled):
        positions = [i + 1 for i, v in enumerate(pooled) if v == value]
        ranks[value] = sum(positions) / len(positions)
    all_ranks = [ranks[v] for v in a + b]
    mean = len(a) * (len(a) + len(b) + 1) / 2
    observed = abs(sum(ranks[v] for v in a) - mean)
    splits = list(itertools.combinations(range(len(all_ranks)), len(a)))
    extreme = sum(
        1 for split in splits if abs(sum(all_ranks[i] for i in split) - mean) >= observed - 1e-9
    )
    return extreme / len(splits)


def mcnemar_exact(only_first: int, only_second: int) -> float:
    """Two-sided exact McNemar p-value for two classifiers (or two attacks) on the same images:
    ``only_first`` images right (or robust) for the first only, ``only_second`` for the second
    only. Under the hypothesis that both are equally good each such discordant image is a fair
    coin, so the p-value is twice the binomial tail of the smaller count (at most 1). The
    images both get right or both get wrong say nothing about the difference, which is why a
    paired test on the same images is far stronger than comparing two intervals.

    >>> mcnemar_exact(0, 5)                  # 5 images robust for the second model only
    0.0625
    """
    only_first, only_second = (
        _check_count(only_first, "only_first"),
        _check_count(only_second, "only_second"),
    )
    total = only_first + only_second
    if total == 0:
        return 1.0
    tail = sum(math.comb(total, k) for k in range(min(only_first, only_second) + 1))
    return min(1.0, 2 * tail / 2**total)
