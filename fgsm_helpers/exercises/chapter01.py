"""Chapter 01, the paper's CNN on MNIST: count fc1's parameters, write the MNIST
normalization, and where black and white pixels land after it."""

from __future__ import annotations

from typing import Any

import torch

from ..data import MNIST_MEAN, MNIST_STD
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
    number_or_message,
    tensor_like,
    toy_images,
    type_name,
)

FC1_PARAMETERS = 64 * 24 * 24 * 128 + 128


def fc1_parameters_solution() -> int:
    """Parameters of the paper's first dense layer (fc1)."""
    # two 3x3 convolutions without padding: 28 -> 26 -> 24 pixels, 64 channels
    inputs = 64 * 24 * 24  # 36,864 features
    weights = inputs * 128  # one weight per input and unit
    biases = 128  # one bias per unit
    return weights + biases  # 4,718,720


def _check_fc1(answer: Any) -> Result:
    value, problem = number_or_message(answer, "a number of parameters")
    if problem:
        return problem
    if value == FC1_PARAMETERS:
        return correct(
            f"{FC1_PARAMETERS:,} = 36,864 x 128 weights + 128 biases: 99.6% of the model's 4,738,826."
        )
    wrong = {
        64 * 24 * 24 * 128: "that is the weights only: each of the 128 units also has a bias.",
        4_738_826: "that is the whole model; count only fc1 (model.fc1).",
        64 * 26 * 26 * 128 + 128: (
            "the second convolution shrinks the image too: 28 -> 26 -> 24 pixels, not 26."
        ),
        64 * 28 * 28 * 128 + 128: (
            "a 3x3 convolution without padding loses a pixel on each side: 28 -> 26 -> 24."
        ),
        32 * 24 * 24 * 128 + 128: "fc1 sees conv2's output, which has 64 channels, not 32.",
    }
    return incorrect(
        wrong.get(
            int(value) if value.is_integer() else -1,
            f"{value:,.0f} is not it. fc1's input is conv2's output (channels x height x width), "
            "flattened; it has one weight per input and unit, plus one bias per unit.",
        )
    )


def normalize_solution(x: torch.Tensor) -> torch.Tensor:
    """MNIST normalization, the first thing PaperCNN does to its input."""
    mean, std = 0.1307, 0.3081  # MNIST's pixel mean and standard deviation
    return (x - mean) / std


def _check_normalize(answer: Any) -> Result:
    x, _ = toy_images(4, seed=1)
    x = torch.cat([x, torch.zeros(1, 1, 28, 28), torch.ones(1, 1, 28, 28)])
    x_before = x.clone()
    out, problem = call(answer, x)
    if problem:
        return problem
    problem = tensor_like(out, x, "normalize(x)")
    if problem:
        return problem
    if not torch.equal(x, x_before):
        return incorrect("your function changed x in place; return a new tensor instead.")
    expected = (x - MNIST_MEAN) / MNIST_STD
    if torch.allclose(out, expected, atol=1e-5):
        return correct(
            "(x - 0.1307) / 0.3081, what PaperCNN's first layer does: the model normalizes "
            "its own input, so every caller passes pixels in [0, 1]."
        )
    mean, std = MNIST_MEAN, MNIST_STD
    candidates = [
        ((x - std) / mean, "you swapped the mean and the standard deviation."),
        (
            x * std + mean,
            "that undoes normalization (x * std + mean): it maps normalized values back to pixels.",
        ),
        ((x - mean) * std, "divide by the standard deviation; you multiplied."),
        (
            x * 2 - 1,
            "(x - 0.5) / 0.5 maps [0, 1] to [-1, 1]; use MNIST's mean 0.1307 and std 0.3081.",
        ),
        (
            x - mean / std,
            "you divided the mean by the std before subtracting: put parentheses around the "
            "subtraction.",
        ),
    ]
    for candidate, message in candidates:
        if torch.allclose(out, candidate, atol=1e-4):
            return incorrect(message)
    if torch.allclose(out, (x - x.mean()) / x.std(), atol=1e-3):
        return incorrect(
            "you used this batch's own mean and std; use MNIST's fixed 0.1307 and 0.3081 "
            "so that every image is normalized the same way."
        )
    largest = (out - expected).abs().max().item()
    return incorrect(
        f"the values are not MNIST's normalization (on a test batch some differ by {largest:.3f}). "
        "Check the two constants print(model) shows and the order of the two operations."
    )


def normalized_range_solution() -> tuple[float, float]:
    """Where black (0) and white (1) pixels land after normalization."""
    mean, std = 0.1307, 0.3081
    return (0 - mean) / std, (1 - mean) / std  # (-0.4242, 2.8215)


