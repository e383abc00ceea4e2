"""Chapter 02, FGSM: write the attack, read the paper's eps in pixel units, and see why FGSM
takes the gradient's sign."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..attacks import fgsm, fgsm_direction
from ..data import MNIST_MEAN, MNIST_STD
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
    number_or_message,
    tensor_like,
    toy_images,
    toy_model,
)


def fgsm_solution(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """FGSM: x_adv = clamp(x + eps * sign(grad_x loss), 0, 1), eps in pixel units."""
    was_training = model.training
    model.eval()  # dropout off: attack the model that makes the predictions
    x = x.clone().detach().requires_grad_(True)  # a copy we may take gradients for
    loss = F.cross_entropy(model(x), y)
    (gradient,) = torch.autograd.grad(loss, x)  # leaves the model's .grad untouched
    model.train(was_training)  # back in the mode it came in: training goes on with dropout
    x_adv = x + eps * gradient.sign()  # every pixel moves by eps, up or down
    return x_adv.clamp(0, 1).detach()  # a valid image again


def _fgsm_check_inputs() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    x, y = toy_images(16, seed=2)
    return toy_model(seed=2), x, y


def _check_fgsm(answer: Any) -> Result:
    model, x, y = _fgsm_check_inputs()
    gradient_sign = fgsm_direction(model, x, y)  # only used to name mistakes
    for eps in (0.1, 0.0, 0.3):
        x_given = x.clone()
        out, problem = call(answer, model, x_given, y, eps)
        if problem:
            return problem
        problem = tensor_like(out, x, f"fgsm(model, x, y, eps={eps})")
        if problem:
            return problem
        if not torch.equal(x_given, x):
            return incorrect("your function changed x in place; build x_adv as a new tensor.")
        out = out.detach()
        expected = fgsm(model, x, y, eps)
        delta = out - x
        if eps == 0:
            if not torch.allclose(out, x, atol=1e-6):
                return incorrect("with eps = 0 the attack must return x unchanged.")
            continue
        mismatched = (out - expected).abs() > 1e-5
        if mismatched.float().mean().item() <= 0.001:
            continue
        if torch.allclose(delta.abs().max(), torch.tensor(eps * MNIST_STD), atol=1e-4):
            return incorrect(
                f"your pixels move by up to {eps * MNIST_STD:.4f} = eps x 0.3081: eps is in pixel "
                "units here (the model normalizes its own input), so add eps * sign(gradient) to "
                "x directly, without scaling it by the standard deviation."
            )
        if torch.allclose(out, eps * gradient_sign, atol=1e-5) or torch.allclose(
            out, (eps * gradient_sign).clamp(0, 1), atol=1e-5
        ):
            return incorrect("you returned the perturbation; return the image x + perturbation.")
        if out.min().item() < 0 or out.max().item() > 1:
            unclamped = x + eps * gradient_sign
            same = torch.allclose(out, unclamped, atol=1e-5)
            return incorrect(
                f"your images go from {out.min().item():.2f} to {out.max().item():.2f}: clamp "
                "x_adv to [0, 1] so it stays a valid image"
                + (" (apart from that, your step is right)." if same else ".")
            )
        if torch.allclose(out, (x - eps * gradient_sign).clamp(0, 1), atol=1e-5):
            return incorrect(
                "you moved *against* the gradient: that lowers the loss (it makes the model more "
                "sure). FGSM adds eps * sign(gradient), to raise the loss."
            )
        if delta.abs().max().item() > eps + 1e-5:
            return incorrect(
                f"some pixels move by {delta.abs().max().item():.3f}, more than eps = {eps}: "
                "use the gradient's sign (every pixel moves by exactly eps), not the gradient."
            )
        if torch.allclose(out, fgsm(model, x, None, eps), atol=1e-5):
            return incorrect(
                "you took the gradient with the model's predicted labels; FGSM here uses the true "
                "labels y (chapter 05 compares the two: label leaking)."
            )
        unclampable = (x >= eps) & (x <= 1 - eps)  # pixels that clamping cannot stop
        moved = (delta.abs() > 1e-6) & unclampable
        if moved.any() and (delta[moved].abs() - eps).abs().max().item() > 1e-5:
            return incorrect(
                "the pixels that move should move by exactly eps (unless clamped): take "
                "the gradient's sign, not the gradient itself."
            )
        return incorrect(
            f"{int(mismatched.sum())} of {mismatched.numel()} pixels differ from fh.fgsm at "
            f"eps = {eps}. Take the gradient of the cross-entropy loss with the *true* labels y "
            "with respect to x (not the weights), at x itself."
        )
    problem = _check_fgsm_in_train_mode(answer)
    if problem:
        return problem
    return correct(
        "your FGSM matches fh.fgsm at eps 0.1 and 0.3, returns x at eps 0, clamps to [0, 1], "
        "and attacks a model in train mode with its dropout off, leaving its mode as it was."
    )


def _check_fgsm_in_train_mode(answer: Any) -> Result | None:
    """None if ``answer`` attacks a model with dropout in train mode as fh.fgsm does (dropout
    off for the gradient) and gives every model back in the mode it came in; else what is wrong.
    """
    model = toy_model(seed=2, dropout=0.5).train()  # as it is while it is trained
    x, y = toy_images(16, seed=2)
    expected = fgsm(model, x, y, 0.1)
    with torch.random.fork_rng(devices=[]):  # dropout would draw from the student's stream
        torch.manual_seed(0)
        out, problem = call(answer, model, x.clone(), y, 0.1)
    if problem:
        return problem
    problem = tensor_like(out, x, "fgsm(model, x, y, eps) on a model in train mode")
    if problem:
        return problem
    if ((out.detach() - expected).abs() > 1e-5).float().mean().item() > 0.001:
        return incorrect(
            "on a model with dropout in train mode (as during adversarial training) your images "
            "differ from fh.fgsm: in train mode dropout switches off random units at every "
            "forward pass, so your gradient is that of a random part of the model. Take the "
            "gradient in eval mode, then give the model back the mode it came in."
        )
    if not all(module.training for module in model.modules()):
        return incorrect(
            "your images are right, but the model came in train mode and left in eval mode: "
            "training would go on without dropout. Give it back the mode it came in."
        )
    model.eval()
    _, problem = call(answer, model, x.clone(), y, 0.1)
    if problem:
        return problem
    if any(module.training for module in model.modules()):
        return incorrect(
            "the model came in eval mode and left in train mode: give it back the mode it came "
            "in, whichever it was."
        )
    return None


def pixel_eps_solution() -> float:
    """The paper's eps = 0.3, read as added after normalization, in pixel units."""
    std = 0.3081  # normalization divides by std, so a normalized step is std times a pixel step
    return 0.3 * std  # 0.0924


