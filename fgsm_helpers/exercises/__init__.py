"""Exercises that check themselves, one small set per chapter (Kaggle Learn's ``learntools``).

In a notebook::

    from fgsm_helpers.exercises import chapter02 as ex

    ex.q1              # shows the question
    ex.q1.check(fgsm)  # prints "Correct: ..." or what is wrong, and returns True or False
    ex.q1.hint()       # a nudge
    ex.q1.solution()   # the solution's code, with an explanation

A check never raises on a wrong answer: it says what type it expected, or what the answer got
wrong (no clamping, eps in the wrong units, the gradient's sign flipped...). Functions are
checked on hidden inputs built inside the check (a small seeded model and synthetic 28x28
images; no download, well under a second), including edge cases such as eps = 0 and pixels
that must be clamped. The solutions are plain functions of the chapter modules, shown with
``inspect.getsource`` and executed by ``tests/test_exercises.py``, so none can rot.

``framework`` holds the machinery (``Exercise``, ``Chapter``, the checks' building blocks, the
toy models); ``chapter01`` ... ``chapter06`` hold each chapter's questions ``q1``, ``q2`` (``q3``),
its ``exercises``, solutions and input builders. ``CHAPTERS`` maps "01" ... "06" to each
chapter's ``Chapter``.
"""

from __future__ import annotations

from . import chapter01, chapter02, chapter03, chapter04, chapter05, chapter06

CHAPTERS = {
    "01": chapter01.chapter,
    "02": chapter02.chapter,
    "03": chapter03.chapter,
    "04": chapter04.chapter,
    "05": chapter05.chapter,
    "06": chapter06.chapter,
}

__all__ = ["CHAPTERS", "chapter01", "chapter02", "chapter03", "chapter04", "chapter05", "chapter06"]
