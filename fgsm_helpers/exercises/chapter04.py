"""Chapter 04, results beside the paper's, and PGD: one PGD step, the accuracy ceiling of a
flat-gray attack, and the ceiling a figure drawn on other test images would need."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

import fgsm_helpers as fh  # the solutions use the package as a student's notebook does

from ..attacks import accuracy_ceiling
from .framework import (
    Chapter,
    Exercise,
    Result,
    WrongAnswer,
    as_number,
    call,
    close,
    correct,
    incorrect,
    input_gradient,
    number_or_message,
    tensor_like,
    toy_images,
    toy_model,
    type_name,
)


def pgd_step_solution(
    model: nn.Module,
    x: torch.Tensor,
    x_adv: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    alpha: float,
) -> torch.Tensor:
    """One PGD step from x_adv: ascend, project into the eps ball around x, clamp to [0, 1]."""
    x_adv = x_adv.clone().detach().requires_grad_(True)
    loss = F.cross_entropy(model(x_adv), y)
    (gradient,) = torch.autograd.grad(loss, x_adv)  # at the current point, not at x
    x_next = x_adv.detach() + alpha * gradient.sign()  # a small FGSM step
    x_next = x + (x_next - x).clamp(-eps, eps)  # back into the ball around the original x
    return x_next.clamp(0, 1)  # and into the valid pixel range


def _pgd_step_reference(
    model,
    x,
    x_adv,
    y,
    eps,
    alpha,
    *,
    project=True,
    clamp=True,
    at_x=False,
    sign=True,
    start_at_x=False,
):
    point = (x if at_x else x_adv).clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(F.cross_entropy(model(point), y), point)
    x_next = (x if start_at_x else x_adv) + alpha * (gradient.sign() if sign else gradient)
    if project:
        x_next = x + (x_next - x).clamp(-eps, eps)
    return x_next.clamp(0, 1) if clamp else x_next


def _check_pgd_step(answer: Any) -> Result:
    model = toy_model(seed=5)
    x, y = toy_images(16, seed=5)
    # (eps, alpha): a typical step, one larger than eps (projection binds), and eps = 0
    for eps, alpha in ((0.3, 0.05), (0.1, 0.25), (0.0, 0.05)):
        noise = torch.rand(x.shape, generator=torch.Generator().manual_seed(6))
        x_adv = (x + (2 * noise - 1) * eps).clamp(0, 1)  # a random start in the ball
        arguments = (x.clone(), x_adv.clone())
        out, problem = call(answer, model, arguments[0], arguments[1], y, eps, alpha)
        if problem:
            return problem
        problem = tensor_like(out, x, "pgd_step")
        if problem:
            return problem
        if not (torch.equal(arguments[0], x) and torch.equal(arguments[1], x_adv)):
            return incorrect("your function changed x or x_adv in place; return a new tensor.")
        out = out.detach()
        expected = _pgd_step_reference(model, x, x_adv, y, eps, alpha)
        if ((out - expected).abs() > 1e-5).float().mean().item() <= 0.001:
            continue
        if eps == 0:
            return incorrect("with eps = 0 the ball is the image itself: return x.")
        if out.min().item() < -1e-6 or out.max().item() > 1 + 1e-6:
            return incorrect(
                f"your images go from {out.min().item():.2f} to {out.max().item():.2f}: "
                "clamp to [0, 1] after projecting."
            )
        if (out - x).abs().max().item() > eps + 1e-5:
            return incorrect(
                f"some pixels end {(out - x).abs().max().item():.3f} from x, more than eps = {eps}: "
                "project back into the ball around the *original* images, "
                "x + (x_next - x).clamp(-eps, eps)."
            )
        if torch.allclose(
            out, _pgd_step_reference(model, x, x_adv, y, eps, alpha, at_x=True), atol=1e-5
        ):
            return incorrect(
                "you took the gradient at x; PGD takes it at the current point x_adv, "
                "which is what makes each step different from the last."
            )
        if torch.allclose(out, _pgd_step_reference(model, x, x_adv, y, eps, -alpha), atol=1e-5):
            return incorrect("you stepped down the loss: add alpha * sign(gradient) to climb it.")
        if torch.allclose(out, _pgd_step_reference(model, x, x_adv, y, eps, eps), atol=1e-5):
            return incorrect(
                "you stepped by eps; a PGD step moves by alpha (smaller than eps), and the "
                "projection keeps the sum of the steps within eps."
            )
        if torch.allclose(
            out, _pgd_step_reference(model, x, x_adv, y, eps, alpha, sign=False), atol=1e-5
        ):
            return incorrect(
                "you stepped along the raw gradient; L-infinity PGD steps along its sign, so "
                "that every pixel moves by alpha."
            )
        if torch.allclose(
            out, _pgd_step_reference(model, x, x_adv, y, eps, alpha, start_at_x=True), atol=1e-5
        ):
            return incorrect(
                "you stepped from x; each PGD step starts where the last one ended, at x_adv."
            )
        return incorrect(
            f"your step differs from x_adv + alpha * sign(gradient at x_adv), projected into the "
            f"eps ball around x and clamped to [0, 1] (eps = {eps}, alpha = {alpha})."
        )
    return correct(
        "step, projection around x and clamping all match, including a step larger than eps "
        "and eps = 0. PGD repeats this step, from a random start: fh.pgd."
    )


def ceiling_solution(y: torch.Tensor) -> float:
    """Best accuracy (percent) when every image is the same: the most common class's share."""
    counts = torch.bincount(y, minlength=10)  # images per class
    return 100.0 * counts.max().item() / len(y)


