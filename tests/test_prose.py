"""Counts in rendered sentences: every count reads as a person would write it."""

from __future__ import annotations

import pytest

from fgsm_helpers import prose


@pytest.mark.parametrize(
    ("k", "n", "expected"),
    [
        (8, 8, "all 8 digits"),
        (2, 2, "both digits"),
        (0, 8, "none of the 8 digits"),
        (1, 8, "1 of the 8 digits"),
        (5, 8, "5 of the 8 digits"),
        (1, 1, "the digit"),
        (0, 1, "no digit"),
        (1200, 10000, "1,200 of the 10,000 digits"),
    ],
)
def test_count_of_reads_like_a_person_wrote_it(k, n, expected):
    phrase = prose.count_of(k, n, "digit")
    assert phrase == expected
    assert "(s)" not in phrase and f"{n} of these {n}" not in phrase


def test_verb_agrees_with_the_count():
    assert [prose.verb(k, "is", "are") for k in (0, 1, 2, 8)] == ["is", "is", "are", "are"]


def test_plural_and_irregular_plural():
    assert prose.plural(1, "epoch") == "1 epoch"
    assert prose.plural(2, "epoch") == "2 epochs"
    assert prose.plural(0, "epoch") == "0 epochs"
    assert prose.count_of(3, 3, "wrong answer") == "all 3 wrong answers"
    assert prose.plural(2, "class", "classes") == "2 classes"


def test_join_words():
    assert prose.join_words([0.3]) == "0.3"
    assert prose.join_words([0.2, 0.3]) == "0.2 and 0.3"
    assert prose.join_words([0.1, 0.2, 0.3]) == "0.1, 0.2 and 0.3"
    with pytest.raises(ValueError):
        prose.join_words([])


@pytest.mark.parametrize(("k", "n"), [(3, 2), (-1, 2), (1.0, 2), (True, 2)])
def test_bad_counts_are_refused(k, n):
    with pytest.raises(ValueError):
        prose.count_of(k, n, "digit")
