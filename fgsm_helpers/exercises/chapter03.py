"""Chapter 03, adversarial training: this chapter's loss for one batch, and one optimizer step
on it (clean and FGSM images weighted 0.5/0.5, the attack with the true labels; the paper
states neither)."""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

import fgsm_helpers as fh  # the solutions use the package as a student's notebook does

from ..attacks import fgsm
from ..data import MNIST_STD
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
    toy_images,
    toy_model,
    type_name,
)


def adversarial_loss_solution(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float
) -> torch.Tensor:
    """This chapter's adversarial-training loss for one batch (clean and FGSM images weighted
    0.5/0.5, the attack with the true labels; the paper states neither)."""
    x_adv = fh.fgsm(model, x, y, eps)  # FGSM against the *current* model, eps in pixels
    clean_loss = F.cross_entropy(model(x), y)
    adversarial_loss = F.cross_entropy(model(x_adv), y)
    return 0.5 * clean_loss + 0.5 * adversarial_loss  # a tensor: .backward() works on it


def _reference_losses(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float
) -> tuple[torch.Tensor, torch.Tensor]:
    x_adv = fgsm(model, x, y, eps)  # needs gradients: outside no_grad
    with torch.no_grad():
        clean = F.cross_entropy(model(x), y)
        adversarial = F.cross_entropy(model(x_adv), y)
    return clean, adversarial


def _loss_mistake(
    value: float, clean: float, adversarial: float, eps_units_loss: float, predicted_loss: float
) -> str:
    """The name of a common mistake whose loss equals ``value``, or a general hint."""
    known = {
        "your FGSM images attack the model's predictions; this chapter's attack uses the true "
        "labels y (the paper does not say which).": predicted_loss,
        "you returned only the FGSM loss; this chapter's loss is half clean, half FGSM.": adversarial,
        "you returned only the clean loss; add the loss on the FGSM images.": clean,
        "you added the two losses; weight each by 0.5 so they count equally.": clean + adversarial,
        "your FGSM images use eps x 0.3081: eps is in pixel units here.": eps_units_loss,
    }
    for message, candidate in known.items():
        if close(value, candidate, 1e-4):
            return message
    return (
        f"your loss is {value:.4f}, expected {0.5 * clean + 0.5 * adversarial:.4f} = "
        f"0.5 x {clean:.4f} (clean) + 0.5 x {adversarial:.4f} (FGSM at eps, pixel units, true labels)."
    )


def _check_adversarial_loss(answer: Any) -> Result:
    x, y = toy_images(16, seed=3)
    model = toy_model(seed=3)
    eps = 0.2
    clean, adversarial = _reference_losses(model, x, y, eps)
    expected = 0.5 * clean + 0.5 * adversarial
    loss, problem = call(answer, model, x.clone(), y, eps)
    if problem:
        return problem
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        return incorrect(
            f"expected a one-number loss tensor (so you can call .backward() on it); got "
            f"{type_name(loss)}."
        )
    value = loss.item()
    if not close(value, expected.item(), 1e-4):
        _, normalized_adv = _reference_losses(model, x, y, eps * MNIST_STD)
        predicted = _loss_attacking_the_predictions(model, x, y, eps).item()
        return incorrect(
            _loss_mistake(
                value,
                clean.item(),
                adversarial.item(),
                (0.5 * clean + 0.5 * normalized_adv).item(),
                predicted,
            )
        )
    if not loss.requires_grad:
        return incorrect(
            "the value is right but the tensor has no gradient: do not compute the loss under "
            "torch.no_grad() or turn it into a float, or the optimizer cannot learn from it."
        )
    x_zero_loss, _ = _reference_losses(model, x, y, 0.0)
    loss_zero, problem = call(answer, model, x.clone(), y, 0.0)
    if problem:
        return problem
    if not isinstance(loss_zero, torch.Tensor) or not close(
        loss_zero.item(), x_zero_loss.item(), 1e-4
    ):
        return incorrect("with eps = 0 the loss should equal the clean loss.")
    return correct(
        f"0.5 x clean ({clean.item():.4f}) + 0.5 x FGSM ({adversarial.item():.4f}) = "
        f"{expected.item():.4f}, with a gradient for the optimizer."
    )


def adversarial_step_solution(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
) -> float:
    """One step of this chapter's adversarial training (clean and FGSM images weighted 0.5/0.5,
    the attack with the true labels; the paper states neither); returns the loss."""
    x_adv = fh.fgsm(model, x, y, eps)  # attack the model as it is now
    loss = 0.5 * F.cross_entropy(model(x), y) + 0.5 * F.cross_entropy(model(x_adv), y)
    optimizer.zero_grad()  # forget gradients left over from earlier steps
    loss.backward()
    optimizer.step()
    return loss.item()


