"""Chapter 06, evaluating a defence: which attack's figure to report, and robust accuracy from
AutoAttack's per-image report."""

from __future__ import annotations

from typing import Any

import torch

from .framework import (
    Chapter,
    Exercise,
    Result,
    WrongAnswer,
    close,
    correct,
    incorrect,
    number_or_message,
    type_name,
)

#: A model's accuracies (percent) at eps 0.3 under four attacks, on the same 200 images.
MASKED_MODEL = {"fgsm": 85.0, "pgd": 40.0, "square": 20.0, "transfer": 60.0}


def masking_inputs() -> dict[str, float]:
    """q1's inputs: the accuracies of ``MASKED_MODEL``, as a dict the student may change."""
    return dict(MASKED_MODEL)


def reported_attack_solution(accuracies: dict[str, float]) -> str:
    """The attack whose figure to report: the one that leaves the lowest accuracy."""
    return min(accuracies, key=accuracies.get)


def _check_reported_attack(answer: Any) -> Result:
    if not isinstance(answer, str):
        return incorrect(
            f"expected a string (one of {sorted(MASKED_MODEL)}); got {type_name(answer)}."
        )
    choice = answer.strip().lower()
    if choice == "square":
        return correct(
            "robust accuracy is bounded by the strongest attack found, whatever kind it is. And "
            "a gradient-free attack beating white-box PGD (20% against 40%) is the signature of "
            "gradient masking: this model's gradients mislead PGD."
        )
    if choice == "pgd":
        return incorrect(
            "PGD is the strongest white-box attack here, but another attack leaves fewer images "
            "standing. Which one, and what does it mean that it uses no gradients?"
        )
    if choice in MASKED_MODEL:
        return incorrect(
            f"{choice} leaves {MASKED_MODEL[choice]:.0f}%: another attack does better, so this "
            "figure is not the tightest bound."
        )
    return incorrect(f"choose one of {sorted(MASKED_MODEL)}; got {answer!r}.")


#: How many of q2's 50 images each label of AutoAttack's report gets: every label appears, and
#: the misclassified ("clean") images make the common wrong answers differ from the right one.
REPORT_COUNTS = {"clean": 3, "apgd-ce": 9, "apgd-t": 5, "fab-t": 2, "square": 1, None: 30}


def report_inputs() -> list[str | None]:
    """q2's inputs: an AutoAttack report on 50 images, what broke each one (or None), with
    :data:`REPORT_COUNTS` of each label in a seeded order."""
    labels = [label for label, count in REPORT_COUNTS.items() for _ in range(count)]
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(6))
    return [labels[i] for i in order.tolist()]


def report_accuracy_solution(broken_by: list[str | None]) -> float:
    """Robust accuracy (percent) from AutoAttack's per-image report: the images no attack broke."""
    return 100.0 * broken_by.count(None) / len(broken_by)


def _check_report_accuracy(answer: Any) -> Result:
    value, problem = number_or_message(answer, "the robust accuracy in percent")
    if problem:
        return problem
    broken_by = report_inputs()
    expected = report_accuracy_solution(broken_by)
    if close(value, expected, 0.01):
        return correct(
            f"{expected:.1f}%: {broken_by.count(None)} of {len(broken_by)} images withstood all "
            "four attacks. The counts of the other labels say which attack did the work."
        )
    clean = 100.0 * (len(broken_by) - broken_by.count("clean")) / len(broken_by)
    if close(value, clean, 0.01):
        return incorrect("that is the clean accuracy: count the images no attack broke (None).")
    if close(value, broken_by.count(None), 0.01):
        return incorrect(f"that is a count; as a percentage of the {len(broken_by)} images?")
    if close(value * 100, expected, 0.01):
        return incorrect("answer in percent (e.g. 68.0), not as a fraction.")
    correct_before = len(broken_by) - broken_by.count("clean")
    if close(value, 100.0 * broken_by.count(None) / correct_before, 0.01):
        return incorrect(
            "that is out of the images classified correctly before the attack; robust accuracy "
            f"is out of all {len(broken_by)} images (a misclassified image counts as broken)."
        )
    return incorrect(
        "not the robust accuracy: which entries are the images that withstood every attack, and "
        "out of how many images?"
    )


q1 = Exercise(
    "chapter06.q1",
    """
    `accuracies = ex.q1.inputs()` gives one model's accuracy (percent) at eps 0.3 under
    FGSM, PGD-50, Square (gradient-free) and a transfer attack, on the same images. Which
    attack's figure bounds its robustness, the one to report? Answer with its key.
    """,
    _check_reported_attack,
    """
    Each figure is an upper bound: the attack found no adversarial example for the images it
    counts, which does not mean there is none. Which of the four bounds tells you the most?
    """,
    reported_attack_solution,
    """
    min(accuracies, key=accuracies.get). Then look at which kind of attack won: a
    gradient-free one beating PGD means the gradients lie (chapter 06, section 4).
    """,
    inputs=masking_inputs,
    wrong_answers={
        "PGD, the strongest white-box attack": WrongAnswer("pgd", "another attack leaves fewer"),
        "the highest figure": WrongAnswer(
            lambda accuracies: max(accuracies, key=accuracies.get), "another attack does better"
        ),
        "transfer": WrongAnswer("transfer", "another attack does better"),
        "FGSM, the attack the model may have been trained against": WrongAnswer(
            "fgsm", "another attack does better"
        ),
    },
)

q2 = Exercise(
    "chapter06.q2",
    """
    `broken_by = ex.q2.inputs()` is AutoAttack's per-image report on 50 images
    (`result.broken_by`): "clean" (misclassified before any attack), the attack that broke
    the image, or None (it withstood them all). What is the robust accuracy, in percent?
    """,
    _check_report_accuracy,
    """
    Each entry says what happened to one image. Which label marks an image that is still
    classified correctly after all four attacks, and out of how many images is the accuracy?
    """,
    report_accuracy_solution,
    """
    fh.autoattack computes result.accuracy exactly this way; result.counts holds the
    number of images per label, adding up to the number of images.
    """,
    inputs=report_inputs,
    wrong_answers={
        "clean accuracy": WrongAnswer(
            lambda broken_by: 100.0 * (len(broken_by) - broken_by.count("clean")) / len(broken_by),
            "that is the clean accuracy",
        ),
        "a count": WrongAnswer(lambda broken_by: broken_by.count(None), "that is a count"),
        "a fraction": WrongAnswer(
            lambda broken_by: broken_by.count(None) / len(broken_by), "not as a fraction"
        ),
        "out of the clean-correct images only": WrongAnswer(
            lambda broken_by: (
                100.0 * broken_by.count(None) / (len(broken_by) - broken_by.count("clean"))
            ),
            "out of all",
        ),
    },
)

chapter = Chapter("chapter 06: evaluating a defence", q1, q2)
exercises = chapter.exercises
