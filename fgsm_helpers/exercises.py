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
that must be clamped. The solutions are plain functions of this module, shown with
``inspect.getsource`` and executed by ``tests/test_exercises.py``, so none can rot.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import math
import numbers
import textwrap
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

import fgsm_helpers as fh  # the solutions use the package as a student's notebook does

from .attacks import accuracy_ceiling, fgsm, fgsm_direction
from .data import MNIST_MEAN, MNIST_STD
from .evaluation import accuracy
from .models import Normalize

# ----------------------------------------------------------------------------- the machinery


@contextlib.contextmanager
def _one_thread():
    """Checks run on tiny tensors: one thread is faster there, much faster on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class Result:
    """What a check found: ``ok`` and the sentence the student reads."""

    def __init__(self, ok: bool, message: str) -> None:
        self.ok, self.message = ok, message


def correct(message: str) -> Result:
    """A passing result; ``message`` says what the right answer shows."""
    return Result(True, message)


def incorrect(message: str) -> Result:
    """A failing result; ``message`` names the mistake or says what was expected."""
    return Result(False, message)


class Exercise:
    """One question: ``check(answer)``, ``hint()``, ``solution()``.

    ``checker(answer) -> Result`` judges an answer; ``solution`` is a function of this module
    whose source is the solution shown to the student; ``explanation`` follows it.
    ``inputs`` (optional) builds the objects the question asks the student to work on.
    """

    def __init__(
        self,
        name: str,
        question: str,
        checker: Callable[[Any], Result],
        hint: str,
        solution: Callable,
        explanation: str,
        inputs: Callable[[], Any] | None = None,
    ) -> None:
        self.name = name
        self.question = textwrap.dedent(question).strip()
        self._checker = checker
        self._hint = " ".join(hint.split())
        self._solution = solution
        self._explanation = textwrap.dedent(explanation).strip()
        self._inputs = inputs

    def check(self, answer: Any = None) -> bool:
        """Print whether ``answer`` is right (or what is wrong with it); return True or False."""
        if answer is None:
            print(
                f"Not answered yet ({self.name}): replace the placeholder (None) with your answer. "
                f"Hint: {self._hint}"
            )
            return False
        with _one_thread():
            result = self._checker(answer)
        print(("Correct: " if result.ok else "Incorrect: ") + result.message)
        return result.ok

    def hint(self) -> None:
        """Print a hint."""
        print(f"Hint ({self.name}): {self._hint}")

    def solution(self) -> None:
        """Print the solution's code and why it is right."""
        source = textwrap.dedent(inspect.getsource(self._solution))
        print(
            f"Solution ({self.name}), with torch, torch.nn.functional as F and fgsm_helpers as "
            f"fh imported:\n\n{source}\n{self._explanation}"
        )

    def solution_function(self) -> Callable:
        """The solution itself (the tests check it against ``check``)."""
        return self._solution

    def inputs(self) -> Any:
        """Fresh copies of the objects this question asks you to work on."""
        if self._inputs is None:
            raise ValueError(f"{self.name} needs no inputs: read its question")
        with _one_thread():
            return copy.deepcopy(self._inputs())

    def __repr__(self) -> str:
        return f"{self.name}: {self.question}"


class Chapter:
    """The exercises of one chapter, as attributes ``q1``, ``q2``, ..."""

    def __init__(self, title: str, *exercises: Exercise) -> None:
        self.title = title
        self.exercises = exercises
        for number, exercise in enumerate(exercises, start=1):
            setattr(self, f"q{number}", exercise)

    def __repr__(self) -> str:
        return "\n\n".join([f"Exercises, {self.title}", *(repr(e) for e in self.exercises)])


# ------------------------------------------------------------------------ answer validation


def _as_number(answer: Any) -> float | None:
    """``answer`` as a float, or None when it is not one number (bools are not numbers here)."""
    if isinstance(answer, bool):
        return None
    if isinstance(answer, torch.Tensor) and answer.numel() == 1:
        return float(answer.item())
    if isinstance(answer, numbers.Real):
        value = float(answer)
        return value if math.isfinite(value) else None
    return None


def _type_name(answer: Any) -> str:
    if isinstance(answer, torch.Tensor):
        return f"a tensor of shape {tuple(answer.shape)}"
    return f"{type(answer).__name__} {answer!r}"[:80]


def _number_or_message(answer: Any, what: str) -> tuple[float | None, Result | None]:
    value = _as_number(answer)
    if value is None:
        return None, incorrect(f"expected {what} (an int or a float); got {_type_name(answer)}.")
    return value, None


def _close(value: float, expected: float, tolerance: float) -> bool:
    return abs(value - expected) <= tolerance


def _call(function: Callable, *args: Any) -> tuple[Any, Result | None]:
    """Run the student's function; an exception becomes a message, not a crash."""
    try:
        return function(*args), None
    except Exception as error:  # the student's code may raise anything: report it
        return None, incorrect(
            f"your function raised {type(error).__name__}: {error}. "
            "Run it on a small batch yourself to see where."
        )


