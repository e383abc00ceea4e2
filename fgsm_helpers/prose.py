"""Counts in sentences as a person writes them: "1 epoch", "all 8 digits", "0.2 and 0.3".

The chapters render their prose from the run's numbers; these helpers keep a sentence right for
every count it can be given (no "epoch(s)", no "8 of these 8").

>>> count_of(8, 8, "digit"), count_of(1, 8, "digit"), count_of(0, 8, "digit")
('all 8 digits', '1 of the 8 digits', 'none of the 8 digits')
"""

from __future__ import annotations

from collections.abc import Sequence


def _check_counts(k: int, n: int) -> None:
    for name, value in (("k", k), ("n", n)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a whole number >= 0; got {value!r}")
    if k > n:
        raise ValueError(f"k must be at most n; got k={k}, n={n}")


def plural(n: int, singular: str, plural_form: str | None = None) -> str:
    """``n`` things: ``"1 epoch"``, ``"2 epochs"`` (``plural_form`` for irregular words).

    >>> plural(1, "epoch"), plural(3, "epoch")
    ('1 epoch', '3 epochs')
    """
    _check_counts(0, n)
    return f"{n:,} {singular if n == 1 else plural_form or singular + 's'}"


def count_of(k: int, n: int, singular: str, plural_form: str | None = None) -> str:
    """``k`` of ``n`` things: "all 8 digits", "both digits", "none of the 8 digits",
    "1 of the 8 digits", "3 of the 8 digits"; with ``n == 1``: "the digit" or "no digit".
    Take the verb's number from :func:`verb` (singular for ``k`` of 0 or 1).

    >>> count_of(2, 2, "digit"), count_of(3, 8, "digit")
    ('both digits', '3 of the 8 digits')
    """
    _check_counts(k, n)
    many = plural_form or singular + "s"
    if n == 1:
        return f"the {singular}" if k == 1 else f"no {singular}"
    if k == n:
        return f"both {many}" if n == 2 else f"all {n:,} {many}"
    if k == 0:
        return f"none of the {n:,} {many}"
    return f"{k:,} of the {n:,} {many}"


def verb(k: int, singular: str, plural_form: str) -> str:
    """The verb that agrees with :func:`count_of`'s phrase for ``k``: ``singular`` for 0 or 1
    ("none of the 8 digits is", "1 of the 8 digits is"), else ``plural_form``."""
    _check_counts(0, k)
    return singular if k <= 1 else plural_form


def join_words(items: Sequence) -> str:
    """``"a"``, ``"a and b"``, ``"a, b and c"``: items as text, the last two joined by "and".

    >>> join_words([0.1, 0.2, 0.3])
    '0.1, 0.2 and 0.3'
    """
    words = [str(item) for item in items]
    if not words:
        raise ValueError("join_words needs at least one item")
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"