def _check_pixel_eps(answer: Any) -> Result:
    value, problem = number_or_message(answer, "eps in pixel units")
    if problem:
        return problem
    if close(value, 0.3 * MNIST_STD, 5e-4):
        return correct(
            f"0.3 x 0.3081 = {0.3 * MNIST_STD:.4f} in pixels: under this reading the paper's "
            "strongest Table 1 attack moves each pixel by less than a tenth of its range."
        )
    if close(value, 0.3 / MNIST_STD, 5e-3):
        return incorrect(
            "you divided by 0.3081. Normalization divides pixels by 0.3081, so a step of 1 in "
            "normalized units is a step of 0.3081 in pixels: multiply."
        )
    if close(value, 0.3 * MNIST_STD + MNIST_MEAN, 5e-4) or close(value, 0.3 - MNIST_MEAN, 5e-4):
        return incorrect(
            "the mean cancels out of a *difference* between two images; only the std matters."
        )
    if close(value, 0.3, 1e-6):
        return incorrect("0.3 is eps in normalized units; convert it to pixel units.")
    return incorrect("normalized = (pixel - 0.1307) / 0.3081; what pixel change gives 0.3?")


_TINY_W = [[1.0, -2.0, 0.5, 0.0], [0.0, 1.0, -1.0, 2.0], [-1.0, 0.5, 1.0, -0.5]]
_TINY_B = [0.1, 0.0, -0.1]
_TINY_X = [0.2, 0.9, 0.5, 0.0]


def _tiny_gradient() -> torch.Tensor:
    """The loss gradient of the 4-pixel example (true class 1), as the chapter prints it."""
    W, b, x = torch.tensor(_TINY_W), torch.tensor(_TINY_B), torch.tensor([_TINY_X])
    return (torch.softmax(x @ W.T + b, dim=1) - F.one_hot(torch.tensor([1]), 3).float()) @ W