def _check_ceiling(answer: Any) -> Result:
    generator = torch.Generator().manual_seed(7)
    cases = {
        "MNIST-like labels": torch.randint(0, 10, (500,), generator=generator),
        "labels where 3 is the most common class": torch.tensor([3] * 40 + list(range(10)) * 6),
        "one image": torch.tensor([7]),
        "balanced labels": torch.arange(10).repeat(20),
    }
    for description, y in cases.items():
        value, problem = call(answer, y.clone())
        if problem:
            return problem
        number = as_number(value)
        if number is None:
            return incorrect(f"expected a number (percent); got {type_name(value)}.")
        expected = accuracy_ceiling(y)
        if close(number, expected, 1e-6):
            continue
        if close(number * 100, expected, 1e-4):
            return incorrect("return a percentage (11.35), not a fraction (0.1135).")
        if close(number, expected * len(y) / 100, 1e-6) and len(y) > 1:
            return incorrect(
                f"on {description} you returned how many images the most common class holds; "
                "the ceiling is that count as a percentage of all the labels."
            )
        if close(number, MNIST_TEST_CEILING, 1e-6):
            return incorrect(
                f"{MNIST_TEST_CEILING}% is the ceiling of MNIST's 10,000 test labels; compute "
                "the ceiling of the labels y you are given."
            )
        ones = 100.0 * (y == 1).float().mean().item()
        if close(number, ones, 1e-4) and not close(ones, expected, 1e-6):
            return incorrect(
                f"on {description} you returned the share of 1s; the ceiling is the share of "
                "the *most common* class, whichever it is."
            )
        return incorrect(f"on {description} the ceiling is {expected:.2f}%; you returned {number}.")
    return correct(
        "if every image looks the same, the best a classifier can do is always answer the "
        "most common class. On MNIST's 10,000 test labels that is '1': 1,135 images, 11.35%."
    )


#: The ceiling (percent) of all 10,000 MNIST test labels: 1,135 of them are 1s.
MNIST_TEST_CEILING = 11.35
#: The ceiling of the images chapter 04's PGD curves are drawn on (the first 500 test images):
#: 67 of them are 1s. The chapter prints it, so it is a wrong answer to q3.
FIRST_500_CEILING = 13.4
#: q3's answer: the ceiling of MNIST's test images 500 to 999, where the most common digit is 3
#: (62 of 500), not 1 (59). Checked on real MNIST by tests/test_exercises.py.
NEXT_500_CEILING = 12.4
NEXT_500 = slice(500, 1000)
#: The share of 1s among test images 500 to 999 (59 of 500): what counting the 1s gives.
ONES_IN_NEXT_500 = 11.8

