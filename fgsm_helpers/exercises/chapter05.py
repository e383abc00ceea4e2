"""Chapter 05, beyond FGSM: label leaking and transfer measured on toy models, and FGSM from a
random start written out."""

from __future__ import annotations

import copy
import functools
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

import fgsm_helpers as fh  # the solutions use the package as a student's notebook does

from ..attacks import eval_mode, fgsm
from ..evaluation import accuracy
from .framework import (
    Chapter,
    Exercise,
    Result,
    WrongAnswer,
    call,
    close,
    correct,
    incorrect,
    input_gradient,
    linear_model,
    number_or_message,
    tensor_like,
    toy_dataset,
    toy_images,
    toy_model,
    train_toy,
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
        "expected the difference of two FGSM accuracies at eps 0.1 on these 200 images, both "
        "scored against the true labels y: one attack given the true labels, one given none "
        "(so that it uses the model's predictions). Check eps, the labels each attack gets and "
        "what each accuracy is scored against."
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
        "expected the target's accuracy, in percent, on FGSM images at eps 0.1 that were made "
        "without ever touching the target: check which model each step uses, and eps."
    )


def fgsm_rs_solution(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    alpha: float,
    delta: torch.Tensor,
) -> torch.Tensor:
    """FGSM from a random start (Wong, Rice & Kolter 2020), as fh.fgsm_random_start does it:
    start at x + delta clamped into [0, 1], one step of alpha along the sign of the loss
    gradient there, back into the eps ball around x and into [0, 1]."""
    was_training = model.training
    model.eval()  # dropout off while the gradient is taken
    x_start = (x + delta).clamp(0, 1).detach().requires_grad_(True)  # the random start
    loss = F.cross_entropy(model(x_start), y)
    (gradient,) = torch.autograd.grad(loss, x_start)
    model.train(was_training)  # training goes on in the mode it came in
    x_step = x_start.detach() + alpha * gradient.sign()
    x_adv = x + (x_step - x).clamp(-eps, eps)  # alpha = 1.25 eps can leave the ball: project
    return x_adv.clamp(0, 1)


def _fgsm_rs_reference(model, x, y, eps, alpha, delta, *, clamp_start=True, at_x=False):
    """The step the check expects (``clamp_start``: the package's version, else the published
    one: gradient and step from the unclamped x + delta), in eval mode; ``at_x``: a mistake,
    the gradient taken at x instead of at the start."""
    with eval_mode(model):
        start = (x + delta).clamp(0, 1) if clamp_start else x + delta
        gradient = input_gradient(model, x if at_x else start, y)
    return (x + (start + alpha * gradient.sign() - x).clamp(-eps, eps)).clamp(0, 1)


def _rs_cases():
    """The check's cases: (eps, alpha) with the published step (alpha = 1.25 eps, so the
    projection binds), a step smaller than eps, and eps = 0; each with its random start."""
    x, y = toy_images(16, seed=7)
    cases = []
    for index, (eps, alpha) in enumerate(((0.3, 0.375), (0.1, 0.05), (0.0, 0.0))):
        noise = torch.rand(x.shape, generator=torch.Generator().manual_seed(10 + index))
        cases.append((eps, alpha, (2 * noise - 1) * eps))
    return x, y, cases


def _matches(out: torch.Tensor, expected: torch.Tensor) -> bool:
    return ((out - expected).abs() > 1e-5).float().mean().item() <= 0.001