def linear_gain_solution() -> float:
    """First-order loss increase of the FGSM step in chapter 02's 4-pixel example."""
    W = torch.tensor(_TINY_W)
    b = torch.tensor(_TINY_B)
    x = torch.tensor([_TINY_X])
    eps = 0.25
    probabilities = torch.softmax(x @ W.T + b, dim=1)
    gradient = (probabilities - F.one_hot(torch.tensor([1]), 3).float()) @ W
    # delta = eps * sign(g) gives delta . g = eps * sum|g|: the largest any |delta_i| <= eps allows
    return eps * gradient.abs().sum().item()  # 0.8845


def _check_linear_gain(answer: Any) -> Result:
    value, problem = number_or_message(answer, "a loss increase")
    if problem:
        return problem
    expected = linear_gain_solution()
    gradient = _tiny_gradient()
    if close(value, expected, 2e-3):
        return correct(
            f"eps x |g|_1 = 0.25 x {gradient.abs().sum().item():.4f} = {expected:.4f}. "
            "Moving every pixel by eps along the gradient's sign is the largest linear gain any "
            "change of at most eps per pixel can give: that is why FGSM takes the sign."
        )
    if close(value, 0.25 * gradient.norm().item(), 2e-3):
        return incorrect(
            "eps x |g|_2 is the gain of a step of L2 length eps. Here the budget is per pixel "
            "(L-infinity), so every pixel can move by eps: the gain is eps x sum of |g_i|."
        )
    if close(value, 0.25 * gradient.sum().item(), 2e-3):
        return incorrect(
            "you summed the signed gradient; with delta_i = eps * sign(g_i) each term is "
            "eps * |g_i|, never negative."
        )
    return incorrect(
        "the linear change of the loss is delta . g; put delta = eps * sign(g) with eps = 0.25 "
        "and the gradient the chapter prints."
    )


# -------------------------------------------------- the wrong answers the checks must reject


def _fgsm_without_clamping(model, x, y, eps):
    return x + eps * input_gradient(model, x, y).sign()


def _fgsm_against_the_gradient(model, x, y, eps):
    return (x - eps * input_gradient(model, x, y).sign()).clamp(0, 1)


def _fgsm_in_normalized_units(model, x, y, eps):
    return (x + eps * MNIST_STD * input_gradient(model, x, y).sign()).clamp(0, 1)


def _fgsm_with_the_raw_gradient(model, x, y, eps):
    return (x + eps * 1000 * input_gradient(model, x, y)).clamp(0, 1)


def _fgsm_returning_the_perturbation(model, x, y, eps):
    return eps * input_gradient(model, x, y).sign()


def _fgsm_with_predicted_labels(model, x, y, eps):
    with torch.no_grad():
        predicted = model(x).argmax(dim=1)
    return (x + eps * input_gradient(model, x, predicted).sign()).clamp(0, 1)


def _fgsm_in_train_mode(model, x, y, eps):
    return (x + eps * input_gradient(model, x, y).sign()).clamp(0, 1)


def _fgsm_leaving_eval_mode(model, x, y, eps):
    model.eval()
    return _fgsm_in_train_mode(model, x, y, eps)


def _fgsm_always_back_to_train_mode(model, x, y, eps):
    x_adv = _fgsm_leaving_eval_mode(model, x, y, eps)
    model.train()
    return x_adv


def _fgsm_of_section_3(model, x, y, eps):
    """The chapter's five-line fgsm_attack, copied: right for a model in eval mode, but it
    takes the gradient in whatever mode the model is in."""
    x = x.clone().detach().requires_grad_(True)
    loss = F.cross_entropy(model(x), y, reduction="sum")
    (gradient,) = torch.autograd.grad(loss, x)
    return (x + eps * gradient.sign()).clamp(0, 1).detach()


def _fgsm_in_place(model, x, y, eps):
    return x.add_(eps * input_gradient(model, x, y).sign()).clamp_(0, 1)


