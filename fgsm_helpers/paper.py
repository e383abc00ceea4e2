"""The paper this series reproduces, and its reported numbers as data for every comparison.

Eunjeong Lee. *Understanding Adversarial Vulnerabilities and Defenses in Machine Learning:
A Practical Approach Using FGSM.* The paper names no venue, year or preprint link; this is its
full reference as it gives it.

>>> from fgsm_helpers import paper
>>> paper.TABLE1_FGSM_ACCURACY[0.3]     # percent, the CNN under FGSM at eps 0.3
67.9
"""

from __future__ import annotations

from .stats import accuracy_interval, distinguishable

PAPER_AUTHORS = ("Eunjeong Lee",)
PAPER_TITLE = (
    "Understanding Adversarial Vulnerabilities and Defenses in Machine Learning: "
    "A Practical Approach Using FGSM"
)
#: The full reference, as the paper gives it (no venue, year or link appear in it).
REFERENCE = f"{', '.join(PAPER_AUTHORS)}. {PAPER_TITLE}. (No venue, year or preprint link given.)"

#: How many test images each of the paper's accuracies is measured on. The paper does not say;
#: its numbers are multiples of 0.01 points, as on MNIST's whole test set of 10,000 images, so
#: that is what their intervals assume.
PAPER_TEST_IMAGES = 10_000

#: Table 1: clean accuracy of the CNN and its accuracy under FGSM, in percent.
TABLE1_CLEAN_ACCURACY = 98.88
TABLE1_FGSM_ACCURACY = {0.1: 91.68, 0.2: 82.2, 0.3: 67.9}

#: Table 2: FGSM accuracy (percent) per eps, without and with adversarial training.
TABLE2_BASELINE = {
    0.1: 91.68,
    0.2: 82.2,
    0.3: 67.9,
    0.4: 50.1,
    0.5: 38.09,
    0.6: 29.46,
    0.7: 24.82,
    0.8: 22.62,
}
TABLE2_ADVERSARIAL = {
    0.1: 97.9,
    0.2: 96.33,
    0.3: 93.75,
    0.4: 90.52,
    0.5: 85.53,
    0.6: 78.34,
    0.7: 69.27,
    0.8: 60.31,
}
TABLE2_EPS = tuple(TABLE2_BASELINE)

#: What the paper leaves unsaid, recorded so the comparison can say so.
UNSTATED = (
    "eps units (pixel or after normalization)",
    "clamping to [0, 1]",
    "labels used by the attack",
    "optimiser, epochs and learning rate",
    "training eps and clean/adversarial mix",
    "seed",
)


def table2_rows() -> list[dict[str, float]]:
    """Table 2 as rows: ``{"eps", "baseline", "adversarial"}``."""
    return [
        {"eps": eps, "baseline": TABLE2_BASELINE[eps], "adversarial": TABLE2_ADVERSARIAL[eps]}
        for eps in TABLE2_EPS
    ]


def mean_abs_difference(ours: dict[float, float], paper: dict[float, float]) -> float:
    """Mean absolute difference (points) between our accuracies and the paper's, over the
    eps values both have."""
    shared = [eps for eps in paper if eps in ours]
    if not shared:
        raise ValueError("no eps in common between the two curves")
    return sum(abs(ours[eps] - paper[eps]) for eps in shared) / len(shared)


def compare_with_paper(
    label: str,
    ours: float,
    n_images: int,
    paper: float,
    n_paper: int = PAPER_TEST_IMAGES,
    confidence: float = 0.95,
) -> dict:
    """One table row: our accuracy (percent, on ``n_images``) beside the paper's, each with its
    Wilson interval (:func:`fgsm_helpers.stats.accuracy_interval`), the difference in points,
    and the verdict: ``"ours lower"`` or ``"ours higher"`` when the intervals do not overlap
    (:func:`fgsm_helpers.stats.distinguishable`), else ``"not distinguishable"``.

    >>> compare_with_paper("clean", 98.95, 10_000, TABLE1_CLEAN_ACCURACY)["verdict"]
    'not distinguishable'
    """
    ours_low, ours_high = accuracy_interval(ours, n_images, confidence)
    paper_low, paper_high = accuracy_interval(paper, n_paper, confidence)
    if distinguishable((ours, n_images), (paper, n_paper), confidence):
        verdict = "ours lower" if ours < paper else "ours higher"
    else:
        verdict = "not distinguishable"
    level = f"{100 * confidence:g}%"
    return {
        "": label,
        "paper %": paper,
        f"paper {level} CI": f"{paper_low:.2f}-{paper_high:.2f}",
        "ours %": ours,
        f"ours {level} CI": f"{ours_low:.2f}-{ours_high:.2f}",
        "difference": ours - paper,
        "verdict": verdict,
    }