def _check_fgsm_rs(answer: Any) -> Result:
    x, y, cases = _rs_cases()
    versions = set()
    for eps, alpha, delta in cases:
        model = toy_model(seed=7, dropout=0.5).train()  # as it is during FGSM-RS training
        given = (x.clone(), delta.clone())
        with torch.random.fork_rng(devices=[]):  # dropout would draw from the student's stream
            torch.manual_seed(0)
            out, problem = call(answer, model, given[0], y, eps, alpha, given[1])
        if problem:
            return problem
        problem = tensor_like(out, x, f"fgsm_rs(model, x, y, eps={eps}, alpha={alpha}, delta)")
        if problem:
            return problem
        if not (torch.equal(given[0], x) and torch.equal(given[1], delta)):
            return incorrect("your function changed x or delta in place; return a new tensor.")
        out = out.detach()
        if not all(module.training for module in model.modules()):
            return incorrect(
                "the model came in train mode (as during training) and left in eval mode: "
                "training would go on without dropout. Give it back the mode it came in."
            )
        package = _fgsm_rs_reference(model, x, y, eps, alpha, delta)
        published = _fgsm_rs_reference(model, x, y, eps, alpha, delta, clamp_start=False)
        matched = [
            name
            for name, expected in (("package", package), ("published", published))
            if _matches(out, expected)
        ]
        if matched:
            if len(matched) == 1:  # where the two versions agree (eps = 0), either is right
                versions.add(matched[0])
            continue
        if eps == 0:
            return incorrect("with eps = 0 the ball is the image itself: x must come back.")
        if out.min().item() < -1e-6 or out.max().item() > 1 + 1e-6:
            return incorrect(
                f"your images go from {out.min().item():.2f} to {out.max().item():.2f}: an "
                "adversarial image must stay in [0, 1]."
            )
        distance = (out - x).abs().max().item()
        if distance > eps + 1e-5:
            return incorrect(
                f"some pixels end {distance:.3f} from x, more than eps = {eps}: a step of "
                f"alpha = {alpha} from a start that is already up to eps away can leave the eps "
                "ball around the original images. Project back into it."
            )
        in_eval = copy.deepcopy(model).eval()
        again, _ = call(answer, in_eval, x.clone(), y, eps, alpha, delta.clone())
        if isinstance(again, torch.Tensor) and (
            _matches(again.detach(), package) or _matches(again.detach(), published)
        ):
            return incorrect(
                "your step is right on a model in eval mode but not on one in train mode (as "
                "during FGSM-RS training): in train mode dropout switches off random units at "
                "every forward pass, so your gradient is that of a random part of the model. "
                "Take the gradient in eval mode, then give the model back its mode."
            )
        if _matches(out, _fgsm_rs_reference(model, x, y, eps, alpha, delta, at_x=True)):
            return incorrect(
                "you took the gradient at x; FGSM-RS takes it at the random start, which is "
                "the point of starting there."
            )
        if _matches(out, fgsm(model, x, y, min(alpha, eps))):
            return incorrect(
                "that is plain FGSM from x: the random start delta is not used. Start from "
                "x + delta (an image: inside [0, 1]) and step from there."
            )
        wrong = int(((out - package).abs() > 1e-5).sum())
        return incorrect(
            f"your images differ from FGSM from the random start (eps = {eps}, alpha = {alpha}) "
            f"on {wrong} of {out.numel()} pixels: compare each of your steps with section 3's "
            "description of the attack."
        )
    which = (
        "the package's version (the start clamped into [0, 1] before the gradient, as "
        "fh.fgsm_random_start does)"
        if versions == {"package"}
        else "the published version (gradient and step from the unclamped x + delta, as Wong "
        "et al.'s code does)"
        if versions == {"published"}
        else "FGSM from the random start"
        if not versions
        else "both versions, depending on the case"
    )
    return correct(
        f"your FGSM-RS matches {which}, with the projection a step of 1.25 eps needs, eps = 0, "
        "and a model with dropout in train mode, left in its mode. Section 3b counts how often "
        "training on each version collapsed over five seeds."
    )


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


def _fgsm_rs_step(model, x, y, eps, alpha, delta, *, project=True, clamp=True, at=None):
    start = (x + delta).clamp(0, 1)
    gradient = input_gradient(model, start if at is None else at, y)  # in the model's mode
    x_step = start + alpha * gradient.sign()
    if project:
        x_step = x + (x_step - x).clamp(-eps, eps)
    return x_step.clamp(0, 1) if clamp else x_step