#: The ceilings (percent) of slices of MNIST's test labels taken instead of y_test[500:1000], by
#: the images they hold: each (slice, ceiling), checked on real MNIST by tests/test_exercises.py.
WRONG_SLICE_CEILINGS = {
    "all 10,000 test images": (slice(None), MNIST_TEST_CEILING),
    "the first 500 test images (the chapter's PGD curves)": (slice(None, 500), FIRST_500_CEILING),
    "the first 1,000 test images": (slice(None, 1000), 12.6),
    "every test image from the 501st on": (slice(500, None), 11.242105263157894),
    "the last 500 test images": (slice(-500, None), 12.0),
}


def next_500_ceiling_solution(y_test: torch.Tensor) -> float:
    """The ceiling a figure drawn on MNIST's test images 500 to 999 would need."""
    return fh.accuracy_ceiling(y_test[500:1000])  # the labels of those 500 images only


def _check_next_500(answer: Any) -> Result:
    value, problem = number_or_message(answer, "a percentage")
    if problem:
        return problem
    if close(value, NEXT_500_CEILING, 0.01):
        return correct(
            "among test images 500 to 999 the most common digit is 3 (62 of 500): 12.4%. Not "
            "11.35% (all 10,000 images) nor 13.4% (the first 500, the chapter's): a ceiling "
            "belongs to the images it is drawn over."
        )
    for images, (_, ceiling) in WRONG_SLICE_CEILINGS.items():
        if close(value, ceiling, 0.01):
            return incorrect(
                f"{ceiling:g}% is the ceiling of {images}; take the labels [500:1000]."
            )
    if close(value, ONES_IN_NEXT_500, 0.01):
        return incorrect(
            "that is the share of 1s; among these 500 images another digit is more common."
        )
    if close(value * 100, NEXT_500_CEILING, 0.01):
        return incorrect("return a percentage, not a fraction.")
    return incorrect(
        "count the most common label among the 500 labels [500:1000] of MNIST's test set, as "
        "a percentage of 500."
    )


# -------------------------------------------------- the wrong answers the checks must reject


def _pgd_step_without_projection(model, x, x_adv, y, eps, alpha):
    return (x_adv + alpha * input_gradient(model, x_adv, y).sign()).clamp(0, 1)


def _pgd_step_projected_around_x_adv(model, x, x_adv, y, eps, alpha):
    step = alpha * input_gradient(model, x_adv, y).sign()
    return (x_adv + step.clamp(-eps, eps)).clamp(0, 1)


def _pgd_step_without_clamping(model, x, x_adv, y, eps, alpha):
    x_next = x_adv + alpha * input_gradient(model, x_adv, y).sign()
    return x + (x_next - x).clamp(-eps, eps)


def _pgd_step_with_the_gradient_at_x(model, x, x_adv, y, eps, alpha):
    x_next = x_adv + alpha * input_gradient(model, x, y).sign()
    return (x + (x_next - x).clamp(-eps, eps)).clamp(0, 1)


def _pgd_step_down_the_loss(model, x, x_adv, y, eps, alpha):
    x_next = x_adv - alpha * input_gradient(model, x_adv, y).sign()
    return (x + (x_next - x).clamp(-eps, eps)).clamp(0, 1)


def _pgd_step_of_size_eps(model, x, x_adv, y, eps, alpha):
    return pgd_step_solution(model, x, x_adv, y, eps, eps)


def _pgd_step_along_the_raw_gradient(model, x, x_adv, y, eps, alpha):
    x_next = x_adv + alpha * input_gradient(model, x_adv, y)
    return (x + (x_next - x).clamp(-eps, eps)).clamp(0, 1)


def _pgd_step_from_x(model, x, x_adv, y, eps, alpha):
    x_next = x + alpha * input_gradient(model, x_adv, y).sign()
    return (x + (x_next - x).clamp(-eps, eps)).clamp(0, 1)


def _ceiling_as_a_fraction(y):
    return torch.bincount(y, minlength=10).max().item() / len(y)


def _ceiling_of_the_ones(y):
    return 100.0 * (y == 1).float().mean().item()


def _ceiling_as_a_count(y):
    return torch.bincount(y, minlength=10).max().item()


