"""Chapter 05, beyond FGSM: label leaking and transfer measured on toy models, and the signal
that early stopping should watch."""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch import nn

import fgsm_helpers as fh  # the solutions use the package as a student's notebook does

from ..attacks import fgsm
from ..evaluation import accuracy
from .framework import (
    Chapter,
    Exercise,
    Result,
    WrongAnswer,
    close,
    correct,
    incorrect,
    linear_model,
    number_or_message,
    toy_dataset,
    train_toy,
    type_name,
)

TOY_EPS = 0.1  # the attacks of chapter 05's toy questions, pixel units


@functools.cache
def transfer_inputs() -> tuple[nn.Module, nn.Module, torch.Tensor, torch.Tensor]:
    """q2's inputs: a linear source model, an FGSM-trained linear target and 200 toy images
    with their labels (trained once, in a fraction of a second; ``q2.inputs()`` copies them)."""
    source = train_toy(linear_model(1), seed=1)
    target = train_toy(linear_model(2), seed=2, adversarial_eps=TOY_EPS)
    x, y = toy_dataset(200, seed=3)
    return source, target, x, y


def label_leak_inputs() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """q1's inputs: the FGSM-trained toy model of ``transfer_inputs`` and its 200 images."""
    _, target, x, y = transfer_inputs()
    return target, x, y