q1 = Exercise(
    "chapter02.q1",
    """
    Write `fgsm(model, x, y, eps)`: FGSM with eps in pixel units, for images x in [0, 1]
    (shape (N, 1, 28, 28)) and labels y. Return the adversarial images. The check runs it on
    a small model and compares with `fh.fgsm`, including eps = 0, pixels that must be clamped
    and a model with dropout in train mode (as during training). Pass the function:
    `ex.q1.check(fgsm)`.
    """,
    _check_fgsm,
    """
    Three parts: the loss gradient with respect to the images (not the weights); a step of
    eps along its sign that leaves a valid image; and the model's mode, since dropout changes
    the gradient: what mode should the gradient be taken in, and what mode should the model
    leave in?
    """,
    fgsm_solution,
    """
    Five lines: the whole attack; the three around them look after the model's mode. In train
    mode dropout switches off random units at every forward pass, and during adversarial
    training the model is in train mode when it is attacked: the gradient is taken in eval
    mode, then the model goes back to its mode. `torch.autograd.grad` leaves the model's parameter
    gradients alone (loss.backward() would fill them). fh.fgsm adds input checks and the
    `eps_units` option, and sums the loss over the batch instead of averaging it: a positive
    factor, so the sign, and the attack, are the same.
    """,
    signature="fgsm(model, x, y, eps) -> x_adv",
    wrong_answers={
        "no clamping": WrongAnswer(_fgsm_without_clamping, "clamp x_adv to [0, 1]"),
        "against the gradient": WrongAnswer(_fgsm_against_the_gradient, "*against* the gradient"),
        "eps in normalized units": WrongAnswer(_fgsm_in_normalized_units, "pixel units"),
        "the gradient, not its sign": WrongAnswer(
            _fgsm_with_the_raw_gradient, "use the gradient's sign"
        ),
        "returns the perturbation": WrongAnswer(
            _fgsm_returning_the_perturbation, "returned the perturbation"
        ),
        "predicted labels, not y": WrongAnswer(_fgsm_with_predicted_labels, "predicted labels"),
        "changes x in place": WrongAnswer(_fgsm_in_place, "in place"),
        "the gradient in train mode": WrongAnswer(_fgsm_in_train_mode, "in train mode dropout"),
        "section 3's fgsm_attack, copied": WrongAnswer(_fgsm_of_section_3, "in train mode dropout"),
        "leaves the model in eval mode": WrongAnswer(_fgsm_leaving_eval_mode, "left in eval mode"),
        "always back to train mode": WrongAnswer(
            _fgsm_always_back_to_train_mode, "left in train mode"
        ),
        "returns x unchanged": WrongAnswer(lambda model, x, y, eps: x, "differ from fh.fgsm"),
    },
)

q2 = Exercise(
    "chapter02.q2",
    """
    The paper does not say in which units its eps is. If its eps = 0.3 was added to images
    *after* normalization, how large is it in pixel units? Answer with a float.
    """,
    _check_pixel_eps,
    "Normalization divides pixel values by 0.3081; what does that do to a small change of a pixel?",
    pixel_eps_solution,
    """
    In code: `fh.attacks.to_pixel_eps(0.3, "normalized")`. Chapter 04 measures both readings:
    the paper's Table 1 is much closer to the normalized one.
    """,
    wrong_answers={
        "divided by the std": WrongAnswer(0.3 / 0.3081, "you divided"),
        "eps unconverted": WrongAnswer(0.3, "convert it"),
        "the mean added": WrongAnswer(0.3 * 0.3081 + 0.1307, "the mean cancels"),
    },
)

q3 = Exercise(
    "chapter02.q3",
    """
    Why the *sign* of the gradient? In the chapter's 4-pixel example (eps = 0.25), the loss
    near x is about L(x) + delta . g. Ignoring clipping, how much does FGSM's step
    delta = eps * sign(g) raise the loss, to first order? Answer with a float.
    """,
    _check_linear_gain,
    "Write delta . g as a sum over the 4 pixels with delta_i = eps * sign(g_i), and use the "
    "gradient the chapter prints: what sign does each term have?",
    linear_gain_solution,
    """
    No other delta with every |delta_i| <= eps does better: each term eps * |g_i| is the
    most pixel i can contribute. (Clipping at 0 and 1 reduces it here: pixel 1 can only fall
    by 0.2 and pixel 4 not at all.)
    """,
    wrong_answers={
        "eps times the L2 norm": WrongAnswer(
            lambda: 0.25 * _tiny_gradient().norm().item(), "L2 length"
        ),
        "eps times the signed sum": WrongAnswer(
            lambda: 0.25 * _tiny_gradient().sum().item(), "summed the signed gradient"
        ),
    },
)

chapter = Chapter("chapter 02: FGSM", q1, q2, q3)
exercises = chapter.exercises