def _fgsm_rs_in_eval_mode(model, x, y, eps, alpha, delta):
    with eval_mode(model):
        return _fgsm_rs_step(model, x, y, eps, alpha, delta)


def _fgsm_rs_without_projection(model, x, y, eps, alpha, delta):
    with eval_mode(model):
        return _fgsm_rs_step(model, x, y, eps, alpha, delta, project=False)


def _fgsm_rs_without_clamping(model, x, y, eps, alpha, delta):
    with eval_mode(model):
        return _fgsm_rs_step(model, x, y, eps, alpha, delta, clamp=False)


def _fgsm_rs_gradient_at_x(model, x, y, eps, alpha, delta):
    with eval_mode(model):
        return _fgsm_rs_step(model, x, y, eps, alpha, delta, at=x)


def _fgsm_rs_in_train_mode(model, x, y, eps, alpha, delta):
    return _fgsm_rs_step(model, x, y, eps, alpha, delta)  # dropout on for the gradient


def _fgsm_rs_leaving_eval_mode(model, x, y, eps, alpha, delta):
    model.eval()
    return _fgsm_rs_step(model, x, y, eps, alpha, delta)


def _fgsm_rs_ignoring_the_start(model, x, y, eps, alpha, delta):
    with eval_mode(model):
        return fgsm(model, x, y, min(alpha, eps))


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
    The two measurements differ only in the labels the attack is given: read what fh.fgsm
    does when it gets no labels. The accuracy is scored against the true labels both times.
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
    """
    The attacker has no access to the target: which model's gradient can the adversarial
    images come from? Only the scoring involves the target.
    """,
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
    Write `fgsm_rs(model, x, y, eps, alpha, delta)`: FGSM from a random start (Wong, Rice &
    Kolter 2020), the attack FGSM-RS trains on. `delta` is the random start, drawn for you
    (uniform in [-eps, eps], shaped like x); eps and alpha are in pixel units. Return the
    adversarial images: one step of alpha from the start, no farther than eps from x, valid
    images. The check runs it with Wong et al.'s alpha = 1.25 eps, a smaller alpha, eps = 0,
    and a model with dropout in train mode (as during training). Pass the function:
    `ex.q3.check(fgsm_rs)`.
    """,
    _check_fgsm_rs,
    """
    It is chapter 02's FGSM with two changes: where the gradient is taken, and what happens
    when alpha is larger than eps. Section 3 describes both; the model's mode matters as it did
    in chapter 02.
    """,
    fgsm_rs_solution,
    """
    The random start makes the single step land somewhere a plain FGSM step would not; with
    alpha = 1.25 eps the step can leave the eps ball, so the projection is part of the attack.
    The published code takes the gradient at x + delta before clamping it to [0, 1]; the
    package clamps first (section 3b measures what that does to collapse rates). The check
    accepts both.
    """,
    signature="fgsm_rs(model, x, y, eps, alpha, delta) -> x_adv",
    wrong_answers={
        "no projection into the eps ball": WrongAnswer(
            _fgsm_rs_without_projection, "Project back into it"
        ),
        "no clamping to [0, 1]": WrongAnswer(_fgsm_rs_without_clamping, "stay in [0, 1]"),
        "the gradient at x": WrongAnswer(_fgsm_rs_gradient_at_x, "gradient at x"),
        "the gradient in train mode": WrongAnswer(_fgsm_rs_in_train_mode, "in train mode dropout"),
        "leaves the model in eval mode": WrongAnswer(_fgsm_rs_leaving_eval_mode, "left in eval"),
        "no random start": WrongAnswer(_fgsm_rs_ignoring_the_start, "not used"),
        "returns x unchanged": WrongAnswer(
            lambda model, x, y, eps, alpha, delta: x.clone(), "differ from FGSM from the random"
        ),
    },
)

chapter = Chapter("chapter 05: beyond FGSM", q1, q2, q3)
exercises = chapter.exercises