def _callable_or_message(answer: Any, signature: str) -> Result | None:
    if not callable(answer):
        return incorrect(
            f"expected a function `{signature}`; got {_type_name(answer)}. "
            "Pass the function itself, without calling it."
        )
    return None


def _tensor_like(value: Any, like: torch.Tensor, what: str) -> Result | None:
    """None if ``value`` is a float tensor shaped like ``like``, else what is wrong."""
    if not isinstance(value, torch.Tensor):
        return incorrect(f"{what} should return a torch.Tensor; it returned {_type_name(value)}.")
    if value.shape != like.shape:
        return incorrect(
            f"{what} should return a tensor of shape {tuple(like.shape)} (the same as x); "
            f"got {tuple(value.shape)}."
        )
    if not torch.is_floating_point(value):
        return incorrect(f"{what} should return a float tensor; got dtype {value.dtype}.")
    return None


# ---------------------------------------------------------------------- hidden test inputs


def toy_images(n: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` synthetic 28x28 images in [0, 1] that look enough like MNIST for the checks:
    mostly black, a few gray pixels, a white stroke (so clamping at 0 and at 1 both matter),
    and labels in 0..9."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.rand(n, 1, 28, 28, generator=generator)
    x = torch.where(noise > 0.7, noise, torch.zeros_like(noise))
    x[:, :, 8:20, 12:16] = 1.0
    y = torch.randint(0, 10, (n,), generator=generator)
    return x, y


def toy_model(seed: int = 0) -> nn.Module:
    """A small seeded CNN (normalization first, like ``PaperCNN``); random weights are enough
    to compare two implementations of an attack."""
    generator = torch.Generator().manual_seed(seed)
    model = nn.Sequential(
        Normalize(),
        nn.Conv2d(1, 4, kernel_size=5, stride=2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 12 * 12, 10),
    )
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(0.1 * torch.randn(parameter.shape, generator=generator))
    return model.eval()


def toy_dataset(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A 10-class problem a linear model learns to about 90%: each class a faint fixed random
    pattern of strokes, each image its class's pattern plus strong noise, clamped to [0, 1]."""
    patterns = torch.rand(10, 1, 28, 28, generator=torch.Generator().manual_seed(99)) > 0.8
    generator = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 10, (n,), generator=generator)
    noise = 0.4 * torch.randn(n, 1, 28, 28, generator=generator)
    return (0.2 * patterns[y].float() + noise).clamp(0.0, 1.0), y


TOY_EPS = 0.1  # the attacks of chapter 05's toy questions, pixel units


def _train_toy(model: nn.Module, seed: int, adversarial_eps: float = 0.0) -> nn.Module:
    """Full-batch Adam on 300 toy images (a fraction of a second); with ``adversarial_eps``
    the paper's recipe: half clean, half FGSM loss."""
    x, y = toy_dataset(300, seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(25):
        loss = F.cross_entropy(model(x), y)
        if adversarial_eps > 0:
            x_adv = fgsm(model, x, y, adversarial_eps)
            loss = 0.5 * loss + 0.5 * F.cross_entropy(model(x_adv), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def _linear_model(seed: int) -> nn.Module:
    torch_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    model = nn.Sequential(Normalize(), nn.Flatten(), nn.Linear(28 * 28, 10))
    torch.random.set_rng_state(torch_state)  # leave the student's random stream alone
    return model


@functools.cache
def _transfer_setting() -> tuple[nn.Module, nn.Module, torch.Tensor, torch.Tensor]:
    source = _train_toy(_linear_model(1), seed=1)
    target = _train_toy(_linear_model(2), seed=2, adversarial_eps=TOY_EPS)
    x, y = toy_dataset(200, seed=3)
    return source, target, x, y


def _leak_setting() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    _, target, x, y = _transfer_setting()
    return target, x, y


# ================================================================================ chapter 01
FC1_PARAMETERS = 64 * 24 * 24 * 128 + 128


def fc1_parameters_solution() -> int:
    """Parameters of the paper's first dense layer (fc1)."""
    # two 3x3 convolutions without padding: 28 -> 26 -> 24 pixels, 64 channels
    inputs = 64 * 24 * 24  # 36,864 features
    weights = inputs * 128  # one weight per input and unit
    biases = 128  # one bias per unit
    return weights + biases  # 4,718,720


def _check_fc1(answer: Any) -> Result:
    value, problem = _number_or_message(answer, "a number of parameters")
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
    problem = _callable_or_message(answer, "normalize(x) -> tensor")
    if problem:
        return problem
    x, _ = toy_images(4, seed=1)
    x = torch.cat([x, torch.zeros(1, 1, 28, 28), torch.ones(1, 1, 28, 28)])
    x_before = x.clone()
    out, problem = _call(answer, x)
    if problem:
        return problem
    problem = _tensor_like(out, x, "normalize(x)")
    if problem:
        return problem
    if not torch.equal(x, x_before):
        return incorrect("your function changed x in place; return a new tensor instead.")
    expected = (x - MNIST_MEAN) / MNIST_STD
    if torch.allclose(out, expected, atol=1e-5):
        return correct(
            "(x - 0.1307) / 0.3081. Black pixels become -0.42 and white ones 2.82: "
            "one pixel unit is 1 / 0.3081 = 3.25 normalized units."
        )
    mean, std = MNIST_MEAN, MNIST_STD
    candidates = {
        "you swapped the mean and the standard deviation: (x - 0.1307) / 0.3081.": (x - std) / mean,
        "that undoes normalization (x * std + mean); normalizing is (x - mean) / std.": x * std
        + mean,
        "divide by the standard deviation; you multiplied.": (x - mean) * std,
        "(x - 0.5) / 0.5 maps [0, 1] to [-1, 1]; use MNIST's mean 0.1307 and std 0.3081.": x * 2
        - 1,
        "subtract the mean before dividing: (x - mean) / std, with the parentheses.": x
        - mean / std,
    }
    for message, candidate in candidates.items():
        if torch.allclose(out, candidate, atol=1e-4):
            return incorrect(message)
    if torch.allclose(out, (x - x.mean()) / x.std(), atol=1e-3):
        return incorrect(
            "you used this batch's own mean and std; use MNIST's fixed 0.1307 and 0.3081 "
            "so that every image is normalized the same way."
        )
    return incorrect(
        "the values are not (x - 0.1307) / 0.3081 (for example, a black pixel should become "
        f"{(0 - MNIST_MEAN) / MNIST_STD:.4f}; yours became {out[-2].flatten()[0].item():.4f})."
    )


def normalized_range_solution() -> tuple[float, float]:
    """Where black (0) and white (1) pixels land after normalization."""
    mean, std = 0.1307, 0.3081
    return (0 - mean) / std, (1 - mean) / std  # (-0.4242, 2.8215)


def _check_normalized_range(answer: Any) -> Result:
    if (
        not isinstance(answer, (tuple, list))
        or len(answer) != 2
        or any(_as_number(v) is None for v in answer)
    ):
        return incorrect(
            f"expected a pair of numbers (low, high); got {_type_name(answer)}. "
            "For example: (-1.0, 1.0)."
        )
    low, high = (_as_number(v) for v in answer)
    expected_low, expected_high = normalized_range_solution()
    if _close(low, expected_low, 1e-3) and _close(high, expected_high, 1e-3):
        return correct(
            f"black is {expected_low:.4f} and white {expected_high:.4f}: a range 3.25 wide. "
            "An eps added *after* normalization is therefore 0.3081 times as large in pixels."
        )
    if _close(low, expected_high, 1e-3) and _close(high, expected_low, 1e-3):
        return incorrect("you have the two ends the wrong way round: (low, high).")
    if _close(low, 0.0, 1e-3):
        return incorrect(
            "a black pixel is not 0 after normalization: the mean is subtracted first."
        )
    return incorrect("apply (x - 0.1307) / 0.3081 to x = 0 and to x = 1.")


chapter01 = Chapter(
    "chapter 01: the paper's CNN on MNIST",
    Exercise(
        "chapter01.q1",
        """
        How many parameters does the paper's first dense layer (`fc1`) have? Work it out from the
        architecture (two 3x3 convolutions without padding, 32 and 64 channels, then 128 units),
        then compare with the table the chapter prints. Answer with an int.
        """,
        _check_fc1,
        """
        Follow the image size: 28 -> 26 after conv1, 26 -> 24 after conv2, with 64 channels.
        fc1 gets all of those numbers, flattened; count weights and biases.
        """,
        fc1_parameters_solution,
        """
        Almost all of the model sits in this one layer. It is also why the chapter-05 SmallCNN,
        with stride-2 convolutions that shrink the image before the dense layer, is 28 times smaller.
        """,
    ),
    Exercise(
        "chapter01.q2",
        """
        Write `normalize(x)`: the MNIST normalization PaperCNN applies to its input, for a tensor
        x of pixels in [0, 1]. Pass the function itself: `ex.q2.check(normalize)`.
        """,
        _check_normalize,
        "Subtract MNIST's mean pixel value (0.1307), then divide by its standard deviation (0.3081).",
        normalize_solution,
        """
        The model owns this step (`fh.PaperCNN().normalize`), so every caller passes pixels in
        [0, 1] and an attack's eps is in pixel units.
        """,
    ),
    Exercise(
        "chapter01.q3",
        """
        After normalization, what values do a black pixel (0.0) and a white pixel (1.0) take?
        Answer with a pair `(low, high)`.
        """,
        _check_normalized_range,
        "Put x = 0 and x = 1 into (x - 0.1307) / 0.3081.",
        normalized_range_solution,
        """
        The normalized range is 1 / 0.3081 = 3.25 times wider than the pixel range. Chapter 02
        uses this: an eps measured in normalized units is 0.3081 times as large in pixels.
        """,
    ),
)


# ================================================================================ chapter 02


def fgsm_solution(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """FGSM: x_adv = clamp(x + eps * sign(grad_x loss), 0, 1), eps in pixel units."""
    x = x.clone().detach().requires_grad_(True)  # a copy we may take gradients for
    loss = F.cross_entropy(model(x), y)
    (gradient,) = torch.autograd.grad(loss, x)  # leaves the model's .grad untouched
    x_adv = x + eps * gradient.sign()  # every pixel moves by eps, up or down
    return x_adv.clamp(0, 1).detach()  # a valid image again


def _fgsm_check_inputs() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    x, y = toy_images(16, seed=2)
    return toy_model(seed=2), x, y


def _check_fgsm(answer: Any) -> Result:
    problem = _callable_or_message(answer, "fgsm(model, x, y, eps) -> x_adv")
    if problem:
        return problem
    model, x, y = _fgsm_check_inputs()
    gradient_sign = fgsm_direction(model, x, y)  # only used to name mistakes
    for eps in (0.1, 0.0, 0.3):
        x_given = x.clone()
        out, problem = _call(answer, model, x_given, y, eps)
        if problem:
            return problem
        problem = _tensor_like(out, x, f"fgsm(model, x, y, eps={eps})")
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
        moved = delta.abs() > 1e-6
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
    return correct(
        "your FGSM matches fh.fgsm at eps 0.1 and 0.3, returns x at eps 0, and clamps to [0, 1]."
    )


def pixel_eps_solution() -> float:
    """The paper's eps = 0.3, read as added after normalization, in pixel units."""
    std = 0.3081  # normalization divides by std, so a normalized step is std times a pixel step
    return 0.3 * std  # 0.0924


def _check_pixel_eps(answer: Any) -> Result:
    value, problem = _number_or_message(answer, "eps in pixel units")
    if problem:
        return problem
    if _close(value, 0.3 * MNIST_STD, 5e-4):
        return correct(
            f"0.3 x 0.3081 = {0.3 * MNIST_STD:.4f} in pixels: under this reading the paper's "
            "strongest Table 1 attack moves each pixel by less than a tenth of its range."
        )
    if _close(value, 0.3 / MNIST_STD, 5e-3):
        return incorrect(
            "you divided by 0.3081. Normalization divides pixels by 0.3081, so a step of 1 in "
            "normalized units is a step of 0.3081 in pixels: multiply."
        )
    if _close(value, 0.3 * MNIST_STD + MNIST_MEAN, 5e-4) or _close(value, 0.3 - MNIST_MEAN, 5e-4):
        return incorrect(
            "the mean cancels out of a *difference* between two images; only the std matters."
        )
    if _close(value, 0.3, 1e-6):
        return incorrect("0.3 is eps in normalized units; convert it to pixel units.")
    return incorrect("normalized = (pixel - 0.1307) / 0.3081; what pixel change gives 0.3?")


_TINY_W = [[1.0, -2.0, 0.5, 0.0], [0.0, 1.0, -1.0, 2.0], [-1.0, 0.5, 1.0, -0.5]]
_TINY_B = [0.1, 0.0, -0.1]
_TINY_X = [0.2, 0.9, 0.5, 0.0]


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
    value, problem = _number_or_message(answer, "a loss increase")
    if problem:
        return problem
    expected = linear_gain_solution()
    W, b, x = torch.tensor(_TINY_W), torch.tensor(_TINY_B), torch.tensor([_TINY_X])
    gradient = (torch.softmax(x @ W.T + b, dim=1) - F.one_hot(torch.tensor([1]), 3).float()) @ W
    if _close(value, expected, 2e-3):
        return correct(
            f"eps x |g|_1 = 0.25 x {gradient.abs().sum().item():.4f} = {expected:.4f}. "
            "Moving every pixel by eps along the gradient's sign is the largest linear gain any "
            "change of at most eps per pixel can give: that is why FGSM takes the sign."
        )
    if _close(value, 0.25 * gradient.norm().item(), 2e-3):
        return incorrect(
            "eps x |g|_2 is the gain of a step of L2 length eps. Here the budget is per pixel "
            "(L-infinity), so every pixel can move by eps: the gain is eps x sum of |g_i|."
        )
    if _close(value, 0.25 * gradient.sum().item(), 2e-3):
        return incorrect(
            "you summed the signed gradient; with delta_i = eps * sign(g_i) each term is "
            "eps * |g_i|, never negative."
        )
    return incorrect(
        "the linear change of the loss is delta . g; put delta = eps * sign(g) with eps = 0.25 "
        "and the gradient the chapter prints."
    )


chapter02 = Chapter(
    "chapter 02: FGSM",
    Exercise(
        "chapter02.q1",
        """
        Write `fgsm(model, x, y, eps)`: FGSM with eps in pixel units, for images x in [0, 1]
        (shape (N, 1, 28, 28)) and labels y. Return the adversarial images. The check runs it on
        a small model and compares with `fh.fgsm`, including eps = 0 and pixels that must be
        clamped. Pass the function: `ex.q1.check(fgsm)`.
        """,
        _check_fgsm,
        """
        Make a copy of x that requires grad, compute F.cross_entropy(model(x), y), take the
        gradient with respect to x (torch.autograd.grad), add eps * gradient.sign(), clamp to [0, 1].
        """,
        fgsm_solution,
        """
        Five lines: the whole attack. `torch.autograd.grad` leaves the model's parameter
        gradients alone (loss.backward() would fill them). fh.fgsm adds input checks, eval mode
        and the `eps_units` option, and sums the loss over the batch instead of averaging it:
        a positive factor, so the sign, and the attack, are the same.
        """,
    ),
    Exercise(
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
    ),
    Exercise(
        "chapter02.q3",
        """
        Why the *sign* of the gradient? In the chapter's 4-pixel example (eps = 0.25), the loss
        near x is about L(x) + delta . g. Ignoring clipping, how much does FGSM's step
        delta = eps * sign(g) raise the loss, to first order? Answer with a float.
        """,
        _check_linear_gain,
        "delta . g = sum_i eps * sign(g_i) * g_i; what is sign(g_i) * g_i?",
        linear_gain_solution,
        """
        No other delta with every |delta_i| <= eps does better: each term eps * |g_i| is the
        most pixel i can contribute. (Clipping at 0 and 1 reduces it here: pixel 1 can only fall
        by 0.2 and pixel 4 not at all.)
        """,
    ),
)


# ================================================================================ chapter 03


def adversarial_loss_solution(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float
) -> torch.Tensor:
    """The paper's adversarial-training loss for one batch: clean and FGSM count equally."""
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


def _loss_mistake(value: float, clean: float, adversarial: float, eps_units_loss: float) -> str:
    """The name of a common mistake whose loss equals ``value``, or a general hint."""
    known = {
        "you returned only the FGSM loss; the paper's loss is half clean, half FGSM.": adversarial,
        "you returned only the clean loss; add the loss on the FGSM images.": clean,
        "you added the two losses; weight each by 0.5 so they count equally.": clean + adversarial,
        "your FGSM images use eps x 0.3081: eps is in pixel units here.": eps_units_loss,
    }
    for message, candidate in known.items():
        if _close(value, candidate, 1e-4):
            return message
    return (
        f"your loss is {value:.4f}, expected {0.5 * clean + 0.5 * adversarial:.4f} = "
        f"0.5 x {clean:.4f} (clean) + 0.5 x {adversarial:.4f} (FGSM at eps, pixel units, true labels)."
    )


def _check_adversarial_loss(answer: Any) -> Result:
    problem = _callable_or_message(answer, "adversarial_loss(model, x, y, eps) -> loss tensor")
    if problem:
        return problem
    x, y = toy_images(16, seed=3)
    model = toy_model(seed=3)
    eps = 0.2
    clean, adversarial = _reference_losses(model, x, y, eps)
    expected = 0.5 * clean + 0.5 * adversarial
    loss, problem = _call(answer, model, x.clone(), y, eps)
    if problem:
        return problem
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        return incorrect(
            f"expected a one-number loss tensor (so you can call .backward() on it); got "
            f"{_type_name(loss)}."
        )
    value = loss.item()
    if not _close(value, expected.item(), 1e-4):
        _, normalized_adv = _reference_losses(model, x, y, eps * MNIST_STD)
        return incorrect(
            _loss_mistake(
                value,
                clean.item(),
                adversarial.item(),
                (0.5 * clean + 0.5 * normalized_adv).item(),
            )
        )
    if not loss.requires_grad:
        return incorrect(
            "the value is right but the tensor has no gradient: do not compute the loss under "
            "torch.no_grad() or turn it into a float, or the optimizer cannot learn from it."
        )
    x_zero_loss, _ = _reference_losses(model, x, y, 0.0)
    loss_zero, problem = _call(answer, model, x.clone(), y, 0.0)
    if problem:
        return problem
    if not isinstance(loss_zero, torch.Tensor) or not _close(
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
    """One step of the paper's adversarial training; returns the loss."""
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


def _check_adversarial_step(answer: Any) -> Result:
    problem = _callable_or_message(answer, "adversarial_step(model, optimizer, x, y, eps) -> loss")
    if problem:
        return problem
    x, y = toy_images(16, seed=4)
    model = toy_model(seed=4)
    eps = 0.2
    before = [p.detach().clone() for p in model.parameters()]
    expected = _reference_step(model, x, y, eps, (0.5, 0.5))
    student_model = copy.deepcopy(model)
    optimizer = torch.optim.SGD(student_model.parameters(), lr=0.5)
    for parameter in student_model.parameters():  # gradients left over from an earlier step
        parameter.grad = torch.full_like(parameter, 0.05)
    _, problem = _call(answer, student_model, optimizer, x.clone(), y, eps)
    if problem:
        return problem
    after = [p.detach() for p in student_model.parameters()]

    def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
        return all(torch.allclose(p, q, atol=1e-5) for p, q in zip(a, b, strict=True))

    if same(after, expected):
        return correct(
            "one optimizer step on 0.5 x clean + 0.5 x FGSM loss, with the FGSM images made "
            "against the model before the step and old gradients cleared."
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
        ((0.0, 1.0), "you stepped on the FGSM loss only; the paper mixes clean and FGSM 50/50."),
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


chapter03 = Chapter(
    "chapter 03: adversarial training",
    Exercise(
        "chapter03.q1",
        """
        Write `adversarial_loss(model, x, y, eps)`: the paper's adversarial-training loss for one
        batch, with the clean images and their FGSM versions (eps in pixel units, true labels)
        weighted 0.5 each. Return the loss as a tensor the optimizer can use.
        """,
        _check_adversarial_loss,
        """
        x_adv = fh.fgsm(model, x, y, eps); then 0.5 * F.cross_entropy(model(x), y)
        + 0.5 * F.cross_entropy(model(x_adv), y).
        """,
        adversarial_loss_solution,
        """
        The FGSM images are made against the model as it is at this step: they change as it
        learns, which makes this training rather than data augmentation. In the package:
        `fh.train(model, x, y, attack="fgsm", train_eps=0.3, adv_weight=0.5)`.
        """,
    ),
    Exercise(
        "chapter03.q2",
        """
        Write `adversarial_step(model, optimizer, x, y, eps)`: one optimizer step of the paper's
        adversarial training on the batch (x, y); return the loss as a float. The check gives
        your function an optimizer whose parameters still hold gradients from an earlier step.
        """,
        _check_adversarial_step,
        "Attack first, then: loss, optimizer.zero_grad(), loss.backward(), optimizer.step().",
        adversarial_step_solution,
        """
        The order matters: the FGSM images come from the weights before the step, and
        zero_grad() must come after any backward pass the attack made and before the loss's own.
        """,
    ),
)


# ================================================================================ chapter 04


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


def _pgd_step_reference(model, x, x_adv, y, eps, alpha, *, project=True, clamp=True, at_x=False):
    point = (x if at_x else x_adv).clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(F.cross_entropy(model(point), y), point)
    x_next = x_adv + alpha * gradient.sign()
    if project:
        x_next = x + (x_next - x).clamp(-eps, eps)
    return x_next.clamp(0, 1) if clamp else x_next


def _check_pgd_step(answer: Any) -> Result:
    problem = _callable_or_message(answer, "pgd_step(model, x, x_adv, y, eps, alpha) -> x_next")
    if problem:
        return problem
    model = toy_model(seed=5)
    x, y = toy_images(16, seed=5)
    # (eps, alpha): a typical step, one larger than eps (projection binds), and eps = 0
    for eps, alpha in ((0.3, 0.05), (0.1, 0.25), (0.0, 0.05)):
        noise = torch.rand(x.shape, generator=torch.Generator().manual_seed(6))
        x_adv = (x + (2 * noise - 1) * eps).clamp(0, 1)  # a random start in the ball
        arguments = (x.clone(), x_adv.clone())
        out, problem = _call(answer, model, arguments[0], arguments[1], y, eps, alpha)
        if problem:
            return problem
        problem = _tensor_like(out, x, "pgd_step")
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
    problem = _callable_or_message(answer, "ceiling(y) -> percent")
    if problem:
        return problem
    generator = torch.Generator().manual_seed(7)
    cases = {
        "MNIST-like labels": torch.randint(0, 10, (500,), generator=generator),
        "labels where 3 is the most common class": torch.tensor([3] * 40 + list(range(10)) * 6),
        "one image": torch.tensor([7]),
        "balanced labels": torch.arange(10).repeat(20),
    }
    for description, y in cases.items():
        value, problem = _call(answer, y.clone())
        if problem:
            return problem
        number = _as_number(value)
        if number is None:
            return incorrect(f"expected a number (percent); got {_type_name(value)}.")
        expected = accuracy_ceiling(y)
        if _close(number, expected, 1e-6):
            continue
        if _close(number * 100, expected, 1e-4):
            return incorrect("return a percentage (11.35), not a fraction (0.1135).")
        ones = 100.0 * (y == 1).float().mean().item()
        if _close(number, ones, 1e-4) and not _close(ones, expected, 1e-6):
            return incorrect(
                f"on {description} you returned the share of 1s; the ceiling is the share of "
                "the *most common* class, whichever it is."
            )
        return incorrect(f"on {description} the ceiling is {expected:.2f}%; you returned {number}.")
    return correct(
        "if every image looks the same, the best a classifier can do is always answer the "
        "most common class. On MNIST's 10,000 test labels that is '1': 1,135 images, 11.35%."
    )


FIRST_500_CEILING = 13.4  # 67 of the first 500 MNIST test labels are 1 (tests/test_exercises.py)


def first_500_ceiling_solution(y_test: torch.Tensor) -> float:
    """The ceiling on the images chapter 04's PGD curves are drawn on."""
    return fh.accuracy_ceiling(y_test[:500])  # 13.4


def _check_first_500(answer: Any) -> Result:
    value, problem = _number_or_message(answer, "a percentage")
    if problem:
        return problem
    if _close(value, FIRST_500_CEILING, 0.01):
        return correct(
            "67 of the first 500 test digits are 1s: 13.4%, not 11.35%. A ceiling belongs to the "
            "images it is drawn over."
        )
    if _close(value, 11.35, 0.01):
        return incorrect(
            "11.35% is the ceiling of all 10,000 test images; compute it on y_test[:500]."
        )
    if _close(value * 100, FIRST_500_CEILING, 0.01):
        return incorrect("return a percentage, not a fraction.")
    return incorrect("count the most common label among y_test[:500] and divide by 500.")


chapter04 = Chapter(
    "chapter 04: results beside the paper's, and PGD",
    Exercise(
        "chapter04.q1",
        """
        Write `pgd_step(model, x, x_adv, y, eps, alpha)`: one step of PGD from the current
        adversarial images x_adv: move by alpha along the sign of the loss gradient taken at
        x_adv, project into the L-infinity ball of radius eps around the original images x,
        clamp to [0, 1]. Return the new adversarial images.
        """,
        _check_pgd_step,
        """
        Gradient at x_adv (like FGSM), x_next = x_adv + alpha * sign; then
        x + (x_next - x).clamp(-eps, eps), then .clamp(0, 1).
        """,
        pgd_step_solution,
        """
        PGD is this step repeated (chapter 04: 40 steps of 2.5 * eps / 40) from a random point of
        the ball. With a step as large as eps, no random start and one step, it is FGSM.
        """,
    ),
    Exercise(
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
    ),
    Exercise(
        "chapter04.q3",
        """
        Chapter 04's FGSM-vs-PGD curves are drawn on the first 500 test images. What is the
        ceiling for those 500 images (percent)? Use your `ceiling` on `y_test[:500]`.
        """,
        _check_first_500,
        "ceiling(y_test[:500]), or fh.accuracy_ceiling(y_test[:500]).",
        first_500_ceiling_solution,
        """
        A line drawn at 11.35% over curves measured on these 500 images would be the wrong
        ceiling for them.
        """,
    ),
)


# ================================================================================ chapter 05


def label_leak_solution(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """FGSM accuracy with the model's predicted labels minus with the true labels, eps 0.1."""
    eps = 0.1
    with_true = fh.accuracy(model, fh.fgsm(model, x, y, eps), y)
    with_predicted = fh.accuracy(model, fh.fgsm(model, x, None, eps), y)  # y=None: predictions
    return with_predicted - with_true  # in points; scored against the true labels both times


def _check_label_leak(answer: Any) -> Result:
    value, problem = _number_or_message(answer, "a difference in percentage points")
    if problem:
        return problem
    model, x, y = _leak_setting()
    with_true = accuracy(model, fgsm(model, x, y, 0.1), y)
    with_predicted = accuracy(model, fgsm(model, x, None, 0.1), y)
    expected = with_predicted - with_true
    if _close(value, expected, 0.01):
        return correct(
            f"{with_predicted:.2f}% (predicted labels) - {with_true:.2f}% (true labels) = "
            f"{expected:+.2f} points on this toy model. Label leaking would make this difference "
            "negative: the FGSM-trained model scoring *higher* when the attack uses the true "
            "labels, because the perturbation gives the label away."
        )
    if _close(value, -expected, 0.01) and expected != 0:
        return incorrect("you have the sign the other way: predicted minus true.")
    if _close(value * 100, expected, 0.01) and expected != 0:
        return incorrect("answer in percentage points (e.g. 1.5), not as a fraction.")
    if _close(value, with_true, 0.01) or _close(value, with_predicted, 0.01):
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
    value, problem = _number_or_message(answer, "an accuracy in percent")
    if problem:
        return problem
    source, target, x, y = _transfer_setting()
    expected = transfer_solution(source, target, x, y)
    white_box = accuracy(target, fgsm(target, x, y, 0.1), y)
    if _close(value, expected, 0.01):
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
    for message, candidate in mistakes.items():
        if _close(value, candidate, 0.01):
            return incorrect(message)
    if _close(value * 100, expected, 0.01):
        return incorrect("answer in percent (e.g. 87.5), not as a fraction.")
    return incorrect(
        "x_adv = fh.fgsm(source, x, y, 0.1), then fh.accuracy(target, x_adv, y) (percent)."
    )


def early_stopping_signal_solution() -> str:
    """Which held-out accuracy early stopping should watch in one-step adversarial training."""
    return "pgd"  # catastrophic overfitting: FGSM accuracy rises while PGD accuracy collapses


def _check_early_stopping(answer: Any) -> Result:
    if not isinstance(answer, str):
        return incorrect(f"expected a string ('fgsm', 'pgd' or 'clean'); got {_type_name(answer)}.")
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


chapter05 = Chapter(
    "chapter 05: beyond FGSM",
    Exercise(
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
        inputs=_leak_setting,
    ),
    Exercise(
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
        inputs=_transfer_setting,
    ),
    Exercise(
        "chapter05.q3",
        """
        FGSM-RS training can collapse (catastrophic overfitting). Which held-out accuracy should
        early stopping watch to notice it: 'fgsm', 'pgd' or 'clean'? Answer with the string.
        """,
        _check_early_stopping,
        "Look at chapter 05's per-epoch table of held-out FGSM and PGD-20 accuracy.",
        early_stopping_signal_solution,
        "Chapter 05 keeps the epoch with the best held-out PGD-20 accuracy (`keep_best=True`).",
    ),
)

# ================================================================================ chapter 06
#: A model's accuracies (percent) at eps 0.3 under four attacks, on the same 200 images.
MASKED_MODEL = {"fgsm": 85.0, "pgd": 40.0, "square": 20.0, "transfer": 60.0}


def _masking_setting() -> dict[str, float]:
    return dict(MASKED_MODEL)


def reported_attack_solution(accuracies: dict[str, float]) -> str:
    """The attack whose figure to report: the one that leaves the lowest accuracy."""
    return min(accuracies, key=accuracies.get)


def _check_reported_attack(answer: Any) -> Result:
    if not isinstance(answer, str):
        return incorrect(
            f"expected a string (one of {sorted(MASKED_MODEL)}); got {_type_name(answer)}."
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
            "PGD is the strongest white-box attack here, but Square leaves fewer images standing; "
            "report the lowest figure, and ask why a gradient-free attack beats PGD."
        )
    if choice in MASKED_MODEL:
        return incorrect(
            f"{choice} leaves {MASKED_MODEL[choice]:.0f}%: another attack does better. The figure "
            "to report is the lowest one."
        )
    return incorrect(f"choose one of {sorted(MASKED_MODEL)}; got {answer!r}.")


def _report_setting() -> list[str | None]:
    generator = torch.Generator().manual_seed(6)
    labels = ["clean", "apgd-ce", "apgd-t", "fab-t", "square", None]
    weights = torch.tensor([2.0, 10.0, 2.0, 1.0, 1.0, 34.0])
    picks = torch.multinomial(weights, 50, replacement=True, generator=generator)
    return [labels[i] for i in picks.tolist()]


def report_accuracy_solution(broken_by: list[str | None]) -> float:
    """Robust accuracy (percent) from AutoAttack's per-image report: the images no attack broke."""
    return 100.0 * broken_by.count(None) / len(broken_by)


def _check_report_accuracy(answer: Any) -> Result:
    value, problem = _number_or_message(answer, "the robust accuracy in percent")
    if problem:
        return problem
    broken_by = _report_setting()
    expected = report_accuracy_solution(broken_by)
    if _close(value, expected, 0.01):
        return correct(
            f"{expected:.1f}%: {broken_by.count(None)} of {len(broken_by)} images withstood all "
            "four attacks. The counts of the other labels say which attack did the work."
        )
    clean = 100.0 * (len(broken_by) - broken_by.count("clean")) / len(broken_by)
    if _close(value, clean, 0.01):
        return incorrect("that is the clean accuracy: count the images no attack broke (None).")
    if _close(value, broken_by.count(None), 0.01):
        return incorrect(f"that is a count; as a percentage of the {len(broken_by)} images?")
    if _close(value * 100, expected, 0.01):
        return incorrect("answer in percent (e.g. 68.0), not as a fraction.")
    return incorrect("count the None entries (robust images) and divide by the number of images.")


chapter06 = Chapter(
    "chapter 06: evaluating a defence",
    Exercise(
        "chapter06.q1",
        """
        `accuracies = ex.q1.inputs()` gives one model's accuracy (percent) at eps 0.3 under
        FGSM, PGD-50, Square (gradient-free) and a transfer attack, on the same images. Which
        attack's figure bounds its robustness, the one to report? Answer with its key.
        """,
        _check_reported_attack,
        "A robustness figure is only as good as the strongest attack found: which is lowest?",
        reported_attack_solution,
        """
        min(accuracies, key=accuracies.get). Then look at which kind of attack won: a
        gradient-free one beating PGD means the gradients lie (chapter 06, section 4).
        """,
        inputs=_masking_setting,
    ),
    Exercise(
        "chapter06.q2",
        """
        `broken_by = ex.q2.inputs()` is AutoAttack's per-image report on 50 images
        (`result.broken_by`): "clean" (misclassified before any attack), the attack that broke
        the image, or None (it withstood them all). What is the robust accuracy, in percent?
        """,
        _check_report_accuracy,
        "Only the images no attack broke count: the None entries.",
        report_accuracy_solution,
        """
        fh.autoattack computes result.accuracy exactly this way; result.counts holds the
        number of images per label, adding up to the number of images.
        """,
        inputs=_report_setting,
    ),
)

CHAPTERS = {
    "01": chapter01,
    "02": chapter02,
    "03": chapter03,
    "04": chapter04,
    "05": chapter05,
    "06": chapter06,
}
