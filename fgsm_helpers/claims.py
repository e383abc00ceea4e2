"""Conclusions checked like code: a chapter states a claim, then checks it on its own numbers.

A notebook's summary is rendered from the run's results; each conclusion it draws is followed
by :func:`check`, so a run in which the conclusion no longer holds stops (under papermill and
nbval alike) with a message naming the claim, instead of printing a false sentence.

>>> check(robust_acc <= clean_acc, "an attack never raises accuracy",
...       f"robust {robust_acc:.2f}% vs clean {clean_acc:.2f}%")
"""

from __future__ import annotations


class ClaimFailed(AssertionError):
    """A conclusion the chapter draws does not hold for this run's numbers."""


def check(holds: bool, claim: str, evidence: str = "") -> None:
    """Raise :class:`ClaimFailed` naming ``claim`` (and the ``evidence`` numbers) unless
    ``holds``; return None quietly otherwise."""
    if not isinstance(claim, str) or not claim.strip():
        raise ValueError("claim must be a sentence saying what is claimed")
    if not bool(holds):
        detail = f" ({evidence})" if evidence else ""
        raise ClaimFailed(f"The chapter's claim no longer holds: {claim}{detail}")