def _check_normalized_range(answer: Any) -> Result:
    if (
        not isinstance(answer, (tuple, list))
        or len(answer) != 2
        or any(as_number(v) is None for v in answer)
    ):
        return incorrect(
            f"expected a pair of numbers (low, high); got {type_name(answer)}. "
            "For example: (-1.0, 1.0)."
        )
    low, high = (as_number(v) for v in answer)
    expected_low, expected_high = normalized_range_solution()
    # 5e-3: two decimals are enough, (-0.42, 2.82) is right
    if close(low, expected_low, 5e-3) and close(high, expected_high, 5e-3):
        return correct(
            f"black is {expected_low:.4f} and white {expected_high:.4f}: a range 3.25 wide. "
            "An eps added *after* normalization is therefore 0.3081 times as large in pixels."
        )
    if close(low, expected_high, 5e-3) and close(high, expected_low, 5e-3):
        return incorrect("you have the two ends the wrong way round: (low, high).")
    if close(low, -1.0, 5e-3) and close(high, 1.0, 5e-3):
        return incorrect(
            "(-1, 1) is where (x - 0.5) / 0.5 sends black and white; PaperCNN uses MNIST's own "
            "mean and standard deviation."
        )
    if close(low, 0.0, 5e-3):
        return incorrect(
            "a black pixel is not 0 after normalization: the mean is subtracted first."
        )
    if close(low, expected_low, 5e-3):
        return incorrect(
            "black is right but white is not: the whole difference (1 - mean) is divided by "
            "the std, not only the mean."
        )
    swapped = ((0 - MNIST_STD) / MNIST_MEAN, (1 - MNIST_STD) / MNIST_MEAN)
    if close(low, swapped[0], 5e-3) and close(high, swapped[1], 5e-3):
        return incorrect("you swapped the mean and the standard deviation.")
    return incorrect(
        "neither end is right: apply your normalize from q2 (if it passed) to a black and a "
        "white pixel."
    )


# -------------------------------------------------- the wrong answers the checks must reject


def _normalize_in_place(x: torch.Tensor) -> torch.Tensor:
    return x.sub_(0.1307).div_(0.3081)


q1 = Exercise(
    "chapter01.q1",
    """
    How many parameters does the paper's first dense layer (`fc1`) have? Work it out from the
    architecture (two 3x3 convolutions without padding, 32 and 64 channels, then 128 units),
    then check it here. Answer with an int.
    """,
    _check_fc1,
    """
    A dense layer has one weight for every (input, unit) pair and one bias per unit. Its
    inputs are conv2's whole output, flattened: section 2 says how large that is.
    """,
    fc1_parameters_solution,
    """
    Almost all of the model sits in this one layer. It is also why the chapter-05 SmallCNN,
    with stride-2 convolutions that shrink the image before the dense layer, is 28 times smaller.
    """,
    wrong_answers={
        "weights only, no biases": WrongAnswer(64 * 24 * 24 * 128, "weights only"),
        "the whole model": WrongAnswer(4_738_826, "whole model"),
        "26 x 26 pixels after conv2": WrongAnswer(64 * 26 * 26 * 128 + 128, "28 -> 26 -> 24"),
        "28 x 28 pixels, as if padded": WrongAnswer(64 * 28 * 28 * 128 + 128, "without padding"),
        "conv1's 32 channels": WrongAnswer(32 * 24 * 24 * 128 + 128, "64 channels"),
    },
)

q2 = Exercise(
    "chapter01.q2",
    """
    Write `normalize(x)`: the MNIST normalization PaperCNN applies to its input, for a tensor
    x of pixels in [0, 1]. Pass the function itself: `ex.q2.check(normalize)`.
    """,
    _check_normalize,
    """
    Standardize with MNIST's two statistics (print(model) shows them on the normalize layer):
    the result should have mean 0 and standard deviation 1 over MNIST's training pixels.
    """,
    normalize_solution,
    """
    The model owns this step (`fh.PaperCNN().normalize`), so every caller passes pixels in
    [0, 1] and an attack's eps is in pixel units.
    """,
    signature="normalize(x) -> tensor",
    wrong_answers={
        "to [-1, 1]": WrongAnswer(lambda x: (x - 0.5) / 0.5, "[-1, 1]"),
        "undoes normalization": WrongAnswer(lambda x: x * 0.3081 + 0.1307, "undoes"),
        "mean and std swapped": WrongAnswer(lambda x: (x - 0.3081) / 0.1307, "swapped"),
        "multiplies by the std": WrongAnswer(lambda x: (x - 0.1307) * 0.3081, "you multiplied"),
        "no parentheses": WrongAnswer(lambda x: x - 0.1307 / 0.3081, "parentheses"),
        "the batch's own mean and std": WrongAnswer(
            lambda x: (x - x.mean()) / x.std(), "this batch's own mean"
        ),
        "changes x in place": WrongAnswer(_normalize_in_place, "in place"),
    },
)

q3 = Exercise(
    "chapter01.q3",
    """
    After normalization, what values do a black pixel (0.0) and a white pixel (1.0) take?
    Answer with a pair `(low, high)`.
    """,
    _check_normalized_range,
    "The normalization is a straight line in x: evaluate it at the two ends of the pixel range.",
    normalized_range_solution,
    """
    The normalized range is 1 / 0.3081 = 3.25 times wider than the pixel range. Chapter 02
    uses this: an eps measured in normalized units is 0.3081 times as large in pixels.
    """,
    wrong_answers={
        "black stays 0": WrongAnswer((0.0, 1.0), "not 0"),
        "ends swapped": WrongAnswer((2.8215, -0.4242), "wrong way round"),
        "the [-1, 1] normalization": WrongAnswer((-1.0, 1.0), "(x - 0.5) / 0.5"),
        "no parentheses (x - mean / std)": WrongAnswer((-0.4242, 0.5758), "white is not"),
        "mean and std swapped": WrongAnswer((-2.3573, 5.2938), "swapped"),
    },
)

chapter = Chapter("chapter 01: the paper's CNN on MNIST", q1, q2, q3)
exercises = chapter.exercises