def label_leak_solution(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """FGSM accuracy with the model's predicted labels minus with the true labels, eps 0.1."""
    eps = 0.1
    with_true = fh.accuracy(model, fh.fgsm(model, x, y, eps), y)
    with_predicted = fh.accuracy(model, fh.fgsm(model, x, None, eps), y)  # y=None: predictions
    return with_predicted - with_true  # in points; scored against the true labels both times


def _check_label_leak(answer: Any) -> Result:
    value, problem = number_or_message(answer, "a difference in percentage points")
    if problem:
        return problem
    model, x, y = label_leak_inputs()
    with_true = accuracy(model, fgsm(model, x, y, 0.1), y)
    with_predicted = accuracy(model, fgsm(model, x, None, 0.1), y)
    expected = with_predicted - with_true
    if close(value, expected, 0.01):
        return correct(
            f"{with_predicted:.2f}% (predicted labels) - {with_true:.2f}% (true labels) = "
            f"{expected:+.2f} points on this toy model. Label leaking would make this difference "
            "negative: the FGSM-trained model scoring *higher* when the attack uses the true "
            "labels, because the perturbation gives the label away."
        )
    if close(value, -expected, 0.01) and expected != 0:
        return incorrect("you have the sign the other way: predicted minus true.")
    if close(value * 100, expected, 0.01) and expected != 0:
        return incorrect("answer in percentage points (e.g. 1.5), not as a fraction.")
    if close(value, with_true, 0.01) or close(value, with_predicted, 0.01):
        return incorrect("that is one of the two accuracies; answer their difference.")
    return incorrect(
        "attack with fh.fgsm(model, x, y, 0.1) and with fh.fgsm(model, x, None, 0.1), score both "
        "against the true labels y with fh.accuracy, and subtract."
    )


def transfer_solution(
    source: nn.Module, target: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> float:
    """Target's accuracy on FGSM images (eps 0.1) crafted against the source model."""
    x_adv = fh.fgsm(source, x, y, 0.1)  # the attacker only has the source model
    return fh.accuracy(target, x_adv, y)  # percent


def _check_transfer(answer: Any) -> Result:
    value, problem = number_or_message(answer, "an accuracy in percent")
    if problem:
        return problem
    source, target, x, y = transfer_inputs()
    expected = transfer_solution(source, target, x, y)
    white_box = accuracy(target, fgsm(target, x, y, 0.1), y)
    if close(value, expected, 0.01):
        return correct(
            f"{expected:.2f}% against {white_box:.2f}% when the target itself is attacked "
            "(white-box). How much weaker transfer is depends on the two models: chapter 05 "
            "measures it on real ones."
        )
    mistakes = {
        "you attacked the target itself (white-box); craft the images on the source.": white_box,
        "that is the source's accuracy on its own attack; evaluate the target.": accuracy(
            source, fgsm(source, x, y, 0.1), y
        ),
        "that is the target's clean accuracy; evaluate it on the images crafted on the source.": (
            accuracy(target, x, y)
        ),
    }
    matches = [message for message, candidate in mistakes.items() if close(value, candidate, 0.01)]
    if len(matches) == 1:
        return incorrect(matches[0])
    if matches:  # on these toy models two mistakes can give the same number
        return incorrect("that number fits more than one mistake: " + " Or ".join(matches))
    if close(value * 100, expected, 0.01):
        return incorrect("answer in percent (e.g. 87.5), not as a fraction.")
    return incorrect(
        "x_adv = fh.fgsm(source, x, y, 0.1), then fh.accuracy(target, x_adv, y) (percent)."
    )


def early_stopping_signal_solution() -> str:
    """Which held-out accuracy early stopping should watch in one-step adversarial training."""
    return "pgd"  # catastrophic overfitting: FGSM accuracy rises while PGD accuracy collapses


def _check_early_stopping(answer: Any) -> Result:
    if not isinstance(answer, str):
        return incorrect(f"expected a string ('fgsm', 'pgd' or 'clean'); got {type_name(answer)}.")
    choice = answer.strip().lower()
    if choice == "pgd":
        return correct(
            "catastrophic overfitting makes the single FGSM step useless, so held-out FGSM "
            "accuracy can rise while PGD accuracy falls to about zero. Only a multi-step attack "
            "sees the collapse."
        )
    if choice == "fgsm":
        return incorrect(
            "look at chapter 05's held-out table: FGSM accuracy stayed high in the epochs where "
            "PGD accuracy was near zero. The model learned to defeat the one step."
        )
    if choice == "clean":
        return incorrect(
            "clean accuracy says nothing about attacks; the model can be 99% right on clean "
            "digits and 0% under PGD."
        )
    return incorrect(f"choose 'fgsm', 'pgd' or 'clean'; got {answer!r}.")


# -------------------------------------------------- the wrong answers the checks must reject


def _fgsm_accuracies(model, x, y):
    """FGSM accuracy (eps 0.1) with the true labels and with the model's predicted ones."""
    return accuracy(model, fgsm(model, x, y, 0.1), y), accuracy(model, fgsm(model, x, None, 0.1), y)


def _leak_true_minus_predicted(model, x, y):
    with_true, with_predicted = _fgsm_accuracies(model, x, y)
    return with_true - with_predicted


def _leak_as_a_fraction(model, x, y):
    with_true, with_predicted = _fgsm_accuracies(model, x, y)
    return (with_predicted - with_true) / 100


def _leak_with_true_labels_only(model, x, y):
    return _fgsm_accuracies(model, x, y)[0]


def _transfer_white_box(source, target, x, y):
    return accuracy(target, fgsm(target, x, y, 0.1), y)


def _transfer_on_the_source(source, target, x, y):
    return accuracy(source, fgsm(source, x, y, 0.1), y)


def _transfer_clean(source, target, x, y):
    return accuracy(target, x, y)


def _transfer_as_a_fraction(source, target, x, y):
    return accuracy(target, fgsm(source, x, y, 0.1), y) / 100


q1 = Exercise(
    "chapter05.q1",
    """
    Label leaking. `model, x, y = ex.q1.inputs()` gives an FGSM-trained toy model (linear,
    on synthetic digits) and 200 test images. Measure its FGSM accuracy at eps 0.1 (pixel
    units) when the attack uses the true labels y and when it uses the model's predicted
    labels (y=None); both scored against y. Answer: predicted minus true, in points.
    """,
    _check_label_leak,
    """
    Attack twice with fh.fgsm at eps 0.1: once with the labels y, once with None (the
    model's own predictions). Score both with fh.accuracy against y, and subtract.
    """,
    label_leak_solution,
    """
    Kurakin et al. (2017) saw FGSM-trained models score *higher* under FGSM with the true
    labels than with predictions: the perturbation itself gave the label away. Chapter 05
    measures it on the real fgsm_at model.
    """,
    inputs=label_leak_inputs,
    wrong_answers={
        "true minus predicted": WrongAnswer(_leak_true_minus_predicted, "the sign the other way"),
        "a fraction": WrongAnswer(_leak_as_a_fraction, "not as a fraction"),
        "one accuracy only": WrongAnswer(_leak_with_true_labels_only, "one of the two accuracies"),
    },
)

q2 = Exercise(
    "chapter05.q2",
    """
    Transfer. `source, target, x, y = ex.q2.inputs()` gives two toy models (the target
    FGSM-trained) and 200 images. An attacker crafts FGSM at eps 0.1 on the *source* and
    shows the images to the *target*. What is the target's accuracy (percent)?
    """,
    _check_transfer,
    "Craft the images with fh.fgsm on the source model; score them with fh.accuracy on the target.",
    transfer_solution,
    """
    Compare with the white-box number (fh.fgsm on the target itself). A defence is measured
    against the strongest attack you can find, white-box and black-box.
    """,
    inputs=transfer_inputs,
    wrong_answers={
        "the target attacked itself": WrongAnswer(
            _transfer_white_box, "attacked the target itself"
        ),
        "the source scored": WrongAnswer(_transfer_on_the_source, "the source's accuracy"),
        "clean accuracy": WrongAnswer(_transfer_clean, "the target's clean accuracy"),
        "a fraction": WrongAnswer(_transfer_as_a_fraction, "not as a fraction"),
    },
)

q3 = Exercise(
    "chapter05.q3",
    """
    FGSM-RS training can collapse (catastrophic overfitting). Which held-out accuracy should
    early stopping watch to notice it: 'fgsm', 'pgd' or 'clean'? Answer with the string.
    """,
    _check_early_stopping,
    "Look at chapter 05's per-epoch table of held-out FGSM and PGD-20 accuracy.",
    early_stopping_signal_solution,
    "Chapter 05 keeps the epoch with the best held-out PGD-20 accuracy (`keep_best=True`).",
    wrong_answers={
        "FGSM accuracy": WrongAnswer("fgsm", "held-out table"),
        "clean accuracy": WrongAnswer("clean", "clean accuracy says nothing"),
    },
)

chapter = Chapter("chapter 05: beyond FGSM", q1, q2, q3)
exercises = chapter.exercises