def _reference_step(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, weights: tuple[float, float]
) -> list[torch.Tensor]:
    model = copy.deepcopy(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    x_adv = fgsm(model, x, y, eps)
    loss = weights[0] * F.cross_entropy(model(x), y) + weights[1] * F.cross_entropy(model(x_adv), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return [p.detach().clone() for p in model.parameters()]


def _returned_loss_problem(returned: Any, loss: float) -> Result | None:
    """None if ``returned`` is ``loss`` (the loss the step was taken on) as a number, not a
    tensor; else what is wrong with it."""
    if isinstance(returned, torch.Tensor):
        return incorrect(
            "the step is right, but it returned a tensor: return the loss as a float (.item()). "
            "A list of loss tensors would keep every step's graph in memory."
        )
    value = as_number(returned)
    if value is None:
        return incorrect(
            f"the step is right, but it returned {type_name(returned)}: return the loss it "
            "stepped on, as a float."
        )
    if not close(value, loss, 1e-4):
        return incorrect(
            f"the step is right, but it returned {value:.4f} instead of the loss it stepped on "
            f"({loss:.4f}): return that loss, as a float."
        )
    return None


def _check_adversarial_step(answer: Any) -> Result:
    x, y = toy_images(16, seed=4)
    model = toy_model(seed=4)
    eps = 0.2
    before = [p.detach().clone() for p in model.parameters()]
    expected = _reference_step(model, x, y, eps, (0.5, 0.5))
    student_model = copy.deepcopy(model)
    optimizer = torch.optim.SGD(student_model.parameters(), lr=0.5)
    for parameter in student_model.parameters():  # gradients left over from an earlier step
        parameter.grad = torch.full_like(parameter, 0.05)
    returned, problem = call(answer, student_model, optimizer, x.clone(), y, eps)
    if problem:
        return problem
    after = [p.detach() for p in student_model.parameters()]

    def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
        return all(torch.allclose(p, q, atol=1e-5) for p, q in zip(a, b, strict=True))

    if same(after, expected):
        clean, adversarial = _reference_losses(model, x, y, eps)  # the weights before the step
        problem = _returned_loss_problem(returned, (0.5 * clean + 0.5 * adversarial).item())
        if problem:
            return problem
        return correct(
            "one optimizer step on 0.5 x clean + 0.5 x FGSM loss, with the FGSM images made "
            "against the model before the step and old gradients cleared; it returns that loss."
        )
    if same(after, before):
        return incorrect("the weights did not change: call loss.backward() and optimizer.step().")
    leftover = [e - 0.5 * 0.05 for e in expected]  # SGD with lr 0.5 adds the stale 0.05
    if same(after, leftover):
        return incorrect(
            "the step also used gradients left over from before: call optimizer.zero_grad() "
            "before loss.backward()."
        )
    for weights, message in (
        (
            (0.0, 1.0),
            "you stepped on the FGSM loss only; this chapter weights clean and FGSM 0.5/0.5.",
        ),
        ((1.0, 0.0), "you stepped on the clean loss only; add the FGSM half."),
        ((1.0, 1.0), "you stepped on the sum of the two losses; weight each by 0.5."),
    ):
        if same(after, _reference_step(model, x, y, eps, weights)):
            return incorrect(message)
    return incorrect(
        "the weights after your step differ from one step on 0.5 x clean + 0.5 x FGSM loss. "
        "Make x_adv first (against the current model), then zero_grad, backward, step; if you "
        "wrote FGSM with loss.backward(), its gradients land in the weights too: zero them after."
    )


# -------------------------------------------------- the wrong answers the checks must reject


def _loss_fgsm_only(model, x, y, eps):
    return F.cross_entropy(model(fgsm(model, x, y, eps)), y)


def _loss_clean_only(model, x, y, eps):
    return F.cross_entropy(model(x), y)


def _loss_summed(model, x, y, eps):
    return F.cross_entropy(model(x), y) + F.cross_entropy(model(fgsm(model, x, y, eps)), y)


def _loss_eps_in_normalized_units(model, x, y, eps):
    x_adv = fgsm(model, x, y, eps, eps_units="normalized")
    return 0.5 * F.cross_entropy(model(x), y) + 0.5 * F.cross_entropy(model(x_adv), y)


def _loss_attacking_the_predictions(model, x, y, eps):
    x_adv = fgsm(model, x, None, eps)  # no labels: fh.fgsm attacks the model's predictions
    return 0.5 * F.cross_entropy(model(x), y) + 0.5 * F.cross_entropy(model(x_adv), y)


def _loss_as_a_float(model, x, y, eps):
    return adversarial_loss_solution(model, x, y, eps).item()


def _loss_without_a_graph(model, x, y, eps):
    x_adv = fgsm(model, x, y, eps)
    with torch.no_grad():
        return 0.5 * F.cross_entropy(model(x), y) + 0.5 * F.cross_entropy(model(x_adv), y)


def _step(model, optimizer, loss, zero_grad=True, step=True):
    if zero_grad:
        optimizer.zero_grad()
    loss.backward()
    if step:
        optimizer.step()
    return loss.item()


def _step_returning_zero(model, optimizer, x, y, eps):
    adversarial_step_solution(model, optimizer, x, y, eps)
    return 0.0


def _step_returning_nothing(model, optimizer, x, y, eps):
    adversarial_step_solution(model, optimizer, x, y, eps)


def _step_returning_the_tensor(model, optimizer, x, y, eps):
    loss = adversarial_loss_solution(model, x, y, eps)
    _step(model, optimizer, loss)
    return loss


def _step_returning_the_loss_after_it(model, optimizer, x, y, eps):
    adversarial_step_solution(model, optimizer, x, y, eps)
    return adversarial_loss_solution(model, x, y, eps).item()


def _step_without_zero_grad(model, optimizer, x, y, eps):
    return _step(model, optimizer, adversarial_loss_solution(model, x, y, eps), zero_grad=False)


def _step_without_step(model, optimizer, x, y, eps):
    return _step(model, optimizer, adversarial_loss_solution(model, x, y, eps), step=False)


def _step_on_the_clean_loss(model, optimizer, x, y, eps):
    return _step(model, optimizer, _loss_clean_only(model, x, y, eps))


def _step_on_the_fgsm_loss(model, optimizer, x, y, eps):
    return _step(model, optimizer, _loss_fgsm_only(model, x, y, eps))


def _step_on_the_summed_losses(model, optimizer, x, y, eps):
    return _step(model, optimizer, _loss_summed(model, x, y, eps))


q1 = Exercise(
    "chapter03.q1",
    """
    Write `adversarial_loss(model, x, y, eps)`: this chapter's adversarial-training loss for
    one batch, with the clean images and their FGSM versions (eps in pixel units, true labels)
    weighted 0.5 each. Return the loss as a tensor the optimizer can use.
    """,
    _check_adversarial_loss,
    """
    The loss needs two batches of images: the ones you were given, and a second batch that
    chapter 02 taught you to make. Which loss did chapter 01 train with, and which labels
    does it compare against? The question says how the two losses combine. Whatever you
    return must still let the optimizer call .backward() on it.
    """,
    adversarial_loss_solution,
    """
    The FGSM images are made against the model as it is at this step: they change as it
    learns, unlike ordinary data augmentation, whose images do not depend on the model. In
    the package: `fh.train(model, x, y, attack="fgsm", train_eps=0.3, adv_weight=0.5)`.
    """,
    signature="adversarial_loss(model, x, y, eps) -> loss tensor",
    wrong_answers={
        "the FGSM loss only": WrongAnswer(_loss_fgsm_only, "only the FGSM loss"),
        "the clean loss only": WrongAnswer(_loss_clean_only, "only the clean loss"),
        "the two losses summed": WrongAnswer(_loss_summed, "added the two losses"),
        "eps in normalized units": WrongAnswer(_loss_eps_in_normalized_units, "pixel units"),
        "FGSM against the predictions": WrongAnswer(
            _loss_attacking_the_predictions, "the true labels y"
        ),
        "a float, not a tensor": WrongAnswer(_loss_as_a_float, "one-number loss tensor"),
        "computed under no_grad": WrongAnswer(_loss_without_a_graph, "no gradient"),
    },
)

q2 = Exercise(
    "chapter03.q2",
    """
    Write `adversarial_step(model, optimizer, x, y, eps)`: one optimizer step of this
    chapter's adversarial training on the batch (x, y) (clean and FGSM images weighted 0.5/0.5,
    the attack with the true labels; the paper states neither); return the loss as a float.
    The check gives your function an optimizer whose parameters still hold gradients from an
    earlier step.
    """,
    _check_adversarial_step,
    """
    Make the FGSM images while the weights are still those before the step. The optimizer
    holds gradients from an earlier step and a backward pass adds to them: what must happen to
    them before your loss's backward pass? Then let the optimizer update the weights, and
    return the loss you stepped on as a Python float.
    """,
    adversarial_step_solution,
    """
    The order matters: the FGSM images come from the weights before the step, and
    zero_grad() must come after any backward pass the attack made and before the loss's own.
    """,
    signature="adversarial_step(model, optimizer, x, y, eps) -> loss",
    wrong_answers={
        "no zero_grad": WrongAnswer(_step_without_zero_grad, "optimizer.zero_grad()"),
        "returns 0.0, not the loss": WrongAnswer(
            _step_returning_zero, "returned 0.0000 instead of the loss"
        ),
        "returns nothing": WrongAnswer(_step_returning_nothing, "returned NoneType None"),
        "returns the loss tensor": WrongAnswer(_step_returning_the_tensor, "returned a tensor"),
        "returns the loss after the step": WrongAnswer(
            _step_returning_the_loss_after_it, "instead of the loss it stepped on"
        ),
        "no optimizer.step": WrongAnswer(_step_without_step, "did not change"),
        "a step on the clean loss only": WrongAnswer(_step_on_the_clean_loss, "clean loss only"),
        "a step on the FGSM loss only": WrongAnswer(_step_on_the_fgsm_loss, "FGSM loss only"),
        "a step on the summed losses": WrongAnswer(
            _step_on_the_summed_losses, "sum of the two losses"
        ),
    },
)

chapter = Chapter("chapter 03: adversarial training", q1, q2)
exercises = chapter.exercises