q1 = Exercise(
    "chapter04.q1",
    """
    Write `pgd_step(model, x, x_adv, y, eps, alpha)`: one step of PGD from the current
    adversarial images x_adv: move by alpha along the sign of the loss gradient taken at
    x_adv, project into the L-infinity ball of radius eps around the original images x,
    clamp to [0, 1]. Return the new adversarial images.
    """,
    _check_pgd_step,
    """
    The move is FGSM's, from x_adv and by alpha: the gradient is taken at x_adv. Afterwards no
    pixel may end more than eps from the *original* image x, whichever way it moved (limit its
    distance to x, not the step), and every pixel must stay in [0, 1].
    """,
    pgd_step_solution,
    """
    PGD is this step repeated (chapter 04: 40 steps of 2.5 * eps / 40) from a random point of
    the ball. With a step as large as eps, no random start and one step, it is FGSM.
    """,
    signature="pgd_step(model, x, x_adv, y, eps, alpha) -> x_next",
    wrong_answers={
        "no projection": WrongAnswer(_pgd_step_without_projection, "*original* images"),
        "projected around x_adv": WrongAnswer(
            _pgd_step_projected_around_x_adv, "*original* images"
        ),
        "no clamping": WrongAnswer(_pgd_step_without_clamping, "clamp to [0, 1]"),
        "the gradient at x": WrongAnswer(_pgd_step_with_the_gradient_at_x, "gradient at x"),
        "down the loss": WrongAnswer(_pgd_step_down_the_loss, "stepped down the loss"),
        "a step of eps": WrongAnswer(_pgd_step_of_size_eps, "you stepped by eps"),
        "the raw gradient": WrongAnswer(_pgd_step_along_the_raw_gradient, "raw gradient"),
        "a step from x": WrongAnswer(_pgd_step_from_x, "you stepped from x"),
        "returns x_adv unchanged": WrongAnswer(
            lambda model, x, x_adv, y, eps, alpha: x_adv.clone(), "your step differs"
        ),
    },
)

q2 = Exercise(
    "chapter04.q2",
    """
    Write `ceiling(y)`: the best accuracy (percent) any classifier can reach on labels y
    when every image has been turned into the same flat gray image (possible at eps >= 0.5
    in pixel units). Labels are integers 0-9.
    """,
    _check_ceiling,
    "If every input is the same, a classifier gives every image the same answer. Which answer is right most often?",
    ceiling_solution,
    "In the package: `fh.accuracy_ceiling(y)`.",
    signature="ceiling(y) -> percent",
    wrong_answers={
        "a fraction": WrongAnswer(_ceiling_as_a_fraction, "percentage"),
        "the share of 1s": WrongAnswer(_ceiling_of_the_ones, "*most common* class"),
        "one in ten": WrongAnswer(lambda y: 10.0, "the ceiling is"),
        "a count, not a percentage": WrongAnswer(_ceiling_as_a_count, "how many images"),
        "MNIST's 11.35% for any labels": WrongAnswer(
            lambda y: MNIST_TEST_CEILING, "compute the ceiling of the labels y"
        ),
    },
)

q3 = Exercise(
    "chapter04.q3",
    """
    Chapter 04 drew its FGSM-vs-PGD curves on the first test images and drew their ceiling.
    Had it drawn them on MNIST's test images 500 to 999 instead, what ceiling (percent) would
    belong on that figure? All 10,000 test labels, in order: fh.load_mnist("test", DATA_DIR)[1].
    """,
    _check_next_500,
    "Only the labels of the images a curve is measured on count. Take those 500 labels, and "
    "ask which digit is most common among them (it need not be the one most common overall).",
    next_500_ceiling_solution,
    """
    A ceiling drawn at 11.35% (all 10,000 images) or copied from another figure would be wrong
    for curves measured on these 500 images.
    """,
    wrong_answers={
        **{
            f"the ceiling of {images}": WrongAnswer(
                lambda y_test, labels=labels: accuracy_ceiling(y_test[labels]), images
            )
            for images, (labels, _) in WRONG_SLICE_CEILINGS.items()
        },
        "the share of 1s": WrongAnswer(
            lambda y_test: 100.0 * (y_test[NEXT_500] == 1).float().mean().item(), "share of 1s"
        ),
        "a fraction": WrongAnswer(
            lambda y_test: accuracy_ceiling(y_test[NEXT_500]) / 100, "percentage"
        ),
    },
)

chapter = Chapter("chapter 04: results beside the paper's, and PGD", q1, q2, q3)
exercises = chapter.exercises
